"""The plan that drains a PMem host for maintenance (pure: inventory in, plan out).

``pmemctl drain HOST`` makes this plan; apply runs it like any other, so
it is journaled and ``pmemctl rollback`` (or ``pmemctl return HOST``) can
bring the VMs and disks back.

For every VM registered on the host:

* **vPMemDisks** move off PMem (Storage vMotion, the target's default
  policy) to the datastore ``--datastore`` names, else to the VM's own home
  datastore: what vCenter itself does when a VM with vPMemDisks goes to a
  host without PMem ("all the hard disks will use the storage policy and
  datastore selected for the configuration files", vSphere 6.7 docs,
  "Migrating Virtual Machines with PMem", D-MIG67 in pmemsim's README).
* **VMs with NVDIMMs** (powered on or off) move to another host of the same
  cluster that has the PMem for them, chosen by
  :func:`pmemctl.plan.placement.place` (best fit decreasing; usable PMem is
  free minus the vSphere HA PMem reservation; the target must mount every
  datastore the VM keeps). One ``RelocateVM_Task`` per VM carries the host
  change and its disk moves (a compute + storage migration).
* **Other powered-on VMs** move to the reachable host with the fewest VMs
  placed (a plain vMotion): a powered-on VM keeps a host out of maintenance
  mode.
* A VM that fits nowhere is a problem, or, with ``power_off_unplaced``, is
  powered off where it is (its NVDIMMs keep their PMem reserved on the host,
  and the plan says so).

What would still block maintenance mode after the plan (powered-on VMs, PMem
still in use on the host) is listed in :attr:`DrainPlan.blockers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pmemctl.inventory.model import VM, Datastore, Host, Inventory, PowerState
from pmemctl.plan.model import Action, Change, HostPmem, Plan, Problem
from pmemctl.plan.payloads import DatastoreRef, HostRef, MigrateDisk, MigrateVm, PowerOff
from pmemctl.plan.placement import Bin, Item, Placement, place
from pmemctl.plan.planner import migration_policy
from pmemctl.units import format_mb


@dataclass(frozen=True)
class DrainOptions:
    """What ``pmemctl drain`` was asked to do."""

    host: str
    to_hosts: tuple[str, ...] = ()
    datastore: str | None = None
    power_off_unplaced: bool = False
    shutdown_timeout_s: int = 300


@dataclass(frozen=True)
class Placed:
    """One VM's move: from the drained host to ``target``, taking ``pmem_mb`` there."""

    vm: str
    target: str
    pmem_mb: int

    def to_json(self) -> dict[str, Any]:
        """``{"vm", "to", "pmem_mb"}``."""
        return {"vm": self.vm, "to": self.target, "pmem_mb": self.pmem_mb}


@dataclass(frozen=True)
class DrainPlan:
    """The plan, and what a drain shows beside it: the placement and what still blocks."""

    host: str
    plan: Plan
    placement: tuple[Placed, ...] = ()
    unplaced: tuple[tuple[str, str], ...] = ()  # (vm, why it fits nowhere)
    blockers: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    host_moid: str = ""

    def to_json(self) -> dict[str, Any]:
        """The plan JSON contract plus a ``drain`` object (an extension)."""
        return {**self.plan.to_json(), "drain": {
            "host": self.host,
            "candidates": list(self.candidates),
            "placement": [p.to_json() for p in self.placement],
            "unplaced": [{"vm": v, "reason": r} for v, r in self.unplaced],
            "blockers": list(self.blockers),
        }}


@dataclass
class _Acc:
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    freed_mb: int = 0  # PMem the drained host gets back
    taken: dict[str, int] = field(default_factory=dict)  # host name -> PMem taken there
    ds_need: dict[str, int] = field(default_factory=dict)  # datastore moid -> MiB moved onto it


