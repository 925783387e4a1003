"""An immutable picture of the parts of a vSphere estate that matter for PMem.

The snapshot code (:mod:`pmemctl.vsphere.snapshot`) builds these values from
PropertyCollector results; the planner consumes them without ever seeing
pyVmomi. Every size is in MiB. Names are unique per kind within one
inventory (a vCenter enforces that for hosts and datastores; for VMs the
snapshot reports a clash as an :class:`~pmemctl.errors.InventoryError`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

PMEM_DATASTORE_TYPE = "PMEM"
PMEM_POLICY_NAME = "Host-local PMem Default Storage Policy"
PMEM_POLICY_ID = "c268da1b-b343-49f7-a468-b1deeb7078e0"  # looked up in PBM; this is the fallback
MIN_NVDIMM_HW_VERSION = 14


@dataclass(frozen=True)
class Datastore:
    """A datastore and the hosts that mount it."""

    name: str
    moid: str
    type: str  # summary.type: VMFS, NFS, vsan, PMEM, ...
    capacity_mb: int
    free_mb: int
    hosts: tuple[str, ...]  # names of hosts that mount it (accessible)

    @property
    def is_pmem(self) -> bool:
        """True for a host-local PMem datastore."""
        return self.type.upper() == PMEM_DATASTORE_TYPE


@dataclass(frozen=True)
class Host:
    """An ESXi host with its PMem capacity (0 when it has none)."""

    name: str
    moid: str
    cluster: str | None  # None for a standalone host
    pmem_capacity_mb: int
    pmem_free_mb: int  # summary.quickStats.availablePMemCapacity
    pmem_datastore: str | None  # name of its PMEM datastore
    pmem_supported: bool
    datastores: tuple[str, ...]  # every datastore it mounts
    connected: bool = True
    maintenance: bool = False


@dataclass(frozen=True)
class Disk:
    """A virtual disk of a VM."""

    label: str  # "Hard disk 1"
    key: int
    size_mb: int
    datastore: str  # name of the datastore holding its backing file
    pmem: bool  # LocalPMemBackingInfo backing, or on a PMEM datastore
    file_name: str = ""
    controller_key: int | None = None
    unit_number: int | None = None
    backing: str = "flat"  # flat | pmem | other


@dataclass(frozen=True)
class Nvdimm:
    """A virtual NVDIMM device."""

    label: str  # "NVDIMM 1"
    key: int
    size_mb: int
    controller_key: int | None = None


@dataclass(frozen=True)
class GuestSupport:
    """What a guest OS (by guestId) supports, from QueryConfigOptionEx."""

    guest_id: str
    pmem_supported: bool
    max_pmem_mb: int | None = None
    hot_add: bool = False
    full_name: str = ""


@dataclass(frozen=True)
class VM:
    """A virtual machine, with its devices when they were fetched.

    ``devices_loaded`` is False for VMs outside the spec's selection: the
    snapshot reads device lists only for VMs that the spec touches.
    """

    name: str
    moid: str
    host: str
    cluster: str | None
    folder: str  # folder path below the datacenter's vm folder, "" at the root
    hardware_version: int  # 14 for vmx-14
    guest_id: str
    power_state: str  # poweredOn | poweredOff | suspended
    tools_running: bool = False
    snapshots: int = 0
    home_datastore: str = ""
    datastores: tuple[str, ...] = ()
    devices_loaded: bool = False
    disks: tuple[Disk, ...] = ()
    nvdimms: tuple[Nvdimm, ...] = ()
    nvdimm_controller_key: int | None = None

    @property
    def uses_pmem(self) -> bool:
        """True when any NVDIMM or PMem disk is attached."""
        return bool(self.nvdimms) or any(d.pmem for d in self.disks)


@dataclass(frozen=True)
class About:
    """The vCenter (or ESXi) we talk to."""

    name: str = ""
    api_version: str = ""
    version: str = ""
    instance_uuid: str = ""


@dataclass(frozen=True)
class Inventory:
    """The whole snapshot: hosts, datastores, VMs and guest-OS support."""

    about: About = field(default_factory=About)
    hosts: dict[str, Host] = field(default_factory=dict)
    datastores: dict[str, Datastore] = field(default_factory=dict)
    vms: dict[str, VM] = field(default_factory=dict)
    guests: dict[str, GuestSupport] = field(default_factory=dict)
    pmem_policy_id: str = PMEM_POLICY_ID
    # VM names held by more than one VM -> the folder paths of all of them.
    # ``vms`` keeps the oldest (lowest moid); selecting such a name is an error.
    duplicate_vms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def fingerprint(self, vm_names: list[str] | None = None) -> str:
        """A stable hash of the state a plan depends on.

        Covers, for the given VMs (all when None), everything the planner
        reads, plus the PMem state of the hosts they run on (every host when
        None). Hosts that no planned VM uses are left out, so PMem churn
        elsewhere does not make a saved plan stale. A saved plan records it
        so that apply can refuse to run against an estate that has moved on.
        """
        hosts, vms = self.fingerprint_parts(vm_names)
        doc = {"hosts": [asdict(h) for _, h in hosts], "vms": [asdict(v) for _, v in vms]}
        blob = json.dumps(doc, sort_keys=True, default=str).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()

    def fingerprint_parts(
        self, vm_names: list[str] | None = None
    ) -> tuple[list[tuple[str, Host]], list[tuple[str, VM]]]:
        """The hosts and VMs :meth:`fingerprint` covers, each sorted by name."""
        names = sorted(self.vms) if vm_names is None else sorted(vm_names)
        vms = [(n, self.vms[n]) for n in names if n in self.vms]
        if vm_names is None:
            host_names = set(self.hosts)
        else:
            host_names = {vm.host for _, vm in vms if vm.host in self.hosts}
        return [(h, self.hosts[h]) for h in sorted(host_names)], vms
