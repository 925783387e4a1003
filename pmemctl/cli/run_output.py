"""What ``apply`` and ``rollback`` show around a run: progress, confirmation, summary.

The runs themselves are :mod:`pmemctl.apply.run`; this module only renders
their events and results and asks the person at the terminal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pmemctl.cli.app import App
from pmemctl.errors import ExitCode, Interrupted

if TYPE_CHECKING:
    from pmemctl.apply.executor import ApplyResult
    from pmemctl.apply.progress import LineProgress
    from pmemctl.plan.model import Plan


def event_hook(json_mode: bool) -> LineProgress:
    """One line per event (plain, or JSON Lines with ``-o json``) on stdout.

    Used for what happens before the plan is shown (waiting for tasks a
    killed run left running), and for the whole run without a terminal.
    """
    from pmemctl.apply.progress import LineProgress

    return LineProgress(sys.stdout, json_mode=json_mode)


def progress_hook(app: App, json_mode: bool, plan: Plan) -> tuple[Any, bool]:
    """The hook for executing ``plan`` and whether it is a live display.

    A rich Live table on a terminal with ``-o table``, else :func:`event_hook`.
    The hook is a context manager: enter it around the run.
    """
    from pmemctl.apply.progress import LiveProgress
    from pmemctl.apply.run import migration_mb

    live = not json_mode and app.err.is_terminal
    if live:
        return LiveProgress(app.err, total_changes=len(plan.changes),
                            total_mb=migration_mb(plan)), True
    return event_hook(json_mode), False


def confirm(app: App, yes: bool, *, question: str, refusal: str, cancelled: str) -> None:
    """Ask ``question`` on a terminal; without one, refuse unless ``--yes``.

    Side Effects:
        Reads the answer from stdin; exits 1 with ``refusal`` or ``cancelled``.
    """
    if yes:
        return
    if not app.interactive:
        app.abort(refusal, ExitCode.ERROR)
    if not click.confirm(question, default=False, err=True):
        app.abort(cancelled, ExitCode.ERROR)


def finish(app: App, json_mode: bool, result: ApplyResult, *, verb: str, journal_label: str,
           journal_path: Path, extra: dict[str, Any] | None = None,
           interrupted_hint: str = "") -> NoReturn:
    """Print the summary and leave with the run's exit code.

    Args:
        verb: "Apply" or "Rollback", for the summary line.
        journal_label: how the journal is introduced in table mode.
        extra: more keys for the JSON summary, after the counts.
        interrupted_hint: appended to the summary line when interrupted.

    Raises:
        Interrupted: the run was interrupted (exit 130).
        SystemExit: 0 when every change is done, else 1.
    """
    from pmemctl.apply.progress import report_lines

    lines = report_lines(result, verb=verb)
    if json_mode:
        click.echo(json.dumps({"event": "summary", **result.summary(), **(extra or {}),
                               "journal": str(journal_path),
                               "results": [r.to_json() for r in result.results]}))
    else:
        for line in lines:
            app.console.print(line, soft_wrap=True)
        app.info(f"{journal_label}: {journal_path}")
    if result.interrupted:
        raise Interrupted(lines[0] + interrupted_hint)
    raise SystemExit(ExitCode.OK if result.ok else ExitCode.ERROR)
