"""Read the estate into an immutable :class:`~pmemctl.inventory.model.Inventory`.

Everything goes through the PropertyCollector in a fixed number of round
trips, whatever the size of the estate. A ``plan`` that selects 50 VMs of
5,000 costs, login and logout included::

    RetrieveServiceContent, Login                 (session.connect)
    CreateContainerView                           one recursive view of the root folder
    RetrievePropertiesEx (+ Continue… per page)   light pass: every VM, host, datastore, …
    DestroyView
    RetrievePropertiesEx                          device pass: the selected VMs' devices
    QueryConfigOptionEx                           guest-OS PMem support of their guest ids
    Logout

Managed-object attributes are never read directly (each such read is a
round trip); results are keyed by moid in plain dicts and turned into model
values at the end.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pyVmomi import vim, vmodl

from pmemctl.errors import InventoryError
from pmemctl.inventory.model import (
    VM,
    About,
    Datastore,
    Disk,
    GuestSupport,
    Host,
    Inventory,
    Nvdimm,
)
from pmemctl.vsphere.collector import MAX_OBJECTS, retrieve

if TYPE_CHECKING:
    from pmemctl.vsphere.session import Connection

MIB = 1024 * 1024

# The light pass: what the planner and `status` need about every object.
LIGHT_PROPS: dict[type[Any], list[str]] = {
    vim.VirtualMachine: [
        "name",
        "parent",
        "runtime.host",
        "runtime.powerState",
        "config.version",
        "config.guestId",
        "config.template",
        "config.files.vmPathName",
        "guest.toolsRunningStatus",
        "snapshot.rootSnapshotList",
        "datastore",
    ],
    vim.HostSystem: [
        "name",
        "parent",
        "hardware.persistentMemoryInfo",
        "summary.quickStats.availablePMemCapacity",
        "capability.pMemSupported",
        "datastore",
        "runtime.connectionState",
        "runtime.inMaintenanceMode",
    ],
    vim.Datastore: ["name", "summary.type", "summary.capacity", "summary.freeSpace", "host"],
    # ComputeResource also matches ClusterComputeResource (a subtype).
    vim.ComputeResource: ["name", "environmentBrowser"],
    vim.Folder: ["name", "parent"],
    vim.Datacenter: ["name", "vmFolder"],
}
DEVICE_PROPS = ["config.hardware.device"]

WantDevices = Callable[[Inventory], Iterable[str]]

# pyVmomi's stubs leave data-object constructors untyped; keep the Any here.
_PC: Any = vmodl.query.PropertyCollector
_QUERY_SPEC: Any = vim.EnvironmentBrowser.ConfigOptionQuerySpec


def _moid(ref: Any) -> str:
    return str(ref._moId)


def _retrieve(conn: Connection, spec: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield ``(object ref, {path: value})`` over every page of one filter spec."""
    # MAX_OBJECTS is read at call time so a test can force small pages.
    return retrieve(conn.content.propertyCollector, [spec], max_objects=MAX_OBJECTS)


def _light_spec(view: Any) -> Any:
    pc = _PC
    traverse = pc.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)
    return pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
        propSet=[pc.PropertySpec(type=t, pathSet=paths) for t, paths in LIGHT_PROPS.items()],
    )


def _count_snapshots(trees: Any) -> int:
    total = 0
    stack = list(trees or ())
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node.childSnapshotList or ())
    return total


_VMX_RE = re.compile(r"^vmx-(\d+)$")
_DS_RE = re.compile(r"^\[([^\]]*)\]")


def _hw_version(text: Any) -> int:
    m = _VMX_RE.match(str(text or ""))
    return int(m.group(1)) if m else 0


def _datastore_of_path(path: Any) -> str:
    m = _DS_RE.match(str(path or ""))
    return m.group(1) if m else ""


@dataclass
class _Raw:
    """The light pass, by moid, before it becomes model values."""

    vms: dict[str, dict[str, Any]] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    datastores: dict[str, dict[str, Any]] = field(default_factory=dict)
    computes: dict[str, dict[str, Any]] = field(default_factory=dict)
    cluster_ids: set[str] = field(default_factory=set)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    vm_roots: set[str] = field(default_factory=set)  # moids of datacenters' vm folders
    vm_refs: dict[str, Any] = field(default_factory=dict)


