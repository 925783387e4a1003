"""make_plan: every planner rule, with plain Inventory/Spec values (no pyVmomi, no mocks)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pmemctl.inventory.model import VM, About, GuestSupport, Host, Inventory, Nvdimm, NvdimmOption
from pmemctl.plan.model import ACTION_ORDER, Action, Change, HostPmem, Plan
from pmemctl.plan.payloads import (
    AddNvdimm,
    CreateDisk,
    DatastoreRef,
    GrowNvdimm,
    MigrateDisk,
    PolicyRef,
    PowerOff,
    PowerOn,
    RemoveNvdimm,
    UpgradeHardware,
)
from pmemctl.plan.planner import make_plan
from pmemctl.spec.model import Options, Spec, VmEntry
from tests.unit.builders import (
    GIB,
    datastore,
    disk,
    entry,
    guest,
    host,
    inventory,
    nvdimm,
    spec,
    vm,
)

BACKUP_WARNING = (
    "VM db-01: once a VM has an NVDIMM, its snapshots fail, and so do snapshot-based backups, "
    "unless the PMem snapshot mode is set (options.nvdimm_snapshot_mode, vSphere 7.0 U3+)"
)


def plan_for(
    *entries: VmEntry,
    vms: list[VM],
    hosts: list[Host] | None = None,
    inv: Inventory | None = None,
    **options: Any,
) -> Plan:
    """Plan ``entries`` against an inventory of ``vms`` on ``hosts`` (esx-01 by default)."""
    if inv is None:
        inv = inventory(hosts=hosts or [host()], vms=vms)
    return make_plan(spec(*entries, **options), inv)


def actions(plan: Plan) -> list[tuple[str, str, str]]:
    return [(c.vm, c.action.value, c.target) for c in plan.changes]


def messages(plan: Plan) -> list[str]:
    return [p.message for p in plan.problems]


# --------------------------------------------------------------------------- idempotence


def test_vm_that_already_matches_gets_an_empty_plan() -> None:
    db = vm(
        nvdimms=[nvdimm("NVDIMM 1", 16), nvdimm("NVDIMM 2", 8)],
        disks=[disk("Hard disk 1", 40, "PMemDS-esx-01"), disk("Hard disk 2", 20, "san-01")],
        power="poweredOn",
    )
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[16, 8], disks={"Hard disk 1": "pmem", "*": "san-01"}),
        vms=[db],
    )
    assert plan.changes == ()
    assert plan.problems == ()
    assert plan.warnings == ()
    assert plan.empty and not plan.blocked


def test_nvdimms_absent_from_the_spec_are_left_alone() -> None:
    plan = plan_for(entry(name="db-01"), vms=[vm(nvdimms=[nvdimm()])])
    assert plan.empty and not plan.blocked


def test_applied_plan_converges() -> None:
    """What the plan asks for, once in place, plans to nothing (the peers' Ansible bug)."""
    s = entry(name="db-01", nvdimms_gb=[16], disks={"*": "pmem"})
    before = vm(disks=[disk()])
    assert actions(plan_for(s, vms=[before])) == [
        ("db-01", "add_nvdimm", "NVDIMM 1"),
        ("db-01", "migrate_disk", "Hard disk 1"),
    ]
    after = vm(nvdimms=[nvdimm(size_gb=16)], disks=[disk(datastore="PMemDS-esx-01")])
    assert plan_for(s, vms=[after]).empty


# --------------------------------------------------------------------------- NVDIMMs


def test_add_nvdimms_adds_the_controller_once() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16, 8]), vms=[vm()])
    first, second = plan.changes
    assert first == Change(
        vm="db-01",
        action=Action.ADD_NVDIMM,
        target="NVDIMM 1",
        before=None,
        after="16 GiB",
        disruptive=False,  # the VM is already off
        reason="spec wants NVDIMM 1 of 16 GiB",
        payload=AddNvdimm(index=1, size_mb=16384, add_controller=True, controller_key=None),
        vm_moid="vm-db-01",
        host="esx-01",
        host_moid="host-esx-01",
    )
    assert second.target == "NVDIMM 2"
    assert second.payload == AddNvdimm(index=2, size_mb=8192)
    assert plan.problems == ()


def test_add_next_to_existing_nvdimm_reuses_the_controller() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16, 8]), vms=[vm(nvdimms=[nvdimm(size_gb=16)])])
    (add,) = plan.changes
    assert add.payload == AddNvdimm(index=2, size_mb=8192, controller_key=27000)
    assert (add.vm_moid, add.host, add.host_moid) == ("vm-db-01", "esx-01", "host-esx-01")


def test_grow_nvdimm() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[32]), vms=[vm(nvdimms=[nvdimm(size_gb=16)])])
    (grow,) = plan.changes
    assert (grow.action, grow.target, grow.before, grow.after) == (
        Action.GROW_NVDIMM,
        "NVDIMM 1",
        "16 GiB",
        "32 GiB",
    )
    assert grow.payload == GrowNvdimm(key=8001, size_mb_before=16384, size_mb=32768)
    assert grow.reason == "spec wants NVDIMM 1 at 32 GiB"


def test_shrink_recreates_and_needs_allow_data_loss() -> None:
    s = entry(name="db-01", nvdimms_gb=[8])
    db = vm(nvdimms=[nvdimm(size_gb=16)])
    plan = plan_for(s, vms=[db])
    assert actions(plan) == [
        ("db-01", "remove_nvdimm", "NVDIMM 1"),
        ("db-01", "add_nvdimm", "NVDIMM 1"),
    ]
    assert messages(plan) == [
        "shrinking NVDIMM 1 of VM db-01 from 16 GiB to 8 GiB recreates it and destroys its data; "
        "set options.allow_data_loss: true"
    ]
    allowed = plan_for(s, vms=[db], allow_data_loss=True)
    assert allowed.problems == ()
    remove, add = allowed.changes
    assert remove.payload == RemoveNvdimm(key=8001, size_mb=16384)
    assert "destroyed" in remove.reason
    assert isinstance(add.payload, AddNvdimm) and add.payload.add_controller is False


