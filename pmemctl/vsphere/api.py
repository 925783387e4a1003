"""The seam between pmemctl's apply logic and vCenter: the :class:`VSphere` protocol.

The executor, resume and the apply/rollback runs talk to vCenter only
through this protocol, in pmemctl's own values: task ids (``task-123``),
:class:`~pmemctl.vsphere.tasks.TaskState` and
:class:`~pmemctl.vsphere.tasks.Update`, :class:`DeviceInfo`, and
:class:`VSphereFault` carrying a :class:`~pmemctl.vsphere.faults.FaultReport`.
No pyVmomi object crosses it.

Two implementations:

* :class:`pmemctl.vsphere.vcenter.VCenter`: pyVmomi, over a logged-in
  :class:`~pmemctl.vsphere.session.Connection` (the SOAP calls are the ones
  :mod:`pmemctl.vsphere.actions` and :mod:`pmemctl.vsphere.tasks` document).
* :class:`pmemctl.testing.FakeVSphere`: an in-memory estate in fake time, for
  unit tests of pmemctl and of code built on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pmemctl.inventory.model import OWED_POWER_ON_FIELD, About, Inventory, Scope
from pmemctl.plan.model import Change
from pmemctl.vsphere.faults import FaultReport

if TYPE_CHECKING:
    from pmemctl.vsphere.actions import OffProfile, OntoShape
    from pmemctl.vsphere.session import ConnectionSettings
    from pmemctl.vsphere.snapshot import WantDevices
    from pmemctl.vsphere.tasks import TaskState, Update

__all__ = ["OWED_POWER_ON_FIELD", "Clock", "DeviceInfo", "DeviceKind", "SystemClock", "VSphere",
           "VSphereFault", "Watcher"]

#: What :meth:`VSphere.read_devices` tells apart; everything else is ``other``.
DeviceKind = Literal["nvdimm", "disk", "other"]


class VSphereFault(Exception):
    """A vim fault a call raised, taken apart (name, message, faultMessage keys)."""

    def __init__(self, report: FaultReport) -> None:
        super().__init__(f"{report.name}: {report.message}")
        self.report = report

    @property
    def name(self) -> str:
        """The vim fault class name, e.g. ``NotAuthenticated``."""
        return self.report.name


@dataclass(frozen=True)
class DeviceInfo:
    """One virtual device of a VM, as much as apply needs (created-device records)."""

    kind: DeviceKind
    key: int
    label: str = ""
    size_mb: int = 0


class Clock(Protocol):
    """Where the executor reads time: monotonic for deadlines, wall for event stamps."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""

    def time(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    """The real clocks (:func:`time.monotonic`, :func:`time.time`)."""

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """:func:`time.time`."""
        return time.time()


class Watcher(Protocol):
    """Many tasks (and VM power states) watched at once; one per run, one thread."""

    def add_task(self, task_id: str) -> None:
        """Watch a task from the next :meth:`wait` on (a finished one reports at once)."""

    def add_vm(self, vm_moid: str) -> None:
        """Watch a VM's ``runtime.powerState`` (a guest shutdown has no task)."""

    def discard_vm(self, vm_moid: str) -> None:
        """Stop watching a VM."""

    def wait(self, max_wait_s: int) -> list[Update]:
        """Wait up to ``max_wait_s`` for changes; returns those seen (maybe none).

        Raises:
            VSphereFault: e.g. ``NotAuthenticated``, or ``RequestCanceled``
                when the session ended during the wait.
        """

    def wait_all(self, task_ids: set[str], max_wait_s: int) -> dict[str, TaskState]:
        """Wait until every task in ``task_ids`` finished; their last states."""

    def reopen(self) -> set[str]:
        """Start over after a re-login, watching the same objects.

        Returns the ids of watched, unfinished tasks that vCenter no longer
        knows (after a restart it forgets its task history); they are not
        watched any more.
        """

    def close(self) -> None:
        """Release what the watcher holds on the server (best effort)."""


class VSphere(Protocol):
    """What apply, resume and rollback need from a vCenter.

    Submitters return the id of the task they started and raise
    :class:`VSphereFault` when vCenter refuses the call.
    """

    settings: ConnectionSettings
    about: About
    warnings: list[str]
    clock: Clock

    # -- session ------------------------------------------------------------

    def relogin(self) -> None:
        """Log in again after the session ended (raises SessionError when that fails)."""

    def ensure_session(self) -> bool:
        """Log in again when the session has ended; True when it had to."""

    # -- reads --------------------------------------------------------------

    def snapshot(self, want_devices: WantDevices | None = None, *,
                 scope: Scope | None = None) -> Inventory:
        """The estate now (see :func:`pmemctl.vsphere.snapshot.take_snapshot`)."""

    def read_devices(self, vm_moids: Sequence[str]) -> dict[str, list[DeviceInfo]]:
        """The devices of many VMs in one read; later reconfigures edit these."""

    def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        """The states of many tasks in one read; unknown tasks are absent."""

    def running_vm_tasks(self, vm_moids: Iterable[str]) -> list[TaskState]:
        """Queued or running tasks on the given VMs (their ``recentTask``)."""

    def pmem_policy_id(self) -> str:
        """The PMem storage policy id from PBM (raises PmemctlError when there is none)."""

    def disk_policies(self, disks: Sequence[tuple[str, int]],
                      ) -> dict[tuple[str, int], list[str]] | None:
        """The policy ids of ``(vm moid, disk key)`` pairs; None when PBM does not say."""

    # -- changes ------------------------------------------------------------

    def upgrade(self, vm_moid: str, version: str) -> str:
        """Start a hardware upgrade to ``version`` (``vmx-14``)."""

    def power_on(self, vm_moid: str) -> str:
        """Start a power on."""

    def power_off(self, vm_moid: str) -> str:
        """Start a hard power off."""

    def shutdown_guest(self, vm_moid: str) -> str | None:
        """Ask the guest to shut down; None when accepted, else the fault name."""

    def reconfigure(self, vm_moid: str, changes: Sequence[Change], pmem_policy_id: str) -> str:
        """Start ONE reconfigure for the VM's NVDIMM and new-disk changes.

        Raises:
            InventoryError: a device the plan names is gone (nothing was sent).
        """

    def relocate(self, vm_moid: str, changes: Sequence[Change], pmem_policy_id: str, *,
                 onto: OntoShape, off: OffProfile) -> str:
        """Start ONE relocate moving the listed disks, in the given call shapes.

        Raises:
            InventoryError: a disk the plan names is gone (nothing was sent).
        """

    def set_owed_power_on(self, vm_moid: str, value: str) -> None:
        """Set the VM's ``pmemctl.owed-power-on`` custom field; ``""`` clears it.

        A custom field, not extraConfig: ``SetField`` works on a powered-on VM
        with no reconfigure task, and vCenter keeps it across any pmemctl
        run (see :data:`OWED_POWER_ON_FIELD`).

        Raises:
            VSphereFault: e.g. ``NoPermission`` (``Global.SetCustomValue``).
        """

    def watch(self, *, progress: bool) -> Watcher:
        """A new :class:`Watcher`; ``progress`` also reports task progress."""
