"""``pmemctl show PLANFILE``: a saved plan, printed without a vCenter."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import max_chars_option, output_choice

if TYPE_CHECKING:
    from pmemctl.plan.savefile import SavedPlan


@click.command("show")
@click.argument("plan_path", metavar="PLANFILE", type=click.Path(path_type=Path))
@output_choice("table", "json", "markdown")
@max_chars_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when the plan has no changes, 2 when it has, 1 when it is blocked.",
)
@click.pass_obj
def command(app: App, plan_path: Path, output: str, max_chars: int | None,
            detailed_exitcode: bool) -> int:
    """Print a plan saved by `plan --out PLANFILE`, without contacting vCenter.

    The same renderings as `plan` (table, json, markdown for a pull-request
    comment), plus when and from which spec it was made. It does not check
    that the estate still matches: `apply PLANFILE` does, and refuses a plan
    whose estate moved on. A blocked plan exits 1, as `plan` does.
    """
    from pmemctl.cli.bulk import plan_exit
    from pmemctl.cli.views.markdown import Source
    from pmemctl.cli.views.plan import PlanJSON, plan_view
    from pmemctl.plan.savefile import load_plan

    saved = load_plan(plan_path)
    plan = saved.plan
    made = (f"made {saved.created} from {saved.spec_path}, covering "
            f"{len(saved.vm_names)} VM(s)")
    if output == "json":
        doc = plan.to_json()
        doc["saved_plan"] = {  # an extension of the plan contract: where the plan came from
            "path": str(plan_path), "created": saved.created, "spec_path": saved.spec_path,
            "fingerprint": saved.fingerprint, "vm_names": list(saved.vm_names),
            "options": _options_json(saved),
        }
        app.emit_json(doc)
        PlanJSON(app).warnings(plan.warnings)
    else:
        source = Source(
            title=f"pmemctl plan (saved: {plan_path.name})",
            detail=f"Saved plan, {made}; `pmemctl apply {plan_path.name}` runs it and "
                   "refuses it if the estate changed since.",
            whole_plan=f"`pmemctl show {plan_path.name}` (the saved plan)",
        )
        if output == "table":
            app.info(f"Saved plan {plan_path}: {made}.")
        plan_view(app, output, max_chars=max_chars, source=source).plan(plan)
    return plan_exit(app, plan, detailed=detailed_exitcode)


def _options_json(saved: SavedPlan) -> dict[str, object]:
    """The options apply will run the plan with, as the saved file holds them."""
    options = asdict(saved.options)
    options["on_failure"] = saved.options.on_failure.value
    return options
