"""Why a saved plan no longer fits the estate, in the words an admin would use.

Pure: (the saved plan, the digests it recorded, the estate now) → sentences.
:func:`pmemctl.plan.savefile.check_fresh` raises with them. The plan file
already holds what is needed: each change's VM moid and host, the devices
and datastores its payload names, and each host's PMem free when planned.

* :func:`what_changed` names the VM that moved ("VM redis-03 moved from
  esx-01 to esx-02"), was renamed, was replaced by another VM of its name,
  or is gone; a disk that is elsewhere; an NVDIMM or hardware version that
  differs; a host whose PMem free changed. Hosts that only entered or left
  the plan's set because a VM moved are not reported on their own.
* :func:`already_applied` says whether the estate now has every change of
  the plan (re-applying a plan that has been applied).
"""

from __future__ import annotations

from collections.abc import Mapping

from pmemctl.inventory.model import VM, Inventory, PowerState
from pmemctl.plan.model import Change, Plan
from pmemctl.plan.payloads import (
    AddNvdimm,
    CreateDisk,
    GrowNvdimm,
    MigrateDisk,
    PowerOff,
    RemoveNvdimm,
    UpgradeHardware,
)
from pmemctl.units import format_mb


def _first_by_vm(plan: Plan) -> dict[str, Change]:
    out: dict[str, Change] = {}
    for c in plan.changes:
        out.setdefault(c.vm, c)
    return out


def _now(inventory: Inventory, name: str, moid: str | None) -> tuple[VM | None, str]:
    """The VM the plan meant, and how it is known now: same | renamed | replaced | gone."""
    vm = inventory.vms.get(name)
    if not moid:
        return vm, "same" if vm is not None else "gone"
    if vm is not None and vm.moid == moid:
        return vm, "same"
    by_moid = next((v for v in inventory.vms.values() if v.moid == moid), None)
    if by_moid is not None:
        return by_moid, "renamed"
    return vm, "replaced" if vm is not None else "gone"


def _device_facts(c: Change, vm: VM) -> str | None:
    """What a change's device (or version) looks like now, when it differs from the plan."""
    p = c.payload
    if not vm.devices_loaded:
        return None
    if isinstance(p, MigrateDisk):
        disk = next((d for d in vm.disks if d.key == p.disk_key), None)
        if disk is None:
            return f"VM {c.vm}: {c.target} is gone"
        if disk.datastore != p.source.name:
            return f"VM {c.vm}: {c.target} is now on {disk.datastore} (the plan moves it from " \
                   f"{p.source.name})"
        if disk.size_mb != p.size_mb:
            return f"VM {c.vm}: {c.target} is now {format_mb(disk.size_mb)} (was " \
                   f"{format_mb(p.size_mb)})"
    elif isinstance(p, GrowNvdimm):
        nv = next((n for n in vm.nvdimms if n.key == p.key), None)
        if nv is None:
            return f"VM {c.vm}: {c.target} is gone"
        if nv.size_mb != p.size_mb_before:
            return f"VM {c.vm}: {c.target} is now {format_mb(nv.size_mb)} (was " \
                   f"{format_mb(p.size_mb_before)})"
    elif isinstance(p, RemoveNvdimm):
        if not any(n.key == p.key for n in vm.nvdimms):
            return f"VM {c.vm}: {c.target} is gone"
    elif isinstance(p, PowerOff):
        if vm.power_state is not PowerState.ON:
            state = {PowerState.OFF: "powered off", PowerState.SUSPENDED: "suspended"}.get(
                vm.power_state, "in an unknown power state")
            return f"VM {c.vm} is {state} now (the plan powers it off)"
    elif isinstance(p, UpgradeHardware) and vm.hardware_version != p.from_version:
        return f"VM {c.vm}: hardware is now vmx-{vm.hardware_version:02d} (was " \
               f"vmx-{p.from_version:02d})"
    return None


