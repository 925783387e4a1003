"""pyVmomi specs for each apply step: pure functions of (payloads, device objects, ids).

Nothing here talks to a server; :mod:`pmemctl.vsphere.calls` makes the
calls (one SOAP call each), :mod:`pmemctl.vsphere.tasks` waits for them.

Each shape is the one a real client is known to send to a real vCenter
(sources in ``tests/pmemsim/README.md`` and the real-vCenter reference):

* Hardware upgrade: ``UpgradeVM_Task(version)`` on a powered-off VM, never
  ``ReconfigVM_Task(spec.version)``: the API reference says
  ``ConfigSpec.version`` is "used only while creating a new virtual
  machine"; Terraform sent it in reconfigure specs, real vCenters failed the
  updates, and it was reverted (hashicorp/terraform-provider-vsphere#1049,
  commit 360bc614). community.vmware's ``vmware_guest`` upgrades the same way.
* NVDIMMs and new disks of one VM: ONE ``ReconfigVM_Task``. A controller
  (key -27001) is added only when the VM has none; new NVDIMMs get an empty
  backing (no datastore) and the PMem policy, as community.vmware
  (``vm_device_helper.py``) and Dell's Puppet provider send. Grow sends a
  copy of the existing device with the larger ``capacityInMB``; remove uses
  ``fileOperation=destroy``. A snapshot mode, when the plan carries one, goes
  in the same spec as ``ConfigSpec.pmem`` (7.0 U3+).
* New vPMemDisk: community.vmware's shape (``vmware_guest_disk.py``, written
  by VMware staff): a ``VirtualDisk`` with a ``LocalPMemBackingInfo``
  backing (``diskMode`` persistent), ``fileOperation=create``, no datastore,
  no profile; the platform places it on the host's PMem datastore.
* Onto PMem (default, ``device_change``): ``RelocateSpec.deviceChange`` with
  an ``edit`` of the existing disk carrying the PMem profile and no disk
  locator for it; the API reference documents deviceChange profiles as the
  way "to upgrade the virtual disk's storage to a persistent memory", and
  vCenter refuses device configurations that name the PMem datastore
  (``pMemDatastoreSetDirectly``, vmware-archive/rbvmomi#168). The older
  ``locator`` shape (a disk locator naming the PMem datastore, plus the
  profile) stays available as a spec option for a vCenter that wants it.
* Off PMem: a disk locator naming the target datastore with
  ``profile=[VirtualMachineDefaultProfileSpec()]`` ("the Default Storage
  Policy of the target datastore"), or the disk's own earlier policy on
  rollback. Without a profile the disk would keep the PMem policy on
  VMFS/NFS, which PBM then reports as non-compliant.
* ``spec.datastore`` always stays unset, so the VM home does not move (it
  may never go to PMem anyway).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from pmemctl.errors import InventoryError
from pmemctl.plan.model import Action, Change
from pmemctl.plan.payloads import (
    AddNvdimm,
    CreateDisk,
    GrowNvdimm,
    MigrateDisk,
    MigrateVm,
    PolicyRef,
    RemoveDisk,
    RemoveNvdimm,
    UpgradeHardware,
)

# pyVmomi's stubs leave data-object constructors untyped; keep the Any at the boundary.
vim: Any = _vim
vmodl: Any = _vmodl

NVDIMM_CONTROLLER_KEY = -27001
SCSI_RESERVED_UNIT = 7  # the SCSI controller itself
SCSI_MAX_UNITS = 16


def vm_ref(stub: Any, moid: str) -> Any:
    """A VirtualMachine moref bound to ``stub``."""
    return vim.VirtualMachine(moid, stub)


def ds_ref(stub: Any, moid: str) -> Any:
    """A Datastore moref bound to ``stub``."""
    return vim.Datastore(moid, stub)


def host_ref(stub: Any, moid: str) -> Any:
    """A HostSystem moref bound to ``stub``."""
    return vim.HostSystem(moid, stub)


def hw_version(value: Any) -> str:
    """``14``, ``"14"`` or ``"vmx-14"`` → ``"vmx-14"``."""
    text = str(value)
    if text.startswith("vmx-"):
        return text
    return f"vmx-{int(text):02d}"


def _pmem_profile(policy_id: str) -> list[Any]:
    return [vim.vm.DefinedProfileSpec(profileId=policy_id)]


def upgrade_version(change: Change) -> str:
    """The ``vmx-N`` an upgrade change asks for."""
    p = change.payload
    if not isinstance(p, UpgradeHardware):
        raise ValueError(f"{change.action.value} is not a hardware upgrade")
    return hw_version(p.to_version)


def reconfigure_spec(changes: Sequence[Change], devices: Sequence[Any],
                     pmem_policy_id: str, stub: Any = None) -> Any:
    """ONE ConfigSpec for every NVDIMM add/grow/remove and new disk of a VM.

    ``devices`` is the VM's current ``config.hardware.device``: edits and
    removals send the live device, new disks take a free SCSI unit. What to
    do, including whether the NVDIMM controller comes first, is the
    planner's decision in each payload.

    Raises:
        InventoryError: a device named by the plan is gone, the plan names no
            NVDIMM controller, or no SCSI controller has a free unit.
    """
    by_key = {d.key: d for d in devices}
    dev_changes: list[Any] = []
    ctl_key: int | None = None
    next_key = -28001
    used_units = _used_units(devices)
    controller_removals: list[Any] = []
    for c in sorted(changes, key=_reconfig_order):
        p = c.payload
        if isinstance(p, (RemoveNvdimm, RemoveDisk)):
            dev_changes.append(vim.vm.device.VirtualDeviceSpec(
                operation="remove", fileOperation="destroy", device=_existing(by_key, p.key, c)))
            if isinstance(p, RemoveNvdimm) and p.remove_controller_key is not None:
                # The controller has no file: a plain remove, after the NVDIMMs
                # (vCenter refuses it while one remains).
                controller_removals.append(vim.vm.device.VirtualDeviceSpec(
                    operation="remove", device=_existing(by_key, p.remove_controller_key, c)))
        elif isinstance(p, GrowNvdimm):
            dev = copy.deepcopy(_existing(by_key, p.key, c))
            dev.capacityInMB = p.size_mb
            dev_changes.append(vim.vm.device.VirtualDeviceSpec(operation="edit", device=dev))
        elif isinstance(p, AddNvdimm):
            if p.add_controller:
                ctl_key = NVDIMM_CONTROLLER_KEY
                dev_changes.append(vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    device=vim.vm.device.VirtualNVDIMMController(
                        key=ctl_key, deviceInfo=vim.Description(label="NVDIMM controller",
                                                                summary="NVDIMM controller"))))
            ctl = ctl_key if ctl_key is not None else p.controller_key
            if ctl is None:
                raise InventoryError(f"{c.vm}: the plan names no NVDIMM controller for "
                                     f"{c.target}; run plan again")
            dev_changes.append(vim.vm.device.VirtualDeviceSpec(
                operation="add", fileOperation="create",
                device=vim.vm.device.VirtualNVDIMM(
                    key=next_key, controllerKey=ctl, capacityInMB=p.size_mb,
                    deviceInfo=vim.Description(label=c.target, summary=c.target),
                    backing=vim.vm.device.VirtualNVDIMM.BackingInfo(fileName="")),
                profile=_pmem_profile(pmem_policy_id)))
            next_key -= 1
        elif isinstance(p, CreateDisk):
            ctl, unit = _free_scsi_unit(devices, used_units)
            used_units.setdefault(ctl, set()).add(unit)
            dev_changes.append(_new_disk(c, p, ctl, unit, next_key, stub=stub))
            next_key -= 1
        else:
            raise ValueError(f"{c.action.value} is not a reconfigure change")
    spec = vim.vm.ConfigSpec(deviceChange=dev_changes + controller_removals)
    mode = snapshot_mode(changes)
    if mode:
        # Same reconfigure as the NVDIMM add: vCenter refuses to set it later
        # once the VM has snapshots, and without it snapshots (backups) fail.
        spec.pmem = vim.vm.VirtualPMem(snapshotMode=mode)
    return spec


def snapshot_mode(changes: Sequence[Change]) -> str | None:
    """The NVDIMM snapshot mode the plan asks for, if any."""
    for c in changes:
        if isinstance(c.payload, AddNvdimm) and c.payload.snapshot_mode:
            return c.payload.snapshot_mode
    return None


def _reconfig_order(c: Change) -> int:
    # Removals first free PMem that adds and grows of the same VM may need.
    return {Action.REMOVE_NVDIMM: 0, Action.REMOVE_DISK: 0, Action.GROW_NVDIMM: 1}.get(c.action, 2)


def _existing(by_key: Mapping[int, Any], key: int, c: Change) -> Any:
    if key not in by_key:
        raise InventoryError(f"{c.vm}: {c.target} (device key {key}) is gone; run plan again")
    return by_key[key]


def _used_units(devices: Sequence[Any]) -> dict[int, set[int]]:
    used: dict[int, set[int]] = {}
    for d in devices:
        if d.controllerKey is not None and d.unitNumber is not None:
            used.setdefault(d.controllerKey, set()).add(d.unitNumber)
    return used


def _free_scsi_unit(devices: Sequence[Any], used: Mapping[int, set[int]]) -> tuple[int, int]:
    for d in sorted(devices, key=lambda x: x.key):
        if not isinstance(d, vim.vm.device.VirtualSCSIController):
            continue
        taken = used.get(d.key, set())
        for unit in range(SCSI_MAX_UNITS):
            if unit != SCSI_RESERVED_UNIT and unit not in taken:
                return d.key, unit
    raise InventoryError("no SCSI controller with a free unit number for the new disk")


def _new_disk(c: Change, p: CreateDisk, ctl: int, unit: int, key: int, *, stub: Any) -> Any:
    backing: Any
    if p.pmem:
        # community.vmware's shape: the LocalPMem backing alone places the disk on
        # the host's PMem datastore; naming that datastore would be refused.
        backing = vim.vm.device.VirtualDisk.LocalPMemBackingInfo(diskMode="persistent",
                                                                 fileName="")
    else:
        backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            diskMode="persistent", fileName=f"[{p.datastore.name}]")
        if p.datastore.moid:
            backing.datastore = ds_ref(stub, p.datastore.moid)
    disk = vim.vm.device.VirtualDisk(
        key=key, controllerKey=ctl, unitNumber=unit, capacityInKB=p.size_mb * 1024,
        backing=backing, deviceInfo=vim.Description(label=c.target, summary=c.target))
    return vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)


OntoShape = Literal["device_change", "locator"]
OffProfile = Literal["default", "empty", "none"]
ONTO_SHAPES: tuple[OntoShape, ...] = ("device_change", "locator")
OFF_PROFILES: tuple[OffProfile, ...] = ("default", "empty", "none")


def relocate_spec(changes: Sequence[Change], devices: Sequence[Any], pmem_policy_id: str, *,
                  onto: OntoShape = "device_change", off: OffProfile = "default",
                  stub: Any = None) -> Any:
    """ONE RelocateSpec moving every listed disk; the VM home stays where it is.

    ``devices`` is the VM's current ``config.hardware.device`` (the
    ``device_change`` shape edits the live disk). Each payload names the
    target by moid and the policy the disk gets; ``onto`` picks the shape for
    disks going onto PMem and ``off`` how "the target's default policy" is
    said (see the module docstring).

    Raises:
        InventoryError: a disk named by the plan is gone, or a target has no moid.
    """
    by_key = {d.key: d for d in devices}
    locators: list[Any] = []
    edits: list[Any] = []
    host: Any = None
    for c in changes:
        p = c.payload
        if isinstance(p, MigrateVm):
            # A drain's compute migration: spec.host (vim.vm.RelocateSpec, pyVmomi
            # docs/vim/vm/RelocateSpec.rst: "the target host for the virtual
            # machine"); spec.pool is left unset because the target is in the VM's
            # own cluster, whose pool the VM keeps (a GUESS for real vCenter; pmemsim
            # moves it to the target host's pool). NVDIMMs follow the VM to the
            # target host's PMem: the API has no locator for them.
            if not p.target.moid:
                raise InventoryError(f"{c.vm}: host {p.target.name!r} is unknown; run plan again")
            host = host_ref(stub, p.target.moid)
            continue
        if not isinstance(p, MigrateDisk):
            raise ValueError(f"{c.action.value} is not a disk migration")
        if devices:
            _same_disk(_existing(by_key, p.disk_key, c), p, c)
        if p.to_pmem and onto == "device_change":
            dev = copy.deepcopy(_existing(by_key, p.disk_key, c))
            edits.append(vim.vm.device.VirtualDeviceSpec(
                operation="edit", device=dev, profile=_pmem_profile(pmem_policy_id)))
            continue
        if not p.target.moid:
            raise InventoryError(f"{c.vm}: datastore {p.target.name!r} is unknown; run plan again")
        loc = vim.vm.RelocateSpec.DiskLocator(diskId=p.disk_key,
                                              datastore=ds_ref(stub, p.target.moid))
        profile = _profile(p.policy, pmem_policy_id, off)
        if profile is not None:
            loc.profile = profile
        locators.append(loc)
    spec = vim.vm.RelocateSpec()
    if host is not None:
        spec.host = host
    if locators:
        spec.disk = locators
    if edits:
        spec.deviceChange = edits
    return spec


def _same_disk(device: Any, p: MigrateDisk, c: Change) -> None:
    """Refuse to move a device that is not the disk the plan saw (same key, other backing)."""
    live = str(getattr(getattr(device, "backing", None), "fileName", "") or "")
    # Compare the path inside the datastore: a Storage vMotion (someone else's,
    # or one a vCenter restart hid) changes "[datastore]" but not the file.
    if p.file_name and live and _in_datastore(live) != _in_datastore(p.file_name):
        raise InventoryError(
            f"{c.vm}: {c.target} (device key {p.disk_key}) is not the disk the plan saw: its "
            f"backing was {p.file_name}, now {live}; another client changed the VM: run plan "
            "again")


def _in_datastore(file_name: str) -> str:
    """``"[san-01] vm/vm.vmdk"`` → ``"vm/vm.vmdk"``."""
    return file_name.split("] ", 1)[-1]


def _profile(policy: PolicyRef, pmem_policy_id: str, off: OffProfile) -> list[Any] | None:
    if policy.kind == "pmem":  # the locator shape, chosen explicitly
        return _pmem_profile(pmem_policy_id)
    if policy.kind == "defined" and policy.ids:  # a rollback restoring the disk's own policy
        return [vim.vm.DefinedProfileSpec(profileId=i) for i in policy.ids]
    if policy.kind in ("target_default", "defined"):
        if off == "default":
            return [vim.vm.DefaultProfileSpec()]
        if off == "empty":
            return [vim.vm.EmptyProfileSpec()]
    return None
