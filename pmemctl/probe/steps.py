"""The six probe steps. Each takes the :class:`~pmemctl.probe.lab.Lab` and returns its rows.

A step makes its own VM(s), so one step's outcome never decides another's;
a refusal is a row with ``accepted=False``, never an exception. What a row
means is in :mod:`pmemctl.probe.result`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from pmemctl.plan.model import Action, Change
from pmemctl.plan.payloads import AddNvdimm
from pmemctl.probe.lab import DISK_MB, Lab, Outcome, fault_keys
from pmemctl.probe.result import (
    NEW_PMEM_DISK,
    NVDIMM_SNAPSHOT,
    OFF_PMEM,
    ONTO_PMEM,
    PAGE_SIZE,
    UPGRADE,
    FactValue,
    ProbeStep,
)
from pmemctl.vsphere.actions import reconfigure_spec
from pmemctl.vsphere.calls import disk_policies

vim: Any = _vim  # pyVmomi's stubs leave constructors untyped
vmodl: Any = _vmodl

Step = Callable[[Lab, "StepContext"], list[ProbeStep]]
NVDIMM_MB = 16
SNAPSHOT_MODE_API = (7, 0, 3)
PAGE_SIZES: tuple[int | None, ...] = (None, 100, 1000, 10000)


class StepContext:
    """What steps share: the PMem policy id and the API version."""

    def __init__(self, pmem_policy_id: str, api: tuple[int, ...]) -> None:
        self.pmem_policy_id = pmem_policy_id
        self.api = api


def _row(name: str, shape: str, out: Outcome, note: str = "",
         facts: dict[str, FactValue] | None = None) -> ProbeStep:
    """A row from a call outcome: accepted, or refused with the fault and its keys."""
    if out.ok:
        return ProbeStep(name, shape, True, note=note, facts=facts or {})
    return ProbeStep(name, shape, False, fault=out.fault_type, fault_keys=fault_keys(out.fault),
                     note=out.message if not note else f"{note}: {out.message}",
                     facts=facts or {})


def _setup_failed(name: str, shapes: tuple[str, ...], what: str, out: Outcome) -> list[ProbeStep]:
    """Rows for shapes that could not be tried because the set-up was refused."""
    return [ProbeStep(name, s, None, fault=out.fault_type, fault_keys=fault_keys(out.fault),
                      note=f"not tried: {what} was refused: {out.message}") for s in shapes]


def _pmem_profile(ctx: StepContext) -> list[Any]:
    return [vim.vm.DefinedProfileSpec(profileId=ctx.pmem_policy_id)]


def _bind(call: Callable[[Any], Any], vm: Any) -> Callable[[], Any]:
    return lambda: call(vm)


def _reconfigure(vm: Any, spec: Any) -> Callable[[], Any]:
    return lambda: vm.ReconfigVM_Task(spec=spec)


def _relocate(lab: Lab, vm: Any, spec: Any) -> Outcome:
    return lab.attempt(lambda: vm.RelocateVM_Task(spec=spec, priority="defaultPriority"))


# -- 1. hardware upgrade --------------------------------------------------------


def upgrade(lab: Lab, ctx: StepContext) -> list[ProbeStep]:
    """UpgradeVM_Task(vmx-14) and ReconfigVM_Task(version=vmx-14), each on its own vmx-13 VM."""
    rows: list[ProbeStep] = []
    calls: dict[str, Callable[[Any], Any]] = {
        "UpgradeVM_Task": lambda vm: vm.UpgradeVM_Task(version="vmx-14"),
        "ReconfigVM_Task": lambda vm: vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(version="vmx-14")),
    }
    for shape, call in calls.items():
        vm = lab.create_vm(f"hw{len(rows) + 1}", version="vmx-13", disk=False)
        if isinstance(vm, Outcome):
            rows += _setup_failed(UPGRADE, (shape,), "creating a vmx-13 VM", vm)
            continue
        out = lab.attempt(_bind(call, vm))
        if not out.ok:
            rows.append(_row(UPGRADE, shape, out))
            continue
        after = str(vm.config.version)
        if after == "vmx-14":
            rows.append(_row(UPGRADE, shape, out, "vmx-13 → vmx-14", {"version_after": after}))
        else:
            rows.append(ProbeStep(UPGRADE, shape, False, fault="pmemctl.VersionUnchanged",
                                  note=f"the task succeeded but the VM is still {after}",
                                  facts={"version_after": after}))
    return rows


# -- 2. onto PMem ---------------------------------------------------------------


def _onto_spec(lab: Lab, ctx: StepContext, shape: str, disk: Any) -> Any:
    if shape == "device_change":
        return vim.vm.RelocateSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="edit", device=disk, profile=_pmem_profile(ctx))])
    return vim.vm.RelocateSpec(disk=[vim.vm.RelocateSpec.DiskLocator(
        diskId=disk.key, datastore=lab.target.pmem_datastore, profile=_pmem_profile(ctx))])


def _off_spec(lab: Lab, shape: str, disk: Any) -> Any:
    loc = vim.vm.RelocateSpec.DiskLocator(diskId=disk.key, datastore=lab.target.datastore)
    if shape == "default":
        loc.profile = [vim.vm.DefaultProfileSpec()]
    elif shape == "empty":
        loc.profile = [vim.vm.EmptyProfileSpec()]
    return vim.vm.RelocateSpec(disk=[loc])


def _move(lab: Lab, vm: Any, spec: Any, want_pmem: bool) -> tuple[Outcome, Any]:
    """Relocate and read the disk back; a task success that did not move it is a refusal."""
    out = _relocate(lab, vm, spec)
    disk = lab.disks(vm)[0]
    if out.ok and lab.on_pmem(disk) != want_pmem:
        return _not_moved(f"the task succeeded but the disk is still on "
                          f"{lab.datastore_of(disk)}"), disk
    return out, disk


def _not_moved(text: str) -> Outcome:
    # No vim fault says "accepted but ignored": pmemctl names it itself.
    return Outcome(ok=False, pseudo="pmemctl.NotMoved", text=text)


def _put_on_pmem(lab: Lab, ctx: StepContext, vm: Any) -> bool:
    """Get the VM's disk onto PMem with whichever shape works; True when it is there."""
    disk = lab.disks(vm)[0]
    if lab.on_pmem(disk):
        return True
    for shape in ("device_change", "locator"):
        out, disk = _move(lab, vm, _onto_spec(lab, ctx, shape, disk), want_pmem=True)
        if out.ok:
            return True
    return False


