"""Small builders for Inventory and Spec values, so planner tests read like tables.

Sizes are given in GiB (``*_gb``) because that is how the tests think;
everything is converted to MiB, the unit of the models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pmemctl.inventory.model import (
    VM,
    About,
    Datastore,
    Disk,
    GuestSupport,
    Host,
    Inventory,
    Nvdimm,
    NvdimmOption,
)
from pmemctl.spec.model import DiskTarget, Location, Match, Options, Spec, VmEntry

GIB = 1024
PMEM_DS = "PMemDS-{host}"


def pmem_ds_name(host_name: str) -> str:
    """The name the builders give a host's PMem datastore."""
    return PMEM_DS.format(host=host_name)


def host(
    name: str = "esx-01",
    *,
    pmem_gb: int = 512,
    free_gb: int | None = None,
    cluster: str | None = "Prod",
    datastores: Iterable[str] = ("san-01",),
    connected: bool = True,
    maintenance: bool = False,
    datacenter: str = "",
    ha_pct: int = 0,
) -> Host:
    """A host; ``pmem_gb=0`` makes one without PMem (no PMem datastore)."""
    pmem_ds = pmem_ds_name(name) if pmem_gb else None
    mounts = tuple(datastores) + ((pmem_ds,) if pmem_ds else ())
    return Host(
        datacenter=datacenter,
        pmem_datastore_moid=f"ds-{pmem_ds}" if pmem_ds else None,
        datastore_moids=tuple(f"ds-{d}" for d in mounts),
        ha_pmem_reserved_pct=ha_pct,
        ha_pmem_reason=(f"vSphere HA on cluster {cluster} reserves {ha_pct}% of each host's "
                        "PMem for failover (PMem admission control)") if ha_pct else "",
        name=name,
        moid=f"host-{name}",
        cluster=cluster,
        pmem_capacity_mb=pmem_gb * GIB,
        pmem_free_mb=(pmem_gb if free_gb is None else free_gb) * GIB,
        pmem_datastore=pmem_ds,
        pmem_supported=bool(pmem_gb),
        datastores=mounts,
        connected=connected,
        maintenance=maintenance,
    )


def datastore(
    name: str = "san-01",
    *,
    hosts: Iterable[str] = ("esx-01",),
    free_gb: int = 8192,
    type: str = "VMFS",
    datacenter: str = "",
    moid: str | None = None,
) -> Datastore:
    """A datastore mounted by ``hosts`` (host moids follow :func:`host`'s ``host-<name>``)."""
    hosts = tuple(hosts)
    return Datastore(
        datacenter=datacenter,
        host_moids=tuple(f"host-{h}" for h in hosts),
        name=name,
        moid=f"ds-{name}" if moid is None else moid,
        type=type,
        capacity_mb=max(free_gb, 8192) * GIB,
        free_mb=free_gb * GIB,
        hosts=hosts,
    )


def disk(
    label: str = "Hard disk 1",
    size_gb: int = 40,
    datastore: str = "san-01",
    key: int | None = None,
    pmem: bool | None = None,
) -> Disk:
    """A disk; ``pmem`` defaults to True when the datastore is a builder PMem datastore."""
    number = int(label.rsplit(" ", 1)[-1]) if label[-1].isdigit() else 0
    on_pmem = datastore.startswith("PMemDS-") if pmem is None else pmem
    return Disk(
        label=label,
        key=2000 + number if key is None else key,
        size_mb=size_gb * GIB,
        datastore=datastore,
        pmem=on_pmem,
        backing="pmem" if on_pmem else "flat",
        datastore_moid=f"ds-{datastore}",
    )


def nvdimm(label: str = "NVDIMM 1", size_gb: int = 16, key: int | None = None) -> Nvdimm:
    """An NVDIMM on controller 27000."""
    number = int(label.rsplit(" ", 1)[-1]) if label[-1].isdigit() else 0
    return Nvdimm(
        label=label,
        key=8000 + number if key is None else key,
        size_mb=size_gb * GIB,
        controller_key=27000,
    )


