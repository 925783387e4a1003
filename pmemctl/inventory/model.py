"""An immutable picture of the parts of a vSphere estate that matter for PMem.

The snapshot code (:mod:`pmemctl.vsphere.snapshot`) builds these values from
PropertyCollector results; the planner consumes them without ever seeing
pyVmomi. Every size is in MiB.

Hosts and datastores are keyed by managed-object id: vCenter makes a
datastore name unique only within its datacenter, so two ``datastore1`` in
two datacenters are two entries. Every object knows its datacenter, and
names are stored unescaped (``a/b``, not vSphere's ``a%2fb``; see
:func:`unescape_name`). Name lookups go through :meth:`Inventory.host_named`
and :meth:`Inventory.datastores_named`. VM names are still unique per
inventory: the snapshot reports a clash among selected VMs as an
:class:`~pmemctl.errors.InventoryError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from enum import Enum

PMEM_DATASTORE_TYPE = "PMEM"
PMEM_POLICY_NAME = "Host-local PMem Default Storage Policy"
PMEM_POLICY_ID = "c268da1b-b343-49f7-a468-b1deeb7078e0"  # looked up in PBM; this is the fallback
MIN_NVDIMM_HW_VERSION = 14
HOST_AGENT = "HostAgent"  # about.apiType of a standalone ESXi host ("VirtualCenter" for vCenter)

# vSphere escapes these three characters in entity names (vSphere 6.7 Web
# Services Programming Guide, GUID-316D6B24); nothing else is escaped.
_ESCAPES = {"%2f": "/", "%5c": "\\", "%25": "%"}
_ESCAPE_RE = re.compile("%2f|%5c|%25", re.IGNORECASE)


def unescape_name(name: str) -> str:
    """An entity name as the user typed it: ``%2f``, ``%5c``, ``%25`` become ``/``, ``\\``, ``%``.

    One left-to-right pass, so ``%252f`` (an escaped ``%`` followed by ``2f``)
    becomes ``%2f`` and not ``/``.
    """
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0).lower()], name)


def name_order(name: str) -> tuple[str, str]:
    """Sort key for names in output: case-insensitive, as vSphere clients list them.

    The name itself breaks ties, so ``DB-01`` and ``db-01`` keep one order.
    """
    return (name.casefold(), name)


@dataclass(frozen=True)
class Datastore:
    """A datastore and the hosts that mount it."""

    name: str
    moid: str
    type: str  # summary.type: VMFS, NFS, vsan, PMEM, ...
    capacity_mb: int
    free_mb: int
    hosts: tuple[str, ...]  # names of hosts that mount it (accessible)
    datacenter: str = ""  # name of its datacenter; datastore names are unique only there
    host_moids: tuple[str, ...] = ()  # moids of the hosts in ``hosts``

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
    datacenter: str = ""
    pmem_datastore_moid: str | None = None
    datastore_moids: tuple[str, ...] = ()
    # vSphere HA PMem admission control (7.0 U2+): the share of this host's
    # PMem that HA holds back for failover, in percent (100 on a dedicated
    # failover host), and a phrase saying where it comes from, for messages.
    ha_pmem_reserved_pct: int = 0
    ha_pmem_reason: str = ""

    @property
    def ha_pmem_reserved_mb(self) -> int:
        """PMem that HA admission control holds back on this host (capacity x percent)."""
        return self.pmem_capacity_mb * self.ha_pmem_reserved_pct // 100

    @property
    def pmem_usable_mb(self) -> int:
        """Free PMem a plan may take: free minus the HA reservation, never below 0."""
        return max(self.pmem_free_mb - self.ha_pmem_reserved_mb, 0)


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
    datastore_moid: str = ""  # "" when the backing names no datastore object


@dataclass(frozen=True)
class Nvdimm:
    """A virtual NVDIMM device."""

    label: str  # "NVDIMM 1"
    key: int
    size_mb: int  # configuredCapacityInMB (7.0.2+) when set, else capacityInMB
    controller_key: int | None = None
    # capacityInMB reads 0 when the backing is inaccessible (vSphere API reference).
    accessible: bool = True


@dataclass(frozen=True)
class GuestSupport:
    """What a guest OS (by guestId) supports, from QueryConfigOptionEx."""

    guest_id: str
    pmem_supported: bool
    max_pmem_mb: int | None = None
    hot_add: bool = False
    full_name: str = ""
    cold_growth: bool | None = None  # persistentMemoryColdGrowthSupported; None: not reported
    cold_growth_granularity_mb: int | None = None


@dataclass(frozen=True)
class NvdimmOption:
    """``VirtualNVDIMMOption`` from QueryConfigOptionEx: what the hardware version allows."""

    min_mb: int | None = None  # capacityInMB.min
    max_mb: int | None = None  # capacityInMB.max
    granularity_mb: int | None = None
    growable: bool = True  # grow while powered off
    hot_growable: bool = False


class PowerState(str, Enum):
    """``runtime.powerState``; ``UNKNOWN`` for a VM the snapshot did not read fully."""

    ON = "poweredOn"
    OFF = "poweredOff"
    SUSPENDED = "suspended"
    UNKNOWN = ""

    @classmethod
    def _missing_(cls, value: object) -> PowerState:
        # A state this pmemctl does not know is no state it may act on.
        return cls.UNKNOWN

    def __str__(self) -> str:
        # Messages and tables print vSphere's word, not "PowerState.ON".
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


#: The VM custom field (vCenter "custom attribute") that says pmemctl powered the
#: VM off and owes it a power-on; its value is ``"<run id> <journal path>"``.
OWED_POWER_ON_FIELD = "pmemctl.owed-power-on"


@dataclass(frozen=True)
class VM:
    """A virtual machine, with its devices when they were fetched.

    ``devices_loaded`` is False for VMs outside the spec's selection: the
    snapshot reads device lists only for VMs that the spec touches.
    """

    name: str
    moid: str
    host: str  # host name, for display; ``host_moid`` identifies it
    cluster: str | None
    folder: str  # folder path below the datacenter's vm folder, "" at the root
    hardware_version: int  # 14 for vmx-14
    guest_id: str
    power_state: PowerState
    tools_running: bool = False
    snapshots: int = 0
    home_datastore: str = ""
    datastores: tuple[str, ...] = ()
    devices_loaded: bool = False
    disks: tuple[Disk, ...] = ()
    nvdimms: tuple[Nvdimm, ...] = ()
    nvdimm_controller_key: int | None = None
    datacenter: str = ""
    host_moid: str = ""
    datastore_moids: tuple[str, ...] = ()
    # The ``pmemctl.owed-power-on`` custom field ("<run id> <journal path>"), "" when
    # unset: pmemctl powered this VM off and has not powered it back on yet. It
    # lives in vCenter so that any later run finds it, whatever its journal.
    owed_power_on: str = ""
    # Custom attributes (name, value), read only when a spec selects by them
    # (``Scope.attributes``); () otherwise.
    attributes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # The snapshot hands over vSphere's strings; keep one type inside pmemctl.
        if not isinstance(self.power_state, PowerState):
            object.__setattr__(self, "power_state", PowerState(self.power_state))

    @property
    def uses_pmem(self) -> bool:
        """True when any NVDIMM or PMem disk is attached."""
        return bool(self.nvdimms) or any(d.pmem for d in self.disks)


def version_tuple(text: str) -> tuple[int, ...]:
    """``"7.0.3.0"`` → ``(7, 0, 3, 0)``; stops at the first part that is not a number."""
    out: list[int] = []
    for part in text.split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


@dataclass(frozen=True)
class About:
    """The vCenter (or ESXi) we talk to."""

    name: str = ""
    api_version: str = ""
    version: str = ""
    instance_uuid: str = ""
    api_type: str = ""  # about.apiType: "VirtualCenter" or "HostAgent" (a standalone ESXi)


@dataclass(frozen=True)
class Scope:
    """Where the VMs a spec can select live, so the snapshot reads only those.

    Globs on cluster names, host names and VM folder paths (as in a spec's
    ``match``); a VM is in scope when it is in any of them. The snapshot
    reads every VM when it is given no scope, or a scope that narrows
    nothing. ``attributes`` asks the light pass for the VMs' custom attributes
    too (``customValue``), because a spec selects by them.
    """

    clusters: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    attributes: bool = False

    @property
    def narrowed(self) -> bool:
        """True when it limits where VMs are read (some cluster, host or folder)."""
        return bool(self.clusters or self.hosts or self.folders)


@dataclass(frozen=True)
class Inventory:
    """The whole snapshot: hosts, datastores, VMs and guest-OS support.

    ``hosts`` and ``datastores`` are keyed by moid, ``vms`` by name.
    """

    about: About = field(default_factory=About)
    hosts: dict[str, Host] = field(default_factory=dict)
    datastores: dict[str, Datastore] = field(default_factory=dict)
    vms: dict[str, VM] = field(default_factory=dict)
    guests: dict[str, GuestSupport] = field(default_factory=dict)
    nvdimm_option: NvdimmOption | None = None
    pmem_policy_id: str = PMEM_POLICY_ID
    # VM names held by more than one VM -> the folder paths of all of them.
    # ``vms`` keeps the oldest (lowest moid); selecting such a name is an error.
    duplicate_vms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def host_named(self, name: str) -> Host | None:
        """The host called ``name`` (the lowest moid if, unusually, two are)."""
        found = [h for h in self.hosts.values() if h.name == name]
        return min(found, key=lambda h: h.moid) if found else None

    def host_of(self, vm: VM) -> Host | None:
        """The host ``vm`` is registered on (by moid, else by name)."""
        if vm.host_moid:
            return self.hosts.get(vm.host_moid)
        return self.host_named(vm.host)

    def datastores_named(self, name: str, datacenter: str | None = None) -> list[Datastore]:
        """Every datastore called ``name``, in ``datacenter`` when given, sorted by moid."""
        return sorted(
            (d for d in self.datastores.values()
             if d.name == name and (datacenter is None or d.datacenter == datacenter)),
            key=lambda d: d.moid,
        )

    def datastore_named(self, name: str, datacenter: str | None = None) -> Datastore | None:
        """The datastore called ``name`` (in ``datacenter``) when exactly one is, else None."""
        found = self.datastores_named(name, datacenter)
        return found[0] if len(found) == 1 else None

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
        """The hosts and VMs :meth:`fingerprint` covers, each sorted by name (hosts: then moid)."""
        names = sorted(self.vms) if vm_names is None else sorted(vm_names)
        vms = [(n, self.vms[n]) for n in names if n in self.vms]
        if vm_names is None:
            hosts = list(self.hosts.values())
        else:
            picked = (self.host_of(vm) for _, vm in vms)
            hosts = list({h.moid: h for h in picked if h is not None}.values())
        hosts.sort(key=lambda h: (h.name, h.moid))
        return [(h.name, h) for h in hosts], vms