def test_extra_nvdimm_is_removed_destructively() -> None:
    db = vm(nvdimms=[nvdimm("NVDIMM 1", 16), nvdimm("NVDIMM 2", 16)])
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[db])
    (remove,) = plan.changes
    assert (remove.action, remove.target, remove.before, remove.after) == (
        Action.REMOVE_NVDIMM,
        "NVDIMM 2",
        "16 GiB",
        None,
    )
    assert messages(plan) == [
        "removing NVDIMM 2 (16 GiB) of VM db-01 destroys its data; "
        "set options.allow_data_loss: true"
    ]
    with_loss = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[db], allow_data_loss=True)
    assert with_loss.problems == ()
    assert "destroys its data" in with_loss.changes[0].reason


def test_nvdimms_compare_in_label_number_order() -> None:
    # NVDIMM 10 sorts after NVDIMM 2, whatever the order the snapshot gave.
    db = vm(nvdimms=[nvdimm("NVDIMM 10", 4), nvdimm("NVDIMM 2", 8), nvdimm("NVDIMM 1", 16)])
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16, 8, 4]), vms=[db])
    assert plan.empty


def test_reconfigure_order_is_remove_grow_add() -> None:
    db = vm(nvdimms=[nvdimm("NVDIMM 1", 16), nvdimm("NVDIMM 2", 16)])
    plan = plan_for(entry(name="db-01", nvdimms_gb=[32, 8, 4]), vms=[db], allow_data_loss=True)
    assert actions(plan) == [
        ("db-01", "remove_nvdimm", "NVDIMM 2"),
        ("db-01", "grow_nvdimm", "NVDIMM 1"),
        ("db-01", "add_nvdimm", "NVDIMM 2"),
        ("db-01", "add_nvdimm", "NVDIMM 3"),
    ]


def test_empty_nvdimm_list_removes_all() -> None:
    db = vm(nvdimms=[nvdimm("NVDIMM 1", 16)], snapshots=2)
    plan = plan_for(entry(name="db-01", nvdimms_gb=[]), vms=[db], allow_data_loss=True)
    assert actions(plan) == [("db-01", "remove_nvdimm", "NVDIMM 1")]
    assert plan.problems == ()  # no NVDIMM is left, so the snapshots do not matter


# --------------------------------------------------------------------------- hardware version


def test_old_hardware_is_a_problem_without_upgrade_hardware() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm(hw=11)])
    assert messages(plan) == [
        "VM db-01 is vmx-11; NVDIMMs need vmx-14 or later (set options.upgrade_hardware: true)"
    ]
    assert actions(plan) == [("db-01", "add_nvdimm", "NVDIMM 1")]  # still listed


def test_old_hardware_is_upgraded_when_allowed() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm(hw=13)], upgrade_hardware=True)
    upgrade, _add = plan.changes
    assert upgrade == Change(
        vm="db-01",
        action=Action.UPGRADE_HARDWARE,
        target="db-01",
        before="vmx-13",
        after="vmx-14",
        disruptive=False,
        reason="NVDIMMs need vmx-14 or later",
        payload=UpgradeHardware(from_version=13, to_version=14),
        vm_moid="vm-db-01",
        host="esx-01",
        host_moid="host-esx-01",
    )
    assert plan.problems == ()


def test_vpmemdisks_and_removals_need_no_hardware_version() -> None:
    old = vm(hw=8, nvdimms=[nvdimm()], disks=[disk()])
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[], disks={"*": "pmem"}), vms=[old], allow_data_loss=True
    )
    assert plan.problems == ()
    assert [c.action for c in plan.changes] == [Action.REMOVE_NVDIMM, Action.MIGRATE_DISK]


# --------------------------------------------------------------------------- power


def test_powered_on_vm_is_a_problem_without_power_off() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm(power="poweredOn")])
    assert messages(plan) == [
        "VM db-01 is powered on; adding NVDIMM 1 needs it powered off (set options.power_off: true)"
    ]


def test_power_cycle_wraps_the_changes() -> None:
    db = vm(power="poweredOn", tools_running=True, hw=13, disks=[disk()])
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[16], disks={"*": "pmem"}),
        vms=[db],
        power_off=True,
        upgrade_hardware=True,
        shutdown_timeout_s=120,
    )
    assert plan.problems == ()
    assert [(c.action.value, c.disruptive) for c in plan.changes] == [
        ("power_off", True),
        ("upgrade_hardware", True),
        ("add_nvdimm", True),
        ("migrate_disk", False),  # Storage vMotion is live
        ("power_on", True),
    ]
    off, on = plan.changes[0], plan.changes[-1]
    assert off.payload == PowerOff(method="guest", timeout_s=120)
    assert (off.before, off.after) == ("poweredOn", "poweredOff")
    assert off.reason == ("needs power off for NVDIMM changes and the hardware upgrade: "
                          "guest shutdown (timeout 120 s), then power off")
    assert on.payload == PowerOn(wait_tools=True, tools_timeout_s=300)
    assert (on.before, on.after) == ("poweredOff", "poweredOn")


def test_hard_power_off_without_tools() -> None:
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[16]), vms=[vm(power="poweredOn")], power_off=True,
        hard_power_off=True,
    )
    off, on = plan.changes[0], plan.changes[-1]
    assert off.payload == PowerOff(method="hard", timeout_s=300)
    assert off.reason == "needs power off for NVDIMM changes: hard power off (no VMware Tools)"
    assert on.payload == PowerOn()  # no Tools to wait for


