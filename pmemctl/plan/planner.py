"""The planner: ``make_plan(spec, inventory) -> Plan``, a pure diff.

Nothing here talks to vSphere or imports pyVmomi: the inventory is a frozen
snapshot and the plan a frozen value, so every rule is testable with plain
Python values. The rules come from the PMem reference (sections B-D):

* NVDIMMs are compared by position (label order). Growing is an edit;
  shrinking is remove + add, which destroys data like a plain remove.
* NVDIMM adds and grows need vmx-14 and a guest OS that supports PMem.
* NVDIMM changes, hardware upgrades and creating a vPMemDisk need the VM
  powered off; Storage vMotion (``migrate_disk``) runs live.
* PMem is host-local: a disk goes to the PMem datastore of the VM's own host.
* A datastore name means the datastore of that name in the VM's datacenter
  (names are unique only there); changes carry typed payloads
  (:mod:`pmemctl.plan.payloads`) with the resolved moids, the storage
  policy, the power-off method and the NVDIMM controller decided, so apply
  never resolves a name nor decides anything again.
* PMem that vSphere HA admission control reserves for failover is not free.
* A vPMemDisk has no snapshot chain: nothing goes onto PMem while the VM has
  snapshots. NVDIMMs must fit the hardware's ``VirtualNVDIMMOption`` and the
  guest's growth rules.
* Against a standalone ESXi host (``about.apiType == "HostAgent"``) nothing
  goes onto PMem: that needs PBM storage policies, which only vCenter has.

Every problem is collected; a blocked plan still lists its changes so the
user sees the whole picture at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from typing import TypeVar

from pmemctl.inventory.model import (
    HOST_AGENT,
    MIN_NVDIMM_HW_VERSION,
    VM,
    Datastore,
    Disk,
    Host,
    Inventory,
    Nvdimm,
    PowerState,
    version_tuple,
)
from pmemctl.plan.disksel import choose_disks, unmatched_note
from pmemctl.plan.model import Action, Change, HostPmem, Plan, Problem
from pmemctl.plan.payloads import (
    AddNvdimm,
    CreateDisk,
    DatastoreRef,
    GrowNvdimm,
    MigrateDisk,
    MigrateVm,
    Payload,
    PolicyRef,
    RemoveNvdimm,
    UpgradeHardware,
)
from pmemctl.plan.power import describe_power_off, power_off_payload, power_on_payload
from pmemctl.plan.respot import respot, with_move
from pmemctl.plan.select import Desired, Selection, select_vms
from pmemctl.plan.skip import skip_blocked
from pmemctl.spec.model import DiskTarget, Options, Spec
from pmemctl.units import format_mb

POWERED_ON = PowerState.ON
POWERED_OFF = PowerState.OFF

_NVDIMM_GROWTH = (Action.ADD_NVDIMM, Action.GROW_NVDIMM)
_NVDIMM_ACTIONS = (*_NVDIMM_GROWTH, Action.REMOVE_NVDIMM)
SNAPSHOT_MODE_API = (7, 0, 3)  # ConfigSpec.pmem (VirtualMachineVirtualPMem) is 7.0 U3
_T = TypeVar("_T")
_LABEL_RE = re.compile(r"^(.*?)(\d+)$")


def make_plan(spec: Spec, inventory: Inventory) -> Plan:
    """Diff the spec against the inventory and return the plan.

    Changes are grouped by VM (sorted by name) and ordered inside a VM as
    apply must run them. Host PMem is accounted in plan order. Problems and
    warnings are collected, never raised. With ``options.skip_blocked`` the
    VMs with problems are left out and listed in ``Plan.skipped``
    (:mod:`pmemctl.plan.skip`).
    """
    selection = select_vms(spec, inventory)
    if not spec.options.skip_blocked:
        return _make_plan(spec, inventory, selection, frozenset(), {})
    # The VMs' own plans do not depend on which others are left out: plan each once.
    cache: dict[str, _VmPlan] = {}

    def host_of(name: str) -> str:
        vm = inventory.vms.get(name)
        return vm.host if vm is not None else ""

    return skip_blocked(lambda out: _make_plan(spec, inventory, selection, out, cache), host_of)


def _make_plan(spec: Spec, inventory: Inventory, selection: Selection, excluded: frozenset[str],
               cache: dict[str, _VmPlan]) -> Plan:
    """:func:`make_plan` without the VMs in ``excluded`` (their problems go too)."""
    names = [n for n in selection.names if n not in excluded]
    changes: list[Change] = []
    problems: list[Problem] = [p for p in selection.problems if p.vm not in excluded]
    warnings: list[str] = []
    unmatched: dict[str, list[str]] = {}  # disks key -> the VMs it selected no disk of
    taken: dict[str, int] = {}  # PMem that placement moves reserved, per host moid
    for name in names:
        # placement: any-host-in-cluster may move the VM first (respot.py).
        vm, move, why = respot(inventory.vms[name], selection.vms[name], inventory, taken)
        problems.extend([why] if why else [])
        # A VM's own plan does not depend on which others skip rounds leave out
        # (they reuse it), only on the host placement gave it.
        key = f"{name}@{vm.host_moid}"
        vm_plan = cache.get(key) or _plan_vm(vm, selection.vms[name], spec.options, inventory)
        cache[key] = vm_plan
        changes.extend(with_move(vm_plan.ordered(), move))
        problems.extend(vm_plan.problems)
        warnings.extend(vm_plan.warnings)
        for key in vm_plan.unmatched:
            unmatched.setdefault(key, []).append(name)
    # One note per key for all its VMs: `number:2-` over 1,000 one-disk VMs is one
    # line, not 1,000 that bury the warnings that matter.
    warnings.extend(unmatched_note(vms, key) for key, vms in unmatched.items())
    # Skipped VMs' hosts keep their rows: the table shows their PMem left as it is.
    vm_hosts = {h.moid for h in (inventory.host_of(inventory.vms[n]) for n in selection.names)
                if h is not None}
    hosts, capacity_problems, capacity_warnings = _capacity(changes, inventory, vm_hosts)
    problems.extend(capacity_problems)
    warnings.extend(capacity_warnings)
    problems.extend(_estate_problems(changes, inventory, spec.options))
    warnings.extend(_snapshot_warnings(changes, spec.options))
    return Plan(
        changes=tuple(changes),
        problems=tuple(_unique(problems)),
        hosts=hosts,
        warnings=tuple(_unique(warnings)),
    )


# --------------------------------------------------------------------------- per VM


@dataclass
class _VmPlan:
    """The working state while one VM is planned."""

    vm: VM
    host: Host | None
    options: Options
    inventory: Inventory
    upgrade: Change | None = None
    reconfig: list[Change] = field(default_factory=list)
    migrations: list[Change] = field(default_factory=list)
    power: tuple[Change, Change] | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # disks keys that selected nothing

    @property
    def running(self) -> bool:
        """True unless the VM is powered off (a suspended VM is not off)."""
        return self.vm.power_state != POWERED_OFF

    def change(  # noqa: PLR0917 -- the five strings of a change, as Change has them
        self,
        action: Action,
        target: str,
        before: str | None,
        after: str | None,
        reason: str,
        payload: Payload,
        *,
        needs_off: bool = False,
    ) -> Change:
        """Build a change; ``needs_off`` marks it disruptive when the VM runs."""
        return Change(
            vm=self.vm.name,
            action=action,
            target=target,
            before=before,
            after=after,
            disruptive=needs_off and self.running,
            reason=reason,
            payload=payload,
            vm_moid=self.vm.moid,
            host=self.vm.host,
            host_moid=self.vm.host_moid or (self.host.moid if self.host else ""),
        )

    def problem(self, message: str) -> None:
        """Record a problem about this VM."""
        self.problems.append(Problem(self.vm.name, message))

    def ordered(self) -> list[Change]:
        """The VM's changes in execution order (see ``ACTION_ORDER``)."""
        first, last = self.power if self.power else (None, None)
        head = [c for c in (first, self.upgrade) if c is not None]
        tail = [last] if last is not None else []
        return head + self.reconfig + self.migrations + tail


