"""The pmemsim inventory file: an exported estate, its scope, anonymizing, and the YAML.

Pure: :mod:`pmemctl.vsphere.export` fills an :class:`Estate` from vCenter;
this module narrows it to a scope, renames it for sharing and writes the
inventory format that ``tests/pmemsim/inventory.go`` loads (see
tests/pmemsim/README.md "Inventory"). Names here are raw (unescaped), as
that format wants them; pmemsim escapes them again when it serves them.

Everything is sorted by name before it is written, so exporting the same
estate twice gives the same bytes, and so does exporting an estate served
from an exported file (pmemsim creates objects in file order; the export
does not depend on that order).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

MIB = 1 << 20

#: The format's first line; also what tells a reader where the file came from.
HEADER = ("# pmemsim inventory written by `pmemctl export` "
          "(tests/pmemsim/README.md, \"Inventory\")\n")


@dataclass(frozen=True)
class HA:
    """vSphere HA admission control of a cluster, as far as pmemsim models it."""

    pmem_admission_control: bool
    pmem_failover_percent: int | None  # None: vCenter computes it (auto)
    cpu_failover_percent: int = 25
    memory_failover_percent: int = 25


@dataclass(frozen=True)
class SimCluster:
    """A cluster; its hosts are the :class:`SimHost` entries naming it."""

    name: str
    ha: HA | None = None


@dataclass(frozen=True)
class SimHost:
    """A host and its PMem (bytes, 0 = none)."""

    name: str
    cluster: str | None
    pmem: int = 0


@dataclass(frozen=True)
class SimDatastore:
    """A non-PMem datastore and the hosts that mount it."""

    name: str
    type: str
    capacity: int  # bytes
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class SimDisk:
    """A virtual disk: its size in bytes and its datastore, ``pmem`` for the host's PMem."""

    size: int
    datastore: str


@dataclass(frozen=True)
class SimVM:
    """A VM with what pmemsim models of it."""

    name: str
    host: str
    folder: str = ""  # "a/b" below the datacenter's VM folder
    hardware_version: int = 14
    guest_id: str = "otherGuest64"
    power: str = "poweredOff"
    tools: bool = True
    cpus: int = 2
    memory_mb: int = 4096
    home: str = ""
    disks: tuple[SimDisk, ...] = ()
    nvdimms_mb: tuple[int, ...] = ()
    snapshots: int = 0
    cluster: str | None = None  # not written: for --scope


@dataclass(frozen=True)
class SimDatacenter:
    """One datacenter of the estate."""

    name: str
    clusters: tuple[SimCluster, ...] = ()
    hosts: tuple[SimHost, ...] = ()
    datastores: tuple[SimDatastore, ...] = ()
    vms: tuple[SimVM, ...] = ()


@dataclass(frozen=True)
class Estate:
    """What ``pmemctl export`` read, and the notes about what it had to leave out or adjust."""

    datacenters: tuple[SimDatacenter, ...]
    notes: tuple[str, ...] = field(default=())


def _matches(vm: SimVM, scopes: Sequence[str]) -> bool:
    for s in scopes:
        pattern = s.strip("/")
        if vm.cluster is not None and fnmatch.fnmatchcase(vm.cluster, pattern):
            return True
        # A folder scope takes the folder and everything below it.
        if vm.folder and (fnmatch.fnmatchcase(vm.folder, pattern)
                          or fnmatch.fnmatchcase(vm.folder, pattern + "/*")):
            return True
    return False


def scoped(estate: Estate, scopes: Sequence[str]) -> tuple[Estate, list[str]]:
    """Narrow ``estate`` to the VMs under the clusters or VM folders named (globs).

    The hosts kept are every host of a cluster that matched, and the hosts
    of the VMs kept, each with its whole cluster (HA admission control
    depends on the number of hosts); the datastores kept are those that a
    kept host mounts, with only the kept hosts. Returns the narrowed estate
    and the scopes that matched nothing (the caller refuses those).
    """
    if not scopes:
        return estate, []
    unmatched = [s for s in scopes
                 if not any(fnmatch.fnmatchcase(c.name, s.strip("/"))
                            for dc in estate.datacenters for c in dc.clusters)
                 and not any(_matches(vm, [s]) for dc in estate.datacenters for vm in dc.vms)]
    out: list[SimDatacenter] = []
    for dc in estate.datacenters:
        vms = tuple(vm for vm in dc.vms if _matches(vm, scopes))
        clusters = {c.name for c in dc.clusters
                    if any(fnmatch.fnmatchcase(c.name, s.strip("/")) for s in scopes)}
        vm_hosts = {vm.host for vm in vms}
        clusters |= {h.cluster for h in dc.hosts if h.name in vm_hosts and h.cluster}
        hosts = tuple(h for h in dc.hosts if h.name in vm_hosts or h.cluster in clusters)
        if not hosts:
            continue
        names = {h.name for h in hosts}
        datastores = tuple(
            replace(d, hosts=tuple(h for h in d.hosts if h in names))
            for d in dc.datastores if any(h in names for h in d.hosts))
        out.append(replace(dc, clusters=tuple(c for c in dc.clusters if c.name in clusters),
                           hosts=hosts, datastores=datastores, vms=vms))
    return replace(estate, datacenters=tuple(out)), unmatched


