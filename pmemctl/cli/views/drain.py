"""What ``pmemctl drain`` and ``return`` show beside the plan: placement, blockers, maintenance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmemctl.errors import ExitCode
from pmemctl.units import format_mb

if TYPE_CHECKING:
    from pmemctl.cli.views.apply import ApplyView
    from pmemctl.plan.drain import DrainPlan
    from pmemctl.vsphere.tasks import TaskState


def show_drain(view: ApplyView, dp: DrainPlan, *, enter_maintenance: bool) -> None:
    """The plan (tables, or one JSON line with a ``drain`` object), then placement and blockers."""
    if view.output == "json":
        view.app.emit_json_line({"event": "plan", **dp.to_json(),
                                 "enter_maintenance": enter_maintenance})
        view.warnings(dp.plan.warnings)
        return
    view.plan(dp.plan)
    out = view.app.console
    if dp.placement:
        out.print(f"Placement (best fit, from {dp.host}):", soft_wrap=True)
        for p in dp.placement:
            pmem = f"{format_mb(p.pmem_mb)} PMem" if p.pmem_mb else "no PMem"
            out.print(f"  {p.vm} → {p.target} ({pmem})", soft_wrap=True)
    for vm, why in dp.unplaced:
        out.print(f"  {vm}: fits on no other host ({why})", soft_wrap=True)
    if dp.blockers:
        out.print(f"Still blocking maintenance of {dp.host} after this plan: "
                  + "; ".join(dp.blockers), soft_wrap=True)
    elif not enter_maintenance:
        out.print(f"Nothing would block maintenance of {dp.host} after this plan "
                  "(--enter-maintenance enters it).", soft_wrap=True)


def show_maintenance(view: ApplyView, host: str, state: TaskState, *, entering: bool) -> int:
    """How the maintenance-mode task ended; the exit code (0 success, 1 a fault)."""
    verb = "entered" if entering else "exited"
    ok = state.state == "success"
    report = None if ok else state.report
    if view.output == "json":
        view.app.emit_json_line({"event": "maintenance", "host": host,
                                 "action": "enter" if entering else "exit", "ok": ok,
                                 "task": state.id,
                                 "fault": report.name if report else None,
                                 "message": report.text() if report else None})
    elif ok:
        view.app.console.print(f"{host} {verb} maintenance mode.", soft_wrap=True)
    else:
        assert report is not None
        view.app.console.print(f"{host} has not {verb} maintenance mode: {report.text()}",
                               soft_wrap=True)
    return ExitCode.OK if ok else ExitCode.ERROR
