"""Read the estate into an immutable :class:`~pmemctl.inventory.model.Inventory`.

Everything goes through the PropertyCollector in a fixed number of passes,
and each pass reads only what its consumer needs. A pass over N objects
costs 1 + ceil(N / page) requests: CreateContainerView (or nothing, for an
explicit object list), one RetrievePropertiesEx, and one
ContinueRetrievePropertiesEx per further page (vCenter caps pages at 100
objects); the DestroyView after it is one more. ``plan`` runs::

    RetrieveServiceContent, Login                 (session.connect)
    light pass      CreateContainerView, RetrievePropertiesEx (+ Continue…), DestroyView
                    every host, cluster, folder, datacenter and datastore, and every
                    VM's name, parent, runtime.host and config.template: what
                    selection needs, nothing more
    selected pass   RetrievePropertiesEx (+ Continue…) over the selected VMs only:
                    power state, version, guest, tools, snapshots, files,
                    datastores and devices
    guest query     one QueryConfigOptionEx: guest-OS PMem support of their guest
                    ids and the NVDIMM device limits
    Logout

When the spec selects by cluster, folder or host only (see
:class:`~pmemctl.plan.select.Scope`), the light pass is split: a small pass
over everything but VMs, then one ContainerView per matching cluster, folder
or host for the VMs, so a spec about one cluster of ten reads a tenth of the
VMs. ``status`` (no selection) also reads every VM's ``datastore`` in the
light pass, to find the VMs holding PMem.

Managed-object attributes are never read directly (each such read is a
round trip); results are keyed by moid in plain dicts and turned into model
values at the end. Entity names are unescaped (``%2f`` → ``/``) as they
are read.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pyVmomi import vim, vmodl

from pmemctl.errors import InventoryError
from pmemctl.inventory.model import (
    OWED_POWER_ON_FIELD,
    VM,
    About,
    Datastore,
    Disk,
    GuestSupport,
    Host,
    Inventory,
    Nvdimm,
    NvdimmOption,
    PowerState,
    Scope,
    unescape_name,
)
from pmemctl.vsphere import collector
from pmemctl.vsphere.collector import MAX_OBJECTS, retrieve

if TYPE_CHECKING:
    from pmemctl.vsphere.session import Connection

MIB = 1024 * 1024

# The light pass: what selection needs about every VM, and what the planner
# and `status` need about every host, cluster, folder and datastore.
LIGHT_VM_PROPS = ["name", "parent", "runtime.host", "config.template"]
SKELETON_PROPS: dict[type[Any], list[str]] = {
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
    vim.Datastore: ["name", "parent", "summary.type", "summary.capacity", "summary.freeSpace",
                    "host"],
    # ComputeResource also matches ClusterComputeResource (a subtype); the
    # collector merges both specs' paths for a cluster.
    vim.ComputeResource: ["name", "parent", "environmentBrowser"],
    # HA admission control (configurationEx.dasConfig) and the PMem share
    # vCenter computed for it (summary.admissionControlInfo): clusters only.
    vim.ClusterComputeResource: ["configurationEx", "summary"],
    vim.Folder: ["name", "parent"],
    vim.Datacenter: ["name", "vmFolder"],
}
LIGHT_PROPS: dict[type[Any], list[str]] = {vim.VirtualMachine: LIGHT_VM_PROPS, **SKELETON_PROPS}
# `status` finds the VMs holding PMem by the datastores they use.
STATUS_VM_PROPS = [*LIGHT_VM_PROPS, "datastore"]
# The selected pass: everything else the planner reads, for the selected VMs only.
SELECTED_VM_PROPS = [
    "runtime.powerState",
    "config.version",
    "config.guestId",
    "config.files.vmPathName",
    "guest.toolsRunningStatus",
    "snapshot.rootSnapshotList",
    "datastore",
    "config.hardware.device",
    # The owed-power-on marker: the field definitions the VM has (to find the
    # marker's key without another call) and the VM's values.
    "availableField",
    "customValue",
]
DEVICE_PROPS = ["config.hardware.device"]

WantDevices = Callable[[Inventory], Iterable[str]]

# pyVmomi's stubs leave data-object constructors untyped; keep the Any here.
_PC: Any = vmodl.query.PropertyCollector
_QUERY_SPEC: Any = vim.EnvironmentBrowser.ConfigOptionQuerySpec


def _moid(ref: Any) -> str:
    return str(ref._moId)


def _name(props: dict[str, Any], default: str) -> str:
    return unescape_name(str(props.get("name", default)))


def _retrieve(conn: Connection, specs: list[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield ``(object ref, {path: value})`` over every page of the filter specs."""
    # MAX_OBJECTS is read at call time so a test can force small pages.
    return retrieve(conn.content.propertyCollector, specs, max_objects=MAX_OBJECTS)