def _plan_vm(vm: VM, desired: Desired, options: Options, inventory: Inventory) -> _VmPlan:
    host = inventory.host_of(vm)
    plan = _VmPlan(vm=vm, host=host, options=options, inventory=inventory)
    if not vm.devices_loaded:
        # Planning without devices would "create" disks the VM already has.
        plan.problem(f"VM {vm.name}: its devices were not read, so it cannot be planned")
        return plan
    if host is None:
        plan.problem(f"VM {vm.name} runs on host {vm.host}, which is not in the inventory")
    if desired.nvdimms is not None:
        _diff_nvdimms(plan, desired.nvdimms)
    _diff_disks(plan, desired.disk_targets())
    _hardware_gate(plan)
    _guest_gate(plan, desired.nvdimms or ())
    _nvdimm_option_gate(plan)
    _snapshot_gate(plan, desired.nvdimms or ())
    _power_gate(plan)
    _host_state_gate(plan)
    return plan


# --------------------------------------------------------------------------- NVDIMMs


def _diff_nvdimms(plan: _VmPlan, desired: tuple[int, ...]) -> None:
    """Compare the wanted sizes with the current NVDIMMs position by position.

    Removes go first (they free PMem for the adds), then grows, then adds.
    A VM that already matches gets nothing: the planner must stay idempotent.
    """
    vm = plan.vm
    current = sorted(vm.nvdimms, key=lambda n: (_label_key(n.label), n.key))
    unreadable = [n.label for n in current if n.size_mb <= 0 or not n.accessible]
    if unreadable:
        # vSphere reports capacityInMB 0 when the backing is inaccessible: a
        # diff against 0 would plan a grow of an NVDIMM that may hold data.
        plan.problem(
            f"VM {vm.name}: {', '.join(unreadable)} reads 0 MB, which vSphere reports when "
            "the NVDIMM's backing is inaccessible; pmemctl plans no NVDIMM change for this "
            "VM until vSphere reports its size (check the host's PMem)"
        )
        return
    removes: list[Change] = []
    grows: list[Change] = []
    adds: list[Change] = []
    for i in range(max(len(current), len(desired))):
        have = current[i] if i < len(current) else None
        want = desired[i] if i < len(desired) else None
        if have is not None and want is not None:
            if want > have.size_mb:
                grows.append(_grow(plan, have, want))
            elif want < have.size_mb:
                removes.append(_remove(plan, have, shrink_to=want))
                adds.append(_add(plan, i + 1, want, shrink_from=have.size_mb))
        elif have is not None:
            removes.append(_remove(plan, have))
        elif want is not None:
            adds.append(_add(plan, i + 1, want))
    if adds and vm.nvdimm_controller_key is None and not vm.nvdimms:
        # The first NVDIMM brings its controller; vSphere allows one per VM.
        first = adds[0].payload
        assert isinstance(first, AddNvdimm)
        adds[0] = replace(adds[0], payload=replace(first, add_controller=True))
    if removes and not adds and not grows and len(removes) == len(current):
        _with_controller(plan, removes)
    plan.reconfig.extend(removes + grows + adds)
    if adds or grows:
        _require_host_pmem(plan)


