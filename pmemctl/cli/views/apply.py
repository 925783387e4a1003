"""``apply`` and ``rollback``: the plan, progress while it runs, and the summary.

Both commands run a plan through the same executor and show it the same
way; ``rollback`` adds its notes (what is kept, what cannot be undone).

JSON Lines on stdout with ``-o json``: ``{"event":"plan",…}`` first (the
plan contract, plus ``notes`` for rollback), then one record per executor
event, then ``{"event":"summary",…}`` with the counts per outcome, the
journal and every change's result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pmemctl.cli.views import View
from pmemctl.cli.views.plan import render_plan_table
from pmemctl.errors import ExitCode, Interrupted

if TYPE_CHECKING:
    from pmemctl.apply.executor import ApplyResult
    from pmemctl.apply.rollback import RollbackPlan
    from pmemctl.cli.app import App
    from pmemctl.cli.progress import LineProgress, LiveProgress
    from pmemctl.plan.model import Plan


def report_lines(result: ApplyResult, verb: str = "Apply") -> list[str]:
    """The final summary and, on failure, what was done and what was not, per VM."""
    from pmemctl.apply.scheduler import Outcome

    counts = {o: result.count(o) for o in Outcome}
    head = (f"{counts[Outcome.DONE]} done, {counts[Outcome.FAILED]} failed"
            + (f", {counts[Outcome.SKIPPED]} skipped" if counts[Outcome.SKIPPED] else "")
            + (f", {counts[Outcome.PENDING]} not started" if counts[Outcome.PENDING] else "")
            + (f", {counts[Outcome.RUNNING]} still running" if counts[Outcome.RUNNING] else ""))
    if result.interrupted:
        lines = [f"{verb} interrupted: {head}."]
    elif result.ok:
        return [f"{verb} complete: {head}."]
    else:
        lines = [f"{verb} failed: {head}."]
    for f in result.failures:
        c = f.change
        lines.append(f"  {c.vm}: {c.action.value} {c.target}: {f.fault}: {f.message}"
                     + (f" ({f.task})" if f.task else ""))
    by_vm: dict[str, list[Any]] = {}
    for r in result.results:
        by_vm.setdefault(r.change.vm, []).append(r)
    for vm, rs in by_vm.items():
        if all(r.outcome is Outcome.DONE for r in rs):
            continue
        done = [f"{r.change.action.value} {r.change.target}" for r in rs
                if r.outcome is Outcome.DONE]
        not_done = [f"{r.change.action.value} {r.change.target} ({r.outcome.text})"
                    for r in rs if r.outcome is not Outcome.DONE]
        lines.append(f"  {vm}: done: {', '.join(done) or 'nothing'}; "
                     f"not done: {', '.join(not_done)}")
    for vm, why in sorted(result.still_off.items()):
        lines.append(f"  {vm}: STILL POWERED OFF: {why}")
    if result.left_running:
        lines.append("  Still running on vCenter (not cancelled): "
                     + ", ".join(result.left_running))
    return lines


def run_exit_code(result: ApplyResult, *, verb: str, interrupted_hint: str = "") -> int:
    """0 when every change is done, else 1.

    Raises:
        Interrupted: the run was interrupted (exit 130); the message is the
            summary line plus ``interrupted_hint``.
    """
    if result.interrupted:
        raise Interrupted(report_lines(result, verb=verb)[0] + interrupted_hint)
    return ExitCode.OK if result.ok else ExitCode.ERROR


class ApplyView(View, ABC):
    """What ``apply`` and ``rollback`` show. ``verb`` is "Apply" or "Rollback"."""

    def __init__(self, app: App, verb: str = "Apply") -> None:
        super().__init__(app)
        self.verb = verb

    def events(self) -> LineProgress:
        """The hook for events before the plan is shown (tasks a killed run left).

        One line per event on stdout, plain or JSON Lines.
        """
        # Imported here, as rich.live is: `pmemctl --help` stays fast.
        from pmemctl.cli.progress import LineProgress

        return LineProgress(self.app, json_mode=self.output == "json")

    def progress(self, plan: Plan) -> tuple[LiveProgress | LineProgress, bool]:
        """The hook for executing ``plan``, and whether it is a live display.

        The hook is a context manager: enter it around the run.
        """
        return self.events(), False

    @abstractmethod
    def plan(self, plan: Plan) -> None:
        """Show the plan ``apply`` is about to run."""

    def skipped(self, plan: Plan) -> None:
        """At the end of a run: the VMs skip_blocked left untouched, and why (table only).

        JSON has them in the plan event and the summary's ``skipped`` key.
        """
        from pmemctl.apply.bulk import skipped_lines

        if self.output == "json":
            return
        for line in skipped_lines(plan):
            self.app.console.print(line, soft_wrap=True)

    @abstractmethod
    def rollback_plan(self, rb: RollbackPlan) -> None:
        """Show the reverse plan and its notes."""

    @abstractmethod
    def summary(self, result: ApplyResult, *, journal_label: str, journal_path: Path,
                extra: dict[str, Any] | None = None) -> None:
        """Show how the run ended.

        Args:
            journal_label: how the journal is introduced in table mode.
            extra: more keys for the JSON summary, after the counts.
        """


class ApplyTable(ApplyView):
    """Tables and plain lines; the live display on a terminal."""

    def progress(self, plan: Plan) -> tuple[LiveProgress | LineProgress, bool]:
        """A rich Live table on a terminal (stderr), else one line per event."""
        from pmemctl.apply.run import migration_mb
        from pmemctl.cli.progress import LiveProgress

        if self.app.err.is_terminal:
            return LiveProgress(self.app.err, total_changes=len(plan.changes),
                                total_mb=migration_mb(plan), warn=self.app.warn), True
        return self.events(), False

    def plan(self, plan: Plan) -> None:
        """The plan's tables, or just the summary line when there is nothing to do."""
        if plan.empty and not plan.blocked and not plan.skipped:
            from pmemctl.plan.render import summary_line

            self.warnings(plan.warnings)
            self.app.console.print(summary_line(plan), soft_wrap=True)
            return
        render_plan_table(self, plan)

    def rollback_plan(self, rb: RollbackPlan) -> None:
        """The reverse plan (unless empty), its notes, or "Nothing to roll back."."""
        if not rb.empty:
            render_plan_table(self, rb.plan)
        for note in rb.notes:
            self.app.console.print(f"Note: {note}", soft_wrap=True)
        if rb.empty:
            self.app.console.print("Nothing to roll back.")

    def summary(self, result: ApplyResult, *, journal_label: str, journal_path: Path,
                extra: dict[str, Any] | None = None) -> None:
        """The report lines on stdout, where the journal is on stderr."""
        for line in report_lines(result, verb=self.verb):
            self.app.console.print(line, soft_wrap=True)
        self.app.info(f"{journal_label}: {journal_path}")


