"""The probe's workbench: throw-away VMs, task waiting, fault reading, clean-up.

Every VM the probe creates is registered here the moment its CreateVM task
is submitted, and :meth:`Lab.cleanup` powers each one off and destroys it,
whatever happened before (a refused call, an error, Ctrl-C). No other VM is
ever touched: the probe only holds morefs of VMs it created.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from pmemctl.vsphere.calls import fetch_devices
from pmemctl.vsphere.tasks import TaskWatcher, fault_message, fault_name

if TYPE_CHECKING:
    from pmemctl.probe.target import ProbeTarget
    from pmemctl.vsphere.session import Connection

vim: Any = _vim  # pyVmomi's stubs leave constructors untyped
vmodl: Any = _vmodl

DISK_MB = 64
VM_MEMORY_MB = 256
# A guest id every vCenter since 6.7 knows, with vNVDIMM support (RHEL 7.4+).
GUEST_ID = "rhel7_64Guest"
SCSI_KEY = -101
TASK_TIMEOUT_S = 600.0  # a 64 MiB disk moves in seconds; this only bounds a stuck task
CLEANUP_WAIT_S = 120.0


class TaskTimeout(Exception):
    """A task did not finish within :data:`TASK_TIMEOUT_S`."""


@dataclass
class Outcome:
    """What one call did: accepted (``ok``) or refused with ``fault``."""

    ok: bool
    fault: Any = None  # a vmodl.MethodFault
    result: Any = None
    pseudo: str | None = None  # pmemctl's own fault name: accepted, but without the effect
    text: str = ""  # the message that goes with ``pseudo``

    @property
    def fault_type(self) -> str | None:
        """The fault's type name, e.g. ``InvalidDeviceSpec`` (or the pseudo-fault)."""
        if self.ok:
            return None
        return self.pseudo or fault_name(self.fault)

    @property
    def message(self) -> str:
        """The fault's message, with the reason keys' messages vCenter hides there."""
        if self.ok:
            return ""
        if self.pseudo:
            return self.text
        text = fault_message(self.fault)
        extra = [m for m in fault_details(self.fault) if m and m not in text]
        return "; ".join([text, *extra]) if extra else text


def _walk_faults(fault: Any) -> Iterator[Any]:
    seen = 0
    while fault is not None and seen < 10:
        yield fault
        fault = getattr(fault, "faultCause", None)
        seen += 1


def fault_keys(fault: Any) -> tuple[str, ...]:
    """``faultMessage[].key`` of a fault and of its ``faultCause`` chain, in order, once each."""
    keys: list[str] = []
    for f in _walk_faults(fault):
        for m in getattr(f, "faultMessage", None) or ():
            k = str(getattr(m, "key", "") or "")
            if k and k not in keys:
                keys.append(k)
    return tuple(keys)


def fault_details(fault: Any) -> list[str]:
    """``faultMessage[].message`` of a fault and its causes (vCenter puts the reason there)."""
    out: list[str] = []
    for f in _walk_faults(fault):
        for m in getattr(f, "faultMessage", None) or ():
            msg = str(getattr(m, "message", "") or "")
            if msg and msg not in out:
                out.append(msg)
    return out