def _with_controller(plan: _VmPlan, removes: list[Change]) -> None:
    """The last NVDIMM goes: its controller goes with it (pmemctl/plan/nvdimm_controller.py)."""
    from pmemctl.plan.nvdimm_controller import controller_key, with_controller_removal

    key = controller_key(plan.vm)
    if key is not None:
        removes[-1] = with_controller_removal(removes[-1], key)


def _grow(plan: _VmPlan, have: Nvdimm, want: int) -> Change:
    return plan.change(
        Action.GROW_NVDIMM,
        have.label,
        format_mb(have.size_mb),
        format_mb(want),
        f"spec wants {have.label} at {format_mb(want)}",
        GrowNvdimm(key=have.key, size_mb_before=have.size_mb, size_mb=want),
        needs_off=True,
    )


def _remove(plan: _VmPlan, have: Nvdimm, shrink_to: int | None = None) -> Change:
    vm, size = plan.vm.name, format_mb(have.size_mb)
    if shrink_to is None:
        what = f"removing {have.label} ({size}) of VM {vm}"
        reason = f"spec lists fewer NVDIMMs; removing {have.label} destroys its data"
    else:
        what = (
            f"shrinking {have.label} of VM {vm} from {size} to {format_mb(shrink_to)} "
            "recreates it and"
        )
        reason = (
            f"spec wants {have.label} at {format_mb(shrink_to)}; NVDIMMs cannot shrink, "
            "so it is recreated and its data destroyed"
        )
    if not plan.options.allow_data_loss:
        plan.problem(f"{what} destroys its data; set options.allow_data_loss: true")
    return plan.change(
        Action.REMOVE_NVDIMM,
        have.label,
        size,
        None,
        reason,
        RemoveNvdimm(key=have.key, size_mb=have.size_mb),
        needs_off=True,
    )


def _add(plan: _VmPlan, index: int, size_mb: int, shrink_from: int | None = None) -> Change:
    label = f"NVDIMM {index}"
    if shrink_from is None:
        reason = f"spec wants {label} of {format_mb(size_mb)}"
    else:
        reason = f"recreates {label} at {format_mb(size_mb)} (was {format_mb(shrink_from)})"
    controller = plan.vm.nvdimm_controller_key
    if controller is None and plan.vm.nvdimms:
        controller = plan.vm.nvdimms[0].controller_key
    return plan.change(
        Action.ADD_NVDIMM,
        label,
        None,
        format_mb(size_mb),
        reason,
        AddNvdimm(index=index, size_mb=size_mb, controller_key=controller,
                  snapshot_mode=plan.options.nvdimm_snapshot_mode or None),
        needs_off=True,
    )


def _require_host_pmem(plan: _VmPlan) -> str | None:
    """The name of the VM host's PMem datastore, or None after a problem."""
    if plan.host is None:
        return None
    if plan.host.pmem_datastore is None:
        plan.problem(f"host {plan.host.name} has no PMem (VM {plan.vm.name})")
        return None
    return plan.host.pmem_datastore


# --------------------------------------------------------------------------- disks


def _diff_disks(plan: _VmPlan, targets: dict[str, DiskTarget]) -> None:
    """Place the disks the spec's keys select, then create the labelled disks the VM lacks.

    Which key means which disk is :func:`pmemctl.plan.disksel.choose_disks`'s.
    """
    if not targets:
        return
    dc = plan.vm.datacenter or None
    names = [d.name for d in plan.inventory.datastores.values() if dc is None or d.datacenter == dc]
    choice = choose_disks(plan.vm.name, plan.vm.disks, targets, names)
    for message in choice.problems:
        plan.problem(message)
    plan.unmatched.extend(choice.unmatched)  # said once per key for the plan (_make_plan)
    for disk, target in choice.place:
        _place_disk(plan, disk, target)
    for label, target in choice.create:
        _create_disk(plan, label, target)


