"""``pmemctl plan SPEC``: what apply would change, and what stands in the way."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.bulk import skip_blocked_option
from pmemctl.cli.options import connection_options, max_chars_option, output_choice
from pmemctl.cli.views.plan import plan_view
from pmemctl.errors import UsageError


@click.command("plan")
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=Path))
@output_choice("table", "json", "markdown")
@max_chars_option
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
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), metavar="PATH",
              help="The journal apply would use (default: the spec's); its owed power-ons "
                   "are in the plan.")
@skip_blocked_option
@connection_options
@click.pass_obj
def command(  # noqa: PLR0917 -- Click passes every option as a parameter
    app: App, spec_path: Path, output: str, out: Path | None, detailed_exitcode: bool,
    journal_path: Path | None, max_chars: int | None, skip_blocked: bool,
) -> int:
    """Show the difference between SPEC and the live estate.

    Lists the ordered changes per VM (action, before/after, whether the VM
    must be power-cycled, and why), PMem per host before and after, and every
    problem that blocks the plan. A blocked plan exits 1, and so does one
    that skips blocked VMs (--skip-blocked).
    """
    from pmemctl.apply.events import NullHook
    from pmemctl.apply.journal import read_journal
    from pmemctl.apply.journals import journal_for
    from pmemctl.apply.run import load_source, prepare
    from pmemctl.plan.savefile import check_plan_target, save_plan
    from pmemctl.plan.select import select_vms

    if out is not None:
        # Before connecting: a wrong --out (a directory, /dev/full) must not cost a plan.
        check_plan_target(out)
    view = plan_view(app, output, max_chars=max_chars)
    source = load_source(spec_path)
    if source.spec is None:
        raise UsageError(f"{spec_path} is a saved plan; show it with `pmemctl show {spec_path}`, "
                         "or plan its spec again")
    if skip_blocked:
        from pmemctl.apply.bulk import skip_blocked_source

        source = skip_blocked_source(source)
    spec = source.spec
    assert spec is not None
    with app.vsphere(spec.vcenter) as vs:
        # The journal apply would use tells which power-ons a killed run still owes.
        path = journal_path or journal_for(spec_path, vs.settings.host, vs.settings.port)
        inventory, plan = prepare(vs, source, read_journal(path), NullHook(), app.status)
        # The connection's warnings (a 9.0 deprecation) belong in the plan's
        # JSON "warnings" too; the App has shown them already and shows them once.
        warnings = tuple(vs.warnings)
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
    from pmemctl.cli.bulk import plan_exit

    return plan_exit(app, plan, detailed=detailed_exitcode)