class ApplyJSON(ApplyView):
    """JSON Lines: the plan, the events, the summary."""

    output = "json"

    def plan(self, plan: Plan) -> None:
        """``{"event":"plan", …the plan contract}``; warnings also to stderr."""
        self.app.emit_json_line({"event": "plan", **plan.to_json()})
        self.warnings(plan.warnings)

    def rollback_plan(self, rb: RollbackPlan) -> None:
        """``{"event":"plan", …, "notes":[…]}``; warnings also to stderr."""
        self.app.emit_json_line({"event": "plan", **rb.plan.to_json(), "notes": list(rb.notes)})
        self.warnings(rb.plan.warnings)

    def summary(self, result: ApplyResult, *, journal_label: str, journal_path: Path,
                extra: dict[str, Any] | None = None) -> None:
        """``{"event":"summary", counts…, extra…, "journal", "results":[…]}``."""
        self.app.emit_json_line({"event": "summary", **result.summary(), **(extra or {}),
                                 "journal": str(journal_path),
                                 "results": [r.to_json() for r in result.results]})


def apply_view(app: App, output: str, verb: str = "Apply") -> ApplyView:
    """The ``apply`` (or, with ``verb="Rollback"``, ``rollback``) view for ``--output``."""
    return ApplyJSON(app, verb) if output == "json" else ApplyTable(app, verb)