def _take_off_pmem(lab: Lab, vm: Any) -> bool:
    """Get the VM's disk off PMem with whichever profile works; True when it is off."""
    disk = lab.disks(vm)[0]
    for shape in ("default", "none", "empty"):
        if not lab.on_pmem(disk):
            return True
        _, disk = _move(lab, vm, _off_spec(lab, shape, disk), want_pmem=False)
    return not lab.on_pmem(disk)


def onto_pmem(lab: Lab, ctx: StepContext) -> list[ProbeStep]:
    """Storage vMotion of a disk onto PMem: deviceChange edit + profile, then a disk locator."""
    rows: list[ProbeStep] = []
    vm = lab.create_vm("onto")
    if isinstance(vm, Outcome):
        return _setup_failed(ONTO_PMEM, ("device_change", "locator"), "creating the VM", vm)
    for shape in ("device_change", "locator"):
        disk = lab.disks(vm)[0]
        if lab.on_pmem(disk) and not _take_off_pmem(lab, vm):
            # The disk is stuck on PMem: start the next try from a fresh VM.
            fresh = lab.create_vm(f"onto{len(rows) + 1}")
            if isinstance(fresh, Outcome):
                rows += _setup_failed(ONTO_PMEM, (shape,), "creating a fresh VM", fresh)
                continue
            vm, disk = fresh, lab.disks(fresh)[0]
        out, disk = _move(lab, vm, _onto_spec(lab, ctx, shape, disk), want_pmem=True)
        rows.append(_row(ONTO_PMEM, shape, out,
                         f"disk now on {lab.datastore_of(disk)}" if out.ok else ""))
    return rows


# -- 3. off PMem ----------------------------------------------------------------