def _in_place(plan: _VmPlan, disk: Disk, target: DiskTarget) -> bool:
    if not target.is_pmem:
        return disk.datastore == target.storage
    if not disk.pmem:
        return False
    # A PMem disk can only live on its own host's PMem datastore; accept it
    # when the host is unknown rather than invent a move.
    return plan.host is None or plan.host.pmem_datastore in (None, disk.datastore)


def _place_disk(plan: _VmPlan, disk: Disk, target: DiskTarget) -> None:
    vm = plan.vm.name
    if target.size_mb is not None and target.size_mb != disk.size_mb:
        plan.warnings.append(
            f"VM {vm}: {disk.label} is {format_mb(disk.size_mb)}, the spec says "
            f"{format_mb(target.size_mb)}; pmemctl does not resize disks"
        )
    if _in_place(plan, disk, target):
        return
    storage = _resolve_storage(plan, target, disk.label)
    if storage is None:
        return
    to_ds, to_moid, to_pmem = storage
    source = DatastoreRef(disk.datastore, disk.datastore_moid or _moid_named(plan, disk.datastore),
                          disk.pmem)
    plan.migrations.append(
        plan.change(
            Action.MIGRATE_DISK,
            disk.label,
            disk.datastore,
            to_ds,
            f"spec wants {disk.label} on {target.storage}",
            MigrateDisk(disk_key=disk.key, size_mb=disk.size_mb, source=source,
                        target=DatastoreRef(to_ds, to_moid, to_pmem),
                        policy=migration_policy(source.pmem, to_pmem),
                        file_name=disk.file_name),
        )
    )


def migration_policy(from_pmem: bool, to_pmem: bool) -> PolicyRef:
    """The storage policy a disk gets: PMem's onto PMem, the target's default off it.

    Off PMem the PMem policy must be replaced (it "is not editable"; "to change
    the policy, migrate or clone the VM", vSphere docs), so the disk takes the
    target datastore's default. Between regular datastores it is left alone,
    as a plain Storage vMotion does.
    """
    if to_pmem:
        return PolicyRef("pmem")
    if from_pmem:
        return PolicyRef("target_default")
    return PolicyRef("keep")


def _create_disk(plan: _VmPlan, label: str, target: DiskTarget) -> None:
    assert target.size_mb is not None  # choose_disks creates only sized labels
    storage = _resolve_storage(plan, target, label)
    if storage is None:
        return
    datastore, moid, pmem = storage
    size = format_mb(target.size_mb)
    plan.reconfig.append(
        plan.change(
            Action.CREATE_DISK,
            label,
            None,
            f"{size} on {datastore}",
            f"spec wants {label} ({size}) on {target.storage}",
            # Guess, kept conservative: the reference only shows a tool guard
            # (community.vmware) against hot-adding vPMemDisks, not a vSphere rule.
            CreateDisk(label=label, size_mb=target.size_mb,
                       datastore=DatastoreRef(datastore, moid, pmem)),
            needs_off=pmem,
        )
    )


def _resolve_storage(
    plan: _VmPlan, target: DiskTarget, label: str
) -> tuple[str, str, bool] | None:
    """The datastore a target means for this VM: (name, moid, is PMem).

    A name is looked up in the VM's datacenter, where vCenter keeps names
    unique. Returns None (after recording a problem) when it cannot be used.
    """
    vm = plan.vm
    if target.is_pmem:
        pmem_ds = _require_host_pmem(plan)
        if pmem_ds is None:
            return None
        assert plan.host is not None
        return pmem_ds, plan.host.pmem_datastore_moid or _moid_named(plan, pmem_ds), True
    dc = vm.datacenter or None
    found = plan.inventory.datastores_named(target.storage, dc)
    where = f" in datacenter {dc}" if dc else ""
    if not found:
        names = sorted({d.name for d in plan.inventory.datastores.values()
                        if dc is None or d.datacenter == dc})
        hint = _did_you_mean(target.storage, names)
        elsewhere = sorted({d.datacenter for d in plan.inventory.datastores_named(target.storage)
                            if d.datacenter and d.datacenter != dc})
        if dc and elsewhere and not hint:
            # vCenter keeps names per datacenter: a disk cannot move to another one's datastore.
            hint = f"; a datastore of that name is in datacenter {', '.join(elsewhere)}"
        plan.problem(
            f"datastore {target.storage} does not exist{where} (VM {vm.name}, {label}){hint}"
        )
        return None
    if len(found) > 1:
        places = ", ".join(f"{d.moid} in {d.datacenter or '?'}" for d in found)
        plan.problem(
            f"datastore name {target.storage} is ambiguous{where} (VM {vm.name}, {label}): "
            f"{places}"
        )
        return None
    ds = found[0]
    host = plan.host
    if host is not None and not _mounted(ds, host):
        plan.problem(f"datastore {ds.name} is not reachable from host {host.name} (VM {vm.name})")
        return None
    return ds.name, ds.moid, ds.is_pmem


