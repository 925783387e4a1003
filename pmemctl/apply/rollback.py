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
  (else listed as kept). They are the devices the journal says the run's
  reconfigure created (apply reads them back once it succeeds). Removal needs the VM powered off;
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

from pmemctl.apply.journal import JournalState, StepRecord
from pmemctl.apply.records import DiskUndo, MigrateUndo, ReconfigureUndo
from pmemctl.apply.resume import pending_power_ons
from pmemctl.apply.scheduler import StepKind
from pmemctl.inventory.model import VM, Datastore, Host, Inventory, PowerState
from pmemctl.plan.model import Action, Change, Plan
from pmemctl.plan.nvdimm_controller import controller_key, with_controller_removal
from pmemctl.plan.payloads import (
    DatastoreRef,
    HostRef,
    MigrateDisk,
    MigrateVm,
    PolicyRef,
    RemoveDisk,
    RemoveNvdimm,
)
from pmemctl.units import format_mb

POWERED_OFF = PowerState.OFF


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
    # A drain (pmemctl drain) is an apply of a plan it made itself.
    apply_runs = {r.run for r in state.runs if r.command in ("apply", "drain")}
    return [s for s in state.done if s.run in apply_runs]


def rollback_plan(state: JournalState, inventory: Inventory,
                  allow_data_loss: bool = False) -> RollbackPlan:
    """Build the reverse plan from the journal and the current estate (pure)."""
    steps = list(reversed(_done_apply_steps(state)))  # newest first
    acc = _Acc()
    back = _vm_moves(steps, inventory, acc)
    _migrations(steps, inventory, acc, back)
    _created(steps, inventory, allow_data_loss, acc)
    _controllers(steps, inventory, acc)
    _irreversible(steps, acc)
    order = {Action.REMOVE_NVDIMM: 0, Action.REMOVE_DISK: 0, Action.MIGRATE_DISK: 1,
             Action.MIGRATE_VM: 1}
    changes = sorted(acc.changes, key=lambda c: (c.vm, order.get(c.action, 9)))
    # A VM the apply powered off and still owes a power-on (journal or marker on
    # the VM) is powered on after its undo, as apply would have.
    plan = pending_power_ons(state, Plan(changes=tuple(changes)), inventory)
    return RollbackPlan(plan=plan, notes=tuple(acc.notes), vms=tuple(journal_vms(state)))


def _vm_moves(steps: list[StepRecord], inventory: Inventory, acc: _Acc) -> dict[str, Host]:
    """VMs a drain moved to another host go back to the host they came from.

    Returns the host each VM returns to, so that its disks are checked (and
    moved) against that host. The journaled change names both hosts
    (``before`` → ``after``); a VM no longer where the drain put it is left
    alone with a note.
    """
    back: dict[str, Host] = {}
    for s in steps:  # newest first: the first record per VM is its last move
        for c in s.changes:
            if c.action is not Action.MIGRATE_VM or s.vm in back or not c.before:
                continue
            vm = inventory.vms.get(s.vm)
            home = inventory.host_named(c.before)
            if vm is None or home is None:
                acc.notes.append(f"{s.vm}: the VM or host {c.before} no longer exists; "
                                 "not moved back")
                continue
            if vm.host == c.before:
                acc.notes.append(f"{s.vm}: already back on {c.before}")
                continue
            if vm.host != c.after:
                acc.notes.append(f"{s.vm}: is on {vm.host}, not where the drain put it "
                                 f"({c.after}); left alone")
                continue
            if not home.connected or home.maintenance:
                acc.notes.append(f"{s.vm}: {home.name} is "
                                 f"{'in maintenance mode' if home.connected else 'not connected'}"
                                 "; not moved back (take it out of maintenance first)")
                continue
            back[s.vm] = home
            mb = sum(n.size_mb for n in vm.nvdimms)
            cur = inventory.host_of(vm)
            acc.changes.append(Change(
                vm=vm.name, action=Action.MIGRATE_VM, target=vm.name, before=vm.host,
                after=home.name, disruptive=False, reason="rollback: back to the drained host",
                payload=MigrateVm(source=HostRef(vm.host, vm.host_moid),
                                  target=HostRef(home.name, home.moid), pmem_mb=mb,
                                  source_pmem=_pmem_ref(cur) if mb and cur else None,
                                  target_pmem=_pmem_ref(home) if mb else None, rollback=True),
                vm_moid=vm.moid, host=vm.host, host_moid=vm.host_moid))
    return back


