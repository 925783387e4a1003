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

import json
import sys
from pathlib import Path

import click

from pmemctl import __version__
from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.errors import ExitCode, Interrupted, UsageError


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
            parallel: int | None, output: str) -> None:
    """Move migrated disks back to their original datastores and policies.

    NVDIMMs and disks the run created are removed only with
    --allow-data-loss (and only from powered-off VMs); grown NVDIMMs and
    hardware upgrades cannot be undone and are reported.
    """
    from pmemctl.apply.executor import ExecOptions, apply_plan
    from pmemctl.apply.journal import Journal, new_run_id, read_journal
    from pmemctl.apply.progress import LineProgress, LiveProgress, report_lines
    from pmemctl.apply.resume import settle_vms
    from pmemctl.apply.rollback import journal_vms, rollback_plan
    from pmemctl.apply.scheduler import Limits
    from pmemctl.plan.render import render_plan
    from pmemctl.vsphere.snapshot import take_snapshot

    if not journal_path.is_file():
        raise UsageError(f"no journal at {journal_path}")
    state = read_journal(journal_path)
    vms = journal_vms(state)
    json_mode = output == "json"
    vcenter = next((str(r.start.get("vcenter")) for r in state.runs if r.start.get("vcenter")),
                   None)
    with app.connect(vcenter) as conn:
        with app.status("Reading inventory"):
            inventory = take_snapshot(conn, want_devices=lambda light: vms)
        # A rollback (or apply) killed mid-task may have left tasks running on these
        # VMs: wait for them and re-read, or a disk still moving would be moved twice.
        hook = LineProgress(sys.stdout, json_mode=json_mode)
        if settle_vms(conn.content, inventory, vms, hook):
            inventory = take_snapshot(conn, want_devices=lambda light: vms)
        rb = rollback_plan(state, inventory, allow_data_loss=allow_data_loss)
        if json_mode:
            click.echo(json.dumps({"event": "plan", **rb.plan.to_json(),
                                   "notes": list(rb.notes)}))
        else:
            if not rb.empty:
                render_plan(rb.plan, app.console)
            for note in rb.notes:
                app.console.print(f"Note: {note}", soft_wrap=True)
        if rb.empty:
            if not json_mode:
                app.console.print("Nothing to roll back.")
            raise SystemExit(ExitCode.OK)
        if not yes:
            if not app.interactive:
                app.abort("not rolling back: no terminal to confirm on. Run again with --yes.",
                          ExitCode.ERROR)
            if not click.confirm(f"Roll back these {len(rb.plan.changes)} changes on "
                                 f"vcenter {conn.settings.host}?", default=False, err=True):
                app.abort("Rollback cancelled.", ExitCode.ERROR)
        run_id = new_run_id()
        out_path = journal_path.with_name(f"{journal_path.stem}.rollback-{run_id}.jsonl")
        total_mb = sum(int(c.detail.get("size_mb", 0)) for c in rb.plan.changes
                       if c.action.value == "migrate_disk")
        live = not json_mode and app.err.is_terminal
        progress = (LiveProgress(app.err, len(rb.plan.changes), total_mb) if live
                    else LineProgress(sys.stdout, json_mode=json_mode))
        with Journal(out_path, run_id=run_id) as journal, progress:
            journal.write("run_start", command="rollback", version=__version__,
                          journal=str(journal_path.resolve()), vcenter=conn.settings.host,
                          options={"allow_data_loss": allow_data_loss})
            opts = ExecOptions(limits=Limits(total=parallel or 8), progress=live)
            result = apply_plan(conn, rb.plan, inventory, opts, journal=journal, hook=progress)
    lines = report_lines(result, verb="Rollback")
    if json_mode:
        click.echo(json.dumps({"event": "summary", **result.summary(),
                               "journal": str(out_path),
                               "results": [r.to_json() for r in result.results]}))
    else:
        for line in lines:
            app.console.print(line, soft_wrap=True)
        app.info(f"Rollback journal: {out_path}")
    if result.interrupted:
        raise Interrupted(lines[0])
    raise SystemExit(ExitCode.OK if result.ok else ExitCode.ERROR)