def off_pmem(lab: Lab, ctx: StepContext) -> list[ProbeStep]:
    """Storage vMotion off PMem with no profile, DefaultProfileSpec and EmptyProfileSpec.

    Each try starts with the disk on PMem; afterwards the disk's policy is
    read from PBM (``pmem_policy_kept``: True, False, or None when PBM did
    not answer).
    """
    rows: list[ProbeStep] = []
    shapes = ("none", "default", "empty")
    vm = lab.create_vm("off")
    if isinstance(vm, Outcome):
        return _setup_failed(OFF_PMEM, shapes, "creating the VM", vm)
    for shape in shapes:
        if not _put_on_pmem(lab, ctx, vm):
            rows.append(ProbeStep(OFF_PMEM, shape, None,
                                  note="skipped: no shape moved the disk onto PMem first"))
            continue
        disk = lab.disks(vm)[0]
        out, disk = _move(lab, vm, _off_spec(lab, shape, disk), want_pmem=False)
        facts: dict[str, FactValue] = {}
        note = ""
        if out.ok:
            moid = str(vm._moId)
            # None: PBM did not answer (a server without per-disk associations).
            answer = disk_policies(lab.conn, [(moid, int(disk.key))])
            policies = None if answer is None else answer.get((moid, int(disk.key)))
            if policies is None:
                facts["pmem_policy_kept"] = None
                note = f"disk now on {lab.datastore_of(disk)}; PBM did not report its policy"
            else:
                facts["pmem_policy_kept"] = ctx.pmem_policy_id in policies
                facts["policy_ids"] = ",".join(policies)
                kept = "still has" if facts["pmem_policy_kept"] else "no longer has"
                note = f"disk now on {lab.datastore_of(disk)}; it {kept} the PMem policy"
        rows.append(_row(OFF_PMEM, shape, out, note, facts))
    return rows


# -- 4. new vPMemDisk -----------------------------------------------------------


def _pmem_disk_spec(controller_key: int, unit: int) -> Any:
    # community.vmware's shape: LocalPMem backing, no datastore, no fileName.
    return vim.vm.device.VirtualDisk(
        key=-201 - unit, controllerKey=controller_key, unitNumber=unit,
        capacityInKB=DISK_MB * 1024,
        backing=vim.vm.device.VirtualDisk.LocalPMemBackingInfo(diskMode="persistent"))


def new_pmem_disk(lab: Lab, ctx: StepContext) -> list[ProbeStep]:
    """Add a vPMemDisk (LocalPMem backing, fileOperation=create) powered off, then powered on."""
    rows: list[ProbeStep] = []
    vm = lab.create_vm("vpmemdisk", disk=False)
    if isinstance(vm, Outcome):
        return _setup_failed(NEW_PMEM_DISK, ("powered_off", "powered_on"), "creating the VM", vm)
    scsi = next(d for d in lab.devices(vm)
                if isinstance(d, vim.vm.device.VirtualSCSIController))
    for unit, shape in enumerate(("powered_off", "powered_on")):
        if shape == "powered_on":
            power = lab.attempt(vm.PowerOnVM_Task)
            if not power.ok:
                rows += _setup_failed(NEW_PMEM_DISK, (shape,), "powering the VM on", power)
                continue
        before = sum(lab.on_pmem(d) for d in lab.disks(vm))
        disk = _pmem_disk_spec(scsi.key, unit)
        spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation="add", fileOperation="create", device=disk)])
        out = lab.attempt(_reconfigure(vm, spec))
        after = sum(lab.on_pmem(d) for d in lab.disks(vm))
        if out.ok and after <= before:
            out = _not_moved("the task succeeded but no disk appeared on PMem")
        rows.append(_row(NEW_PMEM_DISK, shape, out,
                         f"{DISK_MB} MiB vPMemDisk added" if out.ok else ""))
    return rows


# -- 5. snapshot of an NVDIMM VM ------------------------------------------------


