"""The live display counts MiB moved from task progress while migrations run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from pmemctl.apply.events import Event
from pmemctl.apply.executor import ExecOptions
from pmemctl.apply.run import migration_mb
from pmemctl.cli.progress import LiveProgress
from pmemctl.testing import FakeVSphere
from tests.unit import builders as b
from tests.unit.fakerun import execute, plan_of

pytestmark = pytest.mark.unit


def _console() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)


def test_a_running_migration_counts_by_its_progress() -> None:
    live = LiveProgress(_console(), total_changes=2, total_mb=3000)
    ev = {"vm": "db-01", "action": "migrate_disk", "target": "Hard disk 1", "task": "task-1",
          "size_mb": 2000, "changes": 1}
    with live:
        live.event(Event(kind="started", **ev))  # type: ignore[arg-type]
        assert live.moved_mb == 0
        live.event(Event(kind="progress", progress=50, **ev))  # type: ignore[arg-type]
        assert live.moved_mb == 1000
        live.event(Event(kind="progress", progress=75, **ev))  # type: ignore[arg-type]
        assert live.moved_mb == 1500
        live.event(Event(kind="done", **ev))  # type: ignore[arg-type]
        assert live.moved_mb == 2000
    out = live.console.file.getvalue()  # type: ignore[attr-defined]
    assert "1 GiB 976 MiB of 2 GiB 952 MiB moved" in out  # the last frame: all of it


def test_a_failed_migration_stops_counting() -> None:
    live = LiveProgress(_console(), total_changes=1, total_mb=1000)
    ev = {"vm": "db-01", "action": "migrate_disk", "target": "Hard disk 1", "task": "task-1",
          "size_mb": 1000, "changes": 1}
    with live:
        live.event(Event(kind="started", **ev))  # type: ignore[arg-type]
        live.event(Event(kind="progress", progress=40, **ev))  # type: ignore[arg-type]
        assert live.moved_mb == 400
        live.event(Event(kind="failed", fault="InvalidState", **ev))  # type: ignore[arg-type]
        assert live.moved_mb == 0


class _Recorder(LiveProgress):
    """The live display, noting what it would show after every event."""

    seen: list[tuple[str, int]]

    def event(self, e: Event) -> None:
        super().event(e)
        self.seen.append((e.kind, self.moved_mb))


def test_an_apply_shows_mib_moved_before_its_migrations_finish(tmp_path: Path) -> None:
    # The executor watches info.progress when the display is live; FakeVSphere's
    # tasks report 50 % half-way, as a Storage vMotion reports its progress.
    inv = b.inventory(hosts=[b.host("esx-01")],
                      vms=[b.vm("db-01", disks=[b.disk(size_gb=40)]),
                           b.vm("db-02", disks=[b.disk(size_gb=20)])])
    vs = FakeVSphere(inv)
    plan = plan_of(b.spec(b.entry(match="db-0*", disks={"*": "pmem"})), inv)
    live = _Recorder(_console(), total_changes=len(plan.changes), total_mb=migration_mb(plan))
    live.seen = []
    with live:
        result, _, _ = execute(vs, plan, inv, tmp_path, hook=live,
                               options=ExecOptions(progress=True))
    assert result.ok
    assert ("progress", 20 * 1024) in live.seen  # db-01's 40 GiB at 50 %, db-02 not yet
    # ...or both at 50 % when they run at once: either way MiB show before any "done".
    first_done = next(i for i, (kind, _) in enumerate(live.seen) if kind == "done")
    assert max(mb for _, mb in live.seen[:first_done]) > 0
    assert live.seen[-1][1] == 60 * 1024