def make_drain_plan(inventory: Inventory, options: DrainOptions) -> DrainPlan:
    """The drain of ``options.host`` (pure)."""
    host = inventory.host_named(options.host)
    if host is None:
        names = sorted(h.name for h in inventory.hosts.values())
        return _blocked(options.host, f"unknown host {options.host!r} (hosts: "
                        + ", ".join(names[:10]) + ("…" if len(names) > 10 else "") + ")")
    if not host.connected:
        return _blocked(host.name, f"host {host.name} is not connected")
    if host.maintenance:
        return _blocked(host.name, f"host {host.name} is already in maintenance mode; "
                                   f"`pmemctl return {host.name}` brings it back")
    acc = _Acc()
    candidates = _candidates(inventory, host, options, acc)
    vms = sorted((v for v in inventory.vms.values() if v.host_moid == host.moid),
                 key=lambda v: v.name)
    movers = [v for v in vms if _must_move(v)]
    items = [Item(v.name, _nvdimm_mb(v), _kept_datastores(inventory, v, options, host))
             for v in movers]
    bins = [Bin(h.name, h.pmem_usable_mb, frozenset(h.datastore_moids),
                has_pmem=h.pmem_capacity_mb > 0) for h in candidates]
    placement = place(items, bins) if candidates else Placement(
        unplaced={v.name: "no other connected host in the cluster" for v in movers})
    by_name = {h.name: h for h in candidates}
    placed: list[Placed] = []
    blockers: list[str] = []
    for vm in vms:
        if not vm.devices_loaded:
            acc.problems.append(Problem(vm.name, f"{vm.name}: its devices were not read"))
            continue
        target = by_name.get(placement.assigned.get(vm.name, ""))
        _disk_moves(inventory, vm, host, options, acc)
        if target is not None:
            _move_vm(vm, host, target, inventory, acc)
            placed.append(Placed(vm.name, target.name, _nvdimm_mb(vm)))
        elif vm.name in placement.unplaced:
            _unplaced(vm, host, placement.unplaced[vm.name], options, acc, blockers=blockers)
    _capacity(inventory, acc)
    still = host.pmem_capacity_mb - host.pmem_free_mb - acc.freed_mb
    if still > 0:
        blockers.append(f"{format_mb(still)} of PMem stays in use on {host.name}")
    plan = Plan(changes=tuple(acc.changes), problems=tuple(acc.problems),
                hosts=_host_rows(host, candidates, acc), warnings=tuple(acc.warnings))
    return DrainPlan(host=host.name, plan=plan, placement=tuple(placed),
                     unplaced=tuple(sorted(placement.unplaced.items())),
                     blockers=tuple(blockers), candidates=tuple(h.name for h in candidates),
                     host_moid=host.moid)


def _blocked(host: str, message: str) -> DrainPlan:
    return DrainPlan(host=host, plan=Plan(problems=(Problem(None, message),)))


def _candidates(inventory: Inventory, host: Host, options: DrainOptions,
                acc: _Acc) -> list[Host]:
    """The hosts VMs may go to: the cluster's other connected hosts (or ``--to-host``)."""
    if host.cluster is None:
        acc.problems.append(Problem(None, f"host {host.name} is standalone: a drain moves VMs "
                                          "to other hosts of its cluster"))
        return []
    same = [h for h in inventory.hosts.values() if h.moid != host.moid
            and h.cluster == host.cluster and h.datacenter == host.datacenter]
    if options.to_hosts:
        picked = []
        for name in options.to_hosts:
            h = next((x for x in same if x.name == name), None)
            if h is None:
                acc.problems.append(Problem(None, f"--to-host {name}: not another host of "
                                                  f"cluster {host.cluster}"))
            else:
                picked.append(h)
        same = picked
    out = []
    for h in sorted(same, key=lambda x: x.name):
        if not h.connected or h.maintenance:
            if options.to_hosts:
                acc.problems.append(Problem(None, f"--to-host {h.name}: "
                                    + ("not connected" if not h.connected
                                       else "in maintenance mode")))
            continue
        if h.ha_pmem_reserved_mb:
            acc.warnings.append(f"{h.name}: {format_mb(h.ha_pmem_reserved_mb)} of PMem is held "
                                f"by {h.ha_pmem_reason or 'vSphere HA admission control'}; "
                                "placement leaves it free")
        out.append(h)
    return out


def _must_move(vm: VM) -> bool:
    # NVDIMM data lives in the host's PMem: such a VM leaves even powered off.
    # A powered-on (or suspended) VM keeps the host out of maintenance mode.
    return bool(vm.nvdimms) or vm.power_state in (PowerState.ON, PowerState.SUSPENDED)


def _nvdimm_mb(vm: VM) -> int:
    return sum(n.size_mb for n in vm.nvdimms)


def _shared_target(inventory: Inventory, vm: VM, options: DrainOptions) -> Datastore | None:
    name = options.datastore or vm.home_datastore
    return inventory.datastore_named(name, vm.datacenter or None) if name else None


def _kept_datastores(inventory: Inventory, vm: VM, options: DrainOptions,
                     host: Host) -> frozenset[str]:
    """Datastores (moids) the VM uses once its vPMemDisks left PMem: the target mounts them."""
    keep = {d for d in vm.datastore_moids
            if d in inventory.datastores and not inventory.datastores[d].is_pmem}
    if any(d.pmem for d in vm.disks):
        ds = _shared_target(inventory, vm, options)
        if ds is not None:
            keep.add(ds.moid)
    return frozenset(keep)