def _read_light(conn: Connection) -> _Raw:
    content = conn.content
    raw = _Raw()
    view = content.viewManager.CreateContainerView(
        container=content.rootFolder, type=list(LIGHT_PROPS), recursive=True
    )
    try:
        for ref, props in _retrieve(conn, _light_spec(view)):
            moid = _moid(ref)
            if isinstance(ref, vim.VirtualMachine):
                raw.vms[moid] = props
                raw.vm_refs[moid] = ref
            elif isinstance(ref, vim.HostSystem):
                raw.hosts[moid] = props
            elif isinstance(ref, vim.Datastore):
                raw.datastores[moid] = props
            elif isinstance(ref, vim.ComputeResource):
                raw.computes[moid] = props
                if isinstance(ref, vim.ClusterComputeResource):
                    raw.cluster_ids.add(moid)
            elif isinstance(ref, vim.Folder):
                raw.folders[moid] = props
            elif isinstance(ref, vim.Datacenter) and props.get("vmFolder") is not None:
                raw.vm_roots.add(_moid(props["vmFolder"]))
    finally:
        # The view lives in the session until destroyed; never leak it.
        view.DestroyView()
    return raw


def _folder_path(raw: _Raw, parent: Any, cache: dict[str, str]) -> str:
    """``Legacy/Old`` for a VM in vm/Legacy/Old, ``""`` at the datacenter's vm folder."""
    if parent is None:
        return ""
    start = _moid(parent)
    if start in cache:
        return cache[start]
    names: list[str] = []
    moid: str | None = start
    seen: set[str] = set()
    while moid is not None and moid not in raw.vm_roots and moid in raw.folders:
        if moid in seen:  # defensive: a cycle would be a server bug
            break
        seen.add(moid)
        if moid in cache:
            names.append(cache[moid])
            break
        f = raw.folders[moid]
        names.append(str(f.get("name", "")))
        p = f.get("parent")
        moid = _moid(p) if p is not None and isinstance(p, vim.Folder) else None
    path = "/".join(n for n in reversed(names) if n)
    cache[start] = path
    return path


def _build_light(raw: _Raw, about: About) -> tuple[Inventory, dict[str, str], dict[str, list[str]]]:
    """Model values from the light pass.

    Returns the inventory (devices not loaded), a map VM name -> moid, and
    duplicate VM names -> their folder paths.
    """
    ds_name = {m: str(p.get("name", m)) for m, p in raw.datastores.items()}
    host_name = {m: str(p.get("name", m)) for m, p in raw.hosts.items()}
    cluster_name = {m: str(raw.computes[m].get("name", m)) for m in raw.cluster_ids}

    datastores: dict[str, Datastore] = {}
    for moid, p in raw.datastores.items():
        mounts = []
        for mount in p.get("host") or ():
            info = mount.mountInfo
            if info is not None and info.accessible is False:
                continue
            h = _moid(mount.key)
            if h in host_name:
                mounts.append(host_name[h])
        datastores[ds_name[moid]] = Datastore(
            name=ds_name[moid],
            moid=moid,
            type=str(p.get("summary.type") or ""),
            capacity_mb=int(p.get("summary.capacity") or 0) // MIB,
            free_mb=int(p.get("summary.freeSpace") or 0) // MIB,
            hosts=tuple(sorted(mounts)),
        )

    hosts: dict[str, Host] = {}
    for moid, p in raw.hosts.items():
        parent = p.get("parent")
        cluster = cluster_name.get(_moid(parent)) if parent is not None else None
        ds_names = sorted(ds_name[_moid(d)] for d in p.get("datastore") or ()
                          if _moid(d) in ds_name)
        pmem_ds = next((n for n in ds_names if datastores[n].is_pmem), None)
        info = p.get("hardware.persistentMemoryInfo")
        hosts[host_name[moid]] = Host(
            name=host_name[moid],
            moid=moid,
            cluster=cluster,
            pmem_capacity_mb=int(getattr(info, "capacityInMB", 0) or 0),
            pmem_free_mb=int(p.get("summary.quickStats.availablePMemCapacity") or 0),
            pmem_datastore=pmem_ds,
            pmem_supported=bool(p.get("capability.pMemSupported")),
            datastores=tuple(ds_names),
            connected=str(p.get("runtime.connectionState") or "connected") == "connected",
            maintenance=bool(p.get("runtime.inMaintenanceMode")),
        )
    host_cluster = {h.moid: h.cluster for h in hosts.values()}

    vms: dict[str, VM] = {}
    name_to_moid: dict[str, str] = {}
    dup_folders: dict[str, list[str]] = defaultdict(list)
    folder_cache: dict[str, str] = {}
    # Sort by moid so that the VM kept for a duplicated name is stable.
    for moid in sorted(raw.vms, key=_moid_sort_key):
        p = raw.vms[moid]
        if p.get("config.template"):
            continue  # templates cannot run, so they never hold PMem in use
        name = str(p.get("name", moid))
        folder = _folder_path(raw, p.get("parent"), folder_cache)
        host_ref = p.get("runtime.host")
        hmoid = _moid(host_ref) if host_ref is not None else ""
        vm = VM(
            name=name,
            moid=moid,
            host=host_name.get(hmoid, ""),
            cluster=host_cluster.get(hmoid),
            folder=folder,
            hardware_version=_hw_version(p.get("config.version")),
            guest_id=str(p.get("config.guestId") or ""),
            power_state=str(p.get("runtime.powerState") or ""),
            tools_running=str(p.get("guest.toolsRunningStatus") or "") == "guestToolsRunning",
            snapshots=_count_snapshots(p.get("snapshot.rootSnapshotList")),
            home_datastore=_datastore_of_path(p.get("config.files.vmPathName")),
            datastores=tuple(sorted(ds_name[_moid(d)] for d in p.get("datastore") or ()
                                    if _moid(d) in ds_name)),
        )
        if name in vms:
            if not dup_folders[name]:
                dup_folders[name].append(vms[name].folder)
            dup_folders[name].append(folder)
            continue
        vms[name] = vm
        name_to_moid[name] = moid

    inv = Inventory(
        about=about,
        hosts=dict(sorted(hosts.items())),
        datastores=dict(sorted(datastores.items())),
        vms=dict(sorted(vms.items())),
    )
    return inv, name_to_moid, dict(dup_folders)


