"""``pmemctl rollback JOURNAL``: undo what an apply run did, newest first.

Reads the apply journal, checks the current estate, shows the reverse plan
and the notes (what is kept, what cannot be undone), confirms, and runs it
through the same executor, journaling to a NEW file next to the apply
journal (``<journal-stem>.rollback-<run>.jsonl``). Running it twice is safe:
the second run finds nothing to undo.
"""

# Imports inside the command keep `pmemctl --help` fast (no pyVmomi at start-up);
# Click passes every option as a parameter.
# ruff: noqa: PLR0917

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.errors import ExitCode


@click.command("rollback")
@click.argument("journal_path", metavar="JOURNAL", type=click.Path(path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-data-loss", is_flag=True,
              help="Also remove the NVDIMMs and disks the run created (their data is lost).")
@click.option("--parallel", type=click.IntRange(min=1), metavar="N",
              help="Tasks in flight in total (default 8).")
@output_option
@connection_options
@click.pass_obj
def command(app: App, journal_path: Path, yes: bool, allow_data_loss: bool,
            parallel: int | None, output: str) -> int:
    """Move migrated disks back to their original datastores and policies.

    NVDIMMs and disks the run created are removed only with
    --allow-data-loss (and only from powered-off VMs); grown NVDIMMs and
    hardware upgrades cannot be undone and are reported.
    """
    from pmemctl.apply.run import RollbackRun, load_rollback
    from pmemctl.cli.errjson import error_document
    from pmemctl.cli.views.apply import apply_view, report_lines, run_exit_code

    view = apply_view(app, output, verb="Rollback")
    src = load_rollback(journal_path)
    with app.vsphere(src.vcenter) as vs:
        run = RollbackRun(vs, src, allow_data_loss=allow_data_loss, parallel=parallel)
        rb = run.prepare(view.events(), app.status)
        view.rollback_plan(rb)
        if rb.empty:
            return ExitCode.OK
        app.confirm(yes, question=f"Roll back these {len(rb.plan.changes)} changes on "
                                  f"vcenter {vs.settings.host}?",
                    refusal="not rolling back: no terminal to confirm on. Run again with --yes.",
                    cancelled="Rollback cancelled.")
        hook, live = view.progress(rb.plan)
        with hook:
            result = run.execute(hook, live=live)
    assert run.journal_path is not None
    view.summary(result, journal_label="Rollback journal", journal_path=run.journal_path)
    code = run_exit_code(result, verb="Rollback")
    if code:
        app.error_json(error_document("rollback_failed", report_lines(result, "Rollback")[0],
                                      code))
    return code