def _mounted(ds: Datastore, host: Host) -> bool:
    if ds.host_moids or host.datastore_moids:
        return host.moid in ds.host_moids or ds.moid in host.datastore_moids
    return host.name in ds.hosts or ds.name in host.datastores


def _moid_named(plan: _VmPlan, name: str) -> str:
    """The moid of the datastore ``name`` in the VM's datacenter, "" when not exactly one."""
    ds = plan.inventory.datastore_named(name, plan.vm.datacenter or None)
    return ds.moid if ds is not None else ""


# --------------------------------------------------------------------------- gates


def _nvdimm_growth(plan: _VmPlan) -> bool:
    return any(c.action in _NVDIMM_GROWTH for c in plan.reconfig)


def _hardware_gate(plan: _VmPlan) -> None:
    """NVDIMM adds and grows need vmx-14; upgrade when allowed, else a problem.

    ``upgrade_hardware: vmx-N`` names the version: such a VM below it is
    raised to it (it is powered off for its NVDIMMs anyway), and one above it
    is a problem, since vSphere never lowers a hardware version.
    """
    vm = plan.vm
    if not _nvdimm_growth(plan):
        return
    named = plan.options.upgrade_hardware_to if plan.options.upgrade_hardware else None
    to = named or MIN_NVDIMM_HW_VERSION
    if named is not None and vm.hardware_version > named:
        plan.problem(
            f"VM {vm.name} is vmx-{vm.hardware_version}, newer than options.upgrade_hardware "
            f"vmx-{named}; a hardware version is only ever raised (UpgradeVM_Task), never "
            f"lowered: name vmx-{vm.hardware_version} or later, or write true"
        )
        return
    if vm.hardware_version >= to:
        return
    if not plan.options.upgrade_hardware:
        plan.problem(
            f"VM {vm.name} is vmx-{vm.hardware_version}; NVDIMMs need vmx-{to} or later "
            "(set options.upgrade_hardware: true)"
        )
        return
    why = (f"NVDIMMs need vmx-{MIN_NVDIMM_HW_VERSION} or later"
           if vm.hardware_version < MIN_NVDIMM_HW_VERSION
           else f"options.upgrade_hardware asks for vmx-{to}")
    plan.upgrade = plan.change(
        Action.UPGRADE_HARDWARE,
        vm.name,
        f"vmx-{vm.hardware_version}",
        f"vmx-{to}",
        why,
        UpgradeHardware(from_version=vm.hardware_version, to_version=to),
        needs_off=True,
    )


def _guest_gate(plan: _VmPlan, desired: tuple[int, ...]) -> None:
    """The guest OS must support PMem and the total size it allows."""
    if not _nvdimm_growth(plan):
        return
    vm = plan.vm
    guest = plan.inventory.guests.get(vm.guest_id)
    if guest is None:
        # No descriptor is not proof of no support; vSphere has the last word.
        plan.warnings.append(
            f"VM {vm.name}: guest OS {vm.guest_id} is unknown here; "
            "cannot check that it supports NVDIMMs"
        )
        return
    name = f"{vm.guest_id} ({guest.full_name})" if guest.full_name else vm.guest_id
    if not guest.pmem_supported:
        plan.problem(f"VM {vm.name}: guest OS {name} does not support NVDIMMs")
        return
    total = sum(desired)
    if guest.max_pmem_mb is not None and total > guest.max_pmem_mb:
        plan.problem(
            f"VM {vm.name}: the spec gives {format_mb(total)} ({total} MB) of NVDIMMs; "
            f"guest OS {name} supports at most {format_mb(guest.max_pmem_mb)} "
            f"({guest.max_pmem_mb} MB)"
        )


def _nvdimm_option_gate(plan: _VmPlan) -> None:
    """NVDIMM sizes within ``VirtualNVDIMMOption`` and the guest's cold-growth rules."""
    option = plan.inventory.nvdimm_option
    guest = plan.inventory.guests.get(plan.vm.guest_id)
    vm = plan.vm.name
    for c in plan.reconfig:
        if c.action not in _NVDIMM_GROWTH:
            continue
        assert isinstance(c.payload, (AddNvdimm, GrowNvdimm))
        size = c.payload.size_mb
        if option is not None:
            step = option.granularity_mb
            if step and size % step:
                plan.problem(
                    f"VM {vm}: {c.target} of {format_mb(size)} ({size} MB): NVDIMM sizes must "
                    f"be multiples of {format_mb(step)} ({step} MB) on this hardware"
                )
            if option.min_mb is not None and size < option.min_mb:
                plan.problem(
                    f"VM {vm}: {c.target} of {format_mb(size)} is below the smallest NVDIMM "
                    f"this hardware allows ({format_mb(option.min_mb)}, {option.min_mb} MB)"
                )
            if option.max_mb is not None and size > option.max_mb:
                plan.problem(
                    f"VM {vm}: {c.target} of {format_mb(size)} is above the largest NVDIMM "
                    f"this hardware allows ({format_mb(option.max_mb)}, {option.max_mb} MB)"
                )
        if c.action is not Action.GROW_NVDIMM:
            continue
        if option is not None and not option.growable:
            plan.problem(
                f"VM {vm}: this hardware cannot grow NVDIMMs ({c.target}); list a new "
                "NVDIMM instead, or recreate it with options.allow_data_loss"
            )
        if guest is None or guest.cold_growth is None:
            continue
        name = guest.full_name or guest.guest_id
        if not guest.cold_growth:
            plan.problem(
                f"VM {vm}: guest OS {name} does not support growing an NVDIMM ({c.target})"
            )
            continue
        step = guest.cold_growth_granularity_mb
        assert isinstance(c.payload, GrowNvdimm)
        growth = size - c.payload.size_mb_before
        if step and growth % step:
            plan.problem(
                f"VM {vm}: guest OS {name} grows NVDIMMs in steps of {format_mb(step)} "
                f"({step} MB); {c.target} would grow by {format_mb(growth)} ({growth} MB)"
            )


