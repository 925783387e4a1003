"""The pyVmomi implementation of :class:`~pmemctl.vsphere.api.VSphere`.

A thin wrapper: specs come from :mod:`pmemctl.vsphere.actions`, waiting from
:class:`~pmemctl.vsphere.tasks.TaskWatcher`, task reads from
:mod:`pmemctl.vsphere.tasks`, PBM from :mod:`pmemctl.vsphere.pbm`. The SOAP
calls sent are exactly theirs; this module only turns morefs into ids and
``vmodl.MethodFault`` into :class:`~pmemctl.vsphere.api.VSphereFault` at the
boundary.

It keeps the devices :meth:`VCenter.read_devices` read, because reconfigure
and relocate specs edit the live device objects: one read for every VM a run
edits, refreshed after each reconfigure, as before the seam existed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyVmomi import vmodl

from pmemctl.inventory.model import OWED_POWER_ON_FIELD, About, Inventory, Scope
from pmemctl.plan.model import Change
from pmemctl.vsphere import actions, calls, tasks
from pmemctl.vsphere.actions import OffProfile, OntoShape
from pmemctl.vsphere.api import Clock, DeviceInfo, SystemClock, VSphereFault
from pmemctl.vsphere.faults import describe
from pmemctl.vsphere.pbm import find_pmem_policy_id
from pmemctl.vsphere.session import Connection, ConnectionSettings
from pmemctl.vsphere.snapshot import WantDevices, take_snapshot
from pmemctl.vsphere.tasks import TaskState, TaskWatcher, Update


@contextmanager
def _faults() -> Iterator[None]:
    """vim faults leave as :class:`VSphereFault`; everything else as it is."""
    try:
        yield
    except vmodl.MethodFault as e:
        raise VSphereFault(describe(e)) from e


def device_info(d: Any) -> DeviceInfo:
    """A pyVmomi ``VirtualDevice`` as a :class:`DeviceInfo`."""
    label = str(getattr(getattr(d, "deviceInfo", None), "label", "") or "")
    if isinstance(d, actions.vim.vm.device.VirtualNVDIMM):
        return DeviceInfo("nvdimm", int(d.key), label, int(d.capacityInMB or 0))
    if isinstance(d, actions.vim.vm.device.VirtualDisk):
        return DeviceInfo("disk", int(d.key), label, int(d.capacityInKB or 0) // 1024)
    return DeviceInfo("other", int(d.key), label)


class VCenterWatcher:
    """:class:`~pmemctl.vsphere.api.Watcher` over one :class:`TaskWatcher`."""

    def __init__(self, conn: Connection, progress: bool) -> None:
        self._morefs = conn.stub
        with _faults():
            self.tasks = TaskWatcher(conn.content, progress=progress)
        self._vms: dict[str, Any] = {}  # the morefs added, so discard sends the same object

    def add_task(self, task_id: str) -> None:
        """Watch a task."""
        self.tasks.add(tasks.task_ref(self._morefs, task_id))

    def add_vm(self, vm_moid: str) -> None:
        """Watch a VM's power state."""
        vm = self._vms.setdefault(vm_moid, actions.vm_ref(self._morefs, vm_moid))
        self.tasks.add(vm)

    def discard_vm(self, vm_moid: str) -> None:
        """Stop watching a VM."""
        vm = self._vms.pop(vm_moid, None)
        if vm is not None:
            self.tasks.discard(vm)

    def wait(self, max_wait_s: int) -> list[Update]:
        """One ``WaitForUpdatesEx`` (after the batched ``ModifyListView``)."""
        with _faults():
            return self.tasks.wait(max_wait_s)

    def wait_all(self, task_ids: set[str], max_wait_s: int) -> dict[str, TaskState]:
        """Wait until every task finished."""
        with _faults():
            return self.tasks.wait_all(task_ids, max_wait_s)

    def reopen(self) -> set[str]:
        """A new collector and view after a re-login; the tasks vCenter forgot are dropped."""
        with _faults():
            watched = self.tasks.watched_tasks()
            known = tasks.task_states(self.tasks.content, watched) if watched else {}
            lost = set(watched) - set(known)
            for t in lost:
                self.tasks.discard(tasks.task_ref(self._morefs, t))
                # And its last state: no update will ever finish it, so a later
                # wait_all over it would wait out its deadline.
                self.tasks.tasks.pop(t, None)
            self.tasks.reopen()
        return lost

    def close(self) -> None:
        """Destroy the collector and view."""
        self.tasks.close()


