"""Run plans on :class:`pmemctl.testing.FakeVSphere` and read back what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pmemctl.apply.events import Event
from pmemctl.apply.executor import ApplyResult, ExecOptions, Executor, exec_context
from pmemctl.apply.journal import Journal, JournalState, read_journal
from pmemctl.cli.progress import event_line
from pmemctl.inventory.model import Inventory
from pmemctl.plan.model import Plan
from pmemctl.plan.planner import make_plan
from pmemctl.spec.model import Spec
from pmemctl.testing import FakeVSphere


class Events:
    """A hook keeping every event and the plain progress lines."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def event(self, e: Event) -> None:
        self.events.append(e)

    @property
    def lines(self) -> list[str]:
        """The plain progress lines (``pmemctl apply`` without a terminal)."""
        return [line for e in self.events if (line := event_line(e)) is not None]

    @property
    def json(self) -> list[dict[str, Any]]:
        """The JSON event lines (``-o json``), progress ticks left out."""
        return [e.to_json() for e in self.events if e.kind != "progress" or e.message]


def plan_of(spec: Spec, inv: Inventory) -> Plan:
    plan = make_plan(spec, inv)
    assert not plan.problems, plan.problems
    return plan


def execute(vs: FakeVSphere, plan: Plan, inv: Inventory, tmp_path: Path, *,
            options: ExecOptions | None = None, hook: Any = None,
            executor: list[Executor] | None = None) -> tuple[ApplyResult, JournalState, Events]:
    """Run ``plan``; ``executor`` (a list) receives the Executor before it runs."""
    events = Events()
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "j.jsonl"
    with Journal(path, run_id="r1") as j:
        j.write("run_start", command="apply")
        ctx = exec_context(vs, plan, inv)
        ex = Executor(ctx, plan, options or ExecOptions(), j, hook or events)
        if executor is not None:
            executor.append(ex)
        result = ex.run()
    return result, read_journal(path), events


def records(tmp_path: Path) -> list[str]:
    """The journal's record types, in order."""
    import json
    return [json.loads(line)["type"] for line in (tmp_path / "j.jsonl").read_text().splitlines()]