def _snapshot_gate(plan: _VmPlan, desired: tuple[int, ...]) -> None:
    """Snapshots against NVDIMMs and vPMemDisks; a VM left with no NVDIMM is fine."""
    vm = plan.vm
    touched = any(c.action in _NVDIMM_ACTIONS for c in plan.reconfig)
    if vm.snapshots > 0 and touched and desired:
        plan.problem(
            f"VM {vm.name} has {vm.snapshots} snapshot(s); NVDIMMs cannot live with snapshots "
            "(vSphere fails snapshots of VMs with NVDIMMs unless pmem.snapshotMode is set) "
            "— delete the snapshots first"
        )
    onto_pmem = [c.target for c in plan.migrations + plan.reconfig if _takes_pmem(c)
                 and c.action is not Action.ADD_NVDIMM and c.action is not Action.GROW_NVDIMM]
    if vm.snapshots > 0 and onto_pmem:
        # VirtualDiskLocalPMemBackingInfo has no parent: a disk on PMem has no delta chain.
        plan.problem(
            f"VM {vm.name} has {vm.snapshots} snapshot(s); a disk on PMem (vPMemDisk) cannot "
            f"have snapshots ({', '.join(onto_pmem)}) — delete or consolidate the snapshots first"
        )


def _power_gate(plan: _VmPlan) -> None:
    """Wrap the VM's changes in power off/on when they need it and it runs."""
    vm = plan.vm
    needs = _needs_off(plan)
    if not needs or not plan.running:
        return
    what = needs[0]
    if vm.power_state != POWERED_ON:
        # A hard power off would throw the suspended state away: leave it to the user.
        plan.problem(
            f"VM {vm.name} is {vm.power_state}; {what} needs it powered off "
            "(resume and shut it down first)"
        )
        return
    if not plan.options.power_off:
        plan.problem(
            f"VM {vm.name} is powered on; {what} needs it powered off (set options.power_off: true)"
        )
        return
    down = power_off_payload(vm.tools_running, plan.options)
    if down is None:
        plan.problem(
            f"VM {vm.name} has no running VMware Tools, so {what} needs a hard power off "
            "(no guest shutdown: like pulling the plug, unflushed guest writes are lost); "
            "start VMware Tools in the guest, shut it down yourself, or set "
            "options.hard_power_off: true"
        )
        return
    off = plan.change(
        Action.POWER_OFF,
        vm.name,
        POWERED_ON,
        POWERED_OFF,
        f"needs power off for {_power_causes(plan)}: {describe_power_off(down)}",
        down,
        needs_off=True,
    )
    up = power_on_payload(down, plan.options)
    on = plan.change(
        Action.POWER_ON,
        vm.name,
        POWERED_OFF,
        POWERED_ON,
        "was powered on before pmemctl powered it off"
        + (f"; then VMware Tools (timeout {up.tools_timeout_s} s)" if up.wait_tools else ""),
        up,
        needs_off=True,
    )
    plan.power = (off, on)


def _needs_off(plan: _VmPlan) -> list[str]:
    """What needs the VM powered off, as phrases for messages.

    Reconfigure steps come first, in plan order, and the hardware upgrade
    last: a message should name the change the user asked for.
    """
    verbs = {
        Action.REMOVE_NVDIMM: "removing",
        Action.GROW_NVDIMM: "growing",
        Action.ADD_NVDIMM: "adding",
    }
    out = []
    for c in plan.reconfig:
        if c.action in verbs:
            out.append(f"{verbs[c.action]} {c.target}")
        elif isinstance(c.payload, CreateDisk) and c.payload.pmem:
            out.append(f"creating {c.target} on PMem")
    if plan.upgrade is not None:
        out.append(f"upgrading to {plan.upgrade.after}")
    return out


def _power_causes(plan: _VmPlan) -> str:
    causes: list[str] = []
    if any(c.action in _NVDIMM_ACTIONS for c in plan.reconfig):
        causes.append("NVDIMM changes")
    if plan.upgrade is not None:
        causes.append("the hardware upgrade")
    if any(isinstance(c.payload, CreateDisk) and c.payload.pmem for c in plan.reconfig):
        causes.append("creating a vPMemDisk")
    return " and ".join(causes)


