"""Wait for many vCenter tasks (and VM power states) through ONE property filter.

Polling each task costs one request per task per poll. Instead a private
PropertyCollector holds one filter over a ListView; tasks (and VMs whose
``runtime.powerState`` we wait on, for guest shutdown) are added to the view
with ``ModifyListView`` and every change arrives through
``WaitForUpdatesEx``. Additions are batched: :meth:`TaskWatcher.wait` sends
one ``ModifyListView`` for everything added since the last wait (and drops
finished objects in the same call, or once 100 have piled up), so a migration costs its
``RelocateVM_Task`` plus a share of one ``ModifyListView`` and of the
``WaitForUpdatesEx`` calls.

An object that joins the view reports all its watched properties at once
(an "enter" update), so a task that finished before it was added is not
missed.

``info.progress`` is watched only when asked for: a running Storage vMotion
reports progress several times a second, and without a live display those
updates are load on vCenter and on pmemctl for nothing.

A server without ListView gets the fallback: the same private collector
with one filter per watched object (CreateFilter on add, DestroyPropertyFilter
when done), still drained by one WaitForUpdatesEx.

Side Effects:
    Creates a PropertyCollector and a ListView on the server;
    :meth:`TaskWatcher.close` destroys them.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from pmemctl.vsphere.collector import retrieve
from pmemctl.vsphere.faults import FaultReport, describe, fault_name, fault_text
from pmemctl.vsphere.session import stub_of

__all__ = ["TaskState", "TaskWatcher", "Update", "fault_message", "fault_name",
           "running_vm_tasks", "task_ref", "task_states"]

# pyVmomi's stubs leave data-object constructors untyped; keep the Any at the boundary.
vim: Any = _vim
vmodl: Any = _vmodl

TASK_PROPS = (
    "info.state",
    "info.progress",
    "info.error",
    "info.result",
    "info.entityName",
    "info.queueTime",
    "info.startTime",
    "info.completeTime",
)
# guest.toolsRunningStatus: after a power-on pmemctl waits for guestToolsRunning,
# as community.vmware's vmware_guest_tools_wait does (it polls; this is pushed).
VM_PROPS = ("runtime.powerState", "guest.toolsRunningStatus")
REMOVE_BATCH = 100  # finished objects dropped from the view on their own, at most this many


@dataclass
class TaskState:
    """What is known about one task (keyed by its moref id, e.g. ``task-123``)."""

    id: str
    state: str = "queued"  # queued | running | success | error
    progress: int | None = None
    error: Any = None  # a vmodl.MethodFault when state == "error"
    result: Any = None
    entity_name: str | None = None
    # The VM's moid and vCenter's descriptionId ("VirtualMachine.relocate"):
    # read by task_states, not by the watcher (its property set is fixed).
    entity_moid: str | None = None
    description_id: str | None = None
    queue_time: Any = None
    start_time: Any = None
    complete_time: Any = None
    fault: FaultReport | None = None  # set instead of ``error`` where no pyVmomi is involved

    @property
    def finished(self) -> bool:
        """True once the task succeeded or failed."""
        return self.state in ("success", "error")

    @property
    def report(self) -> FaultReport:
        """The task's fault taken apart (``UnknownFault`` when it has none)."""
        return self.fault if self.fault is not None else describe(self.error)


@dataclass
class Update:
    """One change the watcher saw: a task's new state, or a VM's power state and
    VMware Tools status (``guestToolsRunning``, ``guestToolsNotRunning``, …)."""

    obj_id: str
    task: TaskState | None = None
    power_state: str | None = None
    tools: str | None = None


def fault_message(fault: Any) -> str:
    """The fault in one line: vCenter's message, the reasons behind it, and advice.

    See :mod:`pmemctl.vsphere.faults`: vCenter's ``msg`` is often generic and
    the reason is in ``faultMessage`` and ``faultCause``.
    """
    return fault_text(fault)


