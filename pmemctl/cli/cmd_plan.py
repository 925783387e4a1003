"""``pmemctl plan SPEC``: what apply would change, and what stands in the way."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.errors import ExitCode


@click.command("plan")
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=Path))
@output_option
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    metavar="PLANFILE",
    help="Save the plan, with a fingerprint of the estate, for `apply PLANFILE`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when changes are pending, 1 on error.",
)
@connection_options
@click.pass_obj
def command(
    app: App, spec_path: Path, output: str, out: Path | None, detailed_exitcode: bool
) -> None:
    """Show the difference between SPEC and the live estate.

    Lists the ordered changes per VM (action, before/after, whether the VM
    must be power-cycled, and why), PMem per host before and after, and every
    problem that blocks the plan. A blocked plan exits 1.
    """
    from pmemctl.plan.planner import make_plan
    from pmemctl.plan.render import render_plan
    from pmemctl.plan.savefile import save_plan
    from pmemctl.plan.select import select_vms, spec_scope
    from pmemctl.spec.load import load_spec
    from pmemctl.vsphere.snapshot import take_snapshot

    spec = load_spec(spec_path)
    with app.connect(spec.vcenter) as conn:
        with app.status("Reading inventory"):
            inventory = take_snapshot(
                conn, want_devices=lambda light: select_vms(spec, light).names,
                scope=spec_scope(spec),
            )
        warnings = tuple(conn.warnings)
    plan = make_plan(spec, inventory)
    plan = replace(plan, warnings=warnings + plan.warnings)
    if output == "json":
        app.emit_json(plan.to_json())
    else:
        render_plan(plan, app.console)
    if out is not None:
        save_plan(
            out,
            plan,
            spec.options,
            inventory,
            list(select_vms(spec, inventory).names),
            str(spec_path),
        )
        app.info(f"Saved the plan to {out}; run `pmemctl apply {out}` to execute it.")
    if plan.blocked:
        raise SystemExit(ExitCode.ERROR)
    if detailed_exitcode and not plan.empty:
        raise SystemExit(ExitCode.CHANGES)
    raise SystemExit(ExitCode.OK)