def _pmem_ref(h: Host) -> DatastoreRef | None:
    if not h.pmem_datastore_moid:
        return None
    return DatastoreRef(h.pmem_datastore or "", h.pmem_datastore_moid, True)


def _migrations(steps: list[StepRecord], inventory: Inventory, acc: _Acc,
                back: dict[str, Host] | None = None) -> None:
    chains: dict[tuple[str, int], list[DiskUndo]] = {}
    for s in steps:
        if isinstance(s.undo, MigrateUndo):
            for d in s.undo.disks:
                chains.setdefault((s.vm, d.key), []).append(d)
    for (vm_name, key), undos in sorted(chains.items()):
        vm = inventory.vms.get(vm_name)
        disk = next((d for d in vm.disks if d.key == key), None) if vm else None
        label = undos[0].label
        if vm is None or disk is None:
            acc.notes.append(f"{vm_name}: {label} no longer exists; nothing to move back")
            continue
        where = disk.datastore
        target: DiskUndo | None = None
        for u in undos:  # newest first: walk the chain back while it still matches
            if where != u.to_datastore:
                break
            where, target = u.datastore, u
        if target is None:
            if disk.datastore == undos[-1].datastore:
                acc.notes.append(f"{vm_name}: {label} is already back on {disk.datastore}")
            else:
                acc.notes.append(
                    f"{vm_name}: {label} is on {disk.datastore}, not where apply put it "
                    f"({undos[0].to_datastore}); left alone")
            continue
        problem = _cannot_go_back(vm, target, inventory, (back or {}).get(vm_name))
        if problem:
            acc.notes.append(f"{vm_name}: {label}: {problem}; left on {disk.datastore}")
            continue
        original = _original(vm, target, inventory)
        acc.changes.append(Change(
            vm=vm_name, action=Action.MIGRATE_DISK, target=label, before=disk.datastore,
            after=where, disruptive=False, reason="rollback: back to where apply found it",
            payload=MigrateDisk(
                disk_key=key, size_mb=disk.size_mb,
                source=DatastoreRef(disk.datastore, disk.datastore_moid, disk.pmem),
                target=DatastoreRef(where, original.moid, target.pmem),
                # Back onto PMem: its policy; elsewhere the disk's own earlier policy,
                # else the target's default (PBM did not say what it had).
                policy=PolicyRef("pmem") if target.pmem else PolicyRef("defined",
                                                                        target.policy_ids),
                rollback=True, file_name=disk.file_name),
            vm_moid=vm.moid, host=vm.host, host_moid=vm.host_moid))


def _original(vm: VM, undo: DiskUndo, inventory: Inventory) -> Datastore:
    """The disk's original datastore: by the journaled moid, else by name in the VM's datacenter."""
    ds = inventory.datastores.get(undo.datastore_moid or "")
    if ds is None:
        ds = inventory.datastore_named(undo.datastore, vm.datacenter or None)
    assert ds is not None  # _cannot_go_back said it exists
    return ds


def _cannot_go_back(vm: VM, undo: DiskUndo, inventory: Inventory,
                    going_to: Host | None = None) -> str | None:
    name = undo.datastore
    ds = inventory.datastores.get(undo.datastore_moid or "")
    if ds is None:
        ds = inventory.datastore_named(name, vm.datacenter or None)
    if ds is None:
        return f"its original datastore {name} is gone"
    # The host the VM will be on: the one rollback moves it back to, else its own.
    h_moid, h_name = (going_to.moid, going_to.name) if going_to else (vm.host_moid, vm.host)
    mounted = h_moid in ds.host_moids if ds.host_moids else h_name in ds.hosts
    if not mounted and ds.hosts:
        return f"its original datastore {name} is not mounted on {h_name} (the VM moved)"
    return None