def test_hard_power_off_needs_its_own_opt_in() -> None:
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[16]), vms=[vm(power="poweredOn")], power_off=True
    )
    assert plan.blocked
    assert messages(plan) == [
        "VM db-01 has no running VMware Tools, so adding NVDIMM 1 needs a hard power off "
        "(no guest shutdown: like pulling the plug, unflushed guest writes are lost); start "
        "VMware Tools in the guest, shut it down yourself, or set options.hard_power_off: true"
    ]


def test_tools_timeout_goes_into_the_power_on() -> None:
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[16]), vms=[vm(power="poweredOn", tools_running=True)],
        power_off=True, tools_timeout_s=90,
    )
    on = plan.changes[-1]
    assert on.payload == PowerOn(wait_tools=True, tools_timeout_s=90)
    assert on.reason.endswith("; then VMware Tools (timeout 90 s)")


def test_named_hardware_version_raises_nvdimm_vms_to_it() -> None:
    old = vm("db-01", power="poweredOn", tools_running=True, hw=13)
    mid = vm("db-02", power="poweredOn", tools_running=True, hw=15)
    plan = plan_for(entry(match="db-*", nvdimms_gb=[16]), vms=[old, mid], power_off=True,
                    upgrade_hardware=True, upgrade_hardware_to=19)
    assert plan.problems == ()
    ups = [c for c in plan.changes if c.action is Action.UPGRADE_HARDWARE]
    assert [(c.vm, c.before, c.after, c.payload) for c in ups] == [
        ("db-01", "vmx-13", "vmx-19", UpgradeHardware(from_version=13, to_version=19)),
        ("db-02", "vmx-15", "vmx-19", UpgradeHardware(from_version=15, to_version=19)),
    ]
    assert [c.reason for c in ups] == ["NVDIMMs need vmx-14 or later",
                                       "options.upgrade_hardware asks for vmx-19"]


def test_plain_upgrade_hardware_leaves_vmx14_and_later_alone() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm(hw=15)],
                    upgrade_hardware=True)
    assert actions(plan) == [("db-01", "add_nvdimm", "NVDIMM 1")]


def test_named_hardware_version_below_the_vm_is_a_problem_never_a_downgrade() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm(hw=20)],
                    upgrade_hardware=True, upgrade_hardware_to=19)
    assert [c.action for c in plan.changes] == [Action.ADD_NVDIMM]  # never an upgrade
    assert messages(plan) == [
        "VM db-01 is vmx-20, newer than options.upgrade_hardware vmx-19; a hardware version "
        "is only ever raised (UpgradeVM_Task), never lowered: name vmx-20 or later, or "
        "write true"
    ]


def test_powered_off_vm_is_not_power_cycled() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm()], power_off=True)
    assert actions(plan) == [("db-01", "add_nvdimm", "NVDIMM 1")]


def test_migration_alone_needs_no_power_off() -> None:
    plan = plan_for(
        entry(name="db-01", disks={"*": "pmem"}), vms=[vm(power="poweredOn", disks=[disk()])]
    )
    assert actions(plan) == [("db-01", "migrate_disk", "Hard disk 1")]
    assert plan.problems == ()


def test_suspended_vm_is_a_problem_even_with_power_off() -> None:
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[16]), vms=[vm(power="suspended")], power_off=True
    )
    assert messages(plan) == [
        "VM db-01 is suspended; adding NVDIMM 1 needs it powered off "
        "(resume and shut it down first)"
    ]


def test_execution_order_follows_action_order() -> None:
    db = vm(
        power="poweredOn",
        tools_running=True,
        hw=11,
        nvdimms=[nvdimm("NVDIMM 1", 16), nvdimm("NVDIMM 2", 16)],
        disks=[disk()],
    )
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[32], disks={"*": "pmem", "Hard disk 2": ("pmem", 8)}),
        vms=[db],
        power_off=True,
        upgrade_hardware=True,
        allow_data_loss=True,
    )
    assert [c.action.value for c in plan.changes] == [
        "power_off",
        "upgrade_hardware",
        "remove_nvdimm",
        "grow_nvdimm",
        "create_disk",
        "migrate_disk",
        "power_on",
    ]
    ranks = [ACTION_ORDER[c.action] for c in plan.changes]
    assert ranks == sorted(ranks)


# --------------------------------------------------------------------------- guest OS and snapshots


def test_unsupported_guest_is_a_problem() -> None:
    inv = inventory(
        vms=[vm(guest_id="otherGuest64")],
        guests=[guest("otherGuest64", supported=False)],
    )
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[], inv=inv)
    assert messages(plan) == [
        "VM db-01: guest OS otherGuest64 (otherGuest64) does not support NVDIMMs"
    ]


def test_guest_maximum_is_checked_with_numbers() -> None:
    inv = inventory(vms=[vm()], guests=[guest(max_gb=24)])
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16, 16]), vms=[], inv=inv)
    assert messages(plan) == [
        "VM db-01: the spec gives 32 GiB (32768 MB) of NVDIMMs; guest OS "
        "rhel8_64Guest (rhel8_64Guest) supports at most 24 GiB (24576 MB)"
    ]


def test_unknown_guest_is_only_a_warning() -> None:
    inv = inventory(vms=[vm(guest_id="plan9Guest")])
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[], inv=inv)
    assert plan.problems == ()
    assert plan.warnings == (
        "VM db-01: guest OS plan9Guest is unknown here; cannot check that it supports NVDIMMs",
        BACKUP_WARNING,
    )


