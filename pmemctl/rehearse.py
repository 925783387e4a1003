"""``pmemctl rehearse``: what pmemsim measured of an apply, and whether it converged.

The command (pmemctl/cli/cmd_rehearse.py) starts pmemsim on the estate
(:mod:`pmemctl.sim.serve`), applies the spec through the same
:class:`~pmemctl.apply.run.ApplyRun` as ``apply``, and plans again. This
module holds the parts that are not the CLI's: the connection to the
simulator and the makespan read from its tasks.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyVmomi import vim, vmodl

from pmemctl.vsphere.collector import retrieve

if TYPE_CHECKING:
    from pmemctl.sim.serve import Sim
    from pmemctl.vsphere.retry import Notify
    from pmemctl.vsphere.vcenter import VCenter

_PC: Any = vmodl.query.PropertyCollector


@dataclass(frozen=True)
class Measured:
    """What pmemsim saw of the rehearsal."""

    makespan_s: float  # first task queued to last task completed, by pmemsim's clock
    tasks: int
    failed_tasks: int
    soap_requests: int  # every /sdk and PBM request, login and reads included

    def to_json(self) -> dict[str, Any]:
        """The JSON keys of ``rehearse -o json``'s ``rehearsal`` record."""
        return {"makespan_s": round(self.makespan_s, 3), "tasks": self.tasks,
                "failed_tasks": self.failed_tasks, "soap_requests": self.soap_requests}


@contextlib.contextmanager
def connect_sim(sim: Sim, notify: Notify | None = None) -> Iterator[VCenter]:
    """A :class:`~pmemctl.vsphere.vcenter.VCenter` on the simulator, its certificate trusted.

    The user's ``PMEMCTL_*`` environment is not read: a rehearsal never
    reaches the vCenter it names.
    """
    from pmemctl.vsphere.session import connect, resolve_settings
    from pmemctl.vsphere.vcenter import VCenter

    settings = resolve_settings(url=sim.url, ca_file=str(sim.cert), env={})
    with connect(settings, notify=notify) as conn:
        yield VCenter(conn)


@contextlib.contextmanager
def claims_cleared(vs: VCenter) -> Iterator[None]:
    """Remove the VM claim files apply left for this simulator, on the way out.

    Claims are kept per vCenter host and port (pmemctl.apply.claims); a
    simulator's port is fresh each time, so its directory would only pile up.
    Only this run talks to its simulator, so nothing else holds them.
    """
    from pmemctl.apply.claims import default_lock_dir

    try:
        yield
    finally:
        shutil.rmtree(default_lock_dir(vs.settings.host, vs.settings.port), ignore_errors=True)


def measure(vs: VCenter, sim: Sim) -> Measured:
    """The makespan of every task pmemsim ran, and the requests it served.

    pmemsim lists every task in ``TaskManager.recentTask`` (tests/pmemsim/
    README.md "Tasks"), and a rehearsal's simulator ran only this apply's.
    """
    conn = vs.conn
    tm = conn.content.taskManager
    pc = conn.content.propertyCollector
    spec = _PC.FilterSpec(objectSet=[_PC.ObjectSpec(obj=tm, skip=False)],
                          propSet=[_PC.PropertySpec(type=vim.TaskManager, pathSet=["recentTask"])])
    tasks: list[Any] = []
    for _ref, props in retrieve(pc, [spec]):
        tasks = list(props.get("recentTask") or ())
    infos: list[Any] = []
    if tasks:
        spec = _PC.FilterSpec(objectSet=[_PC.ObjectSpec(obj=t, skip=False) for t in tasks],
                              propSet=[_PC.PropertySpec(type=vim.Task, pathSet=["info"])])
        infos = [props["info"] for _ref, props in retrieve(pc, [spec]) if "info" in props]
    queued = [i.queueTime for i in infos if i.queueTime is not None]
    done = [i.completeTime for i in infos if i.completeTime is not None]
    span = (max(done) - min(queued)).total_seconds() if queued and done else 0.0
    return Measured(makespan_s=max(span, 0.0), tasks=len(infos),
                    failed_tasks=sum(1 for i in infos if str(i.state) == "error"),
                    soap_requests=sum(sim.stats().values()))
