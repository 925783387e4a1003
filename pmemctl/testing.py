"""Test helpers that ship with pmemctl: :class:`FakeVSphere`, an in-memory vCenter.

As httpx ships ``MockTransport``, pmemctl ships a
:class:`~pmemctl.vsphere.api.VSphere` that needs no server, so the executor,
resume, rollback and the progress output can be tested with exact outputs,
by pmemctl and by code built on it::

    from pmemctl.testing import FakeVSphere, Fault

    vs = FakeVSphere(inventory)                       # an Inventory (pmemctl.inventory.model)
    vs.fail("relocate", vm="db-01", fault=Fault("InsufficientResourcesFault", "no PMem"))
    result = apply_plan(vs, plan, inventory, ExecOptions(), journal=journal)
    assert vs.calls == ["read_devices db-01", "relocate db-01: Hard disk 1 -> PMemDS", ...]

What it models, and nothing more:

* **The estate.** Submitted steps change it when their task succeeds:
  upgrades set the hardware version, power calls the power state, a
  reconfigure adds, grows and removes NVDIMMs and adds and removes disks, a
  relocate moves disks. :meth:`FakeVSphere.snapshot` returns it as it is now.
  A few vCenter rules are enforced as vCenter faults: ``InvalidPowerState``
  (upgrade or a power change in the wrong state), ``AlreadyUpgraded``,
  ``ToolsUnavailable`` (guest shutdown without Tools); a device the plan
  names that is gone fails the submit with an ``InventoryError``, as the
  pyVmomi spec builders do.
* **Fake time.** :attr:`FakeVSphere.clock` starts at 1000.0 and moves only
  when a watcher waits (to the next event, at most ``max_wait_s``) or a test
  calls :meth:`FakeClock.advance`; nothing sleeps. Task durations per call are
  in :attr:`FakeVSphere.durations`; a task reports 50 % half-way when
  progress is watched. A guest shuts down after :attr:`FakeVSphere.shutdown_s`
  (None: never, so the executor's timeout and hard power off run).
* **Scripted faults** (:meth:`FakeVSphere.fail`): the Nth call of a kind,
  optionally for one VM, fails at submit or as a task error, with a vim-like
  name, message and ``faultMessage`` keys. :meth:`FakeVSphere.at` runs a
  callback at a fake time (e.g. the executor's :meth:`interrupt`).
* **Sessions.** :meth:`FakeVSphere.expire_session` ends the session: calls
  then fail ``NotAuthenticated`` (a wait in progress ``RequestCanceled``, when
  asked) until :meth:`relogin` or :meth:`ensure_session`.
* **The owed-power-on marker** (:meth:`FakeVSphere.set_owed_power_on`): kept
  in :attr:`~pmemctl.inventory.model.VM.owed_power_on`, as vCenter keeps the
  custom field; recorded as ``mark <vm> owed power-on`` / ``clear <vm> ...``.
* **A record** of every call in :attr:`FakeVSphere.calls`, one readable line
  each (waits are only counted, in :attr:`FakeVSphere.waits`).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal

from pmemctl.errors import InventoryError
from pmemctl.inventory.model import VM, About, Disk, Inventory, Nvdimm, PowerState, Scope
from pmemctl.plan.model import Change
from pmemctl.plan.payloads import (
    AddNvdimm,
    CreateDisk,
    GrowNvdimm,
    MigrateDisk,
    RemoveDisk,
    RemoveNvdimm,
)
from pmemctl.vsphere.actions import OffProfile, OntoShape
from pmemctl.vsphere.api import DeviceInfo, VSphereFault
from pmemctl.vsphere.faults import FaultReport, advice_for
from pmemctl.vsphere.session import ConnectionSettings
from pmemctl.vsphere.snapshot import WantDevices
from pmemctl.vsphere.tasks import TaskState, Update

__all__ = ["Call", "FakeClock", "FakeVSphere", "FakeWatcher", "Fault"]

#: The calls :meth:`FakeVSphere.fail` can script.
Call = Literal["upgrade", "power_on", "power_off", "shutdown_guest", "reconfigure", "relocate",
               "read_devices", "task_states", "running_vm_tasks", "pmem_policy_id",
               "disk_policies", "snapshot", "set_owed_power_on"]

POWERED_ON = PowerState.ON
POWERED_OFF = PowerState.OFF
FIRST_NEW_KEY = 20000  # device keys the fake gives new NVDIMMs and disks (vCenter: ~2000, 16000)


class FakeClock:
    """A :class:`~pmemctl.vsphere.api.Clock` that moves only when told.

    Both clocks read the same fake seconds, so event stamps are exact too.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        """The fake time."""
        return self.now

    def time(self) -> float:
        """The fake time (as epoch seconds)."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on (events due are run at the next wait)."""
        self.now += seconds