def _view_spec(views: list[Any], props: dict[type[Any], list[str]]) -> Any:
    pc = _PC
    traverse = pc.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)
    return pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=v, skip=True, selectSet=[traverse]) for v in views],
        propSet=[pc.PropertySpec(type=t, pathSet=paths) for t, paths in props.items()],
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
    datacenters: dict[str, dict[str, Any]] = field(default_factory=dict)
    vm_roots: set[str] = field(default_factory=set)  # moids of datacenters' vm folders
    vm_refs: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)  # every object's ref, for scope roots
    # Custom field key -> name, read only when a spec selects by custom attributes.
    field_names: dict[int, str] = field(default_factory=dict)

    def add(self, ref: Any, props: dict[str, Any]) -> None:
        """File one object of a pass under its kind."""
        moid = _moid(ref)
        self.refs[moid] = ref
        if isinstance(ref, vim.VirtualMachine):
            self.vms[moid] = props
            self.vm_refs[moid] = ref
        elif isinstance(ref, vim.HostSystem):
            self.hosts[moid] = props
        elif isinstance(ref, vim.Datastore):
            self.datastores[moid] = props
        elif isinstance(ref, vim.ComputeResource):
            self.computes[moid] = props
            if isinstance(ref, vim.ClusterComputeResource):
                self.cluster_ids.add(moid)
        elif isinstance(ref, vim.Folder):
            self.folders[moid] = props
        elif isinstance(ref, vim.Datacenter):
            self.datacenters[moid] = props
            if props.get("vmFolder") is not None:
                self.vm_roots.add(_moid(props["vmFolder"]))


def _pass(conn: Connection, roots: list[Any], props: dict[type[Any], list[str]],
          raw: _Raw, *, paged: bool = False) -> None:
    """One ContainerView per root, read in one RetrieveProperties (paged where refused,
    or with ``paged``: heavy properties, such as every VM's devices for an export)."""
    content = conn.content
    views: list[Any] = []
    try:
        for root in roots:
            views.append(content.viewManager.CreateContainerView(
                container=root, type=list(props), recursive=True))
        # Unpaged: the light pass's few properties per object in one answer,
        # where 100-object pages cost ~50 round trips on 5,000 VMs (collector).
        specs = [_view_spec(views, props)]
        # Paged reads go through _retrieve, whose page size a test can shrink.
        read = _retrieve(conn, specs) if paged or collector.paged_only() else \
            collector.retrieve_unpaged(conn.content.propertyCollector, specs)
        for ref, values in read:
            raw.add(ref, values)
    finally:
        # A view lives in the session until destroyed; never leak one.
        for view in views:
            view.DestroyView()


def _read_light(conn: Connection, scope: Scope | None = None, *, status: bool = False) -> _Raw:
    """The light pass, from the root folder or, with a scope, from the scope's roots."""
    raw = _Raw()
    vm_props = STATUS_VM_PROPS if status else LIGHT_VM_PROPS
    if scope is not None and scope.attributes:
        # Selection by custom attribute: every VM's values in the same pass
        # (no extra page), and the field names once from the manager.
        vm_props = [*vm_props, "customValue"]
        raw.field_names = vm_field_names(conn.content)
    root = conn.content.rootFolder
    if scope is None or not scope.narrowed:
        _pass(conn, [root], {vim.VirtualMachine: vm_props, **SKELETON_PROPS}, raw)
        return raw
    _pass(conn, [root], SKELETON_PROPS, raw)
    roots = [raw.refs[m] for m in scope_roots(raw, scope)]
    if roots:
        _pass(conn, roots, {vim.VirtualMachine: vm_props}, raw)
    return raw