class _Renamer:
    """``prefix-NN`` per kind, numbered in order of first use: one name, one new name."""

    def __init__(self, prefix: str, width: int) -> None:
        self.prefix, self.width = prefix, width
        self.names: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if name not in self.names:
            self.names[name] = f"{self.prefix}-{len(self.names) + 1:0{self.width}d}"
        return self.names[name]


def anonymize(estate: Estate) -> Estate:
    """Rename every datacenter, cluster, host, datastore, folder and VM consistently.

    ``dc-01``, ``cluster-01``, ``host-01``, ``ds-01``, ``folder-01`` (per
    folder level), ``vm-0001``: numbered in the export's sorted order, so
    the same estate always anonymizes the same way and one name always maps
    to one new name (a host name used in two datacenters stays one name).
    Sizes, counts, types, guest ids, hardware versions and power states are
    kept: they are what a bug report needs.
    """
    estate = normalized(estate)
    dcs, clusters, hosts = _Renamer("dc", 2), _Renamer("cluster", 2), _Renamer("host", 2)
    dss, folders, vms = _Renamer("ds", 2), _Renamer("folder", 2), _Renamer("vm", 4)

    def ds_name(name: str) -> str:
        return name if name == "pmem" else dss(name)

    def folder(path: str) -> str:
        return "/".join(folders(p) for p in path.split("/")) if path else ""

    out = []
    for dc in estate.datacenters:
        out.append(SimDatacenter(
            name=dcs(dc.name),
            clusters=tuple(replace(c, name=clusters(c.name)) for c in dc.clusters),
            hosts=tuple(replace(h, name=hosts(h.name),
                                cluster=clusters(h.cluster) if h.cluster else None)
                        for h in dc.hosts),
            datastores=tuple(replace(d, name=dss(d.name), hosts=tuple(hosts(h) for h in d.hosts))
                             for d in dc.datastores),
            vms=tuple(replace(vm, name=vms(vm.name), host=hosts(vm.host), folder=folder(vm.folder),
                              home=dss(vm.home) if vm.home else "",
                              cluster=clusters(vm.cluster) if vm.cluster else None,
                              disks=tuple(replace(d, datastore=ds_name(d.datastore))
                                          for d in vm.disks))
                      for vm in dc.vms),
        ))
    # The notes name original objects: they stay on the terminal, not in the file.
    return normalized(Estate(datacenters=tuple(out)))


def _host_key(h: SimHost) -> tuple[int, str, str]:
    # pmemsim lists cluster hosts first; keep that so local datastores and
    # default VM homes come out in the same order.
    return (0 if h.cluster else 1, h.cluster or "", h.name)


def normalized(estate: Estate) -> Estate:
    """The estate with every list in the order it is written (by name)."""
    return replace(estate, datacenters=tuple(sorted(
        (replace(dc,
                 clusters=tuple(sorted(dc.clusters, key=lambda c: c.name)),
                 hosts=tuple(sorted(dc.hosts, key=_host_key)),
                 datastores=tuple(sorted(
                     (replace(d, hosts=tuple(sorted(d.hosts))) for d in dc.datastores),
                     key=lambda d: d.name)),
                 vms=tuple(sorted(dc.vms, key=lambda v: (v.folder, v.name))))
         for dc in estate.datacenters),
        key=lambda dc: dc.name)))


