"""The protocol between the core and whatever shows a run: events and the hook that gets them.

The executor, resume and the runs emit :class:`Event` values to a
:class:`Hook` and never print; the CLI's progress display, a JSON log or a
test implement the hook. It sits on its own so that a display depends on
this small module, not on the executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """Something the progress display or a log may want to show."""

    # One of EVENT_KINDS (the README's "-o json event lines" contract).
    kind: str
    vm: str = ""
    action: str = ""
    target: str = ""
    task: str | None = None
    time: float = 0.0
    elapsed_s: float | None = None
    progress: int | None = None
    fault: str | None = None
    message: str | None = None
    size_mb: int = 0
    changes: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON Lines shape for ``--output json``; empty fields are left out."""
        out: dict[str, Any] = {"event": self.kind}
        for k in ("vm", "action", "target", "task", "elapsed_s", "progress", "fault",
                  "message"):
            v = getattr(self, k)
            if v not in (None, ""):
                out[k] = round(v, 3) if isinstance(v, float) else v
        out["time"] = round(self.time, 3)
        return out


#: ``-o json`` (apply, rollback): every executor event kind and when it is emitted.
#: README "apply and rollback -o json: event lines" documents exactly these;
#: tests/unit/test_json_events.py keeps the two equal.
EVENT_KINDS: dict[str, str] = {
    "started": "a step was submitted: its task, or a guest shutdown (message says so)",
    "progress": "a note on a running step (e.g. a guest shutdown timed out); "
                "percent ticks are left out of JSON",
    "done": "a step finished; also a VM powered back on after the journal failed",
    "failed": "a step failed: fault is the vCenter fault class, message why",
    "skipped": "a change not run because an earlier step of its VM failed",
    "stopping": "no new work starts (a failure under stop, Ctrl-C, a journal that "
                "cannot be written); message says why",
    "waiting": "a task a killed run left running is waited for, not issued again",
    "warning": "something the run assumed or could not do (also printed on stderr)",
}

#: The keys an event line may carry, in order. ``event`` and ``time`` are
#: always there; the others only when set (empty ones are left out).
EVENT_KEYS: tuple[str, ...] = ("event", "vm", "action", "target", "task", "elapsed_s",
                               "progress", "fault", "message", "time")


class Hook(Protocol):
    """Receives executor events (progress display, JSON log, tests)."""

    def event(self, e: Event) -> None:
        """Handle one event; must not raise."""


class NullHook:
    """A hook that ignores everything."""

    def event(self, e: Event) -> None:
        """Ignore ``e``."""