def test_snapshots_block_nvdimms() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm(snapshots=2)])
    assert messages(plan) == [
        "VM db-01 has 2 snapshot(s); NVDIMMs cannot live with snapshots (vSphere fails "
        "snapshots of VMs with NVDIMMs unless pmem.snapshotMode is set) — delete the "
        "snapshots first"
    ]


def test_snapshots_block_moving_a_disk_onto_pmem() -> None:
    """A vPMemDisk has no snapshot chain (LocalPMemBackingInfo has no parent)."""
    plan = plan_for(entry(name="db-01", disks={"*": "pmem"}), vms=[vm(snapshots=3, disks=[disk()])])
    assert messages(plan) == [
        "VM db-01 has 3 snapshot(s); a disk on PMem (vPMemDisk) cannot have snapshots "
        "(Hard disk 1) — delete or consolidate the snapshots first"
    ]
    assert len(plan.changes) == 1  # still shown, so the user sees the whole picture


def test_snapshots_block_creating_a_vpmemdisk() -> None:
    plan = plan_for(entry(name="db-01", disks={"Hard disk 2": ("pmem", 10)}),
                    vms=[vm(snapshots=1, disks=[disk()])])
    assert messages(plan) == [
        "VM db-01 has 1 snapshot(s); a disk on PMem (vPMemDisk) cannot have snapshots "
        "(Hard disk 2) — delete or consolidate the snapshots first"
    ]


def test_snapshots_do_not_block_moves_off_pmem_or_between_datastores() -> None:
    db = vm(snapshots=3, disks=[disk("Hard disk 1", 40, "PMemDS-esx-01"), disk("Hard disk 2")])
    inv = inventory(vms=[db], datastores=[datastore("san-01"), datastore("san-02")])
    plan = plan_for(entry(name="db-01", disks={"Hard disk 1": "san-01", "Hard disk 2": "san-02"}),
                    vms=[], inv=inv)
    assert plan.problems == ()
    assert len(plan.changes) == 2


# --------------------------------------------------------------------------- disks


def test_migrate_payload_shape() -> None:
    plan = plan_for(entry(name="db-01", disks={"Hard disk 1": "pmem"}), vms=[vm(disks=[disk()])])
    assert plan.changes == (
        Change(
            vm="db-01",
            action=Action.MIGRATE_DISK,
            target="Hard disk 1",
            before="san-01",
            after="PMemDS-esx-01",
            disruptive=False,
            reason="spec wants Hard disk 1 on pmem",
            payload=MigrateDisk(
                disk_key=2001, size_mb=40960,
                source=DatastoreRef("san-01", "ds-san-01", pmem=False),
                target=DatastoreRef("PMemDS-esx-01", "ds-PMemDS-esx-01", pmem=True),
                policy=PolicyRef("pmem")),
    vm_moid="vm-db-01",
            host="esx-01",
            host_moid="host-esx-01",
        ),
    )


def test_star_covers_every_disk_and_explicit_labels_win() -> None:
    db = vm(
        disks=[
            disk("Hard disk 1", 40, "san-01"),
            disk("Hard disk 2", 20, "PMemDS-esx-01"),
            disk("Hard disk 3", 10, "san-01"),
        ]
    )
    plan = plan_for(entry(name="db-01", disks={"*": "pmem", "Hard disk 3": "san-01"}), vms=[db])
    assert actions(plan) == [("db-01", "migrate_disk", "Hard disk 1")]


def test_pmem_disk_moves_off_pmem_without_data_loss() -> None:
    db = vm(nvdimms=[nvdimm()], disks=[disk("Hard disk 1", 40, "PMemDS-esx-01")])
    plan = plan_for(entry(name="db-01", disks={"*": "san-01"}), vms=[db])
    (move,) = plan.changes
    assert isinstance(move.payload, MigrateDisk)
    assert move.payload.from_pmem and not move.payload.to_pmem
    assert move.payload.target.name == "san-01"
    # Off PMem the PMem policy is replaced by the target's default.
    assert move.payload.policy == PolicyRef("target_default")
    assert plan.problems == ()
    assert plan.hosts == (HostPmem("esx-01", 512 * GIB, 512 * GIB, 552 * GIB),)


def test_create_vpmemdisk() -> None:
    plan = plan_for(
        entry(name="db-01", disks={"Hard disk 2": ("pmem", 10)}), vms=[vm(disks=[disk()])]
    )
    (create,) = plan.changes
    assert create == Change(
        vm="db-01",
        action=Action.CREATE_DISK,
        target="Hard disk 2",
        before=None,
        after="10 GiB on PMemDS-esx-01",
        disruptive=False,
        reason="spec wants Hard disk 2 (10 GiB) on pmem",
        payload=CreateDisk(label="Hard disk 2", size_mb=10240,
                           datastore=DatastoreRef("PMemDS-esx-01", "ds-PMemDS-esx-01", True)),
        vm_moid="vm-db-01",
        host="esx-01",
        host_moid="host-esx-01",
    )
    assert plan.problems == ()
    assert plan.warnings == ()


def test_creating_a_vpmemdisk_needs_power_off() -> None:
    s = entry(name="db-01", disks={"Hard disk 2": ("pmem", 10)})
    running = vm(power="poweredOn", tools_running=True, disks=[disk()])
    assert messages(plan_for(s, vms=[running])) == [
        "VM db-01 is powered on; creating Hard disk 2 on PMem needs it powered off "
        "(set options.power_off: true)"
    ]
    cycled = plan_for(s, vms=[running], power_off=True)
    assert [c.action.value for c in cycled.changes] == ["power_off", "create_disk", "power_on"]
    assert cycled.changes[0].reason == ("needs power off for creating a vPMemDisk: "
                                        "guest shutdown (timeout 300 s), then power off")