def _moid_sort_key(moid: str) -> tuple[str, int, str]:
    # "vm-1234" sorts numerically, so that the oldest VM wins a name clash.
    head, _, tail = moid.rpartition("-")
    return (head, int(tail), "") if tail.isdigit() else (moid, 0, moid)


def _parse_devices(devices: Any, ds_by_moid: dict[str, Datastore]) -> dict[str, Any]:
    disks: list[Disk] = []
    nvdimms: list[Nvdimm] = []
    controller: int | None = None
    for dev in devices or ():
        label = str(dev.deviceInfo.label) if dev.deviceInfo is not None else ""
        if isinstance(dev, vim.vm.device.VirtualNVDIMMController):
            controller = int(dev.key)
        elif isinstance(dev, vim.vm.device.VirtualNVDIMM):
            nvdimms.append(Nvdimm(
                label=label or f"NVDIMM {len(nvdimms) + 1}",
                key=int(dev.key),
                size_mb=int(dev.capacityInMB or 0),
                controller_key=int(dev.controllerKey) if dev.controllerKey is not None else None,
            ))
        elif isinstance(dev, vim.vm.device.VirtualDisk):
            backing = dev.backing
            ds_ref = getattr(backing, "datastore", None)
            ds = ds_by_moid.get(_moid(ds_ref)) if ds_ref is not None else None
            file_name = str(getattr(backing, "fileName", "") or "")
            ds_name = ds.name if ds is not None else _datastore_of_path(file_name)
            if isinstance(backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo):
                kind = "pmem"
            elif isinstance(backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo):
                kind = "flat"
            else:
                kind = "other"
            on_pmem_ds = ds is not None and ds.is_pmem
            if dev.capacityInBytes:
                size_mb = int(dev.capacityInBytes) // MIB
            else:
                size_mb = int(dev.capacityInKB or 0) // 1024
            disks.append(Disk(
                label=label,
                key=int(dev.key),
                size_mb=size_mb,
                datastore=ds_name,
                pmem=kind == "pmem" or on_pmem_ds,
                file_name=file_name,
                controller_key=int(dev.controllerKey) if dev.controllerKey is not None else None,
                unit_number=int(dev.unitNumber) if dev.unitNumber is not None else None,
                backing=kind,
            ))
    disks.sort(key=lambda d: d.key)
    nvdimms.sort(key=lambda n: n.key)
    return {
        "disks": tuple(disks),
        "nvdimms": tuple(nvdimms),
        "nvdimm_controller_key": controller,
        "devices_loaded": True,
    }


def _read_devices(conn: Connection, refs: list[Any]) -> dict[str, Any]:
    pc = _PC
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=r, skip=False) for r in refs],
        propSet=[pc.PropertySpec(type=vim.VirtualMachine, pathSet=DEVICE_PROPS)],
    )
    return {_moid(ref): props.get("config.hardware.device") for ref, props in _retrieve(conn, spec)}


