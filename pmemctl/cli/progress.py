"""Show apply and rollback progress: a rich Live table on a terminal, one line per event otherwise.

The core never prints: the executor emits :class:`~pmemctl.apply.executor.Event`
values to a :class:`~pmemctl.apply.executor.Hook`. The two hooks here are the
CLI's displays of them.

* Terminal, ``--output table``: :class:`LiveProgress`, on stderr: one row per
  running task (VM, action, % from ``task.info.progress``, elapsed, ETA)
  above an overall bar (changes completed / total, MiB moved).
* No terminal, or ``--output json``: :class:`LineProgress`, on stdout: one
  line per event, plain (``redis-01: add_nvdimm NVDIMM 1: started
  (task-12)``) or JSON Lines (``{"event":"started","vm":…,"time":…}``), so
  ``apply -o json | jq`` sees every event and the summary.

Either way a ``warning`` event is shown once on stderr (the JSON stream
keeps its ``warning`` record as well).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pmemctl.units import format_mb

if TYPE_CHECKING:
    from pmemctl.apply.events import Event
    from pmemctl.cli.app import App


def event_line(e: Event) -> str | None:
    """The plain-text line for ``e``, or None for events too chatty for a log."""
    what = f"{e.vm}: {e.action} {e.target}".rstrip()
    task = f" ({e.task})" if e.task else ""
    if e.kind == "started":
        return f"{what}: started{': ' + e.message if e.message else ''}{task}"
    if e.kind == "done":
        return f"{what}: done after {e.elapsed_s or 0:.1f}s{task}"
    if e.kind == "failed":
        return f"{what}: FAILED: {e.fault}: {e.message}{task}"
    if e.kind == "skipped":
        return f"{what}: skipped ({e.message or f'an earlier step of {e.vm} failed'})"
    if e.kind == "progress" and e.message:
        return f"{what}: {e.message}{task}"
    if e.kind == "stopping":
        return f"Stopping: no new tasks; waiting for running tasks ({e.message}). " \
               "Press Ctrl-C again to stop waiting."
    if e.kind == "waiting":
        who = f"{e.vm}: " if e.vm else ""
        return f"{who}waiting for {e.task}: {e.message}"
    if e.kind == "warning":
        return f"Warning: {e.message}"
    return None  # progress ticks are too chatty for a log


@dataclass
class LineProgress:
    """One line per event on stdout, plain or JSON Lines; safe for CI logs and pipes."""

    app: App
    json_mode: bool = False

    def event(self, e: Event) -> None:
        """Write ``e`` as one line; a warning goes to stderr instead (and to JSON too)."""
        if e.kind == "warning":
            self.app.warn(e.message or "")
        if self.json_mode:
            if e.kind == "progress" and not e.message:
                return
            self.app.emit_json_line(e.to_json())
            return
        if e.kind == "warning":
            return
        line = event_line(e)
        if line is not None:
            self.app.console.print(line, soft_wrap=True)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@dataclass
class _Row:
    vm: str
    action: str
    target: str
    task: str | None
    started: float
    progress: int | None = None


@dataclass
class LiveProgress:
    """A rich Live display for terminals. Use as a context manager.

    ``warn`` shows a ``warning`` event (the App's, so it is shown once);
    the other lasting lines (failures, stopping, waiting) are printed above
    the display on ``console``.
    """

    console: Console
    total_changes: int
    total_mb: int
    warn: Callable[[str], None] | None = None
    _rows: dict[tuple[str, str], _Row] = field(default_factory=dict)
    _done_changes: int = 0
    _moved_mb: int = 0
    _live: Live | None = None
    _bar: Progress | None = None
    _task_id: Any = None

    def __enter__(self) -> LiveProgress:
        self._bar = Progress(TextColumn("Changes"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[moved]}"), console=self.console)
        self._task_id = self._bar.add_task("apply", total=self.total_changes, moved="")
        # get_renderable: every refresh re-renders, so elapsed time and ETA tick
        # between task updates too.
        self._live = Live(console=self.console, refresh_per_second=4, transient=False,
                          get_renderable=self._render)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def event(self, e: Event) -> None:
        """Update the rows and the bar; print lasting lines for failures and notes."""
        key = (e.vm, e.action)
        if e.kind == "started":
            self._rows[key] = _Row(e.vm, e.action, e.target, e.task, time.monotonic())
        elif e.kind == "progress":
            row = self._rows.get(key)
            if row is not None:
                row.progress = e.progress
                row.task = e.task or row.task
        elif e.kind in ("done", "failed"):
            self._rows.pop(key, None)
            self._done_changes += e.changes
            if e.kind == "done":
                self._moved_mb += e.size_mb
        if e.kind == "warning" and self.warn is not None:
            self.warn(e.message or "")
        elif e.kind in ("failed", "stopping", "waiting", "skipped", "warning"):
            line = event_line(e)
            if line and self._live is not None:
                self._live.console.print(line)
        if self._live is not None:
            self._live.refresh()

    def _render(self) -> Group:
        table = Table(box=None, pad_edge=False)
        for h in ("VM", "Action", "Target", "Task", "%", "Elapsed", "ETA"):
            table.add_column(h)
        now = time.monotonic()
        for r in self._rows.values():
            elapsed = now - r.started
            pct = r.progress
            eta = "-"
            if pct and 0 < pct < 100:
                eta = f"{elapsed * (100 - pct) / pct:.0f}s"
            table.add_row(r.vm, r.action, r.target, r.task or "-",
                          f"{pct}%" if pct is not None else "-", f"{elapsed:.0f}s", eta)
        if self._bar is not None:
            moved = f"{format_mb(self._moved_mb)} of {format_mb(self.total_mb)} moved" \
                if self.total_mb else ""
            self._bar.update(self._task_id, completed=self._done_changes, moved=moved)
            return Group(table, self._bar)
        return Group(table)
