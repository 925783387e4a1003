"""``pmemctl apply SPEC|PLANFILE``: show the plan, confirm, execute, report.

Flow: load the spec (or a saved plan) → connect → lock the journal → settle
tasks left running by a killed run (journal, then running tasks on the selected VMs) →
snapshot → plan (a saved plan must still match the estate) → owed power-ons
→ show → confirm → execute → report. Exit 0 when everything is done (or
nothing was to do), 1 on any failure or a blocked plan, 130 on Ctrl-C.
"""

# Imports inside the command keep `pmemctl --help` fast (no pyVmomi at start-up);
# Click passes every option as a parameter.
# ruff: noqa: PLR0917

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.bulk import skip_blocked_option, skipped_document
from pmemctl.cli.options import connection_options, output_option
from pmemctl.errors import ExitCode

_LIMIT = click.IntRange(min=1)


@click.command("apply")
@click.argument("source", metavar="SPEC|PLANFILE", type=click.Path(path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallel", type=_LIMIT, metavar="N",
              help="Tasks in flight in total (default: the spec's, else 8).")
@click.option("--per-host", type=_LIMIT, metavar="N",
              help="Disk migrations per host at once (default 2, vCenter's own limit).")
@click.option("--per-datastore", type=_LIMIT, metavar="N",
              help="Disk migrations per datastore, source or destination (default 8).")
@click.option("--max-down", type=_LIMIT, metavar="N",
              help="VMs powered off by pmemctl at once, each until it is back with VMware "
                   "Tools running (default: the spec's parallel.down, else no cap of its own).")
@click.option("--on-failure", type=click.Choice(["stop", "continue"]),
              help="After a failure: submit nothing new (stop, the default) or go on with "
                   "the VMs that do not depend on the failed work.")
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Journal file (default: $PMEMCTL_JOURNAL_DIR or "
                   "$XDG_STATE_HOME/pmemctl/journals/<spec>-<hash>.jsonl).")
@output_option
@skip_blocked_option
@connection_options
@click.pass_obj
def command(app: App, source: Path, yes: bool, parallel: int | None, per_host: int | None,
            per_datastore: int | None, max_down: int | None, on_failure: str | None,
            journal_path: Path | None, output: str, skip_blocked: bool) -> int:
    """Make the estate match SPEC (or run a saved PLANFILE).

    Shows the plan and asks for confirmation on a terminal; without a
    terminal it refuses unless --yes is given. Changes run concurrently within
    the limits; each VM's steps run in order: power off, hardware upgrade,
    NVDIMMs and new disks (one reconfigure), disk migrations (one Storage
    vMotion), power on (then VMware Tools, when the guest had them). Every
    step is journaled (default directory $PMEMCTL_JOURNAL_DIR, else
    ~/.local/state/pmemctl/journals), so a killed
    run resumes when apply is run again with the same SPEC; `pmemctl rollback
    JOURNAL` undoes it. Flags override the spec's options. With
    --skip-blocked the VMs without problems are applied, the blocked ones
    are left untouched and listed, and the run exits 1.
    """
    from pmemctl.apply.bulk import skip_blocked_source, skipped_json
    from pmemctl.apply.run import ApplyRun, exec_options, load_source
    from pmemctl.cli.errjson import blocked_document, error_document
    from pmemctl.cli.views.apply import apply_view, report_lines, run_exit_code

    view = apply_view(app, output)
    src = load_source(source)
    if skip_blocked:
        src = skip_blocked_source(src)
    opts = exec_options(src.options, parallel=parallel, per_host=per_host,
                        per_datastore=per_datastore, on_failure=on_failure, max_down=max_down)
    with app.vsphere(src.vcenter) as vs, ApplyRun(vs, src, opts, journal_path) as run:
        plan = run.prepare(view.events(), app.status)
        view.plan(plan)
        if plan.blocked:
            app.error_json(blocked_document([(p.vm, p.message) for p in plan.problems],
                                        [p.vms for p in plan.problems]))
            return ExitCode.ERROR
        if plan.empty:
            view.skipped(plan)
            return ExitCode.ERROR if plan.skipped else ExitCode.OK
        n = len(plan.changes)
        what = "this 1 change" if n == 1 else f"these {n} changes"
        if skips := len(plan.skipped):
            what += f" (skipping {skips} blocked VM{'s' if skips > 1 else ''})"
        app.confirm(yes, question=f"Apply {what} to vcenter {vs.settings.host}?",
                    refusal="not applying: no terminal to confirm on. Review the plan above "
                            "and run again with --yes to apply it.",
                    cancelled="Apply cancelled.")
        hook, live = view.progress(plan)
        with hook:
            result = run.execute(hook, live=live)
    view.summary(result, journal_label="Journal", journal_path=run.journal_path,
                 extra={"elapsed_s": round(result.elapsed_s, 3),
                        "interrupted": result.interrupted, "left_running": result.left_running,
                        "still_off": result.still_off, "skipped": skipped_json(plan)})
    code = run_exit_code(result, verb="Apply",
                         interrupted_hint=" The journal is intact; run apply again to resume.")
    view.skipped(plan)
    if code:
        app.error_json(error_document("apply_failed", report_lines(result)[0], code))
    elif plan.skipped:
        app.error_json(skipped_document(plan))
    # Skipped VMs are work not done: CI must notice even when the rest converged.
    return ExitCode.ERROR if plan.skipped else code