def scope_roots(raw: _Raw, scope: Scope) -> list[str]:
    """The moids of the clusters, hosts and VM folders a scope's globs match, sorted."""
    out = {m for m in raw.cluster_ids
           if any(fnmatch.fnmatchcase(_name(raw.computes[m], m), g) for g in scope.clusters)}
    out |= {m for m, p in raw.hosts.items()
            if any(fnmatch.fnmatchcase(_name(p, m), g) for g in scope.hosts)}
    if scope.folders:
        cache: dict[str, str] = {}
        for m in raw.folders:
            if _under_vm_root(raw, m):
                path = _folder_path(raw, raw.refs.get(m), cache, start=m)
                if any(fnmatch.fnmatchcase(path, g.strip("/")) for g in scope.folders):
                    out.add(m)
    return sorted(out)


def _under_vm_root(raw: _Raw, moid: str) -> bool:
    seen: set[str] = set()
    cur: str | None = moid
    while cur is not None and cur not in seen:
        if cur in raw.vm_roots:
            return True
        seen.add(cur)
        parent = raw.folders.get(cur, {}).get("parent")
        cur = _moid(parent) if parent is not None else None
    return False


def _folder_path(raw: _Raw, parent: Any, cache: dict[str, str], start: str | None = None) -> str:
    """``Legacy/Old`` for a VM in vm/Legacy/Old, ``""`` at the datacenter's vm folder."""
    if parent is None and start is None:
        return ""
    first = start if start is not None else _moid(parent)
    if first in cache:
        return cache[first]
    names: list[str] = []
    moid: str | None = first
    seen: set[str] = set()
    while moid is not None and moid not in raw.vm_roots and moid in raw.folders:
        if moid in seen:  # defensive: a cycle would be a server bug
            break
        seen.add(moid)
        if moid in cache:
            names.append(cache[moid])
            break
        f = raw.folders[moid]
        names.append(_name(f, ""))
        p = f.get("parent")
        moid = _moid(p) if p is not None and isinstance(p, vim.Folder) else None
    path = "/".join(n for n in reversed(names) if n)
    cache[first] = path
    return path


def _datacenter_of(raw: _Raw, parent: Any) -> str:
    """The name of the datacenter above ``parent`` (a folder or compute resource), or ""."""
    seen: set[str] = set()
    cur = _moid(parent) if parent is not None else None
    while cur is not None and cur not in seen:
        if cur in raw.datacenters:
            return _name(raw.datacenters[cur], cur)
        seen.add(cur)
        props = raw.folders.get(cur) or raw.computes.get(cur) or {}
        up = props.get("parent")
        cur = _moid(up) if up is not None else None
    return ""


@dataclass(frozen=True)
class _HaPmem:
    """HA's PMem reservation in one cluster: a percent for every host, or failover hosts."""

    pct: int = 0
    failover_hosts: frozenset[str] = frozenset()
    reason: str = ""


def ha_pmem(cluster: str, config: Any, summary: Any, warnings: list[str]) -> _HaPmem:
    """What vSphere HA's PMem admission control (7.0 U2+) holds back in a cluster.

    Nothing unless HA (``dasConfig.enabled``), admission control and the
    policy's ``pMemAdmissionControlEnabled`` are all on. The percentage
    policy reserves ``pMemFailoverResourcesPercent`` of every host's PMem
    (when vCenter computes it, ``summary.admissionControlInfo`` has the
    current value); the dedicated-failover-hosts policy makes those hosts'
    PMem unusable; the slot policy has no PMem figure in the API, so it is
    only warned about.
    """
    das = getattr(config, "dasConfig", None)
    if das is None or not das.enabled or das.admissionControlEnabled is False:
        return _HaPmem()
    policy = das.admissionControlPolicy
    if policy is None or not getattr(policy, "pMemAdmissionControlEnabled", False):
        return _HaPmem()
    if isinstance(policy, vim.cluster.FailoverHostAdmissionControlPolicy):
        hosts = frozenset(_moid(h) for h in policy.failoverHosts or ())
        return _HaPmem(
            pct=0, failover_hosts=hosts,
            reason=f"it is a dedicated vSphere HA failover host of cluster {cluster} "
                   "(PMem admission control keeps its PMem free for failover)")
    info = getattr(summary, "admissionControlInfo", None)
    current = getattr(info, "currentPMemFailoverResourcesPercent", None)
    pct: Any = None
    if isinstance(policy, vim.cluster.FailoverResourcesAdmissionControlPolicy):
        auto = bool(getattr(policy, "autoComputePMemFailoverResourcesPercent", False))
        pct = current if auto and current is not None else policy.pMemFailoverResourcesPercent
        if pct is None:
            pct = current
    else:
        pct = current
    if pct is None:
        warnings.append(
            f"cluster {cluster}: vSphere HA PMem admission control is on, but vCenter reports "
            "no PMem failover percentage; PMem free on its hosts may be less than shown")
        return _HaPmem()
    pct = max(0, min(int(pct), 100))
    return _HaPmem(
        pct=pct,
        reason=f"vSphere HA on cluster {cluster} reserves {pct}% of each host's PMem "
               "for failover (PMem admission control)")