def fit(estate: Estate) -> Estate:
    """Raise datastore capacities that pmemsim would refuse as over-committed.

    pmemsim counts every disk thick; a real estate with thin disks often has
    more provisioned than a datastore holds. The capacity becomes the disks'
    total, rounded up to a GiB, and a note says so (a guess: keeping the
    estate loadable matters more than the exact free space, which pmemsim
    does not model for thin disks anyway).
    """
    notes = list(estate.notes)
    out = []
    for dc in estate.datacenters:
        used: dict[str, int] = {}
        for vm in dc.vms:
            for disk in vm.disks:
                if disk.datastore != "pmem":
                    used[disk.datastore] = used.get(disk.datastore, 0) + disk.size
        datastores = []
        for ds in dc.datastores:
            need = used.get(ds.name, 0)
            if need > ds.capacity:
                raised = -(-need // (1 << 30)) << 30
                notes.append(f"datastore {ds.name} in {dc.name}: its disks (counted thick, "
                             f"{format_size(need)}) exceed its capacity "
                             f"({format_size(ds.capacity)}); written as {format_size(raised)} "
                             "so pmemsim loads it")
                ds = replace(ds, capacity=raised)  # noqa: PLW2901
            datastores.append(ds)
        out.append(replace(dc, datastores=tuple(datastores)))
    return replace(estate, datacenters=tuple(out), notes=tuple(notes))


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line: ``{name: esx-01, pmem: 512GiB}``, as demo.yaml does."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list written on one line: ``[esx-01, esx-02]``."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper with one-line hosts, datastores, disks and lists of names."""


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping(
    "tag:yaml.org,2002:map", v.items(), flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=True))


_UNITS = (("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20),
          ("KiB", 1 << 10))


def format_size(b: int) -> str:
    """``8TiB``, ``40GiB``, ``1536MiB``: the largest unit that holds ``b`` exactly."""
    for unit, n in _UNITS:
        if b >= n and b % n == 0:
            return f"{b // n}{unit}"
    return f"{b}B"


def _vm_doc(vm: SimVM) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": vm.name, "host": vm.host}
    if vm.folder:
        doc["folder"] = vm.folder
    doc.update(hardware_version=vm.hardware_version, guest_id=vm.guest_id, power=vm.power)
    if not vm.tools:
        doc["tools"] = False
    doc.update(cpus=vm.cpus, memory=format_size(vm.memory_mb * MIB))
    doc["disks"] = _FlowList(_Flow(size=format_size(d.size), datastore=d.datastore)
                             for d in vm.disks)
    if vm.home:
        doc["home"] = vm.home
    if vm.nvdimms_mb:
        doc["nvdimms"] = _FlowList(format_size(n * MIB) for n in vm.nvdimms_mb)
    if vm.snapshots:
        doc["snapshots"] = vm.snapshots
    return doc


def _dc_doc(dc: SimDatacenter) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    all_hosts = tuple(sorted(h.name for h in dc.hosts))

    def host_doc(h: SimHost) -> dict[str, Any]:
        return _Flow(name=h.name, **({"pmem": format_size(h.pmem)} if h.pmem else {}))

    if dc.clusters:
        clusters = []
        for c in dc.clusters:
            cdoc: dict[str, Any] = {"name": c.name}
            if c.ha is not None:
                ha: dict[str, Any] = {"pmem_admission_control": c.ha.pmem_admission_control}
                if c.ha.pmem_admission_control and c.ha.pmem_failover_percent is not None:
                    ha["pmem_failover_percent"] = c.ha.pmem_failover_percent
                ha["cpu_failover_percent"] = c.ha.cpu_failover_percent
                ha["memory_failover_percent"] = c.ha.memory_failover_percent
                cdoc["ha"] = _Flow(ha)
            cdoc["hosts"] = [host_doc(h) for h in dc.hosts if h.cluster == c.name]
            clusters.append(cdoc)
        doc["clusters"] = clusters
    standalone = [host_doc(h) for h in dc.hosts if not h.cluster]
    if standalone:
        doc["hosts"] = standalone
    if dc.datastores:
        doc["datastores"] = [
            _Flow(name=d.name, type=d.type, capacity=format_size(d.capacity),
                  # Absent means every host of the datacenter (the format's default).
                  **({} if tuple(sorted(d.hosts)) == all_hosts
                     else {"hosts": _FlowList(d.hosts)}))
            for d in dc.datastores]
    if dc.vms:
        doc["vms"] = [_vm_doc(vm) for vm in dc.vms]
    return doc


def to_yaml(estate: Estate) -> str:
    """The pmemsim inventory for ``estate``: one datacenter in the short form, else a list."""
    estate = normalized(fit(estate))
    if len(estate.datacenters) == 1:
        dc = estate.datacenters[0]
        doc: dict[str, Any] = {"datacenter": dc.name, **_dc_doc(dc)}
    else:
        doc = {"datacenters": [{"name": dc.name, **_dc_doc(dc)} for dc in estate.datacenters]}
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100)
    return HEADER + body


def all_notes(estate: Estate) -> list[str]:
    """What the export had to leave out or change, for the user (never written to the file)."""
    return list(fit(estate).notes)


__all__ = [
    "HA",
    "Estate",
    "SimCluster",
    "SimDatacenter",
    "SimDatastore",
    "SimDisk",
    "SimHost",
    "SimVM",
    "all_notes",
    "anonymize",
    "format_size",
    "normalized",
    "scoped",
    "to_yaml",
]