@dataclass(frozen=True)
class Fault:
    """A vim fault to script: class name, ``msg`` and ``faultMessage`` (key, message) pairs."""

    name: str
    message: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    existing_state: str = ""  # InvalidPowerState.existingState

    def report(self) -> FaultReport:
        """The fault as :func:`pmemctl.vsphere.faults.describe` would take it apart."""
        keys = tuple(dict.fromkeys(k for k, _ in self.messages if k))
        reasons = tuple(dict.fromkeys(m for _, m in self.messages if m))
        return FaultReport(name=self.name, message=self.message or (reasons[0] if reasons
                                                                    else self.name),
                           keys=keys, reasons=reasons, advice=advice_for(self.name, keys),
                           pairs=self.messages, existing_state=self.existing_state)


@dataclass
class _Script:
    call: str
    vm: str | None
    nth: int
    fault: Fault
    when: Literal["submit", "task"]
    seen: int = 0


@dataclass
class _Task:
    id: str
    vm: str  # name
    call: str
    state: str = "running"
    progress: int | None = None
    fault: Fault | None = None
    vm_moid: str | None = None
    queue_time: datetime | None = None


@dataclass
class FakeWatcher:
    """The :class:`~pmemctl.vsphere.api.Watcher` of a :class:`FakeVSphere`."""

    vs: FakeVSphere
    progress: bool
    _tasks: dict[str, tuple[str, int | None] | None] = field(default_factory=dict)  # last sent
    # vm moid → (power state, tools running status) last sent
    _vms: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    closed: bool = False

    def add_task(self, task_id: str) -> None:
        """Watch a task (reports its state at the next wait)."""
        self._tasks.setdefault(task_id, None)

    def add_vm(self, vm_moid: str) -> None:
        """Watch a VM's power state and Tools status (reports them at the next wait)."""
        self._vms.setdefault(vm_moid, None)

    def discard_vm(self, vm_moid: str) -> None:
        """Stop watching a VM."""
        self._vms.pop(vm_moid, None)

    def _pending(self) -> list[Update]:
        out: list[Update] = []
        for tid, sent in list(self._tasks.items()):
            t = self.vs.tasks.get(tid)
            if t is None:
                continue
            now = (t.state, t.progress if self.progress else None)
            if now != sent:
                self._tasks[tid] = now
                out.append(Update(obj_id=tid, task=self.vs.task_state(tid)))
            if t.state in ("success", "error"):
                del self._tasks[tid]
        for moid, last in list(self._vms.items()):
            vm = self.vs.vm_by_moid(moid)
            if vm is None:
                continue
            tools = "guestToolsRunning" if vm.tools_running else "guestToolsNotRunning"
            if (vm.power_state.value, tools) != last:
                self._vms[moid] = (vm.power_state.value, tools)
                out.append(Update(obj_id=moid, power_state=vm.power_state.value, tools=tools))
        return out

    def wait(self, max_wait_s: int) -> list[Update]:
        """Updates now; else move fake time to the next event (≤ ``max_wait_s``) and look again."""
        self.vs.waits += 1
        self.vs.check_alive(in_wait=True)
        updates = self._pending()
        if updates:
            return updates
        self.vs.run_until(self.vs.clock.now + max_wait_s, first_only=True)
        self.vs.check_alive(in_wait=True)
        return self._pending()

    def wait_all(self, task_ids: set[str], max_wait_s: int) -> dict[str, TaskState]:
        """Wait until every task finished (fake time runs on); their last states."""
        for t in task_ids:
            self.add_task(t)
        while any(self.vs.tasks[t].state not in ("success", "error")
                  for t in task_ids if t in self.vs.tasks):
            self.wait(max_wait_s)
        return {t: self.vs.task_state(t) for t in task_ids if t in self.vs.tasks}

    def reopen(self) -> set[str]:
        """Report every watched object's state again (a new collector after a re-login).

        Tasks the fake no longer knows (after :meth:`FakeVSphere.restart`) are
        dropped and returned, as vCenter's forgotten tasks are.
        """
        self.vs.calls.append("watch (reopened)")
        lost = {t for t in self._tasks if t not in self.vs.tasks}
        self._tasks = {t: None for t in self._tasks if t not in lost}
        self._vms = dict.fromkeys(self._vms)
        return lost

    def close(self) -> None:
        """Nothing to release."""
        self.closed = True