class VCenter:
    """:class:`~pmemctl.vsphere.api.VSphere` over a logged-in :class:`Connection`."""

    def __init__(self, conn: Connection, clock: Clock | None = None) -> None:
        self.conn = conn
        self.settings: ConnectionSettings = conn.settings
        self.about: About = conn.about
        self.warnings: list[str] = conn.warnings
        self.clock: Clock = clock or SystemClock()
        self._devices: dict[str, list[Any]] = {}  # vm moid → pyVmomi devices last read
        self._owed_key: int | None = None  # the owed-power-on custom field's key, once known

    # -- session ------------------------------------------------------------

    def relogin(self) -> None:
        """:meth:`Connection.relogin`."""
        self.conn.relogin()

    def ensure_session(self) -> bool:
        """:meth:`Connection.ensure_session`."""
        return self.conn.ensure_session()

    # -- reads --------------------------------------------------------------

    def snapshot(self, want_devices: WantDevices | None = None, *,
                 scope: Scope | None = None) -> Inventory:
        """:func:`~pmemctl.vsphere.snapshot.take_snapshot`."""
        return take_snapshot(self.conn, want_devices=want_devices, scope=scope)

    def read_devices(self, vm_moids: Sequence[str]) -> dict[str, list[DeviceInfo]]:
        """ONE RetrievePropertiesEx of ``config.hardware.device``; kept for the specs."""
        with _faults():
            raw = calls.fetch_devices(self.conn.content, vm_moids)
        self._devices.update(raw)
        return {m: [device_info(d) for d in devs] for m, devs in raw.items()}

    def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        """ONE RetrievePropertiesEx of the tasks."""
        with _faults():
            return tasks.task_states(self.conn.content, list(task_ids))

    def running_vm_tasks(self, vm_moids: Iterable[str]) -> list[TaskState]:
        """ONE RetrievePropertiesEx over the VMs' ``recentTask``."""
        with _faults():
            return tasks.running_vm_tasks(self.conn.content, set(vm_moids))

    def pmem_policy_id(self) -> str:
        """:func:`~pmemctl.vsphere.pbm.find_pmem_policy_id`."""
        with _faults():
            return find_pmem_policy_id(self.conn)

    def disk_policies(self, disks: Sequence[tuple[str, int]],
                      ) -> dict[tuple[str, int], list[str]] | None:
        """:func:`~pmemctl.vsphere.calls.disk_policies`."""
        return calls.disk_policies(self.conn, disks)

    # -- changes ------------------------------------------------------------

    def _vm(self, moid: str) -> Any:
        return actions.vm_ref(self.conn.stub, moid)

    def _submit(self, call: Callable[[], Any]) -> str:
        with _faults():
            return str(call()._moId)

    def upgrade(self, vm_moid: str, version: str) -> str:
        """``UpgradeVM_Task``."""
        return self._submit(lambda: calls.submit_upgrade(self._vm(vm_moid), version))

    def power_on(self, vm_moid: str) -> str:
        """``PowerOnVM_Task``."""
        return self._submit(lambda: calls.submit_power_on(self._vm(vm_moid)))

    def power_off(self, vm_moid: str) -> str:
        """``PowerOffVM_Task``."""
        return self._submit(lambda: calls.submit_power_off(self._vm(vm_moid)))

    def shutdown_guest(self, vm_moid: str) -> str | None:
        """``ShutdownGuest``; None when accepted, else the fault name."""
        return calls.request_guest_shutdown(self._vm(vm_moid))

    def reconfigure(self, vm_moid: str, changes: Sequence[Change], pmem_policy_id: str) -> str:
        """ONE ``ReconfigVM_Task`` built by :func:`~pmemctl.vsphere.actions.reconfigure_spec`."""
        spec = actions.reconfigure_spec(changes, self._devices.get(vm_moid, []), pmem_policy_id,
                                        self.conn.stub)
        return self._submit(lambda: calls.submit_reconfigure(self._vm(vm_moid), spec))

    def relocate(self, vm_moid: str, changes: Sequence[Change], pmem_policy_id: str, *,
                 onto: OntoShape, off: OffProfile) -> str:
        """ONE ``RelocateVM_Task`` built by :func:`~pmemctl.vsphere.actions.relocate_spec`."""
        spec = actions.relocate_spec(changes, self._devices.get(vm_moid, []), pmem_policy_id,
                                     onto=onto, off=off, stub=self.conn.stub)
        return self._submit(lambda: calls.submit_relocate(self._vm(vm_moid), spec))

    def set_owed_power_on(self, vm_moid: str, value: str) -> None:
        """``SetField`` of the owed-power-on field (``AddCustomFieldDef`` once, if missing)."""
        with _faults():
            if self._owed_key is None:
                self._owed_key = calls.owed_field_key(self.conn.content, OWED_POWER_ON_FIELD)
            calls.set_field(self.conn.content, self._vm(vm_moid), self._owed_key, value)

    def watch(self, *, progress: bool) -> VCenterWatcher:
        """A :class:`VCenterWatcher` (creates a PropertyCollector and a ListView)."""
        return VCenterWatcher(self.conn, progress)