def _host_state_gate(plan: _VmPlan) -> None:
    """Nothing can run on a host that is disconnected or in maintenance mode."""
    host = plan.host
    if host is None or not (plan.reconfig or plan.migrations or plan.upgrade):
        return
    if not host.connected:
        plan.problem(f"host {host.name} is not connected (VM {plan.vm.name})")
    elif host.maintenance:
        plan.problem(f"host {host.name} is in maintenance mode (VM {plan.vm.name})")


# --------------------------------------------------------------------------- capacity


@dataclass
class _Ledger:
    """Running use of one pool (a host's PMem or a datastore) in plan order."""

    free: int
    net: int = 0  # MiB taken so far, minus MiB given back
    peak: int = 0  # the most ``net`` ever was
    takers: list[str] = field(default_factory=list)  # VMs that take from the pool
    first_over: str | None = None  # the VM whose change first overran it

    def take(self, mb: int, vm: str) -> None:
        self.net += mb
        self.peak = max(self.peak, self.net)
        if mb > 0 and vm not in self.takers:
            self.takers.append(vm)
        if self.first_over is None and self.net > self.free:
            self.first_over = vm


def _pmem_delta(change: Change) -> int:
    """MiB of host PMem a change takes (negative when it gives PMem back)."""
    p = change.payload
    if isinstance(p, AddNvdimm):
        return p.size_mb
    if isinstance(p, GrowNvdimm):
        return p.size_mb - p.size_mb_before
    if isinstance(p, RemoveNvdimm):
        return -p.size_mb
    if isinstance(p, CreateDisk) and p.pmem:
        return p.size_mb
    if isinstance(p, MigrateDisk):
        return p.size_mb * (int(p.to_pmem) - int(p.from_pmem))
    return 0


def _datastore_deltas(change: Change) -> list[tuple[str, int]]:
    """MiB a change takes on regular (non-PMem) datastores, per datastore moid."""
    p = change.payload
    if isinstance(p, CreateDisk) and not p.pmem:
        return [(p.datastore.moid, p.size_mb)]
    if isinstance(p, MigrateDisk):
        out: list[tuple[str, int]] = []
        if not p.to_pmem:
            out.append((p.target.moid, p.size_mb))
        if not p.from_pmem:
            out.append((p.source.moid, -p.size_mb))
        return out
    return []


def _estate_problems(
    changes: list[Change], inventory: Inventory, options: Options
) -> list[Problem]:
    """Problems that are about the vCenter rather than one VM; each said once."""
    problems: list[Problem] = []
    about = inventory.about
    onto_pmem = [c for c in changes if _takes_pmem(c)]
    if about.api_type == HOST_AGENT and onto_pmem:
        problems.append(Problem(
            None,
            f"pmemctl needs vCenter: PBM storage policies (the Host-local PMem Default Storage "
            f"Policy that places NVDIMMs and PMem disks) exist only there, and this is a "
            f"standalone ESXi host ({about.name or 'HostAgent'}); connect to the vCenter that "
            f"manages this host ({len(onto_pmem)} change(s) put data on PMem)",
            _vms_of(onto_pmem),
        ))
    adds = [c for c in changes if c.action is Action.ADD_NVDIMM]
    api = version_tuple(about.api_version)
    if options.nvdimm_snapshot_mode and adds and api and api < SNAPSHOT_MODE_API:
        problems.append(Problem(
            None,
            f"options.nvdimm_snapshot_mode needs vSphere API 7.0.3 or later "
            f"(ConfigSpec.pmem); this one is {about.api_version}: remove the option",
            _vms_of(adds),
        ))
    return problems


def _snapshot_warnings(changes: list[Change], options: Options) -> list[str]:
    """One warning for every VM given an NVDIMM while no snapshot mode is set."""
    if options.nvdimm_snapshot_mode:
        return []
    vms = sorted({c.vm for c in changes if c.action is Action.ADD_NVDIMM})
    if not vms:
        return []
    return [
        f"VM{'s' if len(vms) > 1 else ''} {', '.join(vms)}: once a VM has an NVDIMM, its "
        "snapshots fail, and so do snapshot-based backups, unless the PMem snapshot mode is "
        "set (options.nvdimm_snapshot_mode, vSphere 7.0 U3+)"
    ]


def _vms_of(changes: list[Change]) -> tuple[str, ...]:
    """The VMs of ``changes``, in plan order, each once: who a vCenter-wide problem concerns."""
    return tuple(dict.fromkeys(c.vm for c in changes))


def _takes_pmem(change: Change) -> bool:
    p = change.payload
    return (change.action in _NVDIMM_GROWTH
            or (isinstance(p, CreateDisk) and p.pmem)
            or (isinstance(p, MigrateDisk) and p.to_pmem))




