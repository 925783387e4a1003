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

import hashlib
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click

from pmemctl import __version__
from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.errors import ExitCode, Interrupted

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
@click.option("--on-failure", type=click.Choice(["stop", "continue"]),
              help="After a failure: submit nothing new (stop, the default) or go on with "
                   "the VMs that do not depend on the failed work.")
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Journal file (default: $PMEMCTL_JOURNAL_DIR or "
                   "$XDG_STATE_HOME/pmemctl/journals/<spec>-<hash>.jsonl).")
@output_option
@connection_options
@click.pass_obj
def command(app: App, source: Path, yes: bool, parallel: int | None, per_host: int | None,
            per_datastore: int | None, on_failure: str | None, journal_path: Path | None,
            output: str) -> None:
    """Make the estate match SPEC (or run a saved PLANFILE).

    Shows the plan and asks for confirmation on a terminal; without a
    terminal it refuses unless --yes is given. Changes run concurrently within
    the limits; each VM's steps run in order: power off, hardware upgrade,
    NVDIMMs and new disks (one reconfigure), disk migrations (one Storage
    vMotion), power on. Every step is journaled (default directory
    $PMEMCTL_JOURNAL_DIR, else ~/.local/state/pmemctl/journals), so a killed
    run resumes when apply is run again with the same SPEC; `pmemctl rollback
    JOURNAL` undoes it. Flags override the spec's options.
    """
    from pmemctl.apply.executor import ExecOptions, apply_plan
    from pmemctl.apply.journal import Journal, default_journal_path, read_journal
    from pmemctl.apply.progress import report_lines
    from pmemctl.apply.resume import pending_power_ons, settle_journal, settle_vms
    from pmemctl.apply.scheduler import Limits
    from pmemctl.plan.planner import make_plan
    from pmemctl.plan.savefile import check_fresh, is_plan_file, load_plan
    from pmemctl.plan.select import select_vms
    from pmemctl.spec.load import load_spec
    from pmemctl.vsphere.snapshot import take_snapshot

    json_mode = output == "json"
    saved = load_plan(source) if is_plan_file(source) else None
    if saved is not None:
        spec_path = Path(saved.spec_path)
        options = saved.options
        spec = None
        vcenter = _spec_vcenter(spec_path)
    else:
        spec = load_spec(source)
        spec_path, options, vcenter = source, spec.options, spec.vcenter
    limits = Limits(
        total=parallel or options.parallel.total,
        per_host=per_host or options.parallel.per_host,
        per_datastore=per_datastore or options.parallel.per_datastore,
    )
    exec_opts = ExecOptions(limits=limits, on_failure=on_failure or options.on_failure,
                            shutdown_timeout_s=options.shutdown_timeout_s)

    def want(light: Any) -> list[str]:
        if saved is not None:
            return list(saved.vm_names)
        assert spec is not None
        return select_vms(spec, light).names

    with app.connect(vcenter) as conn:
        vc_host = conn.settings.host
        jpath = journal_path or default_journal_path(spec_path, vc_host)
        hook = _hook(app, json_mode, 0, 0, live=False)
        # Opened (and locked) up front so a second apply of the same spec is refused
        # before it plans; the run_start record is written only once there is work.
        journal = Journal(jpath)
        started = False

        def open_journal() -> Journal:
            nonlocal started
            if not started:
                started = True
                journal.write("run_start", command="apply", version=__version__,
                              spec=str(Path(spec_path).resolve()),
                              spec_sha256=_sha256(spec_path), source=str(source),
                              vcenter=vc_host, options={**asdict(options),
                                                        "limits": asdict(limits),
                                                        "on_failure": exec_opts.on_failure})
            return journal

        try:
            state = read_journal(jpath)
            if state.pending:
                settle_journal(conn.content, open_journal(), state, hook)
            with app.status("Reading inventory"):
                inventory = take_snapshot(conn, want_devices=want)
            names = want(inventory)
            if settle_vms(conn.content, inventory, names, hook):
                inventory = take_snapshot(conn, want_devices=want)
            if saved is not None:
                check_fresh(saved, inventory)
                plan = saved.plan
            else:
                assert spec is not None
                plan = make_plan(spec, inventory)
            plan = pending_power_ons(read_journal(jpath), plan, inventory)
            plan = replace(plan, warnings=tuple(conn.warnings) + plan.warnings)
            _show(app, plan, json_mode)
            if plan.blocked:
                raise SystemExit(ExitCode.ERROR)
            if plan.empty:
                raise SystemExit(ExitCode.OK)
            _confirm(app, yes, len(plan.changes), vc_host)
            total_mb = sum(int(c.detail.get("size_mb", 0)) for c in plan.changes
                           if c.action.value == "migrate_disk")
            live = not json_mode and app.err.is_terminal
            exec_opts = replace(exec_opts, progress=live)
            with _hook(app, json_mode, len(plan.changes), total_mb, live=live) as progress:
                result = apply_plan(conn, plan, inventory, exec_opts, journal=open_journal(),
                                    hook=progress)
        finally:
            journal.close()
    lines = report_lines(result)
    if json_mode:
        click.echo(json.dumps({"event": "summary", **result.summary(),
                               "elapsed_s": round(result.elapsed_s, 3),
                               "interrupted": result.interrupted,
                               "left_running": result.left_running,
                               "journal": str(jpath),
                               "results": [r.to_json() for r in result.results]}))
    else:
        for line in lines:
            app.console.print(line, soft_wrap=True)
        app.info(f"Journal: {jpath}")
    if result.interrupted:
        raise Interrupted(lines[0] + " The journal is intact; run apply again to resume.")
    raise SystemExit(ExitCode.OK if result.ok else ExitCode.ERROR)


def _spec_vcenter(spec_path: Path) -> str | None:
    from pmemctl.errors import PmemctlError
    from pmemctl.spec.load import load_spec

    try:
        return load_spec(spec_path).vcenter
    except (PmemctlError, OSError):
        return None  # the spec moved or changed: connection flags must say where


def _sha256(path: str | Path) -> str | None:
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _show(app: App, plan: Any, json_mode: bool) -> None:
    from pmemctl.plan.render import render_plan, summary_line

    if json_mode:
        click.echo(json.dumps({"event": "plan", **plan.to_json()}))
        return
    if plan.empty and not plan.blocked:
        for w in plan.warnings:
            app.warn(w)
        app.console.print(summary_line(plan))
        return
    render_plan(plan, app.console)


def _confirm(app: App, yes: bool, n: int, host: str) -> None:
    if yes:
        return
    if not app.interactive:
        app.abort("not applying: no terminal to confirm on. Review the plan above and run "
                  "again with --yes to apply it.", ExitCode.ERROR)
    what = "this 1 change" if n == 1 else f"these {n} changes"
    if not click.confirm(f"Apply {what} to vcenter {host}?", default=False, err=True):
        app.abort("Apply cancelled.", ExitCode.ERROR)


def _hook(app: App, json_mode: bool, total: int, total_mb: int, *, live: bool) -> Any:
    from pmemctl.apply.progress import LineProgress, LiveProgress

    if live:
        return LiveProgress(app.err, total_changes=total, total_mb=total_mb)
    return LineProgress(sys.stdout, json_mode=json_mode)