@dataclass
class Lab:
    """The session, the target and the VMs created so far."""

    conn: Connection
    target: ProbeTarget
    prefix: str  # e.g. "pmemctl-probe-3fa9c1"
    created: list[Any] = field(default_factory=list)  # VM morefs, in creation order
    _pending: list[Any] = field(default_factory=list)  # tasks submitted, not yet seen finished
    _watcher: TaskWatcher | None = None

    @property
    def stub(self) -> Any:
        """The vim SOAP stub, to bind morefs."""
        return self.conn.stub

    @property
    def watcher(self) -> TaskWatcher:
        """One TaskWatcher for the whole probe (created on first use)."""
        if self._watcher is None:
            self._watcher = TaskWatcher(self.conn.content, progress=False)
        return self._watcher

    # -- calls ----------------------------------------------------------------

    def wait(self, task: Any, timeout_s: float = TASK_TIMEOUT_S) -> Outcome:
        """Wait for ``task``; a task error is a refusal, not an exception.

        Raises:
            TaskTimeout: still running after ``timeout_s``.
        """
        self._pending.append(task)
        tid = self.watcher.add(task)
        state = self.watcher.wait_all({tid}, deadline=time.monotonic() + timeout_s)[tid]
        if not state.finished:
            raise TaskTimeout(f"task {tid} still {state.state} after {timeout_s:.0f} s")
        self._pending.remove(task)
        if state.state == "success":
            return Outcome(ok=True, result=state.result)
        return Outcome(ok=False, fault=state.error)

    def attempt(self, start: Callable[[], Any]) -> Outcome:
        """Submit a task with ``start()`` and wait; a SOAP fault at submission is a refusal."""
        try:
            task = start()
        except vmodl.MethodFault as f:
            return Outcome(ok=False, fault=f)
        return self.wait(task)

    # -- VMs ------------------------------------------------------------------

    def create_vm(self, role: str, *, version: str | None = None, disk: bool = True) -> Any:
        """Create ``<prefix>-<role>``: home on the shared datastore, a SCSI controller and
        (with ``disk``) one thin :data:`DISK_MB` MiB disk there. Returns the VM or an Outcome
        when vCenter refused.
        """
        t = self.target
        changes = [vim.vm.device.VirtualDeviceSpec(
            operation="add",
            device=vim.vm.device.ParaVirtualSCSIController(
                key=SCSI_KEY, busNumber=0, sharedBus="noSharing"))]
        if disk:
            backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                diskMode="persistent", thinProvisioned=True, fileName=f"[{t.datastore_name}]",
                datastore=t.datastore)
            changes.append(vim.vm.device.VirtualDeviceSpec(
                operation="add", fileOperation="create",
                device=vim.vm.device.VirtualDisk(
                    key=-102, controllerKey=SCSI_KEY, unitNumber=0,
                    capacityInKB=DISK_MB * 1024, backing=backing)))
        spec = vim.vm.ConfigSpec(
            name=f"{self.prefix}-{role}", guestId=GUEST_ID, numCPUs=1, memoryMB=VM_MEMORY_MB,
            files=vim.vm.FileInfo(vmPathName=f"[{t.datastore_name}]"),
            annotation="Throw-away VM of `pmemctl probe`; it deletes it when done.",
            deviceChange=changes)
        if version is not None:
            spec.version = version
        try:
            task = t.folder.CreateVM_Task(config=spec, pool=t.pool, host=t.host)
        except vmodl.MethodFault as f:
            return Outcome(ok=False, fault=f)
        out = self.wait(task)
        if not out.ok:
            return out
        vm = out.result
        self.created.append(vm)
        return vm

    def devices(self, vm: Any) -> list[Any]:
        """The VM's ``config.hardware.device``, read now (one RetrievePropertiesEx)."""
        return fetch_devices(self.conn.content, [str(vm._moId)]).get(str(vm._moId), [])

    def disks(self, vm: Any) -> list[Any]:
        """The VM's virtual disks, read now."""
        return [d for d in self.devices(vm) if isinstance(d, vim.vm.device.VirtualDisk)]

    def on_pmem(self, disk: Any) -> bool:
        """True when ``disk`` lives on the host's PMem datastore."""
        backing = disk.backing
        if isinstance(backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo):
            return True
        ds = getattr(backing, "datastore", None)
        return ds is not None and str(ds._moId) == str(self.target.pmem_datastore._moId)

    def datastore_of(self, disk: Any) -> str:
        """The datastore name in the disk's file name (``[san-01] a/b.vmdk`` → ``san-01``)."""
        name = str(getattr(disk.backing, "fileName", "") or "")
        return name[1:name.index("]")] if name.startswith("[") and "]" in name else "?"

    def power_state(self, vm: Any) -> str:
        """``runtime.powerState`` read now."""
        return str(vm.runtime.powerState)

    # -- clean-up -------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Power off and destroy every VM created; returns what could not be destroyed.

        Runs after anything, including Ctrl-C: tasks still running are waited
        for first (up to :data:`CLEANUP_WAIT_S`), since a VM with a task in
        flight may refuse Destroy_Task. A VM that is already gone counts as
        destroyed.
        """
        left: list[str] = []
        with contextlib.suppress(Exception):
            self._settle()
        for vm in reversed(self.created):
            name = str(vm._moId)
            try:
                name = str(vm.name)
                if self.power_state(vm) != "poweredOff":
                    self.wait(vm.PowerOffVM_Task(), CLEANUP_WAIT_S)
                out = self.attempt(vm.Destroy_Task)
                if not out.ok:
                    left.append(f"{name}: Destroy_Task refused: {out.fault_type}: {out.message}")
            except vmodl.fault.ManagedObjectNotFound:
                continue
            except Exception as e:  # report it; the next VM still gets destroyed
                left.append(f"{name}: {type(e).__name__}: {e}")
        self.created.clear()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        return left

    def _settle(self) -> None:
        # Tasks cut short by Ctrl-C: let them finish so Destroy_Task is not
        # refused, and pick up a VM whose CreateVM_Task completes only now.
        if not self._pending or self._watcher is None:
            return
        ids = {str(t._moId) for t in self._pending}
        states = self._watcher.wait_all(ids, deadline=time.monotonic() + CLEANUP_WAIT_S)
        for st in states.values():
            vm = st.result
            if st.state == "success" and isinstance(vm, vim.VirtualMachine) and not any(
                    str(v._moId) == str(vm._moId) for v in self.created):
                self.created.append(vm)
        self._pending.clear()
