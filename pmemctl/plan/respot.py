"""``placement: any-host-in-cluster``: move a VM whose host is short of PMem for its NVDIMMs.

A spec entry with ``nvdimms`` may say ``placement: any-host-in-cluster``.
When the VM's own host has less usable PMem (free minus the vSphere HA
reservation, minus what earlier VMs of the same plan took) than the NVDIMM
growth needs, :func:`respot` picks another host of the VM's cluster with
:func:`pmemctl.plan.placement.place` (best fit, only hosts that mount the
VM's datastores, connected, not in maintenance) for everything the VM will
hold in PMem there (its NVDIMMs as the spec wants them and its
vPMemDisks, which follow it). The planner then plans the VM as if it ran
there, after a ``migrate_vm`` change that runs first (``MigrateVm.first``:
its own step, before the reconfigure). Pure.
"""

from __future__ import annotations

from dataclasses import replace

from pmemctl.inventory.model import VM, Host, Inventory
from pmemctl.plan.model import Action, Change, Problem
from pmemctl.plan.payloads import DatastoreRef, HostRef, MigrateVm
from pmemctl.plan.placement import Bin, Item, place
from pmemctl.plan.select import Desired
from pmemctl.units import format_mb

ANY_HOST_IN_CLUSTER = "any-host-in-cluster"


def respot(vm: VM, desired: Desired, inventory: Inventory, taken: dict[str, int],
           ) -> tuple[VM, Change | None, Problem | None]:
    """The VM to plan (moved, when it must be), the move, or why it fits nowhere.

    ``taken`` (host moid → MiB) carries what earlier VMs of the same plan with
    this placement reserved (moved there, or grown in place), and is updated.
    """
    if desired.placement != ANY_HOST_IN_CLUSTER or desired.nvdimms is None:
        return vm, None, None
    host = inventory.host_of(vm)
    if host is None or not vm.devices_loaded:
        return vm, None, None  # the planner reports these
    have = sum(n.size_mb for n in vm.nvdimms)
    want = sum(desired.nvdimms)
    here = host.pmem_usable_mb - taken.get(host.moid, 0)
    growth = want - have
    if growth <= 0:
        return vm, None, None  # needs no more PMem: nothing to move for
    if host.pmem_capacity_mb > 0 and growth <= here:
        # It stays and grows here: later VMs of the plan see that PMem as taken.
        taken[host.moid] = taken.get(host.moid, 0) + growth
        return vm, None, None
    disks = sum(d.size_mb for d in vm.disks if d.pmem)
    need = want + disks
    candidates = sorted((h for h in inventory.hosts.values() if h.moid != host.moid
                         and host.cluster is not None and h.cluster == host.cluster
                         and h.datacenter == host.datacenter and h.connected
                         and not h.maintenance), key=lambda h: h.name)
    kept = frozenset(d for d in vm.datastore_moids
                     if d in inventory.datastores and not inventory.datastores[d].is_pmem)
    bins = [Bin(h.name, h.pmem_usable_mb - taken.get(h.moid, 0), frozenset(h.datastore_moids),
                has_pmem=h.pmem_capacity_mb > 0) for h in candidates]
    result = place([Item(vm.name, need, kept)], bins)
    by_name = {h.name: h for h in candidates}
    target = by_name.get(result.assigned.get(vm.name, ""))
    short = (f"host {host.name} has {format_mb(max(here, 0))} of usable PMem and the "
             f"NVDIMMs need {format_mb(want - have)} more")
    if target is None:
        why = result.unplaced.get(vm.name, "no other host in its cluster")
        return vm, None, Problem(vm.name, f"{vm.name}: {short}; placement "
                                          f"{ANY_HOST_IN_CLUSTER}: no host fits ({why})")
    taken[target.moid] = taken.get(target.moid, 0) + need
    taken[host.moid] = taken.get(host.moid, 0) - have - disks
    move = Change(
        vm=vm.name, action=Action.MIGRATE_VM, target=vm.name, before=host.name,
        after=target.name, disruptive=False,
        reason=f"placement {ANY_HOST_IN_CLUSTER}: {short}; {target.name} fits "
               f"{format_mb(need)} best",
        payload=MigrateVm(source=HostRef(host.name, host.moid),
                          target=HostRef(target.name, target.moid), pmem_mb=have + disks,
                          source_pmem=_pmem_ref(host), target_pmem=_pmem_ref(target),
                          first=True),
        vm_moid=vm.moid, host=host.name, host_moid=host.moid)
    return replace(vm, host=target.name, host_moid=target.moid), move, None


def _pmem_ref(h: Host) -> DatastoreRef | None:
    if not h.pmem_datastore_moid:
        return None
    return DatastoreRef(h.pmem_datastore or "", h.pmem_datastore_moid, True)


def with_move(changes: list[Change], move: Change | None) -> list[Change]:
    """``changes`` with ``move`` after the power off and upgrade, where it runs."""
    if move is None:
        return changes
    i = 0
    while i < len(changes) and changes[i].action in (Action.POWER_OFF, Action.UPGRADE_HARDWARE):
        i += 1
    return [*changes[:i], move, *changes[i:]]