def _read_guests(
    conn: Connection, raw: _Raw, guest_ids: list[str], compute_moid: str | None
) -> dict[str, GuestSupport]:
    """One QueryConfigOptionEx for all guest ids, on one compute resource.

    The descriptor comes from that compute resource's default (newest)
    hardware version: the version pmemctl upgrades to when it must, and
    guest PMem support does not differ between compute resources of one
    vCenter in practice. One call instead of one per cluster keeps the round
    trips constant.
    """
    if not guest_ids or compute_moid is None:
        return {}
    browser = raw.computes.get(compute_moid, {}).get("environmentBrowser")
    if browser is None:
        return {}
    spec = _QUERY_SPEC(guestId=guest_ids)
    try:
        option = browser.QueryConfigOptionEx(spec=spec)
    except vmodl.MethodFault as exc:
        conn.warnings.append(
            f"could not read guest OS PMem support ({type(exc).__name__}); "
            "guest checks are skipped"
        )
        return {}
    wanted = set(guest_ids)
    out: dict[str, GuestSupport] = {}
    for d in getattr(option, "guestOSDescriptor", None) or ():
        gid = str(d.id)
        # With no match the server returns every descriptor: keep only ours.
        if gid not in wanted or gid in out:
            continue
        max_mb = d.supportedMaxPersistentMemoryMB
        out[gid] = GuestSupport(
            guest_id=gid,
            pmem_supported=bool(d.persistentMemorySupported),
            max_pmem_mb=int(max_mb) if max_mb else None,
            hot_add=bool(d.persistentMemoryHotAddSupported),
            full_name=str(d.fullName or ""),
        )
    return out


def take_snapshot(
    conn: Connection,
    want_devices: WantDevices | None = None,
    *,
    all_devices: bool = False,
) -> Inventory:
    """Read hosts, datastores, VMs and (for some VMs) their devices in constant round trips.

    Args:
        conn: a logged-in connection.
        want_devices: given the light inventory (no devices yet), the names of
            the VMs whose devices to read — typically the spec's selection.
            When None, the VMs that keep anything on a PMem datastore.
        all_devices: read devices of every VM (ignores ``want_devices``).

    Returns:
        The inventory; VMs outside the device selection have
        ``devices_loaded=False``. Guest support is read for the guest ids of
        the device-pass VMs only.

    Side Effects:
        CreateContainerView, RetrievePropertiesEx (+ continuations),
        DestroyView, one RetrievePropertiesEx for devices and one
        QueryConfigOptionEx when any VM is selected.

    Raises:
        InventoryError: a selected VM name is not unique on this vCenter
            (pmemctl addresses VMs by name), or a selected name is unknown.
    """
    raw = _read_light(conn)
    inv, name_to_moid, dups = _build_light(raw, conn.about)
    if dups:
        inv = replace(inv, duplicate_vms={n: tuple(sorted(f)) for n, f in dups.items()})

    if all_devices:
        selected = sorted(inv.vms)
    elif want_devices is not None:
        selected = sorted(set(want_devices(inv)))
    else:
        selected = sorted(
            n for n, vm in inv.vms.items()
            if any(inv.datastores[d].is_pmem for d in vm.datastores if d in inv.datastores)
        )
    ambiguous = [n for n in selected if n in dups]
    if ambiguous:
        lines = "; ".join(
            f"{n!r} in folders " + ", ".join(repr(f or "/") for f in sorted(dups[n]))
            for n in ambiguous
        )
        raise InventoryError(
            f"VM names must be unique for pmemctl, which addresses VMs by name: {lines}. "
            "Rename the duplicates or narrow the selection"
        )
    selected = [n for n in selected if n in inv.vms]
    if not selected:
        return inv

    refs = [raw.vm_refs[name_to_moid[n]] for n in selected]
    devices = _read_devices(conn, refs)
    ds_by_moid = {d.moid: d for d in inv.datastores.values()}
    vms = dict(inv.vms)
    for n in selected:
        moid = name_to_moid[n]
        if moid in devices:
            vms[n] = replace(vms[n], **_parse_devices(devices[moid], ds_by_moid))

    # The compute resource holding most selected VMs answers for all of them.
    host_parent = {m: _moid(p["parent"]) for m, p in raw.hosts.items() if p.get("parent")}
    counts: dict[str, int] = defaultdict(int)
    for n in selected:
        h = inv.hosts.get(vms[n].host)
        if h is not None and h.moid in host_parent:
            counts[host_parent[h.moid]] += 1
    compute = max(sorted(counts), key=lambda m: counts[m]) if counts else None
    guest_ids = sorted({vms[n].guest_id for n in selected if vms[n].guest_id})
    guests = _read_guests(conn, raw, guest_ids, compute)
    return replace(inv, vms=vms, guests=guests)


__all__ = ["LIGHT_PROPS", "MAX_OBJECTS", "WantDevices", "take_snapshot"]
