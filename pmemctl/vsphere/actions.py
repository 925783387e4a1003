"""pyVmomi specs for each apply step, and the calls that submit them.

Builders are pure functions of (changes, device objects, ids); submitters
make exactly one SOAP call and return the vCenter task it started. Nothing
here waits: :mod:`pmemctl.vsphere.tasks` does, for all tasks at once.

Choices (see the PMem API reference, sections B, C and E):

* Hardware upgrade: ``ReconfigVM_Task`` with ``spec.version`` rather than
  ``UpgradeVM_Task``: stock vcsim's UpgradeVM ignores the version, and the
  reconfigure form is accepted by every vCenter since 5.x.
* NVDIMMs and new disks of one VM: ONE ``ReconfigVM_Task``. A controller
  (key -27001) is added only when the VM has none; new NVDIMMs get an empty
  backing and the PMem policy so the platform places them on the host's PMem
  datastore. Grow sends a copy of the existing device with the larger
  ``capacityInMB``; remove uses ``fileOperation=destroy``.
* New vPMemDisk: "pattern 1" of the reference: a FlatVer2 disk with an empty
  ``fileName`` and the PMem policy, on an existing SCSI controller.
* Migrations of one VM: ONE ``RelocateVM_Task`` with a disk locator per disk;
  ``spec.datastore`` stays unset so the VM home does not move (it may never
  go to PMem anyway). Onto PMem: the host's PMem datastore plus the PMem
  policy. Off PMem: the named datastore plus that datastore's default
  policy when it is known. When it is not known (no PBM), no profile is
  sent: our guess is that vCenter then applies the destination's default,
  as it does for a plain Storage vMotion; this is unverified on real vCenter.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from pmemctl.errors import InventoryError
from pmemctl.plan.model import Action, Change
from pmemctl.vsphere.collector import retrieve
from pmemctl.vsphere.tasks import fault_name

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


def hw_version(value: Any) -> str:
    """``14``, ``"14"`` or ``"vmx-14"`` → ``"vmx-14"``."""
    text = str(value)
    if text.startswith("vmx-"):
        return text
    return f"vmx-{int(text):02d}"


def fetch_devices(content: Any, vm_moids: Sequence[str]) -> dict[str, list[Any]]:
    """``config.hardware.device`` of many VMs in ONE RetrievePropertiesEx."""
    if not vm_moids:
        return {}
    stub = content.propertyCollector._stub
    pcq = vmodl.query.PropertyCollector
    spec = pcq.FilterSpec(
        objectSet=[pcq.ObjectSpec(obj=vm_ref(stub, m)) for m in vm_moids],
        propSet=[pcq.PropertySpec(type=vim.VirtualMachine, pathSet=["config.hardware.device"])],
        reportMissingObjectsInResults=True,
    )
    return {
        str(obj._moId): list(props.get("config.hardware.device") or [])
        for obj, props in retrieve(content.propertyCollector, [spec])
    }


def _pmem_profile(policy_id: str) -> list[Any]:
    return [vim.vm.DefinedProfileSpec(profileId=policy_id)]


def upgrade_spec(change: Change) -> Any:
    """ConfigSpec that sets the hardware version to ``detail["to"]``."""
    return vim.vm.ConfigSpec(version=hw_version(change.detail["to"]))


def reconfigure_spec(changes: Sequence[Change], devices: Sequence[Any],
                     pmem_policy_id: str, datastores: Mapping[str, str],
                     stub: Any = None) -> Any:
    """ONE ConfigSpec for every NVDIMM add/grow/remove and new disk of a VM.

    ``devices`` is the VM's current ``config.hardware.device``;
    ``datastores`` maps datastore names to moids (for new non-PMem disks).

    Raises:
        InventoryError: a device named by the plan is gone, or no SCSI
            controller has a free unit for a new disk.
    """
    by_key = {d.key: d for d in devices}
    dev_changes: list[Any] = []
    nvdimm_ctl = next((d for d in devices if isinstance(d, vim.vm.device.VirtualNVDIMMController)),
                      None)
    ctl_key = nvdimm_ctl.key if nvdimm_ctl is not None else None
    next_key = -28001
    used_units = _used_units(devices)
    for c in sorted(changes, key=_reconfig_order):
        d = c.detail
        if c.action in (Action.REMOVE_NVDIMM, Action.REMOVE_DISK):
            dev_changes.append(vim.vm.device.VirtualDeviceSpec(
                operation="remove", fileOperation="destroy", device=_existing(by_key, d, c)))
        elif c.action is Action.GROW_NVDIMM:
            dev = copy.deepcopy(_existing(by_key, d, c))
            dev.capacityInMB = int(d["size_mb"])
            dev_changes.append(vim.vm.device.VirtualDeviceSpec(operation="edit", device=dev))
        elif c.action is Action.ADD_NVDIMM:
            if ctl_key is None:
                ctl_key = NVDIMM_CONTROLLER_KEY
                dev_changes.append(vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    device=vim.vm.device.VirtualNVDIMMController(
                        key=ctl_key, deviceInfo=vim.Description(label="NVDIMM controller",
                                                                summary="NVDIMM controller"))))
            dev_changes.append(vim.vm.device.VirtualDeviceSpec(
                operation="add", fileOperation="create",
                device=vim.vm.device.VirtualNVDIMM(
                    key=next_key, controllerKey=ctl_key, capacityInMB=int(d["size_mb"]),
                    deviceInfo=vim.Description(label=c.target, summary=c.target),
                    backing=vim.vm.device.VirtualNVDIMM.BackingInfo(fileName="")),
                profile=_pmem_profile(pmem_policy_id)))
            next_key -= 1
        elif c.action is Action.CREATE_DISK:
            ctl, unit = _free_scsi_unit(devices, used_units)
            used_units.setdefault(ctl, set()).add(unit)
            dev_changes.append(_new_disk(c, ctl, unit, next_key, pmem_policy_id=pmem_policy_id,
                                         datastores=datastores, stub=stub))
            next_key -= 1
        else:
            raise ValueError(f"{c.action.value} is not a reconfigure change")
    return vim.vm.ConfigSpec(deviceChange=dev_changes)


def _reconfig_order(c: Change) -> int:
    # Removals first free PMem that adds and grows of the same VM may need.
    return {Action.REMOVE_NVDIMM: 0, Action.REMOVE_DISK: 0, Action.GROW_NVDIMM: 1}.get(c.action, 2)


def _existing(by_key: Mapping[int, Any], detail: Mapping[str, Any], c: Change) -> Any:
    key = int(detail["key"])
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


def _new_disk(c: Change, ctl: int, unit: int, key: int, *, pmem_policy_id: str,
              datastores: Mapping[str, str], stub: Any) -> Any:
    d = c.detail
    backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", fileName="")
    profile = None
    if d.get("pmem"):
        profile = _pmem_profile(pmem_policy_id)  # the policy places it on the host's PMem
    else:
        name = str(d["datastore"])
        backing.fileName = f"[{name}]"
        if name in datastores:
            backing.datastore = ds_ref(stub, datastores[name])
    disk = vim.vm.device.VirtualDisk(
        key=key, controllerKey=ctl, unitNumber=unit, capacityInKB=int(d["size_mb"]) * 1024,
        backing=backing, deviceInfo=vim.Description(label=c.target, summary=c.target))
    spec = vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)
    if profile is not None:
        spec.profile = profile
    return spec


def relocate_spec(changes: Sequence[Change], pmem_policy_id: str,
                  datastores: Mapping[str, str], default_policies: Mapping[str, str],
                  stub: Any = None) -> Any:
    """ONE RelocateSpec moving every listed disk; the VM home stays where it is.

    ``datastores`` maps names to moids; ``default_policies`` maps datastore
    names to their default policy id where PBM told us.
    """
    locators = []
    for c in changes:
        d = c.detail
        to = str(d["to_datastore"])
        if to not in datastores:
            raise InventoryError(f"{c.vm}: datastore {to!r} is gone; run plan again")
        loc = vim.vm.RelocateSpec.DiskLocator(diskId=int(d["key"]),
                                              datastore=ds_ref(stub, datastores[to]))
        if d.get("to_pmem"):
            loc.profile = _pmem_profile(pmem_policy_id)
        elif d.get("policy_ids"):  # a rollback restoring the disk's own policy
            loc.profile = [vim.vm.DefinedProfileSpec(profileId=str(p)) for p in d["policy_ids"]]
        elif to in default_policies:
            loc.profile = _pmem_profile(default_policies[to])
        locators.append(loc)
    return vim.vm.RelocateSpec(disk=locators)


def submit_reconfigure(vm: Any, spec: Any) -> Any:
    """Start ReconfigVM_Task; returns the task."""
    return vm.ReconfigVM_Task(spec=spec)


def submit_relocate(vm: Any, spec: Any) -> Any:
    """Start RelocateVM_Task (default priority); returns the task."""
    return vm.RelocateVM_Task(spec=spec, priority="defaultPriority")


def submit_power_on(vm: Any) -> Any:
    """Start PowerOnVM_Task; returns the task."""
    return vm.PowerOnVM_Task()


def submit_power_off(vm: Any) -> Any:
    """Start a hard PowerOffVM_Task; returns the task."""
    return vm.PowerOffVM_Task()


def request_guest_shutdown(vm: Any) -> str | None:
    """Ask VMware Tools to shut the guest down (no task: the call returns at once).

    Returns None when the request was accepted, otherwise the fault name
    (e.g. ``ToolsUnavailable``) so the caller can fall back to a power off.
    """
    try:
        vm.ShutdownGuest()
    except vmodl.MethodFault as e:
        return fault_name(e)
    return None


def disk_policies(conn: Any, disks: Sequence[tuple[str, int]]) -> dict[tuple[str, int], list[str]]:
    """The storage policy ids of many disks, in ONE ``PbmQueryAssociatedProfiles``.

    ``disks`` holds ``(vm moid, device key)`` pairs. Best effort: the journal
    keeps the answer so that a rollback can restore a disk's own policy; a
    server without the call (vcsim) or any PBM error yields ``{}`` and
    rollback falls back to the destination datastore's default.
    """
    if not disks:
        return {}
    from pyVmomi import pbm

    pbm_any: Any = pbm
    uuid = str(getattr(conn.content.about, "instanceUuid", "") or "")
    refs = [pbm_any.ServerObjectRef(objectType="virtualDiskId", key=f"{m}:{k}",
                                    serverUuid=uuid or None) for m, k in disks]
    try:
        results: Any = conn.pbm().PbmQueryAssociatedProfiles(entities=refs)
    except Exception:  # PBM is optional here; the fallback is documented
        return {}
    out: dict[tuple[str, int], list[str]] = {}
    for r in results or ():
        key = str(getattr(r.object, "key", ""))
        moid, _, dev = key.partition(":")
        if dev.isdigit():
            out[(moid, int(dev))] = [str(p.uniqueId) for p in r.profileId or ()]
    return out