def _capacity(
    changes: list[Change], inventory: Inventory, vm_hosts: set[str]
) -> tuple[tuple[HostPmem, ...], list[Problem], list[str]]:
    """Walk the changes in plan order; report pools that would run dry.

    "Needs" is the peak of net use in plan order, so PMem given back by an
    earlier change (a remove, a move off PMem) counts for later ones. PMem
    that HA admission control reserves is not free: the host ledger starts
    at :attr:`Host.pmem_usable_mb`. Hosts and datastores are keyed by moid.
    """
    hosts: dict[str, _Ledger] = {}
    datastores: dict[str, _Ledger] = {}
    for change in changes:
        if isinstance(change.payload, MigrateVm):  # its PMem leaves one host for another
            for ref, mb in ((change.payload.source, -change.payload.pmem_mb),
                            (change.payload.target, change.payload.pmem_mb)):
                h = inventory.hosts.get(ref.moid)
                if h is not None and mb and _has_pmem(h):
                    hosts.setdefault(h.moid, _Ledger(h.pmem_usable_mb)).take(mb, change.vm)
            continue
        host = _change_host(change, inventory)
        delta = _pmem_delta(change)
        # A host without PMem already has its own problem; a capacity one would only repeat it.
        if host is not None and delta and _has_pmem(host):
            hosts.setdefault(host.moid, _Ledger(host.pmem_usable_mb)).take(delta, change.vm)
        for moid, mb in _datastore_deltas(change):
            ds = inventory.datastores.get(moid)
            if ds is not None:
                datastores.setdefault(moid, _Ledger(ds.free_mb)).take(mb, change.vm)
    # The problem is attributed to the VM whose change overran the pool, so
    # `problems[].vm` says whom to drop from the spec; the message names all takers.
    problems = [
        Problem(led.first_over,
                f"host {inventory.hosts[moid].name}: not enough PMem: "
                f"{_need(led, inventory.hosts[moid])}", tuple(led.takers))
        for moid, led in sorted(hosts.items(), key=lambda kv: inventory.hosts[kv[0]].name)
        if led.peak > led.free
    ]
    problems += [
        Problem(led.first_over,
                f"datastore {inventory.datastores[moid].name}: not enough space: {_need(led)}",
                tuple(led.takers))
        for moid, led in sorted(datastores.items(),
                                key=lambda kv: inventory.datastores[kv[0]].name)
        if led.peak > led.free
    ]
    warnings = [
        f"host {inventory.hosts[moid].name}: {_reserved(inventory.hosts[moid])} is not free "
        f"for this plan: {inventory.hosts[moid].ha_pmem_reason}"
        for moid, led in sorted(hosts.items(), key=lambda kv: inventory.hosts[kv[0]].name)
        if inventory.hosts[moid].ha_pmem_reserved_mb and led.peak > 0
    ]
    shown = {h for h in vm_hosts if h in inventory.hosts and _has_pmem(inventory.hosts[h])}
    rows = []
    for moid in sorted(shown | set(hosts), key=lambda m: (inventory.hosts[m].name, m)):
        host = inventory.hosts[moid]
        used = hosts[moid].net if moid in hosts else 0
        rows.append(
            HostPmem(host.name, host.pmem_capacity_mb, host.pmem_free_mb,
                     host.pmem_free_mb - used)
        )
    return tuple(rows), problems, warnings


def _change_host(change: Change, inventory: Inventory) -> Host | None:
    if change.host_moid:
        return inventory.hosts.get(change.host_moid)
    return inventory.host_named(change.host)


def _reserved(host: Host) -> str:
    mb = host.ha_pmem_reserved_mb
    return f"{format_mb(mb)} ({mb} MB, {host.ha_pmem_reserved_pct}%) of its PMem"


def _has_pmem(host: Host) -> bool:
    return host.pmem_capacity_mb > 0 or host.pmem_datastore is not None


def _need(ledger: _Ledger, host: Host | None = None) -> str:
    held = ""
    if host is not None and host.ha_pmem_reserved_mb:
        held = (f" after {_reserved(host)} held back by vSphere HA admission control "
                f"(PMem reservation)")
    return (
        f"the plan needs {format_mb(ledger.peak)} ({ledger.peak} MB), "
        f"{format_mb(ledger.free)} ({ledger.free} MB) free{held} "
        f"(for VM{'s' if len(ledger.takers) > 1 else ''} {', '.join(ledger.takers)})"
    )


# --------------------------------------------------------------------------- helpers


def _label_key(label: str) -> tuple[str, int, str]:
    """Sort "NVDIMM 10" after "NVDIMM 2"; unnumbered labels sort first, by name."""
    m = _LABEL_RE.match(label)
    if m is None:
        return (label, -1, label)
    return (m.group(1), int(m.group(2)), label)


def _unique(items: list[_T]) -> list[_T]:
    """Drop repeats, keep the first occurrence's order."""
    seen: list[_T] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


__all__ = ["make_plan"]


def _did_you_mean(name: str, names: list[str]) -> str:
    """"; did you mean X?" for the closest of ``names`` (case counts least), or ""."""
    folded = {n.casefold(): n for n in names}
    if name.casefold() in folded:
        return f"; did you mean {folded[name.casefold()]}?"
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1)
    return f"; did you mean {folded[close[0]]}?" if close else ""