def nvdimm_snapshot(lab: Lab, ctx: StepContext) -> list[ProbeStep]:
    """CreateSnapshot_Task of an NVDIMM VM without, then with, ``pmem.snapshotMode``."""
    shapes = ("no_snapshot_mode", "independent_persistent")
    vm = lab.create_vm("nvdimm", disk=False)
    if isinstance(vm, Outcome):
        return _setup_failed(NVDIMM_SNAPSHOT, shapes, "creating the VM", vm)
    add = Change(vm=f"{lab.prefix}-nvdimm", action=Action.ADD_NVDIMM, target="NVDIMM 1",
                 before=None, after=f"{NVDIMM_MB} MiB", disruptive=False, reason="probe",
                 payload=AddNvdimm(index=1, size_mb=NVDIMM_MB, add_controller=True))
    spec = reconfigure_spec([add], lab.devices(vm), ctx.pmem_policy_id, stub=lab.stub)
    out = lab.attempt(lambda: vm.ReconfigVM_Task(spec=spec))
    if not out.ok:
        return _setup_failed(NVDIMM_SNAPSHOT, shapes, f"adding a {NVDIMM_MB} MiB NVDIMM", out)
    rows = [_snapshot(lab, vm, "no_snapshot_mode")]
    if ctx.api < SNAPSHOT_MODE_API:
        rows.append(ProbeStep(NVDIMM_SNAPSHOT, "independent_persistent", None,
                              note="skipped: ConfigSpec.pmem needs API 7.0.3 or later"))
        return rows
    if rows[0].accepted:
        # snapshotMode cannot be set while the VM has snapshots.
        gone = lab.attempt(vm.RemoveAllSnapshots_Task)
        if not gone.ok:
            rows += _setup_failed(NVDIMM_SNAPSHOT, ("independent_persistent",),
                                  "removing the first snapshot", gone)
            return rows
    mode = vim.vm.ConfigSpec(pmem=vim.vm.VirtualPMem(snapshotMode="independent_persistent"))
    set_mode = lab.attempt(lambda: vm.ReconfigVM_Task(spec=mode))
    if not set_mode.ok:
        rows.append(_row(NVDIMM_SNAPSHOT, "independent_persistent", set_mode,
                         "setting pmem.snapshotMode was refused"))
        return rows
    rows.append(_snapshot(lab, vm, "independent_persistent"))
    return rows


def _snapshot(lab: Lab, vm: Any, shape: str) -> ProbeStep:
    out = lab.attempt(lambda: vm.CreateSnapshot_Task(
        name="pmemctl-probe", description="pmemctl probe", memory=False, quiesce=False))
    return _row(NVDIMM_SNAPSHOT, shape, out, "snapshot taken" if out.ok else "")


# -- 6. PropertyCollector page sizes --------------------------------------------


def page_size(lab: Lab, ctx: StepContext) -> list[ProbeStep]:
    """First RetrievePropertiesEx page over every VM with maxObjects unset, 100, 1000, 10000.

    Reads only ``runtime.powerState`` (no names reach a recording); the rest
    of each result is cancelled with CancelRetrievePropertiesEx.
    """
    content = lab.conn.content
    pcq = vmodl.query.PropertyCollector
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    rows: list[ProbeStep] = []
    try:
        spec = pcq.FilterSpec(
            objectSet=[pcq.ObjectSpec(obj=view, skip=True, selectSet=[pcq.TraversalSpec(
                name="view", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[pcq.PropertySpec(type=vim.VirtualMachine, pathSet=["runtime.powerState"])])
        for size in PAGE_SIZES:
            shape = "unset" if size is None else str(size)
            opts = pcq.RetrieveOptions() if size is None else pcq.RetrieveOptions(maxObjects=size)
            try:
                result = content.propertyCollector.RetrievePropertiesEx(specSet=[spec],
                                                                        options=opts)
            except vmodl.MethodFault as f:
                rows.append(_row(PAGE_SIZE, shape, Outcome(ok=False, fault=f)))
                continue
            count = len(result.objects or ()) if result is not None else 0
            token = bool(result is not None and result.token)
            if token:
                content.propertyCollector.CancelRetrievePropertiesEx(token=result.token)
            more = ", more behind a token" if token else ", no token (all of them)"
            rows.append(ProbeStep(PAGE_SIZE, shape, True,
                                  note=f"first page: {count} VMs{more}",
                                  facts={"first_page_objects": count, "token": token}))
    finally:
        view.DestroyView()
    return rows


STEPS: tuple[tuple[str, Step], ...] = (
    (UPGRADE, upgrade),
    (ONTO_PMEM, onto_pmem),
    (OFF_PMEM, off_pmem),
    (NEW_PMEM_DISK, new_pmem_disk),
    (NVDIMM_SNAPSHOT, nvdimm_snapshot),
    (PAGE_SIZE, page_size),
)