def test_creating_a_regular_disk_is_live() -> None:
    plan = plan_for(
        entry(name="db-01", disks={"Hard disk 2": ("san-01", 10)}),
        vms=[vm(power="poweredOn", disks=[disk()])],
    )
    (create,) = plan.changes
    assert create.payload == CreateDisk(label="Hard disk 2", size_mb=10240,
                                        datastore=DatastoreRef("san-01", "ds-san-01"))
    assert not create.disruptive
    assert plan.problems == ()


def test_missing_disk_without_size_is_a_problem_that_never_advises_creating_it() -> None:
    # The spec asked to move a disk; an empty new disk is not what it meant.
    plan = plan_for(entry(name="db-01", disks={"Hard disk 3": "pmem"}), vms=[vm(disks=[disk()])])
    assert messages(plan) == [
        "VM db-01 has no disk 'Hard disk 3' (it has Hard disk 1), so it cannot be moved; name a "
        "disk it has, or select by a glob or selector (e.g. 'Hard disk [2-9]', 'number:2-') to "
        "skip the VMs that lack it"
    ]
    assert "size" not in messages(plan)[0]
    assert plan.changes == ()


def test_new_disk_under_a_label_vsphere_will_not_give_is_a_problem_not_a_create() -> None:
    # Creating "Hard disk 5" on a one-disk VM made "Hard disk 2", so every
    # later apply created another disk (with a power cycle): now it is refused.
    plan = plan_for(
        entry(name="db-01", disks={"Hard disk 5": ("pmem", 10)}), vms=[vm(disks=[disk()])]
    )
    assert messages(plan) == [
        "VM db-01: vSphere will call a new disk 'Hard disk 2' (the lowest free number), not "
        "'Hard disk 5'; ask for 'Hard disk 2', or the next plan would not find 'Hard disk 5' "
        "and would create it again"
    ]
    assert plan.changes == ()


def test_size_mismatch_on_existing_disk_is_a_warning() -> None:
    db = vm(disks=[disk("Hard disk 1", 40, "PMemDS-esx-01")])
    plan = plan_for(entry(name="db-01", disks={"Hard disk 1": ("pmem", 50)}), vms=[db])
    assert plan.empty and not plan.blocked
    assert plan.warnings == (
        "VM db-01: Hard disk 1 is 40 GiB, the spec says 50 GiB; pmemctl does not resize disks",
    )


# --------------------------------------------------------------------------- reachability


def test_unknown_and_unreachable_datastores() -> None:
    inv = inventory(
        hosts=[host("esx-01"), host("esx-02")],
        vms=[vm(disks=[disk("Hard disk 1"), disk("Hard disk 2")])],
        datastores=[
            datastore("san-01", hosts=["esx-01", "esx-02"]),
            datastore("local-02", hosts=["esx-02"]),
        ],
    )
    s = entry(name="db-01", disks={"Hard disk 1": "nas-09", "Hard disk 2": "local-02"})
    plan = plan_for(s, vms=[], inv=inv)
    assert messages(plan) == [
        "datastore nas-09 does not exist (VM db-01, Hard disk 1)",
        "datastore local-02 is not reachable from host esx-01 (VM db-01)",
    ]
    assert plan.changes == ()


def test_host_without_pmem() -> None:
    inv = inventory(
        hosts=[host("esx-03", pmem_gb=0)],
        vms=[vm("app-01", host="esx-03", disks=[disk()])],
    )
    plan = plan_for(entry(name="app-01", nvdimms_gb=[8], disks={"*": "pmem"}), vms=[], inv=inv)
    assert messages(plan) == ["host esx-03 has no PMem (VM app-01)"]  # once, not per change
    assert plan.hosts == ()


@pytest.mark.parametrize(
    ("h", "message"),
    [
        (host(connected=False), "host esx-01 is not connected (VM db-01)"),
        (host(maintenance=True), "host esx-01 is in maintenance mode (VM db-01)"),
    ],
)
def test_host_state_blocks_changes(h: Host, message: str) -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[8]), vms=[vm()], hosts=[h])
    assert messages(plan) == [message]
    # ...but a VM with nothing to do on such a host is fine.
    assert plan_for(entry(name="db-01"), vms=[vm()], hosts=[h]).problems == ()


def test_vm_without_devices_cannot_be_planned() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[8]), vms=[vm(devices_loaded=False)])
    assert messages(plan) == ["VM db-01: its devices were not read, so it cannot be planned"]
    assert plan.changes == ()


# --------------------------------------------------------------------------- capacity


def test_not_enough_pmem_says_needed_and_free() -> None:
    vms = [
        vm("db-01", disks=[disk(size_gb=400)]),
        vm("db-02", disks=[disk(size_gb=200)]),
    ]
    plan = plan_for(entry(match="db-*", disks={"*": "pmem"}), vms=vms)
    assert messages(plan) == [
        "host esx-01: not enough PMem: the plan needs 600 GiB (614400 MB), 512 GiB (524288 MB) free"
        " (for VMs db-01, db-02)"
    ]
    # Attributed to the VM whose change overran the host: db-02 (db-01 alone fits).
    assert [p.vm for p in plan.problems] == ["db-02"]
    assert plan.hosts == (HostPmem("esx-01", 524288, 524288, 524288 - 614400),)


def test_pmem_freed_earlier_in_plan_order_counts() -> None:
    # db-01 (first by name) frees 100 GiB, db-02 then needs 150 GiB with only 100 GiB free.
    inv = inventory(
        hosts=[host(free_gb=100)],
        vms=[
            vm("db-01", disks=[disk(size_gb=100, datastore="PMemDS-esx-01")]),
            vm("db-02", disks=[disk(size_gb=150)]),
        ],
    )
    plan = plan_for(
        entry(name="db-01", disks={"*": "san-01"}),
        entry(name="db-02", disks={"*": "pmem"}),
        vms=[],
        inv=inv,
    )
    assert plan.problems == ()
    assert plan.hosts == (HostPmem("esx-01", 512 * GIB, 100 * GIB, 50 * GIB),)