def _build_light(
    raw: _Raw, about: About, warnings: list[str] | None = None
) -> tuple[Inventory, dict[str, str], dict[str, list[str]]]:
    """Model values from the light pass.

    Returns the inventory (VMs with only their light fields), a map VM name
    -> moid, and duplicate VM names -> their folder paths. Notes for the user
    (an HA policy pmemctl cannot read) go to ``warnings``.
    """
    notes = warnings if warnings is not None else []
    ds_name = {m: _name(p, m) for m, p in raw.datastores.items()}
    host_name = {m: _name(p, m) for m, p in raw.hosts.items()}
    cluster_name = {m: _name(raw.computes[m], m) for m in raw.cluster_ids}
    ha = {m: ha_pmem(cluster_name[m], raw.computes[m].get("configurationEx"),
                     raw.computes[m].get("summary"), notes)
          for m in sorted(raw.cluster_ids)}

    datastores: dict[str, Datastore] = {}
    for moid, p in raw.datastores.items():
        mounts = []
        for mount in p.get("host") or ():
            info = mount.mountInfo
            if info is not None and info.accessible is False:
                continue
            h = _moid(mount.key)
            if h in host_name:
                mounts.append(h)
        mounts.sort(key=lambda h: (host_name[h], h))
        datastores[moid] = Datastore(
            name=ds_name[moid],
            moid=moid,
            type=str(p.get("summary.type") or ""),
            capacity_mb=int(p.get("summary.capacity") or 0) // MIB,
            free_mb=int(p.get("summary.freeSpace") or 0) // MIB,
            hosts=tuple(host_name[h] for h in mounts),
            datacenter=_datacenter_of(raw, p.get("parent")),
            host_moids=tuple(mounts),
        )

    hosts: dict[str, Host] = {}
    for moid, p in raw.hosts.items():
        parent = p.get("parent")
        cmoid = _moid(parent) if parent is not None else ""
        ds_moids = sorted((_moid(d) for d in p.get("datastore") or () if _moid(d) in ds_name),
                          key=lambda d: (ds_name[d], d))
        pmem_ds = next((d for d in ds_moids if datastores[d].is_pmem), None)
        info = p.get("hardware.persistentMemoryInfo")
        reserve = ha.get(cmoid, _HaPmem())
        pct = 100 if moid in reserve.failover_hosts else reserve.pct
        hosts[moid] = Host(
            name=host_name[moid],
            moid=moid,
            cluster=cluster_name.get(cmoid),
            pmem_capacity_mb=int(getattr(info, "capacityInMB", 0) or 0),
            pmem_free_mb=int(p.get("summary.quickStats.availablePMemCapacity") or 0),
            pmem_datastore=ds_name[pmem_ds] if pmem_ds is not None else None,
            pmem_supported=bool(p.get("capability.pMemSupported")),
            datastores=tuple(ds_name[d] for d in ds_moids),
            connected=str(p.get("runtime.connectionState") or "connected") == "connected",
            maintenance=bool(p.get("runtime.inMaintenanceMode")),
            datacenter=_datacenter_of(raw, parent),
            pmem_datastore_moid=pmem_ds,
            datastore_moids=tuple(ds_moids),
            ha_pmem_reserved_pct=pct,
            ha_pmem_reason=reserve.reason if pct else "",
        )

    vms: dict[str, VM] = {}
    name_to_moid: dict[str, str] = {}
    dup_folders: dict[str, list[str]] = defaultdict(list)
    folder_cache: dict[str, str] = {}
    # Sort by moid so that the VM kept for a duplicated name is stable.
    for moid in sorted(raw.vms, key=_moid_sort_key):
        p = raw.vms[moid]
        if p.get("config.template"):
            continue  # templates cannot run, so they never hold PMem in use
        name = _name(p, moid)
        folder = _folder_path(raw, p.get("parent"), folder_cache)
        host_ref = p.get("runtime.host")
        hmoid = _moid(host_ref) if host_ref is not None else ""
        host = hosts.get(hmoid)
        vm = VM(
            name=name,
            moid=moid,
            host=host.name if host is not None else "",
            cluster=host.cluster if host is not None else None,
            folder=folder,
            hardware_version=0,
            guest_id="",
            power_state=PowerState.UNKNOWN,
            datacenter=_datacenter_of(raw, p.get("parent")) or (host.datacenter if host else ""),
            host_moid=hmoid if host is not None else "",
            attributes=custom_attributes(raw.field_names, p.get("customValue")),
            **_vm_datastores(p.get("datastore"), datastores),
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
        hosts=dict(sorted(hosts.items(), key=lambda kv: (kv[1].name, kv[0]))),
        datastores=dict(sorted(datastores.items(), key=lambda kv: (kv[1].name, kv[0]))),
        vms=dict(sorted(vms.items())),
    )
    return inv, name_to_moid, dict(dup_folders)


