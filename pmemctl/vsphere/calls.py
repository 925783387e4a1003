"""The SOAP calls apply makes: one call each, returning the task it started.

Nothing here waits (:mod:`pmemctl.vsphere.tasks` does, for all tasks at
once) and nothing builds a spec (:mod:`pmemctl.vsphere.actions` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from pmemctl.vsphere.actions import vm_ref
from pmemctl.vsphere.collector import retrieve
from pmemctl.vsphere.session import stub_of
from pmemctl.vsphere.tasks import fault_name

# pyVmomi's stubs leave data-object constructors untyped; keep the Any at the boundary.
vim: Any = _vim
vmodl: Any = _vmodl


def fetch_devices(content: Any, vm_moids: Sequence[str]) -> dict[str, list[Any]]:
    """``config.hardware.device`` of many VMs in ONE RetrievePropertiesEx."""
    if not vm_moids:
        return {}
    stub = stub_of(content.propertyCollector)
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


def submit_upgrade(vm: Any, version: str) -> Any:
    """Start ``UpgradeVM_Task(version)``; returns the task.

    ``AlreadyUpgraded`` (the VM is at that version or newer) is not an
    error for pmemctl: the executor treats it as done.
    """
    return vm.UpgradeVM_Task(version=version)


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


def owed_field_key(content: Any, name: str) -> int:
    """The key of the VM custom field ``name``, defined first when it is not yet.

    Reads ``customFieldsManager.field``; when absent, ``AddCustomFieldDef``
    (moType VirtualMachine). A run that lost the race to define it gets
    ``DuplicateName`` and reads the definition again.
    """
    cfm = content.customFieldsManager

    def find() -> int | None:
        for f in cfm.field or ():
            if f.name == name and f.managedObjectType in (None, "", _vim.VirtualMachine):
                return int(f.key)
        return None

    key = find()
    if key is not None:
        return key
    try:
        return int(cfm.AddCustomFieldDef(name=name, moType=_vim.VirtualMachine).key)
    except _vim.fault.DuplicateName:
        found = find()
        if found is None:
            raise
        return found


def set_field(content: Any, vm: Any, key: int, value: str) -> None:
    """``CustomFieldsManager.SetField`` on a VM (no task; works powered on)."""
    content.customFieldsManager.SetField(entity=vm, key=key, value=value)


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


def disk_policies(conn: Any, disks: Sequence[tuple[str, int]],
                  ) -> dict[tuple[str, int], list[str]] | None:
    """The storage policy ids of many disks, in ONE ``PbmQueryAssociatedProfiles``.

    ``disks`` holds ``(vm moid, device key)`` pairs. Best effort: the journal
    keeps the answer so that a rollback can restore a disk's own policy; a
    server without the call (stock vcsim) or any PBM error yields None and
    rollback falls back to the destination datastore's default policy.
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
        return None
    out: dict[tuple[str, int], list[str]] = {}
    for r in results or ():
        key = str(getattr(r.object, "key", ""))
        moid, _, dev = key.partition(":")
        if dev.isdigit():
            out[(moid, int(dev))] = [str(p.uniqueId) for p in r.profileId or ()]
    return out
