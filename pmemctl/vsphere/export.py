"""Read a vCenter's estate for ``pmemctl export``, in one PropertyCollector pass.

One ContainerView over the root folder, recursive, and one paged
RetrievePropertiesEx over it (1 + ceil(objects / 100) requests at
vCenter's page cap) with every property the pmemsim inventory format
holds: datacenters, clusters and their HA admission control, hosts and
their PMem, datastores and who mounts them, and for every VM its folder,
host, hardware version, guest, power state, tools, CPUs, memory, home,
disks, NVDIMMs and snapshots. The result is a pure
:class:`~pmemctl.inventory.simfile.Estate`; what pmemsim cannot hold is
left out or adjusted, each with a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyVmomi import vim

from pmemctl.inventory.model import unescape_name
from pmemctl.inventory.simfile import (
    HA,
    Estate,
    SimCluster,
    SimDatacenter,
    SimDatastore,
    SimDisk,
    SimHost,
    SimVM,
    normalized,
)
from pmemctl.vsphere.snapshot import (
    _count_snapshots,
    _datacenter_of,
    _datastore_of_path,
    _folder_path,
    _hw_version,
    _moid,
    _name,
    _nvdimm_size,
    _pass,
    _Raw,
)

if TYPE_CHECKING:
    from pmemctl.vsphere.session import Connection

EXPORT_PROPS: dict[type[Any], list[str]] = {
    vim.VirtualMachine: [
        "name", "parent", "runtime.host", "config.template", "runtime.powerState",
        "config.version", "config.guestId", "config.files.vmPathName", "guest.toolsStatus",
        "snapshot.rootSnapshotList", "config.hardware.device", "config.hardware.numCPU",
        "config.hardware.memoryMB",
    ],
    vim.HostSystem: ["name", "parent", "hardware.persistentMemoryInfo"],
    vim.Datastore: ["name", "parent", "summary.type", "summary.capacity", "host"],
    vim.ComputeResource: ["name", "parent"],
    vim.ClusterComputeResource: ["configurationEx"],
    vim.Folder: ["name", "parent"],
    vim.Datacenter: ["name", "vmFolder"],
}

# pmemsim's datastore types (tests/pmemsim/README.md "Inventory"), by lower-case name.
_DS_TYPES = {t.lower(): t for t in ("VMFS", "NFS", "NFS41", "CIFS", "vsan", "VVOL", "VFFS")}


def read_estate(conn: Connection) -> Estate:
    """The whole estate, in one paged pass over a ContainerView of the root folder.

    Side Effects:
        CreateContainerView, RetrievePropertiesEx (+ ContinueRetrievePropertiesEx
        per further page), DestroyView.
    """
    raw = _Raw()
    _pass(conn, [conn.content.rootFolder], EXPORT_PROPS, raw, paged=True)
    return build_estate(raw)


def _ha(cluster: str, config: Any, notes: list[str]) -> HA | None:
    das = getattr(config, "dasConfig", None)
    if das is None or not das.enabled or das.admissionControlEnabled is False:
        return None
    policy = das.admissionControlPolicy
    if not isinstance(policy, vim.cluster.FailoverResourcesAdmissionControlPolicy):
        notes.append(f"cluster {cluster}: HA admission control policy "
                     f"{type(policy).__name__} is not one pmemsim models; HA left out")
        return None
    pmem = bool(getattr(policy, "pMemAdmissionControlEnabled", False))
    auto = bool(getattr(policy, "autoComputePMemFailoverResourcesPercent", False))
    pct = getattr(policy, "pMemFailoverResourcesPercent", None)
    return HA(pmem_admission_control=pmem,
              pmem_failover_percent=None if auto or pct is None else int(pct),
              cpu_failover_percent=int(policy.cpuFailoverResourcesPercent or 0),
              memory_failover_percent=int(policy.memoryFailoverResourcesPercent or 0))


def build_estate(raw: _Raw) -> Estate:
    """The :class:`Estate` of one export pass (see :func:`read_estate`)."""
    notes: list[str] = []
    dcs: dict[str, dict[str, list[Any]]] = {
        _name(p, m): {"clusters": [], "hosts": [], "datastores": [], "vms": []}
        for m, p in raw.datacenters.items()}

    cluster_name = {m: _name(raw.computes[m], m) for m in raw.cluster_ids}
    for m in sorted(raw.cluster_ids):
        dc = _datacenter_of(raw, raw.computes[m].get("parent"))
        if dc in dcs:
            dcs[dc]["clusters"].append(SimCluster(
                name=cluster_name[m],
                ha=_ha(cluster_name[m], raw.computes[m].get("configurationEx"), notes)))

    host_name = {m: _name(p, m) for m, p in raw.hosts.items()}
    for m, p in raw.hosts.items():
        parent = p.get("parent")
        info = p.get("hardware.persistentMemoryInfo")
        pmem_mb = int(getattr(info, "capacityInMB", 0) or 0)
        dc = _datacenter_of(raw, parent)
        if dc in dcs:
            dcs[dc]["hosts"].append(SimHost(
                name=host_name[m],
                cluster=cluster_name.get(_moid(parent)) if parent is not None else None,
                pmem=pmem_mb << 20))

    pmem_ds: set[str] = set()
    ds_name = {m: _name(p, m) for m, p in raw.datastores.items()}
    # Per datacenter, the datastores the file holds and the hosts mounting each:
    # a disk or home may name only those, on its own host (pmemsim checks both).
    written: dict[str, dict[str, frozenset[str]]] = {}
    for m, p in sorted(raw.datastores.items(), key=lambda kv: ds_name[kv[0]]):
        kind = str(p.get("summary.type") or "")
        if kind.upper() == "PMEM":
            pmem_ds.add(m)  # pmemsim makes one per PMem host
            continue
        dc = _datacenter_of(raw, p.get("parent"))
        mounts = sorted(host_name[_moid(h.key)] for h in p.get("host") or ()
                        if _moid(h.key) in host_name
                        and not (h.mountInfo is not None and h.mountInfo.accessible is False))
        if not mounts or dc not in dcs:
            notes.append(f"datastore {ds_name[m]}: mounted on no host; left out")
            continue
        if ds_name[m] == "pmem":
            # pmemsim reads `datastore: pmem` as the host's PMem datastore.
            notes.append("datastore pmem: pmemsim reserves the name for the host's PMem; "
                         "left out")
            continue
        written.setdefault(dc, {})[ds_name[m]] = frozenset(mounts)
        if kind.lower() not in _DS_TYPES:
            notes.append(f"datastore {ds_name[m]}: type {kind or '(none)'} is not one pmemsim "
                         "models; written as VMFS")
        dcs[dc]["datastores"].append(SimDatastore(
            name=ds_name[m], type=_DS_TYPES.get(kind.lower(), "VMFS"),
            capacity=int(p.get("summary.capacity") or 0), hosts=tuple(mounts)))

    folder_cache: dict[str, str] = {}
    host_dc = {m: _datacenter_of(raw, p.get("parent")) for m, p in raw.hosts.items()}
    host_cluster = {m: cluster_name.get(_moid(p["parent"])) if p.get("parent") is not None
                    else None for m, p in raw.hosts.items()}
    for m, p in raw.vms.items():
        name = _name(p, m)
        if p.get("config.template"):
            notes.append(f"VM {name}: a template (pmemsim has none); left out")
            continue
        host_ref = p.get("runtime.host")
        hmoid = _moid(host_ref) if host_ref is not None else ""
        # A VM in a vApp has no parent folder: its host says where it is.
        dc = _datacenter_of(raw, p.get("parent")) or host_dc.get(hmoid, "")
        if hmoid not in host_name or dc not in dcs:
            notes.append(f"VM {name}: on no known host; left out")
            continue
        vm = _vm(name, p, host_name[hmoid], ds_name=ds_name, pmem_ds=pmem_ds,
                 mounted=written.get(dc, {}), notes=notes)
        dcs[dc]["vms"].append(SimVM(
            **vm, folder=_folder_path(raw, p.get("parent"), folder_cache),
            cluster=host_cluster.get(hmoid)))

    estate = Estate(
        datacenters=tuple(SimDatacenter(name=n, clusters=tuple(d["clusters"]),
                                        hosts=tuple(d["hosts"]),
                                        datastores=tuple(d["datastores"]), vms=tuple(d["vms"]))
                          for n, d in dcs.items()),
        notes=tuple(sorted(notes)))
    return normalized(estate)


def _vm(name: str, p: dict[str, Any], host: str, *, ds_name: dict[str, str],
        pmem_ds: set[str], mounted: dict[str, frozenset[str]],
        notes: list[str]) -> dict[str, Any]:
    def reachable(ds: str) -> bool:
        return host in mounted.get(ds, ())

    disks: list[SimDisk] = []
    nvdimms: list[int] = []
    for dev in sorted(p.get("config.hardware.device") or (), key=lambda d: int(d.key)):
        if isinstance(dev, vim.vm.device.VirtualNVDIMM):
            nvdimms.append(_nvdimm_size(dev)[0])
        elif isinstance(dev, vim.vm.device.VirtualDisk):
            ds_ref = getattr(dev.backing, "datastore", None)
            moid = _moid(ds_ref) if ds_ref is not None else ""
            size = int(dev.capacityInBytes or 0) or int(dev.capacityInKB or 0) * 1024
            if moid in pmem_ds or isinstance(dev.backing,
                                             vim.vm.device.VirtualDisk.LocalPMemBackingInfo):
                disks.append(SimDisk(size=size, datastore="pmem"))
            elif moid in ds_name and size > 0 and reachable(ds_name[moid]):
                disks.append(SimDisk(size=size, datastore=ds_name[moid]))
            elif moid in ds_name and size > 0:
                notes.append(f"VM {name}: disk {dev.key} is on {ds_name[moid]}, which the file "
                             f"does not hold or {host} does not mount; left out")
            else:
                notes.append(f"VM {name}: disk {dev.key} has no datastore pmemsim models "
                             "(RDM or inaccessible); left out")
    power = str(p.get("runtime.powerState") or "poweredOff")
    if power not in ("poweredOn", "poweredOff"):
        notes.append(f"VM {name}: {power}; written as poweredOff")
        power = "poweredOff"
    snapshots = _count_snapshots(p.get("snapshot.rootSnapshotList"))
    if snapshots and nvdimms:
        # pmemsim's inventory refuses both (a VM with NVDIMMs and no
        # pmem.snapshotMode cannot be snapshotted); the NVDIMMs matter more here.
        notes.append(f"VM {name}: {snapshots} snapshot(s) with NVDIMMs "
                     "(pmem.snapshotMode); snapshots left out")
        snapshots = 0
    version = _hw_version(p.get("config.version")) or 14
    home = unescape_name(_datastore_of_path(p.get("config.files.vmPathName")))
    return {
        "name": name, "host": host, "hardware_version": version,
        "guest_id": str(p.get("config.guestId") or "otherGuest64"),
        "power": power,
        "tools": str(p.get("guest.toolsStatus") or "") != "toolsNotInstalled",
        "cpus": int(p.get("config.hardware.numCPU") or 1),
        "memory_mb": int(p.get("config.hardware.memoryMB") or 4096),
        "home": home if reachable(home) else "",
        "disks": tuple(disks), "nvdimms_mb": tuple(nvdimms), "snapshots": snapshots,
    }


__all__ = ["EXPORT_PROPS", "build_estate", "read_estate"]