def test_regular_datastore_space_is_checked() -> None:
    inv = inventory(
        vms=[vm(disks=[disk(size_gb=300, datastore="PMemDS-esx-01")])],
        datastores=[datastore("san-01", hosts=["esx-01"], free_gb=200)],
    )
    plan = plan_for(entry(name="db-01", disks={"*": "san-01"}), vms=[], inv=inv)
    assert messages(plan) == [
        "datastore san-01: not enough space: the plan needs 300 GiB (307200 MB), "
        "200 GiB (204800 MB) free (for VM db-01)"
    ]


def test_nvdimm_capacity_counts_adds_grows_and_removes() -> None:
    db = vm(nvdimms=[nvdimm("NVDIMM 1", 16), nvdimm("NVDIMM 2", 16)])
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[48]),
        vms=[db],
        hosts=[host(free_gb=64)],
        allow_data_loss=True,
    )
    # -16 (remove) then +32 (grow): 64 - 16 = 48 GiB free after.
    assert plan.hosts == (HostPmem("esx-01", 512 * GIB, 64 * GIB, 48 * GIB),)
    assert plan.problems == ()


# --------------------------------------------------------------------------- the whole plan


def test_vms_are_sorted_and_problems_collected() -> None:
    inv = inventory(
        hosts=[host("esx-01"), host("esx-02", free_gb=100), host("esx-03", pmem_gb=0)],
        vms=[
            vm("web-01", host="esx-02", snapshots=1, power="poweredOn"),
            vm("app-01", host="esx-03", disks=[disk()]),
            vm("redis-01", hw=13),
            vm("idle-01"),
        ],
    )
    plan = plan_for(
        entry(match="*-01", nvdimms_gb=[8], line=2),
        entry(name="ghost", line=7),
        vms=[],
        inv=inv,
    )
    assert [c.vm for c in plan.changes] == sorted(c.vm for c in plan.changes)
    assert actions(plan) == [
        ("app-01", "add_nvdimm", "NVDIMM 1"),
        ("idle-01", "add_nvdimm", "NVDIMM 1"),
        ("redis-01", "add_nvdimm", "NVDIMM 1"),
        ("web-01", "add_nvdimm", "NVDIMM 1"),
    ]
    assert messages(plan) == [
        "spec.yaml:7:5: VM 'ghost' not found",
        "host esx-03 has no PMem (VM app-01)",
        "VM redis-01 is vmx-13; NVDIMMs need vmx-14 or later (set options.upgrade_hardware: true)",
        "VM web-01 has 1 snapshot(s); NVDIMMs cannot live with snapshots (vSphere fails "
        "snapshots of VMs with NVDIMMs unless pmem.snapshotMode is set) — delete the "
        "snapshots first",
        "VM web-01 is powered on; adding NVDIMM 1 needs it powered off "
        "(set options.power_off: true)",
    ]
    # Hosts of the selected VMs that have PMem, sorted by name.
    assert plan.hosts == (
        HostPmem("esx-01", 512 * GIB, 512 * GIB, 496 * GIB),
        HostPmem("esx-02", 512 * GIB, 100 * GIB, 92 * GIB),
    )


def test_every_change_carries_the_host() -> None:
    db = vm(power="poweredOn", tools_running=True, hw=11, nvdimms=[nvdimm()], disks=[disk()])
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[32, 8], disks={"*": "pmem", "Hard disk 2": ("san-01", 1)}),
        vms=[db],
        power_off=True,
        upgrade_hardware=True,
    )
    assert {(c.host, c.host_moid, c.vm_moid) for c in plan.changes} == {
        ("esx-01", "host-esx-01", "vm-db-01")}
    # remove_disk is emitted only by rollback, never by the planner.
    assert {c.action for c in plan.changes} == set(Action) - {Action.REMOVE_NVDIMM, Action.REMOVE_DISK}


def test_plan_json_round_trips() -> None:
    db = vm(power="poweredOn", hw=11, nvdimms=[nvdimm()], disks=[disk()])
    plan = plan_for(
        entry(name="db-01", nvdimms_gb=[8, 8], disks={"*": "pmem"}),
        entry(name="nope"),
        vms=[db],
        power_off=True,
        upgrade_hardware=True,
    )
    assert plan.changes and plan.problems and plan.hosts
    assert Plan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d.update(format_version=2), "format_version 2 is not 1 (a plan from another "
                                               "pmemctl version"),
        (lambda d: d.pop("hosts"), "missing hosts"),
        (lambda d: d.update(extra=1), "unknown extra"),
        (lambda d: d["changes"][0].update(action="explode"), "changes[0]: unknown action"),
        (lambda d: d["changes"][0].update(disruptive="yes"), "changes[0].disruptive"),
        (lambda d: d["hosts"][0].update(pmem_free_mb_after=True), "hosts[0].pmem_free_mb_after"),
        (lambda d: d.update(warnings="none"), "plan.warnings"),
        (lambda d: d["changes"][0]["payload"].update(type="grow_nvdimm"),
         "changes[0].payload: unknown add_controller, controller_key, index, snapshot_mode"),
        (lambda d: d["changes"][0]["payload"].pop("size_mb"),
         "changes[0].payload: missing size_mb"),
        (lambda d: d["changes"][0]["payload"].update(type="power_on"),
         "changes[0].payload: unknown add_controller"),
        (lambda d: d["changes"][0]["payload"].update(size_mb="8GiB"),
         "changes[0].payload.size_mb: unexpected value '8GiB'"),
        (lambda d: d["changes"][0]["payload"].update(add_controller=1),
         "changes[0].payload.add_controller: unexpected value 1"),
        (lambda d: d["changes"][0]["payload"].update(type="bogus"),
         "changes[0].payload.type: unknown payload type 'bogus'"),
        (lambda d: d["changes"][0].pop("payload"), "changes[0]: missing payload"),
    ],
)
def test_plan_from_json_is_strict(mutate: Any, error: str) -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[8]), vms=[vm()])
    data = plan.to_json()
    mutate(data)
    with pytest.raises(ValueError, match=re.escape(error)):
        Plan.from_json(data)