def vm(
    name: str = "db-01",
    *,
    host: str = "esx-01",
    cluster: str | None = "Prod",
    folder: str = "",
    hw: int = 14,
    guest_id: str = "rhel8_64Guest",
    power: str = "poweredOff",
    tools_running: bool = False,
    snapshots: int = 0,
    disks: Iterable[Disk] = (),
    nvdimms: Iterable[Nvdimm] = (),
    devices_loaded: bool = True,
    datacenter: str = "",
) -> VM:
    """A VM with its devices loaded (the planner's view); controller present iff NVDIMMs."""
    dimms = tuple(nvdimms)
    return VM(
        name=name,
        moid=f"vm-{name}",
        host=host,
        cluster=cluster,
        folder=folder,
        hardware_version=hw,
        guest_id=guest_id,
        power_state=power,
        tools_running=tools_running,
        snapshots=snapshots,
        devices_loaded=devices_loaded,
        disks=tuple(disks),
        nvdimms=dimms,
        nvdimm_controller_key=27000 if dimms else None,
        datacenter=datacenter,
        host_moid=f"host-{host}",
    )


def guest(
    guest_id: str = "rhel8_64Guest", supported: bool = True, max_gb: int | None = 6144
) -> GuestSupport:
    """A guest OS descriptor."""
    return GuestSupport(
        guest_id=guest_id,
        pmem_supported=supported,
        max_pmem_mb=None if max_gb is None else max_gb * GIB,
        full_name=guest_id,
    )


def inventory(  # noqa: PLR0917 -- keyword use in tests; positional kept for old calls
    hosts: Iterable[Host] = (),
    vms: Iterable[VM] = (),
    datastores: Iterable[Datastore] | None = None,
    guests: Iterable[GuestSupport] | None = None,
    about: About | None = None,
    nvdimm_option: NvdimmOption | None = None,
) -> Inventory:
    """An inventory; by default san-01 is mounted by every host and rhel8 supports PMem.

    Hosts and datastores are keyed by moid, as the snapshot keys them.
    """
    host_list = list(hosts) or [host()]
    if datastores is None:
        datastores = [datastore("san-01", hosts=[h.name for h in host_list])]
    pmem = [
        datastore(h.pmem_datastore, hosts=[h.name], free_gb=h.pmem_free_mb // GIB, type="PMEM",
                  datacenter=h.datacenter)
        for h in host_list
        if h.pmem_datastore
    ]
    return Inventory(
        about=about if about is not None else About(),
        hosts={h.moid: h for h in host_list},
        datastores={d.moid: d for d in [*datastores, *pmem]},
        vms={v.name: v for v in vms},
        guests={g.guest_id: g for g in (guests if guests is not None else [guest()])},
        nvdimm_option=nvdimm_option,
    )


def entry(
    name: str | None = None,
    *,
    match: str | None = None,
    cluster: str | None = None,
    folder: str | None = None,
    on_host: str | None = None,
    nvdimms_gb: Iterable[int] | None = None,
    disks: Mapping[str, str | tuple[str, int]] | None = None,
    line: int = 1,
) -> VmEntry:
    """A spec entry. ``disks`` maps a label to ``"pmem"``/a datastore, or ``(storage, size_gb)``."""
    targets: list[tuple[str, DiskTarget]] = []
    for label, value in (disks or {}).items():
        if isinstance(value, tuple):
            targets.append((label, DiskTarget(value[0], value[1] * GIB)))
        else:
            targets.append((label, DiskTarget(value)))
    return VmEntry(
        name=name,
        match=(
            Match(match, cluster=cluster, folder=folder, host=on_host)
            if match is not None
            else None
        ),
        nvdimms=None if nvdimms_gb is None else tuple(g * GIB for g in nvdimms_gb),
        disks=tuple(targets),
        location=Location("spec.yaml", line, 5),
    )


def spec(*entries: VmEntry, **options: bool | int | str) -> Spec:
    """A spec with the given entries and options (``power_off=True`` …)."""
    return Spec(vms=tuple(entries), options=Options(**options), path="spec.yaml")  # type: ignore[arg-type]