@dataclass
class TaskWatcher:
    """One filter, many objects. Not thread-safe: use it from one thread.

    Usage::

        with TaskWatcher(content) as w:
            w.add(vm.RelocateVM_Task(spec))
            while not done:
                for u in w.wait(max_wait_s=1):
                    ...
    """

    content: Any  # vim.ServiceInstanceContent
    progress: bool = True  # also watch info.progress (only a live display needs it)
    list_view: bool = True  # False forces the fallback: one filter per object
    _pc: Any = None
    _view: Any = None
    _filter: Any = None
    _filters: dict[str, Any] = field(default_factory=dict)  # fallback: per-object filters
    _version: str = ""
    _to_add: list[Any] = field(default_factory=list)
    _to_remove: list[Any] = field(default_factory=list)
    _members: set[str] = field(default_factory=set)
    _objects: dict[str, Any] = field(default_factory=dict)  # members' morefs, for reopen()
    tasks: dict[str, TaskState] = field(default_factory=dict)
    power: dict[str, str] = field(default_factory=dict)
    requests: int = 0  # SOAP calls made by the watcher, for the round-trip budget

    def __post_init__(self) -> None:
        pcq = vmodl.query.PropertyCollector
        self._pc = self.content.propertyCollector.CreatePropertyCollector()
        self.requests += 1
        if self.list_view:
            try:
                self._view = self.content.viewManager.CreateListView(obj=[])
            except vmodl.MethodFault:
                self._view = None  # a server without ListView: one filter per object
            self.requests += 1
        if self._view is None:
            return
        traverse = pcq.TraversalSpec(name="view", type=vim.view.ListView, path="view",
                                     skip=False)
        spec = pcq.FilterSpec(
            objectSet=[pcq.ObjectSpec(obj=self._view, skip=True, selectSet=[traverse])],
            propSet=self._prop_set())
        self._filter = self._pc.CreateFilter(spec, partialUpdates=True)
        self.requests += 1

    def _prop_set(self) -> list[Any]:
        pcq = vmodl.query.PropertyCollector
        task_props = [p for p in TASK_PROPS if self.progress or p != "info.progress"]
        return [pcq.PropertySpec(type=vim.Task, pathSet=task_props),
                pcq.PropertySpec(type=vim.VirtualMachine, pathSet=list(VM_PROPS))]

    # -- membership ---------------------------------------------------------

    def add(self, obj: Any) -> str:
        """Watch a task (or a VM's power state) from the next :meth:`wait` on."""
        oid = str(obj._moId)
        if isinstance(obj, vim.Task):
            self.tasks.setdefault(oid, TaskState(id=oid))
        if oid not in self._members:
            self._members.add(oid)
            self._objects[oid] = obj
            self._to_add.append(obj)
        return oid

    def discard(self, obj: Any) -> None:
        """Stop watching an object (sent with the next :meth:`wait`)."""
        oid = str(obj._moId)
        if oid in self._members:
            self._members.discard(oid)
            self._objects.pop(oid, None)
            if obj in self._to_add:
                self._to_add.remove(obj)
            else:
                self._to_remove.append(obj)
        self.power.pop(oid, None)

    def _sync_view(self) -> None:
        # A finished task sends no more updates, so dropping it from the view
        # can wait for the next addition (one ModifyListView for both) unless
        # many have piled up: a round trip per finished task would be waste.
        if not self._to_add and len(self._to_remove) < REMOVE_BATCH:
            return
        add, remove = self._to_add, self._to_remove
        self._to_add, self._to_remove = [], []
        if self._view is not None:
            # One ModifyListView for the whole batch; unknown objects come back unresolved.
            self._view.ModifyListView(add=add, remove=remove)
            self.requests += 1
            return
        pcq = vmodl.query.PropertyCollector
        for obj in add:
            spec = pcq.FilterSpec(objectSet=[pcq.ObjectSpec(obj=obj)], propSet=self._prop_set())
            self._filters[str(obj._moId)] = self._pc.CreateFilter(spec, partialUpdates=True)
            self.requests += 1
        for obj in remove:
            f = self._filters.pop(str(obj._moId), None)
            if f is not None:
                with contextlib.suppress(vmodl.MethodFault):
                    f.DestroyPropertyFilter()
                self.requests += 1

    # -- waiting ------------------------------------------------------------

    def wait(self, max_wait_s: int = 1) -> list[Update]:
        """Send pending view changes, then wait up to ``max_wait_s`` for updates.

        Returns the updates seen (possibly none). Finished tasks are dropped
        from the view with the next batch, so the filter stays small.
        """
        self._sync_view()
        opts = vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=max_wait_s)
        result = self._pc.WaitForUpdatesEx(version=self._version, options=opts)
        self.requests += 1
        if result is None:
            return []
        self._version = result.version
        updates: list[Update] = []
        for fs in result.filterSet or []:
            for ou in fs.objectSet or []:
                u = self._object_update(ou)
                if u is not None:
                    updates.append(u)
        return updates

    def _object_update(self, ou: Any) -> Update | None:
        obj = ou.obj
        oid = str(obj._moId)
        if isinstance(obj, vim.Task):
            ts = self.tasks.setdefault(oid, TaskState(id=oid))
            for ch in ou.changeSet or []:
                _set_task_prop(ts, ch.name, ch.val)
            if ts.finished and oid in self._members:
                self._members.discard(oid)
                self._objects.pop(oid, None)
                self._to_remove.append(obj)
            return Update(obj_id=oid, task=ts)
        power = tools = None
        for ch in ou.changeSet or []:
            if ch.name == "runtime.powerState" and ch.val is not None:
                power = self.power[oid] = str(ch.val)
            elif ch.name == "guest.toolsRunningStatus" and ch.val is not None:
                tools = str(ch.val)
        if power is None and tools is None:
            return None
        return Update(obj_id=oid, power_state=power, tools=tools)

    def watched_tasks(self) -> list[str]:
        """Ids of the unfinished tasks being watched."""
        return [t for t, ts in self.tasks.items() if not ts.finished and t in self._members]

    def reopen(self) -> None:
        """Start over on a new collector and view, watching the same objects.

        For after a re-login: vCenter destroys a session's property
        collectors and views when the session ends. Every member joins the
        new view at the next :meth:`wait` and reports its current state.
        """
        self.close()
        self._pc = self._view = self._filter = None
        self._filters = {}
        self._version = ""
        self._to_remove = []
        self._to_add = list(self._objects.values())
        self.__post_init__()

    def wait_all(self, task_ids: set[str], max_wait_s: int = 1,
                 deadline: float | None = None) -> dict[str, TaskState]:
        """Block until every task in ``task_ids`` finished (or the deadline passed)."""
        while any(not self.tasks[t].finished for t in task_ids if t in self.tasks):
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.wait(max_wait_s)
        return {t: self.tasks[t] for t in task_ids if t in self.tasks}

    def close(self) -> None:
        """Destroy the collector and the view (best effort: the session may be gone)."""
        # Best effort: cleanup must not mask the error that ended the run.
        with contextlib.suppress(Exception):
            self._pc.DestroyPropertyCollector()
        if self._view is not None:
            with contextlib.suppress(Exception):
                self._view.DestroyView()

    def __enter__(self) -> TaskWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# TaskInfo property -> TaskState attribute.