def _vm_datastores(refs: Any, datastores: dict[str, Datastore]) -> dict[str, Any]:
    moids = sorted((_moid(d) for d in refs or () if _moid(d) in datastores),
                   key=lambda d: (datastores[d].name, d))
    return {"datastores": tuple(datastores[d].name for d in moids),
            "datastore_moids": tuple(moids)}


def _moid_sort_key(moid: str) -> tuple[str, int, str]:
    # "vm-1234" sorts numerically, so that the oldest VM wins a name clash.
    head, _, tail = moid.rpartition("-")
    return (head, int(tail), "") if tail.isdigit() else (moid, 0, moid)


def _selected_fields(props: dict[str, Any], datastores: dict[str, Datastore]) -> dict[str, Any]:
    """VM fields from the selected pass (see ``SELECTED_VM_PROPS``)."""
    return {
        "hardware_version": _hw_version(props.get("config.version")),
        "guest_id": str(props.get("config.guestId") or ""),
        "power_state": PowerState(str(props.get("runtime.powerState") or "")),
        "tools_running": str(props.get("guest.toolsRunningStatus") or "") == "guestToolsRunning",
        "snapshots": _count_snapshots(props.get("snapshot.rootSnapshotList")),
        "home_datastore": unescape_name(_datastore_of_path(props.get("config.files.vmPathName"))),
        **_vm_datastores(props.get("datastore"), datastores),
        **_parse_devices(props.get("config.hardware.device"), datastores),
        "owed_power_on": owed_marker(props.get("availableField"), props.get("customValue")),
    }


def vm_field_names(content: Any) -> dict[int, str]:
    """Key -> name of the custom fields that apply to VMs (``CustomFieldsManager.field``).

    A field with no ``managedObjectType`` is global: it applies to VMs too.
    """
    cfm = content.customFieldsManager
    if cfm is None:  # a standalone ESXi host has no CustomFieldsManager
        return {}
    return {int(f.key): str(f.name) for f in cfm.field or ()
            if getattr(f, "managedObjectType", None) in (None, "", vim.VirtualMachine)}


def custom_attributes(names: dict[int, str], values: Any) -> tuple[tuple[str, str], ...]:
    """A VM's custom attributes (name, value), sorted by name; the last value of a key wins.

    vCenter's ``SetField`` replaces a value, vcsim 0.24 appends one (see
    :func:`owed_marker`); keys without a known name are left out.
    """
    out: dict[str, str] = {}
    for v in values or ():
        name = names.get(int(v.key))
        if name is not None:
            out[name] = str(getattr(v, "value", "") or "")
    return tuple(sorted(out.items()))


def owed_marker(fields: Any, values: Any) -> str:
    """The VM's ``pmemctl.owed-power-on`` value, "" when unset or cleared.

    The LAST value for the key wins: vCenter's ``SetField`` replaces the value,
    vcsim 0.24 appends a new one; both read right this way. An empty value is
    a cleared marker (``SetField`` with "" is how it is cleared).
    """
    keys = {int(f.key) for f in fields or () if str(getattr(f, "name", "")) == OWED_POWER_ON_FIELD}
    out = ""
    for v in values or ():
        if int(v.key) in keys:
            out = str(getattr(v, "value", "") or "")
    return out