# --------------------------------------------------------------------------- HA PMem reservation


def test_ha_reservation_is_not_free() -> None:
    """512 GiB, 400 GiB free, HA holds back 25% (128 GiB): 272 GiB usable."""
    h = host(pmem_gb=512, free_gb=400, ha_pct=25)
    fits = plan_for(entry(name="db-01", nvdimms_gb=[272]), vms=[vm()], hosts=[h])
    assert fits.problems == ()
    assert "host esx-01: 128 GiB (131072 MB, 25%) of its PMem is not free for this plan: " \
        "vSphere HA on cluster Prod reserves 25% of each host's PMem for failover " \
        "(PMem admission control)" in fits.warnings
    over = plan_for(entry(name="db-01", nvdimms_gb=[300]), vms=[vm()], hosts=[h])
    assert messages(over) == [
        "host esx-01: not enough PMem: the plan needs 300 GiB (307200 MB), 272 GiB "
        "(278528 MB) free after 128 GiB (131072 MB, 25%) of its PMem held back by vSphere HA "
        "admission control (PMem reservation) (for VM db-01)"
    ]
    # The contract rows keep the host's own free figure.
    assert over.hosts == (HostPmem("esx-01", 512 * GIB, 400 * GIB, 100 * GIB),)


def test_no_reservation_no_warning() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm()],
                    nvdimm_snapshot_mode="independent_persistent")
    assert plan.warnings == ()


# --------------------------------------------------------------------------- datacenters


def two_datacenters(vm_dc: str = "DC2") -> Inventory:
    hosts = [host("esx-01", datacenter="DC1"), host("esx-02", datacenter="DC2")]
    stores = [datastore("datastore1", hosts=["esx-01"], datacenter="DC1", moid="datastore-11"),
              datastore("datastore1", hosts=["esx-02"], datacenter="DC2", moid="datastore-12"),
              datastore("san-01", hosts=["esx-02"], datacenter="DC2")]
    db = vm(host="esx-02", datacenter=vm_dc, disks=[disk(datastore="san-01")])
    return inventory(hosts=hosts, vms=[db], datastores=stores)


def test_datastore_name_resolves_in_the_vms_datacenter() -> None:
    plan = plan_for(entry(name="db-01", disks={"*": "datastore1"}), vms=[],
                    inv=two_datacenters())
    (move,) = plan.changes
    assert plan.problems == ()
    assert isinstance(move.payload, MigrateDisk)
    assert move.payload.target == DatastoreRef("datastore1", "datastore-12")
    assert move.payload.source.moid == "ds-san-01"
    assert move.host_moid == "host-esx-02"


def test_datastore_name_in_two_datacenters_is_ambiguous_without_one() -> None:
    plan = plan_for(entry(name="db-01", disks={"*": "datastore1"}), vms=[],
                    inv=two_datacenters(vm_dc=""))
    assert messages(plan) == [
        "datastore name datastore1 is ambiguous (VM db-01, Hard disk 1): datastore-11 in DC1, "
        "datastore-12 in DC2"
    ]
    assert plan.changes == ()


def test_unknown_datastore_says_did_you_mean() -> None:
    plan = plan_for(entry(name="db-01", disks={"*": "datastor1"}), vms=[],
                    inv=two_datacenters())
    assert messages(plan) == [
        "datastore datastor1 does not exist in datacenter DC2 (VM db-01, Hard disk 1); "
        "did you mean datastore1?"
    ]


def test_create_disk_carries_the_datastore_moid() -> None:
    plan = plan_for(entry(name="db-01", disks={"Hard disk 2": ("datastore1", 10)}), vms=[],
                    inv=two_datacenters())
    (create,) = plan.changes
    assert isinstance(create.payload, CreateDisk)
    assert create.payload.datastore == DatastoreRef("datastore1", "datastore-12")


def test_unchanged_estate_keeps_its_fingerprint() -> None:
    assert two_datacenters().fingerprint(["db-01"]) == two_datacenters().fingerprint(["db-01"])


# --------------------------------------------------------------------------- NVDIMM sizes


def test_nvdimm_reading_0_mb_is_a_problem_never_a_grow() -> None:
    dead = Nvdimm(label="NVDIMM 1", key=8001, size_mb=0, controller_key=27000, accessible=False)
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm(nvdimms=[dead])])
    assert plan.changes == ()
    assert messages(plan) == [
        "VM db-01: NVDIMM 1 reads 0 MB, which vSphere reports when the NVDIMM's backing is "
        "inaccessible; pmemctl plans no NVDIMM change for this VM until vSphere reports its "
        "size (check the host's PMem)"
    ]


def test_inaccessible_nvdimm_with_a_configured_size_is_a_problem_too() -> None:
    dead = Nvdimm(label="NVDIMM 1", key=8001, size_mb=16 * GIB, controller_key=27000,
                  accessible=False)
    plan = plan_for(entry(name="db-01", nvdimms_gb=[32]), vms=[vm(nvdimms=[dead])])
    assert plan.changes == () and len(plan.problems) == 1


OPTION = NvdimmOption(min_mb=4, max_mb=6 * 1024 * GIB, granularity_mb=4, growable=True)


