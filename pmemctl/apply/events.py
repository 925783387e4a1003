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

    # started | progress | done | failed | skipped | stopping | interrupted | waiting | warning
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


class Hook(Protocol):
    """Receives executor events (progress display, JSON log, tests)."""

    def event(self, e: Event) -> None:
        """Handle one event; must not raise."""


class NullHook:
    """A hook that ignores everything."""

    def event(self, e: Event) -> None:
        """Ignore ``e``."""