def _nvdimm_size(dev: Any) -> tuple[int, bool]:
    """(size MiB, backing accessible) of an NVDIMM.

    ``configuredCapacityInMB`` (7.0.2+) is the size the VM was given;
    ``capacityInMB`` reads 0 when the backing is inaccessible.
    """
    actual = int(dev.capacityInMB or 0)
    configured = int(getattr(dev, "configuredCapacityInMB", None) or 0)
    return (configured or actual), actual > 0


def _parse_devices(devices: Any, ds_by_moid: dict[str, Datastore]) -> dict[str, Any]:
    disks: list[Disk] = []
    nvdimms: list[Nvdimm] = []
    controller: int | None = None
    for dev in devices or ():
        label = str(dev.deviceInfo.label) if dev.deviceInfo is not None else ""
        if isinstance(dev, vim.vm.device.VirtualNVDIMMController):
            controller = int(dev.key)
        elif isinstance(dev, vim.vm.device.VirtualNVDIMM):
            size, accessible = _nvdimm_size(dev)
            nvdimms.append(Nvdimm(
                label=label or f"NVDIMM {len(nvdimms) + 1}",
                key=int(dev.key),
                size_mb=size,
                controller_key=int(dev.controllerKey) if dev.controllerKey is not None else None,
                accessible=accessible,
            ))
        elif isinstance(dev, vim.vm.device.VirtualDisk):
            backing = dev.backing
            ds_ref = getattr(backing, "datastore", None)
            ds = ds_by_moid.get(_moid(ds_ref)) if ds_ref is not None else None
            file_name = str(getattr(backing, "fileName", "") or "")
            ds_name = ds.name if ds is not None else unescape_name(_datastore_of_path(file_name))
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
                datastore_moid=ds.moid if ds is not None else "",
            ))
    disks.sort(key=lambda d: d.key)
    nvdimms.sort(key=lambda n: n.key)
    return {
        "disks": tuple(disks),
        "nvdimms": tuple(nvdimms),
        "nvdimm_controller_key": controller,
        "devices_loaded": True,
    }


def _read_selected(conn: Connection, refs: list[Any]) -> dict[str, dict[str, Any]]:
    """The selected pass: one paged RetrievePropertiesEx over an explicit list of VMs."""
    pc = _PC
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=r, skip=False) for r in refs],
        propSet=[pc.PropertySpec(type=vim.VirtualMachine, pathSet=SELECTED_VM_PROPS)],
    )
    return {_moid(ref): props for ref, props in _retrieve(conn, [spec])}


def _guest_support(d: Any) -> GuestSupport:
    max_mb = d.supportedMaxPersistentMemoryMB
    # The cold-growth fields are optional in the descriptor: None means "not said".
    cold = getattr(d, "persistentMemoryColdGrowthSupported", None)
    step = getattr(d, "persistentMemoryColdGrowthGranularityMB", None)
    return GuestSupport(
        guest_id=str(d.id),
        pmem_supported=bool(d.persistentMemorySupported),
        max_pmem_mb=int(max_mb) if max_mb else None,
        hot_add=bool(d.persistentMemoryHotAddSupported),
        full_name=str(d.fullName or ""),
        cold_growth=None if cold is None else bool(cold),
        cold_growth_granularity_mb=int(step) if step else None,
    )


def nvdimm_option(option: Any) -> NvdimmOption | None:
    """The ``VirtualNVDIMMOption`` of a ``VirtualMachineConfigOption``, if it has one."""
    hardware = getattr(option, "hardwareOptions", None)
    for dev in getattr(hardware, "virtualDeviceOption", None) or ():
        if isinstance(dev, vim.vm.device.VirtualNVDIMMOption):
            cap = dev.capacityInMB
            return NvdimmOption(
                min_mb=int(cap.min) if cap is not None and cap.min is not None else None,
                max_mb=int(cap.max) if cap is not None and cap.max else None,
                granularity_mb=int(dev.granularityInMB) if dev.granularityInMB else None,
                growable=bool(dev.growable),
                hot_growable=bool(dev.hotGrowable),
            )
    return None