class FakeVSphere:
    """An in-memory :class:`~pmemctl.vsphere.api.VSphere` over a copy of ``inventory``.

    Attributes:
        inventory: the estate now (replaced as tasks succeed).
        clock: the :class:`FakeClock` the executor reads.
        calls: one line per call, in order (``"relocate db-01: Hard disk 1 -> PMemDS"``).
        waits: how many watcher waits there were.
        tasks: every task started, by id (``task-1``, ``task-2``, …).
        durations: fake seconds a task of each call takes (``relocate``: 10 s).
        shutdown_s: fake seconds a guest takes to shut down; None: it never does.
        tools_boot_s: fake seconds from a power-on until VMware Tools run
            (``tools_running``); None: they never do. VMs in ``without_tools``
            (at the start: those powered on without running Tools) never run them.
        disk_policy_ids: what :meth:`disk_policies` reports per (vm moid, disk key).
        pbm_fault: when set, PBM calls fail with it (``pmem_policy_id``) or
            answer None (``disk_policies``).
    """

    def __init__(self, inventory: Inventory, *, settings: ConnectionSettings | None = None,
                 about: About | None = None, warnings: Iterable[str] = ()) -> None:
        self.inventory = replace(inventory, vms=dict(inventory.vms))
        self.settings = settings or ConnectionSettings(host="vc.fake", port=443,
                                                       user="admin", password="")
        self.about = about or inventory.about
        self.warnings: list[str] = list(warnings)
        self.clock = FakeClock()
        self.calls: list[str] = []
        self.waits = 0
        self.tasks: dict[str, _Task] = {}
        self.durations: dict[str, float] = {"upgrade": 1.0, "power_on": 1.0, "power_off": 1.0,
                                            "reconfigure": 2.0, "relocate": 10.0}
        self.shutdown_s: float | None = 2.0
        self.tools_boot_s: float | None = 1.0
        self._boots: dict[str, int] = {}  # power state changes per VM name
        self.without_tools: set[str] = {v.name for v in inventory.vms.values()
                                        if v.power_state == POWERED_ON and not v.tools_running}
        self.disk_policy_ids: dict[tuple[str, int], list[str]] = {}
        self.pbm_fault: Fault | None = None
        self.pmem_policy = inventory.pmem_policy_id
        self.watchers: list[FakeWatcher] = []
        self.relogins = 0
        self._scripts: list[_Script] = []
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._task_ids = itertools.count(1)
        self._keys = itertools.count(FIRST_NEW_KEY)
        self._alive = True
        self._cancel_wait = False

    # -- scripting ----------------------------------------------------------

    def fail(self, call: Call, fault: Fault, *, vm: str | None = None, nth: int = 1,
             when: Literal["submit", "task"] = "task") -> None:
        """Make the ``nth`` ``call`` (of VM ``vm``, or any) fail with ``fault``.

        ``when="task"`` fails the task it starts (after its duration);
        ``"submit"`` makes the call itself raise. Reads and PBM calls always
        fail at the call.
        """
        self._scripts.append(_Script(call, vm, nth, fault, when))

    def at(self, t: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` when fake time reaches ``t`` (seconds since the start, 1000.0)."""
        heapq.heappush(self._events, (t, next(self._seq), callback))

    def expire_session(self, *, during_wait: bool = False) -> None:
        """End the session: calls fail ``NotAuthenticated`` until a re-login.

        ``during_wait``: the next watcher wait fails ``RequestCanceled``
        instead (vCenter cancels a pending WaitForUpdatesEx of an ended session).
        """
        self._alive = False
        self._cancel_wait = during_wait

    def start_task(self, vm: str, call: str = "relocate", duration: float | None = None,
                   fault: Fault | None = None) -> str:
        """A task someone else started on ``vm`` (for resume tests); returns its id."""
        return self._task(vm, call, lambda: None, duration=duration, fault=fault)

    def restart(self) -> None:
        """vCenter restarts: every task is forgotten and new ids start again at ``task-1``."""
        self.tasks.clear()
        self._task_ids = itertools.count(1)

    # -- helpers the watcher uses --------------------------------------------

    def check_alive(self, *, in_wait: bool = False) -> None:
        """Raise the fault an ended session gets."""
        if self._alive:
            return
        if in_wait and self._cancel_wait:
            self._cancel_wait = False
            raise VSphereFault(Fault("RequestCanceled", "The task was canceled by a user.")
                               .report())
        raise VSphereFault(Fault("NotAuthenticated", "The session is not authenticated.")
                           .report())

    def run_until(self, t: float, *, first_only: bool = False) -> None:
        """Run events due by ``t`` and move the clock there (or to the first event)."""
        while self._events and self._events[0][0] <= t:
            when, _, fn = heapq.heappop(self._events)
            self.clock.now = max(self.clock.now, when)
            fn()
            if first_only:
                # Run everything else due at that same instant, then report.
                while self._events and self._events[0][0] <= self.clock.now:
                    heapq.heappop(self._events)[2]()
                return
        self.clock.now = max(self.clock.now, t)

    def task_state(self, task_id: str) -> TaskState:
        """The task as a :class:`TaskState`."""
        t = self.tasks[task_id]
        return TaskState(id=t.id, state=t.state, progress=t.progress, entity_name=t.vm,
                         entity_moid=t.vm_moid, description_id=_DESCRIPTION_IDS.get(t.call),
                         queue_time=t.queue_time,
                         fault=t.fault.report() if t.fault else None)

    def vm_by_moid(self, moid: str) -> VM | None:
        """The VM with that moid, as it is now."""
        return next((v for v in self.inventory.vms.values() if v.moid == moid), None)

    # -- internals -----------------------------------------------------------

    def _name(self, moid: str) -> str:
        vm = self.vm_by_moid(moid)
        return vm.name if vm else moid

    def _call(self, call: str, line: str, vm: str | None = None,
              ) -> Fault | None:
        """Record a call; raise a submit-time scripted fault; return a task-time one."""
        self.calls.append(line)
        self.check_alive()
        for s in self._scripts:
            if s.call != call or (s.vm is not None and s.vm != vm):
                continue
            s.seen += 1
            if s.seen == s.nth:
                if s.when == "submit" or call not in self.durations:
                    raise VSphereFault(s.fault.report())
                return s.fault
        return None

    def _task(self, vm: str, call: str, effect: Callable[[], Fault | None], *,
              duration: float | None = None, fault: Fault | None = None) -> str:
        tid = f"task-{next(self._task_ids)}"
        vm_obj = self.inventory.vms.get(vm)
        task = _Task(id=tid, vm=vm, call=call, vm_moid=vm_obj.moid if vm_obj else None,
                     queue_time=datetime.fromtimestamp(self.clock.time(), timezone.utc))
        self.tasks[tid] = task
        d = self.durations.get(call, 1.0) if duration is None else duration
        start = self.clock.now

        def half() -> None:
            if task.state == "running":
                task.progress = 50

        def finish() -> None:
            if task.state != "running":
                return
            bad = fault or effect()
            task.state, task.fault = ("error", bad) if bad else ("success", None)
            task.progress = None if bad else 100

        if d > 0:
            self.at(start + d / 2, half)
        self.at(start + d, finish)
        return tid

    def _vm(self, name: str) -> VM:
        return self.inventory.vms[name]

    def _put(self, vm: VM) -> None:
        self.inventory.vms[vm.name] = vm

    # -- session ------------------------------------------------------------

    def relogin(self) -> None:
        """Log in again (always works)."""
        self.calls.append("relogin")
        self._alive, self._cancel_wait = True, False
        self.relogins += 1

    def ensure_session(self) -> bool:
        """Log in again when the session has ended; True when it had to."""
        self.calls.append("ensure_session")
        if self._alive:
            return False
        self.relogin()
        return True

    # -- reads --------------------------------------------------------------

    def snapshot(self, want_devices: WantDevices | None = None, *,
                 scope: Scope | None = None) -> Inventory:
        """The estate now, every VM's devices loaded (``want_devices``/``scope`` ignored)."""
        self._call("snapshot", "snapshot")
        return replace(self.inventory, vms={n: replace(v, devices_loaded=True)
                                            for n, v in self.inventory.vms.items()})

    def read_devices(self, vm_moids: Sequence[str]) -> dict[str, list[DeviceInfo]]:
        """NVDIMMs and disks of the VMs (unknown VMs are absent)."""
        self._call("read_devices", "read_devices " + " ".join(self._name(m) for m in vm_moids))
        out: dict[str, list[DeviceInfo]] = {}
        for m in vm_moids:
            vm = self.vm_by_moid(m)
            if vm is None:
                continue
            out[m] = ([DeviceInfo("nvdimm", n.key, n.label, n.size_mb) for n in vm.nvdimms]
                      + [DeviceInfo("disk", d.key, d.label, d.size_mb) for d in vm.disks])
        return out

    def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        """States of the tasks this fake knows."""
        self._call("task_states", "task_states " + " ".join(task_ids))
        return {t: self.task_state(t) for t in task_ids if t in self.tasks}

    def running_vm_tasks(self, vm_moids: Iterable[str]) -> list[TaskState]:
        """Running tasks on those VMs."""
        moids = set(vm_moids)
        self._call("running_vm_tasks",
                   "running_vm_tasks " + " ".join(sorted(self._name(m) for m in moids)))
        names = {self._name(m) for m in moids}
        return [TaskState(id=t.id, state=t.state) for t in self.tasks.values()
                if t.vm in names and t.state in ("queued", "running")]

    def pmem_policy_id(self) -> str:
        """:attr:`pmem_policy` (or :attr:`pbm_fault`)."""
        self._call("pmem_policy_id", "pmem_policy_id")
        if self.pbm_fault is not None:
            raise VSphereFault(self.pbm_fault.report())
        return self.pmem_policy

    def disk_policies(self, disks: Sequence[tuple[str, int]],
                      ) -> dict[tuple[str, int], list[str]] | None:
        """:attr:`disk_policy_ids` for the disks (None while :attr:`pbm_fault` is set)."""
        self._call("disk_policies", "disk_policies " + " ".join(
            f"{self._name(m)}:{k}" for m, k in disks))
        if self.pbm_fault is not None:
            return None
        return {d: list(self.disk_policy_ids.get(d, [])) for d in disks}

    # -- changes ------------------------------------------------------------

    def upgrade(self, vm_moid: str, version: str) -> str:
        """Upgrade the hardware (the VM must be off and below ``version``)."""
        name = self._name(vm_moid)
        fault = self._call("upgrade", f"upgrade {name} {version}", name)
        to = int(version.removeprefix("vmx-"))

        def effect() -> Fault | None:
            vm = self._vm(name)
            if vm.power_state != POWERED_OFF:
                return Fault("InvalidPowerState", "The attempted operation cannot be performed "
                             "in the current state (Powered on).",
                             existing_state=vm.power_state.value)
            if vm.hardware_version >= to:
                return Fault("AlreadyUpgraded", "Virtual machine compatibility is already "
                             "up-to-date.")
            self._put(replace(vm, hardware_version=to))
            return None
        return self._task(name, "upgrade", effect, fault=fault)

    def _power(self, vm_moid: str, call: str, want: PowerState) -> str:
        name = self._name(vm_moid)
        fault = self._call(call, f"{call} {name}", name)

        def effect() -> Fault | None:
            vm = self._vm(name)
            if vm.power_state == want:
                return Fault("InvalidPowerState", "The attempted operation cannot be performed "
                             f"in the current state ({vm.power_state.value}).",
                             existing_state=vm.power_state.value)
            self._put(replace(vm, power_state=want, tools_running=False))
            self._boots[name] = self._boots.get(name, 0) + 1
            if want == POWERED_ON:
                self._boot(name)
            return None
        return self._task(name, call, effect, fault=fault)

    def _boot(self, name: str) -> None:
        """VMware Tools start :attr:`tools_boot_s` after a power-on (if still on)."""
        if self.tools_boot_s is None or name in self.without_tools:
            return
        boot = self._boots.get(name, 0)

        def up() -> None:
            vm = self.inventory.vms.get(name)
            # Not powered off (or on again) since: the Tools of this boot.
            if vm is not None and self._boots.get(name, 0) == boot and vm.power_state == POWERED_ON:
                self._put(replace(vm, tools_running=True))
        self.at(self.clock.now + self.tools_boot_s, up)

    def power_on(self, vm_moid: str) -> str:
        """Power on."""
        return self._power(vm_moid, "power_on", POWERED_ON)

    def power_off(self, vm_moid: str) -> str:
        """Hard power off."""
        return self._power(vm_moid, "power_off", POWERED_OFF)

    def shutdown_guest(self, vm_moid: str) -> str | None:
        """Guest shutdown: the VM powers off after :attr:`shutdown_s` (None: never)."""
        name = self._name(vm_moid)
        self.calls.append(f"shutdown_guest {name}")
        self.check_alive()
        for s in self._scripts:
            if s.call == "shutdown_guest" and s.vm in (None, name):
                s.seen += 1
                if s.seen == s.nth:
                    return s.fault.name
        if not self._vm(name).tools_running:
            return "ToolsUnavailable"
        if self.shutdown_s is not None:
            self.at(self.clock.now + self.shutdown_s,
                    lambda: self._put(replace(self._vm(name), power_state=POWERED_OFF,
                                              tools_running=False)))
        return None

    def reconfigure(self, vm_moid: str, changes: Sequence[Change], pmem_policy_id: str) -> str:
        """Add, grow and remove NVDIMMs; add and remove disks."""
        name = self._name(vm_moid)
        vm = self._vm(name)
        keys = {n.key for n in vm.nvdimms} | {d.key for d in vm.disks}
        for c in changes:
            p = c.payload
            if isinstance(p, (GrowNvdimm, RemoveNvdimm, RemoveDisk)) and p.key not in keys:
                raise InventoryError(f"{c.vm}: {c.target} (device key {p.key}) is gone; "
                                     "run plan again")
        fault = self._call("reconfigure", f"reconfigure {name}: " + ", ".join(
            _describe(c) for c in changes), name)
        new_keys = {id(c): next(self._keys) for c in changes
                    if isinstance(c.payload, (AddNvdimm, CreateDisk))}

        def effect() -> Fault | None:
            cur = self._vm(name)
            nvdimms, disks = list(cur.nvdimms), list(cur.disks)
            ctl = cur.nvdimm_controller_key
            for c in changes:
                p = c.payload
                if isinstance(p, AddNvdimm):
                    ctl = ctl if ctl is not None else (p.controller_key or 27000)
                    nvdimms.append(Nvdimm(label=c.target, key=new_keys[id(c)],
                                          size_mb=p.size_mb, controller_key=ctl))
                elif isinstance(p, GrowNvdimm):
                    nvdimms = [replace(n, size_mb=p.size_mb) if n.key == p.key else n
                               for n in nvdimms]
                elif isinstance(p, RemoveNvdimm):
                    nvdimms = [n for n in nvdimms if n.key != p.key]
                elif isinstance(p, RemoveDisk):
                    disks = [d for d in disks if d.key != p.key]
                elif isinstance(p, CreateDisk):
                    ds = self._host_pmem(cur) if p.pmem else p.datastore.name
                    disks.append(Disk(label=c.target, key=new_keys[id(c)], size_mb=p.size_mb,
                                      datastore=ds, pmem=p.pmem,
                                      backing="pmem" if p.pmem else "flat"))
            self._put(replace(cur, nvdimms=tuple(nvdimms), disks=tuple(disks),
                              nvdimm_controller_key=ctl))
            return None
        return self._task(name, "reconfigure", effect, fault=fault)

    def _host_pmem(self, vm: VM) -> str:
        host = self.inventory.hosts.get(vm.host_moid)
        return (host.pmem_datastore if host else None) or "PMem"

    def relocate(self, vm_moid: str, changes: Sequence[Change], pmem_policy_id: str, *,
                 onto: OntoShape, off: OffProfile) -> str:
        """Move the listed disks to their targets."""
        name = self._name(vm_moid)
        keys = {d.key for d in self._vm(name).disks}
        moves: dict[int, MigrateDisk] = {}
        for c in changes:
            p = c.payload
            assert isinstance(p, MigrateDisk), c
            if p.disk_key not in keys:
                raise InventoryError(f"{c.vm}: {c.target} (device key {p.disk_key}) is gone; "
                                     "run plan again")
            moves[p.disk_key] = p
        fault = self._call("relocate", f"relocate {name}: " + ", ".join(
            f"{c.target} -> {_target(c)}" for c in changes), name)

        def effect() -> Fault | None:
            cur = self._vm(name)
            disks = []
            for d in cur.disks:
                p = moves.get(d.key)
                if p is None:
                    disks.append(d)
                    continue
                disks.append(replace(d, datastore=p.target.name, pmem=p.target.pmem,
                                     datastore_moid=p.target.moid,
                                     backing="pmem" if p.target.pmem else "flat"))
            self._put(replace(cur, disks=tuple(disks)))
            return None
        return self._task(name, "relocate", effect, fault=fault)

    def set_owed_power_on(self, vm_moid: str, value: str) -> None:
        """Set (or, with "", clear) the VM's owed-power-on marker: no task, as SetField."""
        name = self._name(vm_moid)
        self._call("set_owed_power_on",
                   f"mark {name} owed power-on" if value else f"clear {name} owed power-on",
                   name)
        self._put(replace(self._vm(name), owed_power_on=value))

    def watch(self, *, progress: bool) -> FakeWatcher:
        """A new :class:`FakeWatcher`."""
        self.calls.append("watch")
        w = FakeWatcher(self, progress)
        self.watchers.append(w)
        return w


# vCenter's TaskInfo.descriptionId per fake call (records.TASK_DESCRIPTION_IDS).
_DESCRIPTION_IDS = {"relocate": "VirtualMachine.relocate",
                    "reconfigure": "VirtualMachine.reconfigure",
                    "upgrade": "VirtualMachine.upgradeVirtualHardware",
                    "power_on": "VirtualMachine.powerOn", "power_off": "VirtualMachine.powerOff"}


def _target(c: Change) -> str:
    p = c.payload
    assert isinstance(p, MigrateDisk)
    return p.target.name


def _describe(c: Change) -> str:
    p = c.payload
    if isinstance(p, (AddNvdimm, CreateDisk, GrowNvdimm)):
        return f"{c.action.value} {c.target} {p.size_mb} MB"
    return f"{c.action.value} {c.target}"