def _disk_moves(inventory: Inventory, vm: VM, host: Host, options: DrainOptions,
                acc: _Acc) -> None:
    disks = [d for d in vm.disks if d.pmem]
    if not disks:
        return
    ds = _shared_target(inventory, vm, options)
    if ds is None:
        what = options.datastore or vm.home_datastore or "(none)"
        acc.problems.append(Problem(vm.name, f"{vm.name}: datastore {what} for its vPMemDisks "
                                             "is unknown (or not unique); pass --datastore"))
        return
    if ds.is_pmem:
        acc.problems.append(Problem(vm.name, f"{vm.name}: {ds.name} is a PMem datastore; "
                                             "--datastore must name a shared one"))
        return
    if host.moid not in ds.host_moids and host.name not in ds.hosts:
        acc.problems.append(Problem(vm.name, f"{vm.name}: {ds.name} is not mounted on "
                                             f"{host.name}"))
        return
    for d in disks:
        acc.changes.append(Change(
            vm=vm.name, action=Action.MIGRATE_DISK, target=d.label, before=d.datastore,
            after=ds.name, disruptive=False,
            reason=f"drain {host.name}: vPMemDisk off PMem ({format_mb(d.size_mb)})",
            payload=MigrateDisk(
                disk_key=d.key, size_mb=d.size_mb,
                source=DatastoreRef(d.datastore, d.datastore_moid, True),
                target=DatastoreRef(ds.name, ds.moid, False),
                policy=migration_policy(True, False), file_name=d.file_name),
            vm_moid=vm.moid, host=vm.host, host_moid=vm.host_moid))
        acc.freed_mb += d.size_mb
        acc.ds_need[ds.moid] = acc.ds_need.get(ds.moid, 0) + d.size_mb


def _pmem_ref(inventory: Inventory, h: Host) -> DatastoreRef | None:
    if not h.pmem_datastore_moid:
        return None
    ds = inventory.datastores.get(h.pmem_datastore_moid)
    return DatastoreRef(ds.name if ds else (h.pmem_datastore or ""), h.pmem_datastore_moid, True)


def _move_vm(vm: VM, host: Host, target: Host, inventory: Inventory, acc: _Acc) -> None:
    mb = _nvdimm_mb(vm)
    why = (f"drain {host.name}: NVDIMMs ({format_mb(mb)}) to {target.name}, best fit"
           if mb else f"drain {host.name}: vMotion of a powered-on VM")
    acc.changes.append(Change(
        vm=vm.name, action=Action.MIGRATE_VM, target=vm.name, before=host.name,
        after=target.name, disruptive=False, reason=why,
        payload=MigrateVm(source=HostRef(host.name, host.moid),
                          target=HostRef(target.name, target.moid), pmem_mb=mb,
                          source_pmem=_pmem_ref(inventory, host) if mb else None,
                          target_pmem=_pmem_ref(inventory, target) if mb else None),
        vm_moid=vm.moid, host=vm.host, host_moid=vm.host_moid))
    acc.freed_mb += mb
    acc.taken[target.name] = acc.taken.get(target.name, 0) + mb


def _unplaced(vm: VM, host: Host, reason: str, options: DrainOptions, acc: _Acc, *,
              blockers: list[str]) -> None:
    mb = _nvdimm_mb(vm)
    running = vm.power_state in (PowerState.ON, PowerState.SUSPENDED)
    keeps = f"; its NVDIMMs keep {format_mb(mb)} of PMem reserved on {host.name}" if mb else ""
    if not running:
        acc.warnings.append(f"{vm.name}: stays on {host.name} powered off ({reason}){keeps}")
        return
    if not options.power_off_unplaced:
        acc.problems.append(Problem(vm.name, f"{vm.name} fits on no other host: {reason}; "
                                             "pass --power-off-unplaced to power it off instead"))
        blockers.append(f"{vm.name} is powered on")
        return
    acc.changes.append(Change(
        vm=vm.name, action=Action.POWER_OFF, target=vm.name, before=str(vm.power_state),
        after="poweredOff", disruptive=True,
        reason=f"drain {host.name}: fits on no other host ({reason}){keeps}",
        payload=PowerOff(method="guest" if vm.tools_running else "hard",
                         timeout_s=options.shutdown_timeout_s),
        vm_moid=vm.moid, host=vm.host, host_moid=vm.host_moid))
    if mb:
        acc.warnings.append(f"{vm.name}: powered off on {host.name}{keeps}")


def _capacity(inventory: Inventory, acc: _Acc) -> None:
    for moid, need in sorted(acc.ds_need.items()):
        ds = inventory.datastores.get(moid)
        if ds is not None and need > ds.free_mb:
            acc.problems.append(Problem(None, f"datastore {ds.name} has {format_mb(ds.free_mb)} "
                                              f"free; the vPMemDisks need {format_mb(need)}"))


def _host_rows(host: Host, candidates: list[Host], acc: _Acc) -> tuple[HostPmem, ...]:
    rows = [HostPmem(host.name, host.pmem_capacity_mb, host.pmem_free_mb,
                     host.pmem_free_mb + acc.freed_mb)]
    rows += [HostPmem(h.name, h.pmem_capacity_mb, h.pmem_free_mb,
                      h.pmem_free_mb - acc.taken.get(h.name, 0)) for h in candidates]
    return tuple(rows)


def with_warnings(dp: DrainPlan, warnings: tuple[str, ...]) -> DrainPlan:
    """The same drain plan with ``warnings`` first among its plan's warnings."""
    return replace(dp, plan=replace(dp.plan, warnings=warnings + dp.plan.warnings))
