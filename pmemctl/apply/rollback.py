"""Rollback: undo what an apply journal says was done, newest first.

:func:`rollback_plan` is pure: (journal state, current inventory) → a Plan of
reverse changes plus notes for what is not (or cannot be) undone.

* **Migrated disks** go back to their original datastore, with the PMem
  policy if they came from PMem, else the policy the journal recorded for
  the disk before apply moved it (PBM ``PbmQueryAssociatedProfiles``), else
  the datastore's default policy (the executor looks it up). A disk that is
  no longer where the run put it is skipped with a note (someone moved it
  since, or a rollback already ran).
  Several journaled moves of one disk collapse into one move to the oldest
  original location.
* **Created NVDIMMs and disks** are removed only with ``allow_data_loss``
  (else listed as kept). They are the devices present now whose keys were
  not there before the run's reconfigure. Removal needs the VM powered off;
  rollback never powers VMs off itself, so a running VM's removals are
  listed with a note instead.
* **Grown NVDIMMs, removed NVDIMMs and hardware upgrades** cannot be undone
  (NVDIMMs cannot shrink, destroyed data is gone, vSphere has no downgrade):
  they are reported.
* **Power state:** apply already powered on the VMs it powered off; rollback
  leaves power states alone.

Idempotent by construction: every reverse change is derived from the
current estate, so a second rollback finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pmemctl.apply.journal import JournalState, StepRecord
from pmemctl.inventory.model import VM, Datastore, Inventory
from pmemctl.plan.model import Action, Change, Plan
from pmemctl.plan.payloads import (
    DatastoreRef,
    MigrateDisk,
    PolicyRef,
    RemoveDisk,
    RemoveNvdimm,
)
from pmemctl.units import format_mb

POWERED_OFF = "poweredOff"


@dataclass(frozen=True)
class RollbackPlan:
    """Reverse changes to execute, and notes about everything else."""

    plan: Plan
    notes: tuple[str, ...] = ()
    vms: tuple[str, ...] = ()  # VMs the journal touched

    @property
    def empty(self) -> bool:
        """True when nothing is left to undo."""
        return self.plan.empty


@dataclass
class _Acc:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def journal_vms(state: JournalState) -> list[str]:
    """Names of the VMs with completed steps in apply runs of the journal."""
    return sorted({s.vm for s in _done_apply_steps(state)})


def _done_apply_steps(state: JournalState) -> list[StepRecord]:
    apply_runs = {r.run for r in state.runs if r.start.get("command", "apply") == "apply"}
    return [s for s in state.done if s.run in apply_runs]


def rollback_plan(state: JournalState, inventory: Inventory,
                  allow_data_loss: bool = False) -> RollbackPlan:
    """Build the reverse plan from the journal and the current estate (pure)."""
    steps = list(reversed(_done_apply_steps(state)))  # newest first
    acc = _Acc()
    _migrations(steps, inventory, acc)
    _created(steps, inventory, allow_data_loss, acc)
    _irreversible(steps, acc)
    order = {Action.REMOVE_NVDIMM: 0, Action.REMOVE_DISK: 0, Action.MIGRATE_DISK: 1}
    changes = sorted(acc.changes, key=lambda c: (c.vm, order.get(c.action, 9)))
    return RollbackPlan(plan=Plan(changes=tuple(changes)), notes=tuple(acc.notes),
                        vms=tuple(journal_vms(state)))


def _migrations(steps: list[StepRecord], inventory: Inventory, acc: _Acc) -> None:
    chains: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for s in steps:
        if s.kind != "migrate":
            continue
        for d in s.undo.get("disks", []):
            chains.setdefault((s.vm, int(d["key"])), []).append(d)
    for (vm_name, key), undos in sorted(chains.items()):
        vm = inventory.vms.get(vm_name)
        disk = next((d for d in vm.disks if d.key == key), None) if vm else None
        label = str(undos[0].get("label", f"disk {key}"))
        if vm is None or disk is None:
            acc.notes.append(f"{vm_name}: {label} no longer exists; nothing to move back")
            continue
        where = disk.datastore
        target: dict[str, Any] | None = None
        for u in undos:  # newest first: walk the chain back while it still matches
            if where != u.get("to_datastore"):
                break
            where, target = str(u["datastore"]), u
        if target is None:
            if disk.datastore == undos[-1].get("datastore"):
                acc.notes.append(f"{vm_name}: {label} is already back on {disk.datastore}")
            else:
                acc.notes.append(
                    f"{vm_name}: {label} is on {disk.datastore}, not where apply put it "
                    f"({undos[0].get('to_datastore')}); left alone")
            continue
        problem = _cannot_go_back(vm, target, inventory)
        if problem:
            acc.notes.append(f"{vm_name}: {label}: {problem}; left on {disk.datastore}")
            continue
        original = _original(vm, target, inventory)
        back_to_pmem = bool(target.get("pmem"))
        policies = tuple(str(p) for p in target.get("policy_ids", []))
        acc.changes.append(Change(
            vm=vm_name, action=Action.MIGRATE_DISK, target=label, before=disk.datastore,
            after=where, disruptive=False, reason="rollback: back to where apply found it",
            payload=MigrateDisk(
                disk_key=key, size_mb=disk.size_mb,
                source=DatastoreRef(disk.datastore, disk.datastore_moid, disk.pmem),
                target=DatastoreRef(where, original.moid, back_to_pmem),
                # Back onto PMem: its policy; elsewhere the disk's own earlier policy,
                # else the target's default (PBM did not say what it had).
                policy=PolicyRef("pmem") if back_to_pmem else PolicyRef("defined", policies),
                rollback=True),
            vm_moid=vm.moid, host=vm.host, host_moid=vm.host_moid))


def _original(vm: VM, undo: dict[str, Any], inventory: Inventory) -> Datastore:
    """The disk's original datastore: by the journaled moid, else by name in the VM's datacenter."""
    ds = inventory.datastores.get(str(undo.get("datastore_moid") or ""))
    if ds is None:
        ds = inventory.datastore_named(str(undo["datastore"]), vm.datacenter or None)
    assert ds is not None  # _cannot_go_back said it exists
    return ds


def _cannot_go_back(vm: VM, undo: dict[str, Any], inventory: Inventory) -> str | None:
    name = str(undo["datastore"])
    ds = inventory.datastores.get(str(undo.get("datastore_moid") or ""))
    if ds is None:
        ds = inventory.datastore_named(name, vm.datacenter or None)
    if ds is None:
        return f"its original datastore {name} is gone"
    mounted = vm.host_moid in ds.host_moids if ds.host_moids else vm.host in ds.hosts
    if not mounted and ds.hosts:
        return f"its original datastore {name} is not mounted on {vm.host} (the VM moved)"
    return None


def _created(steps: list[StepRecord], inventory: Inventory, allow_data_loss: bool,
             acc: _Acc) -> None:
    claimed: set[tuple[str, int]] = set()
    for s in steps:
        if s.kind != "reconfigure":
            continue
        vm = inventory.vms.get(s.vm)
        adds = [c for c in s.changes if c.get("action") == "add_nvdimm"]
        disks = [c for c in s.changes if c.get("action") == "create_disk"]
        if vm is None:
            if adds or disks:
                acc.notes.append(f"{s.vm}: the VM no longer exists; nothing to remove")
            continue
        before_n = set(s.undo.get("nvdimm_keys_before", []))
        before_d = set(s.undo.get("disk_keys_before", []))
        new_n = sorted((n for n in vm.nvdimms if n.key not in before_n
                        and (vm.name, n.key) not in claimed), key=lambda n: -n.key)[:len(adds)]
        new_d = [d for d in vm.disks if d.key not in before_d and (vm.name, d.key) not in claimed]
        labels = {str(c.get("target")) for c in disks}
        new_d = sorted(new_d, key=lambda d: (d.label not in labels, -d.key))[:len(disks)]
        devices: list[tuple[str, int, int, str]] = (
            [(n.label, n.key, n.size_mb, "nvdimm") for n in new_n]
            + [(d.label, d.key, d.size_mb, "disk") for d in new_d])
        for label, key, size, kind in devices:
            claimed.add((vm.name, key))
            what = f"{label} ({format_mb(size)}), created by apply"
            if not allow_data_loss:
                acc.notes.append(f"{vm.name}: kept {what}; pass --allow-data-loss to remove it")
                continue
            if vm.power_state != POWERED_OFF:
                acc.notes.append(f"{vm.name}: kept {what}: removing it needs the VM powered "
                                 "off; power it off and run rollback again")
                continue
            payload = (RemoveDisk(key=key, size_mb=size) if kind == "disk"
                       else RemoveNvdimm(key=key, size_mb=size))
            acc.changes.append(Change(
                vm=vm.name, action=payload.ACTION, target=label, before=format_mb(size),
                after=None, disruptive=False, reason="rollback: created by apply",
                payload=payload, vm_moid=vm.moid, host=vm.host, host_moid=vm.host_moid))


def _irreversible(steps: list[StepRecord], acc: _Acc) -> None:
    for s in steps:
        for c in s.changes:
            action, target = c.get("action"), c.get("target")
            if action == "grow_nvdimm":
                acc.notes.append(f"{s.vm}: {target} was grown from {c.get('before')} to "
                                 f"{c.get('after')}; NVDIMMs cannot shrink, not undone")
            elif action == "remove_nvdimm":
                acc.notes.append(f"{s.vm}: {target} was removed and its data destroyed; "
                                 "cannot be undone")
            elif action == "upgrade_hardware":
                acc.notes.append(f"{s.vm}: hardware was upgraded from {c.get('before')} to "
                                 f"{c.get('after')}; vSphere cannot downgrade, not undone")