def _created(steps: list[StepRecord], inventory: Inventory, allow_data_loss: bool,
             acc: _Acc) -> None:
    claimed: set[tuple[str, int]] = set()
    for s in steps:
        if s.kind is not StepKind.RECONFIGURE:
            continue
        vm = inventory.vms.get(s.vm)
        wanted = [c for c in s.changes
                  if c.action in (Action.ADD_NVDIMM, Action.CREATE_DISK)]
        if vm is None:
            if wanted:
                acc.notes.append(f"{s.vm}: the VM no longer exists; nothing to remove")
            continue
        for label, key, size, kind in _created_devices(s, vm, claimed):
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


def _controllers(steps: list[StepRecord], inventory: Inventory, acc: _Acc) -> None:
    """The NVDIMM controller an apply added goes with the last NVDIMM rollback removes.

    Only a controller the journal says the run added (an ``add_nvdimm`` with
    ``add_controller``), and only when no NVDIMM is left on the VM after
    the removals (pmemctl/plan/nvdimm_controller.py).
    """
    added = {s.vm for s in steps if s.kind is StepKind.RECONFIGURE
             and any(c.action is Action.ADD_NVDIMM and c.added_controller for c in s.changes)}
    for name in sorted(added):
        vm = inventory.vms.get(name)
        key = controller_key(vm) if vm is not None else None
        if vm is None or key is None:
            continue
        mine = [i for i, c in enumerate(acc.changes)
                if c.vm == name and isinstance(c.payload, RemoveNvdimm)]
        removed = {acc.changes[i].payload.key for i in mine}  # type: ignore[union-attr]
        if mine and all(n.key in removed for n in vm.nvdimms):
            acc.changes[mine[-1]] = with_controller_removal(acc.changes[mine[-1]], key)


def _created_devices(s: StepRecord, vm: VM, claimed: set[tuple[str, int]],
                     ) -> list[tuple[str, int, int, str]]:
    """(label, key, size, kind) of the devices step ``s`` created that the VM still has.

    The journal names them (apply reads the VM's devices back after a
    reconfigure succeeds), so nothing is guessed. A journal of the previous
    pmemctl (format 1) does not: there, the devices whose keys were not there
    before the step stand in, as that version did.
    """
    nvdimms = {n.key: n for n in vm.nvdimms}
    disks = {d.key: d for d in vm.disks}
    if s.created is not None:
        out: list[tuple[str, int, int, str]] = []
        for c in s.created:
            if (vm.name, c.key) in claimed:
                continue
            if c.kind == "nvdimm" and c.key in nvdimms:
                n = nvdimms[c.key]
                out.append((n.label, n.key, n.size_mb, "nvdimm"))
            elif c.kind == "disk" and c.key in disks:
                d = disks[c.key]
                out.append((d.label, d.key, d.size_mb, "disk"))
        return out
    before = s.undo if isinstance(s.undo, ReconfigureUndo) else ReconfigureUndo()
    adds = [c for c in s.changes if c.action is Action.ADD_NVDIMM]
    made = [c for c in s.changes if c.action is Action.CREATE_DISK]
    new_n = sorted((n for n in vm.nvdimms if n.key not in before.nvdimm_keys_before
                    and (vm.name, n.key) not in claimed), key=lambda n: -n.key)[:len(adds)]
    new_d = [d for d in vm.disks
             if d.key not in before.disk_keys_before and (vm.name, d.key) not in claimed]
    labels = {c.target for c in made}
    new_d = sorted(new_d, key=lambda d: (d.label not in labels, -d.key))[:len(made)]
    return ([(n.label, n.key, n.size_mb, "nvdimm") for n in new_n]
            + [(d.label, d.key, d.size_mb, "disk") for d in new_d])


def _irreversible(steps: list[StepRecord], acc: _Acc) -> None:
    for s in steps:
        for c in s.changes:
            if c.action is Action.GROW_NVDIMM:
                acc.notes.append(f"{s.vm}: {c.target} was grown from {c.before} to "
                                 f"{c.after}; NVDIMMs cannot shrink, not undone")
            elif c.action is Action.REMOVE_NVDIMM:
                acc.notes.append(f"{s.vm}: {c.target} was removed and its data destroyed; "
                                 "cannot be undone")
            elif c.action is Action.UPGRADE_HARDWARE:
                acc.notes.append(f"{s.vm}: hardware was upgraded from {c.before} to "
                                 f"{c.after}; vSphere cannot downgrade, not undone")