def what_changed(plan: Plan, vm_names: tuple[str, ...], then: Mapping[str, str],
                 now: Mapping[str, str], inventory: Inventory) -> list[str]:
    """Sentences naming what changed since ``plan`` was made (empty: nothing it can name).

    ``then``/``now`` are the per-object digests (``"VM redis-01"``, ``"host esx-01"``)
    of the saved file and of the estate now.
    """
    first = _first_by_vm(plan)
    out: list[str] = []
    explained_hosts: set[str] = set()
    explained_vms: set[str] = set()
    for name in vm_names:
        c = first.get(name)
        vm, how = _now(inventory, name, c.vm_moid if c else None)
        if how == "renamed" and vm is not None:
            out.append(f"VM {name} was renamed to {vm.name}")
        elif how == "replaced" and vm is not None and c is not None:
            out.append(f"VM {name} is another VM now ({vm.moid}, was {c.vm_moid}): the one "
                       "the plan saw was removed or renamed")
        elif how == "gone":
            out.append(f"VM {name} is gone")
        if how != "same":
            explained_vms.add(name)
            if c and c.host:
                explained_hosts.add(c.host)
            continue
        assert vm is not None
        if c is not None and c.host and vm.host != c.host:
            out.append(f"VM {name} moved from {c.host} to {vm.host}")
            explained_hosts.update({c.host, vm.host})
        for ch in (x for x in plan.changes if x.vm == name):
            fact = _device_facts(ch, vm)
            if fact is not None:
                out.append(fact)
                explained_vms.add(name)
        if c is not None and c.host and vm.host != c.host:
            explained_vms.add(name)
    for h in plan.hosts:
        host = inventory.host_named(h.name)
        if host is not None and host.pmem_free_mb != h.free_mb_before \
                and h.name not in explained_hosts:
            out.append(f"host {h.name}: PMem free is now {format_mb(host.pmem_free_mb)} "
                       f"(the plan saw {format_mb(h.free_mb_before)})")
            explained_hosts.add(h.name)
    # What the digests show and nothing above named.
    for key in sorted(then):
        kind, _, name = key.partition(" ")
        if (kind == "VM" and name in explained_vms) or (kind == "host" and name in
                                                         explained_hosts):
            continue
        if key in now and now[key] != then[key]:
            out.append(f"VM {name} changed (its devices, power state or configuration)"
                       if kind == "VM" else f"host {name} changed")
        elif key not in now and kind == "host":
            out.append(f"no planned VM is on host {name} any more")
    for key in sorted(now):
        kind, _, name = key.partition(" ")
        if then and key not in then and kind == "host" and name not in explained_hosts:
            out.append(f"a planned VM is on host {name} now")
    # VMs first, then hosts (a stable sort keeps each group's order).
    return sorted(out, key=lambda line: not line.startswith("VM "))


def _holds(c: Change, vm: VM) -> bool | None:
    """Whether ``c``'s result is in the estate now; None for changes that say nothing."""
    p = c.payload
    if isinstance(p, MigrateDisk):
        disk = next((d for d in vm.disks if d.key == p.disk_key), None)
        return disk is not None and (disk.pmem if p.target.pmem else
                                     disk.datastore == p.target.name)
    if isinstance(p, GrowNvdimm):
        return any(n.key == p.key and n.size_mb == p.size_mb for n in vm.nvdimms)
    if isinstance(p, RemoveNvdimm):
        return not any(n.key == p.key for n in vm.nvdimms)
    if isinstance(p, AddNvdimm):
        return any(n.label == c.target and n.size_mb == p.size_mb for n in vm.nvdimms)
    if isinstance(p, CreateDisk):
        return any(d.label == p.label for d in vm.disks)
    if isinstance(p, UpgradeHardware):
        return vm.hardware_version >= p.to_version
    return None  # power off / on: a state, not a result


def already_applied(plan: Plan, inventory: Inventory) -> bool:
    """True when every change of ``plan`` that leaves a result is in the estate now."""
    seen = False
    for c in plan.changes:
        vm = inventory.vms.get(c.vm)
        if vm is None or (c.vm_moid and vm.moid != c.vm_moid) or not vm.devices_loaded:
            return False
        held = _holds(c, vm)
        if held is False:
            return False
        seen = seen or held is True
    return seen