def _read_guests(
    conn: Connection, raw: _Raw, guest_ids: list[str], compute_moid: str | None
) -> tuple[dict[str, GuestSupport], NvdimmOption | None]:
    """One QueryConfigOptionEx for all guest ids, on one compute resource.

    The descriptor comes from that compute resource's default (newest)
    hardware version: the version pmemctl upgrades to when it must, and
    guest PMem support does not differ between compute resources of one
    vCenter in practice. One call instead of one per cluster keeps the round
    trips constant. The same answer carries the NVDIMM device limits.
    """
    if not guest_ids or compute_moid is None:
        return {}, None
    browser = raw.computes.get(compute_moid, {}).get("environmentBrowser")
    if browser is None:
        return {}, None
    spec = _QUERY_SPEC(guestId=guest_ids)
    try:
        option = browser.QueryConfigOptionEx(spec=spec)
    except vmodl.MethodFault as exc:
        conn.warnings.append(
            f"could not read guest OS PMem support ({type(exc).__name__}); "
            "guest checks are skipped"
        )
        return {}, None
    wanted = set(guest_ids)
    out: dict[str, GuestSupport] = {}
    for d in getattr(option, "guestOSDescriptor", None) or ():
        gid = str(d.id)
        # With no match the server returns every descriptor: keep only ours.
        if gid not in wanted or gid in out:
            continue
        out[gid] = _guest_support(d)
    return out, nvdimm_option(option)


def take_snapshot(
    conn: Connection,
    want_devices: WantDevices | None = None,
    *,
    all_devices: bool = False,
    scope: Scope | None = None,
) -> Inventory:
    """Read hosts, datastores, VMs and (for some VMs) their details in constant round trips.

    Args:
        conn: a logged-in connection.
        want_devices: given the light inventory (VMs with name, folder, host
            and cluster only), the names of the VMs to read fully — typically
            the spec's selection. When None (``status``), the VMs that keep
            anything on a PMem datastore.
        all_devices: read every VM fully (ignores ``want_devices``).
        scope: read only the VMs under these clusters, hosts and folders
            (:func:`~pmemctl.plan.select.spec_scope`); every VM when None.

    Returns:
        The inventory; VMs outside the selection have ``devices_loaded=False``
        and only their light fields (power state, version, guest and the
        rest are left empty). Guest support is read for the guest ids of the
        selected VMs only.

    Side Effects:
        The passes listed in the module docstring.

    Raises:
        InventoryError: a selected VM name is not unique on this vCenter
            (pmemctl addresses VMs by name).
    """
    status = want_devices is None and not all_devices
    raw = _read_light(conn, scope, status=status)
    inv, name_to_moid, dups = _build_light(raw, conn.about, conn.warnings)
    if dups:
        inv = replace(inv, duplicate_vms={n: tuple(sorted(f)) for n, f in dups.items()})

    if all_devices:
        selected = sorted(inv.vms)
    elif want_devices is not None:
        selected = sorted(set(want_devices(inv)))
    else:
        selected = sorted(
            n for n, vm in inv.vms.items()
            if any(inv.datastores[d].is_pmem for d in vm.datastore_moids if d in inv.datastores)
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
    details = _read_selected(conn, refs)
    vms = dict(inv.vms)
    for n in selected:
        moid = name_to_moid[n]
        if moid in details:
            vms[n] = replace(vms[n], **_selected_fields(details[moid], inv.datastores))

    # The compute resource holding most selected VMs answers for all of them.
    host_parent = {m: _moid(p["parent"]) for m, p in raw.hosts.items() if p.get("parent")}
    counts: dict[str, int] = defaultdict(int)
    for n in selected:
        if vms[n].host_moid in host_parent:
            counts[host_parent[vms[n].host_moid]] += 1
    compute = max(sorted(counts), key=lambda m: counts[m]) if counts else None
    guest_ids = sorted({vms[n].guest_id for n in selected if vms[n].guest_id})
    guests, option = _read_guests(conn, raw, guest_ids, compute)
    return replace(inv, vms=vms, guests=guests, nvdimm_option=option)


__all__ = [
    "LIGHT_PROPS",
    "MAX_OBJECTS",
    "SELECTED_VM_PROPS",
    "WantDevices",
    "ha_pmem",
    "nvdimm_option",
    "scope_roots",
    "take_snapshot",
]