_TASK_FIELDS = {
    "state": "state",
    "progress": "progress",
    "error": "error",
    "result": "result",
    "entityName": "entity_name",
    "entity": "entity_moid",
    "descriptionId": "description_id",
    "queueTime": "queue_time",
    "startTime": "start_time",
    "completeTime": "complete_time",
}


def _set_task_prop(ts: TaskState, name: str, val: Any) -> None:
    if name == "info":  # a server that reports the parent property
        if val is not None:
            for sub in _TASK_FIELDS:
                _set_task_prop(ts, f"info.{sub}", getattr(val, sub, None))
        return
    attr = _TASK_FIELDS.get(name.removeprefix("info."))
    if attr == "state":
        val = str(val)
    elif attr == "entity_moid":
        val = str(val._moId) if val is not None else None
    elif attr == "description_id":
        val = str(val) if val is not None else None
    elif attr == "progress":
        val = int(val) if val is not None else None
    if attr is not None:
        setattr(ts, attr, val)


def task_states(content: Any, task_ids: list[str]) -> dict[str, TaskState]:
    """Read the state of many tasks in ONE RetrievePropertiesEx.

    Tasks vCenter no longer knows are absent from the result
    (``reportMissingObjectsInResults``), rather than failing the call.
    """
    if not task_ids:
        return {}
    stub = stub_of(content.propertyCollector)
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=vim.Task(t, stub))
                   for t in task_ids],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=vim.Task, pathSet=[*TASK_PROPS, "info.entity", "info.descriptionId"])],
        reportMissingObjectsInResults=True,
    )
    out: dict[str, TaskState] = {}
    for obj, props in retrieve(content.propertyCollector, [spec]):
        ts = TaskState(id=str(obj._moId))
        for name, val in props.items():
            _set_task_prop(ts, name, val)
        out[ts.id] = ts
    return out


def running_vm_tasks(content: Any, vm_moids: set[str]) -> list[TaskState]:
    """Queued or running tasks on the given VMs, from each VM's ``recentTask``.

    This covers a task submitted by a run that was killed before it could
    journal the task id, and tasks other sessions run on those VMs. ONE
    RetrievePropertiesEx: every VM → its ``recentTask`` → the task's state.
    The entity's own list is used rather than ``taskManager.recentTask``
    because vCenter caps the latter (200) and may scope it to the session.
    """
    if not vm_moids:
        return []
    pcq = vmodl.query.PropertyCollector
    stub = stub_of(content.propertyCollector)
    traverse = pcq.TraversalSpec(name="recent", type=vim.VirtualMachine, path="recentTask",
                                 skip=False)
    spec = pcq.FilterSpec(
        objectSet=[pcq.ObjectSpec(obj=vim.VirtualMachine(m, stub), skip=True,
                                  selectSet=[traverse]) for m in sorted(vm_moids)],
        propSet=[pcq.PropertySpec(type=vim.Task,
                                  pathSet=["info.state", "info.entity", "info.descriptionId"])],
        reportMissingObjectsInResults=True,
    )
    out: dict[str, TaskState] = {}
    for obj, props in retrieve(content.propertyCollector, [spec]):
        entity = props.get("info.entity")
        state = str(props.get("info.state", ""))
        if entity is None or str(entity._moId) not in vm_moids:
            continue
        if state in ("queued", "running"):
            tid = str(obj._moId)
            out[tid] = TaskState(id=tid, state=state)
    return list(out.values())


def task_ref(stub: Any, task_id: str) -> Any:
    """A Task moref (``task-123``) bound to ``stub``."""
    return vim.Task(task_id, stub)
