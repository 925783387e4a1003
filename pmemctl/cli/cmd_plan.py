"""``pmemctl plan SPEC``: what apply would change, and what stands in the way."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.cli.views.plan import plan_view
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
) -> int:
    """Show the difference between SPEC and the live estate.

    Lists the ordered changes per VM (action, before/after, whether the VM
    must be power-cycled, and why), PMem per host before and after, and every
    problem that blocks the plan. A blocked plan exits 1.
    """
    from pmemctl.plan.planner import make_plan
    from pmemctl.plan.savefile import save_plan
    from pmemctl.plan.select import select_vms, spec_scope
    from pmemctl.spec.load import load_spec
    from pmemctl.vsphere.snapshot import take_snapshot

    view = plan_view(app, output)
    spec = load_spec(spec_path)
    with app.connect(spec.vcenter) as conn:
        with app.status("Reading inventory"):
            inventory = take_snapshot(
                conn, want_devices=lambda light: select_vms(spec, light).names,
                scope=spec_scope(spec),
            )
        # The connection's warnings (a 9.0 deprecation) belong in the plan's
        # JSON "warnings" too; the App has shown them already and shows them once.
        warnings = tuple(conn.warnings)
    plan = make_plan(spec, inventory)
    plan = replace(plan, warnings=warnings + plan.warnings)
    view.plan(plan)
    if out is not None:
        save_plan(
            out,
            plan,
            spec.options,
            inventory,
            list(select_vms(spec, inventory).names),
            str(spec_path),
        )
        view.saved(out)
    if plan.blocked:
        return ExitCode.ERROR
    if detailed_exitcode and not plan.empty:
        return ExitCode.CHANGES
    return ExitCode.OK