def nvdimm_plan(have: list[Nvdimm], want_mb: list[int], option: NvdimmOption | None = OPTION,
                g: GuestSupport | None = None) -> Plan:
    inv = inventory(vms=[vm(nvdimms=have)], nvdimm_option=option,
                    guests=[g or guest()])
    s = Spec(vms=(VmEntry(name="db-01", nvdimms=tuple(want_mb)),), path="spec.yaml",
             options=Options(nvdimm_snapshot_mode="independent_persistent"))
    return make_plan(s, inv)


def test_nvdimm_size_must_be_a_multiple_of_the_granularity() -> None:
    assert messages(nvdimm_plan([], [16 * GIB + 1])) == [
        "VM db-01: NVDIMM 1 of 16.0 GiB (16385 MB): NVDIMM sizes must be multiples of "
        "4 MiB (4 MB) on this hardware"
    ]
    assert nvdimm_plan([], [16 * GIB]).problems == ()


def test_nvdimm_size_within_the_option_bounds() -> None:
    small = NvdimmOption(min_mb=1024, max_mb=64 * GIB, granularity_mb=4)
    assert messages(nvdimm_plan([], [512], small)) == [
        "VM db-01: NVDIMM 1 of 512 MiB is below the smallest NVDIMM this hardware allows "
        "(1 GiB, 1024 MB)"
    ]
    assert messages(nvdimm_plan([], [128 * GIB], small)) == [
        "VM db-01: NVDIMM 1 of 128 GiB is above the largest NVDIMM this hardware allows "
        "(64 GiB, 65536 MB)"
    ]


def test_grow_needs_a_growable_option() -> None:
    fixed = NvdimmOption(granularity_mb=4, growable=False)
    assert messages(nvdimm_plan([nvdimm(size_gb=16)], [32 * GIB], fixed)) == [
        "VM db-01: this hardware cannot grow NVDIMMs (NVDIMM 1); list a new NVDIMM instead, "
        "or recreate it with options.allow_data_loss"
    ]


def test_grow_follows_the_guests_cold_growth_rules() -> None:
    no = GuestSupport("rhel8_64Guest", True, 6144 * GIB, full_name="RHEL 8", cold_growth=False)
    assert messages(nvdimm_plan([nvdimm(size_gb=16)], [32 * GIB], g=no)) == [
        "VM db-01: guest OS RHEL 8 does not support growing an NVDIMM (NVDIMM 1)"
    ]
    steps = GuestSupport("rhel8_64Guest", True, 6144 * GIB, full_name="RHEL 8",
                         cold_growth=True, cold_growth_granularity_mb=1024)
    assert messages(nvdimm_plan([nvdimm(size_gb=16)], [16 * GIB + 512], g=steps)) == [
        "VM db-01: guest OS RHEL 8 grows NVDIMMs in steps of 1 GiB (1024 MB); NVDIMM 1 "
        "would grow by 512 MiB (512 MB)"
    ]
    assert nvdimm_plan([nvdimm(size_gb=16)], [17 * GIB], g=steps).problems == ()


# --------------------------------------------------------------------------- snapshot mode


def test_snapshot_mode_goes_on_every_add() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16, 16]), vms=[vm()],
                    nvdimm_snapshot_mode="independent_eraseonrevert",
                    inv=inventory(vms=[vm()], about=About(api_version="8.0.3.0")))
    assert [getattr(c.payload, "snapshot_mode", None) for c in plan.changes] == [
        "independent_eraseonrevert", "independent_eraseonrevert"]
    assert plan.problems == () and plan.warnings == ()


def test_snapshot_mode_needs_api_703() -> None:
    inv = inventory(vms=[vm()], about=About(api_version="7.0.2.0"))
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[], inv=inv,
                    nvdimm_snapshot_mode="independent_persistent")
    assert messages(plan) == [
        "options.nvdimm_snapshot_mode needs vSphere API 7.0.3 or later (ConfigSpec.pmem); "
        "this one is 7.0.2.0: remove the option"
    ]


def test_without_snapshot_mode_adding_nvdimms_warns_about_backups() -> None:
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16]), vms=[vm()])
    assert plan.warnings == (BACKUP_WARNING,)
    assert isinstance(plan.changes[0].payload, AddNvdimm)
    assert plan.changes[0].payload.snapshot_mode is None


# --------------------------------------------------------------------------- standalone ESXi


def test_standalone_esxi_cannot_put_data_on_pmem() -> None:
    esxi = About(name="VMware ESXi 8.0.3", api_version="8.0.3.0", api_type="HostAgent")
    inv = inventory(vms=[vm(disks=[disk()])], about=esxi)
    plan = plan_for(entry(name="db-01", nvdimms_gb=[16], disks={"*": "pmem"}), vms=[], inv=inv)
    assert messages(plan) == [
        "pmemctl needs vCenter: PBM storage policies (the Host-local PMem Default Storage "
        "Policy that places NVDIMMs and PMem disks) exist only there, and this is a "
        "standalone ESXi host (VMware ESXi 8.0.3); connect to the vCenter that manages this "
        "host (2 change(s) put data on PMem)"
    ]


def test_standalone_esxi_may_move_disks_off_pmem() -> None:
    esxi = About(api_version="8.0.3.0", api_type="HostAgent")
    inv = inventory(vms=[vm(disks=[disk(datastore="PMemDS-esx-01")])], about=esxi)
    plan = plan_for(entry(name="db-01", disks={"*": "san-01"}), vms=[], inv=inv)
    assert plan.problems == () and len(plan.changes) == 1


# --------------------------------------------------------------------------- options pass through


def test_pmem_migration_shape_is_on_options() -> None:
    assert Options().pmem_migration_shape == "auto"
    assert Options().nvdimm_snapshot_mode is None
