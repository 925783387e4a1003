"""Rollback planning (pure) and owed power-ons after a killed run (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pmemctl.apply.journal import Journal, JournalState, read_journal
from pmemctl.apply.resume import pending_power_ons
from pmemctl.apply.rollback import rollback_plan
from pmemctl.plan.model import Action, Plan
from pmemctl.plan.payloads import MigrateDisk, PolicyRef, RemoveDisk, RemoveNvdimm
from tests.unit import builders as b


def _journal(tmp_path: Path, steps: list[dict[str, Any]], *, finish: bool = True) -> JournalState:
    p = tmp_path / "j.jsonl"
    with Journal(p, run_id="r1") as j:
        j.write("run_start", command="apply")
        for s in steps:
            sid = j.next_step_id()
            j.write("intent", step=sid, vm=s["vm"], kind=s["kind"], changes=s.get("changes", []),
                    undo=s.get("undo", {}))
            j.write("submitted", step=sid, task=f"task-{sid}")
            if finish:
                extra = {"created": s["created"]} if "created" in s else {}
                j.write(s.get("outcome", "done"), step=sid, task=f"task-{sid}", **extra)
    return read_journal(p)


MIGRATED = {"vm": "db-01", "kind": "migrate",
            "changes": [{"action": "migrate_disk", "target": "Hard disk 1"}],
            "undo": {"disks": [{"key": 2001, "label": "Hard disk 1", "datastore": "san-01",
                                "datastore_moid": "ds-san-01", "pmem": False,
                                "to_datastore": "PMemDS-esx-01"}]}}


def test_migrated_disk_goes_back(tmp_path: Path) -> None:
    inv = b.inventory(vms=[b.vm(disks=[b.disk(datastore="PMemDS-esx-01")])])
    rb = rollback_plan(_journal(tmp_path, [MIGRATED]), inv)
    [c] = rb.plan.changes
    assert c.action is Action.MIGRATE_DISK
    assert isinstance(c.payload, MigrateDisk)
    assert (c.payload.source.name, c.payload.target.name) == ("PMemDS-esx-01", "san-01")
    assert c.payload.target.moid == "ds-san-01" and c.payload.rollback
    assert not c.payload.to_pmem and c.payload.disk_key == 2001
    # The journal knew no policy for the disk: it gets the target's default.
    assert c.payload.policy == PolicyRef("defined", ())


def test_second_rollback_has_nothing_to_do(tmp_path: Path) -> None:
    inv = b.inventory(vms=[b.vm(disks=[b.disk(datastore="san-01")])])
    rb = rollback_plan(_journal(tmp_path, [MIGRATED]), inv)
    assert rb.empty
    assert any("already back on san-01" in n for n in rb.notes)


def test_disk_moved_elsewhere_is_left_alone(tmp_path: Path) -> None:
    inv = b.inventory(datastores=[b.datastore("san-01"), b.datastore("nfs-01")],
                      vms=[b.vm(disks=[b.disk(datastore="nfs-01")])])
    rb = rollback_plan(_journal(tmp_path, [MIGRATED]), inv)
    assert rb.empty and any("not where apply put it" in n for n in rb.notes)


def test_failed_steps_are_not_undone(tmp_path: Path) -> None:
    inv = b.inventory(vms=[b.vm(disks=[b.disk(datastore="PMemDS-esx-01")])])
    rb = rollback_plan(_journal(tmp_path, [{**MIGRATED, "outcome": "failed"}]), inv)
    assert rb.empty


def test_two_moves_collapse_into_one(tmp_path: Path) -> None:
    first = {**MIGRATED, "undo": {"disks": [{"key": 2001, "label": "Hard disk 1",
                                             "datastore": "san-01", "pmem": False,
                                             "to_datastore": "nfs-01"}]}}
    second = {**MIGRATED, "undo": {"disks": [{"key": 2001, "label": "Hard disk 1",
                                              "datastore": "nfs-01", "pmem": False,
                                              "to_datastore": "PMemDS-esx-01"}]}}
    inv = b.inventory(datastores=[b.datastore("san-01"), b.datastore("nfs-01")],
                      vms=[b.vm(disks=[b.disk(datastore="PMemDS-esx-01")])])
    rb = rollback_plan(_journal(tmp_path, [first, second]), inv)
    [c] = rb.plan.changes
    assert isinstance(c.payload, MigrateDisk) and c.payload.target.name == "san-01"


ADDED = {"vm": "db-01", "kind": "reconfigure",
         "changes": [{"action": "add_nvdimm", "target": "NVDIMM 1"},
                     {"action": "grow_nvdimm", "target": "NVDIMM 0", "before": "8 GiB",
                      "after": "16 GiB"}],
         "undo": {"nvdimm_keys_before": [], "disk_keys_before": [2001]}}


def test_created_nvdimm_is_kept_without_allow_data_loss(tmp_path: Path) -> None:
    inv = b.inventory(vms=[b.vm(disks=[b.disk()], nvdimms=[b.nvdimm(key=9001)])])
    rb = rollback_plan(_journal(tmp_path, [ADDED]), inv)
    assert rb.empty
    assert any("kept NVDIMM 1" in n and "--allow-data-loss" in n for n in rb.notes)
    assert any("cannot shrink" in n for n in rb.notes)


def test_created_nvdimm_is_removed_with_allow_data_loss(tmp_path: Path) -> None:
    inv = b.inventory(vms=[b.vm(disks=[b.disk()], nvdimms=[b.nvdimm(key=9001)])])
    rb = rollback_plan(_journal(tmp_path, [ADDED]), inv, allow_data_loss=True)
    [c] = rb.plan.changes
    assert c.action is Action.REMOVE_NVDIMM and c.payload == RemoveNvdimm(key=9001, size_mb=16384)


def test_removal_needs_the_vm_off(tmp_path: Path) -> None:
    inv = b.inventory(vms=[b.vm(power="poweredOn", disks=[b.disk()],
                                nvdimms=[b.nvdimm(key=9001)])])
    rb = rollback_plan(_journal(tmp_path, [ADDED]), inv, allow_data_loss=True)
    assert rb.empty and any("powered off" in n for n in rb.notes)


def test_created_disk_is_removed_by_key(tmp_path: Path) -> None:
    step = {"vm": "db-01", "kind": "reconfigure",
            "changes": [{"action": "create_disk", "target": "Hard disk 2"}],
            "undo": {"nvdimm_keys_before": [], "disk_keys_before": [2001]}}
    inv = b.inventory(vms=[b.vm(disks=[b.disk(), b.disk("Hard disk 2", 8, "PMemDS-esx-01")])])
    rb = rollback_plan(_journal(tmp_path, [step]), inv, allow_data_loss=True)
    [c] = rb.plan.changes
    assert c.action is Action.REMOVE_DISK
    assert (c.vm, c.target, c.before, c.after) == ("db-01", "Hard disk 2", "8 GiB", None)
    assert c.payload == RemoveDisk(key=2002, size_mb=8 * 1024)
    assert (c.vm_moid, c.host) == ("vm-db-01", "esx-01")


def test_upgrade_is_reported(tmp_path: Path) -> None:
    step = {"vm": "db-01", "kind": "upgrade",
            "changes": [{"action": "upgrade_hardware", "before": "vmx-13", "after": "vmx-14"}]}
    rb = rollback_plan(_journal(tmp_path, [step]), b.inventory(vms=[b.vm()]))
    assert rb.empty and any("cannot downgrade" in n for n in rb.notes)


POWER_OFF = {"vm": "db-01", "kind": "power_off", "changes": []}


def test_power_on_owed_after_killed_run(tmp_path: Path) -> None:
    state = _journal(tmp_path, [POWER_OFF])
    inv = b.inventory(vms=[b.vm(power="poweredOff")])
    plan = pending_power_ons(state, Plan(), inv)
    [c] = plan.changes
    assert c.action is Action.POWER_ON and c.vm == "db-01"


def test_no_power_on_when_already_on_or_powered_on_later(tmp_path: Path) -> None:
    state = _journal(tmp_path, [POWER_OFF])
    assert pending_power_ons(state, Plan(), b.inventory(vms=[b.vm(power="poweredOn")])).empty
    state = _journal(tmp_path, [POWER_OFF, {"vm": "db-01", "kind": "power_on"}])
    assert pending_power_ons(state, Plan(), b.inventory(vms=[b.vm()])).empty


def test_power_on_owed_when_killed_during_the_power_off(tmp_path: Path) -> None:
    # e.g. killed while waiting for a guest shutdown, which has no task to settle
    state = _journal(tmp_path, [POWER_OFF], finish=False)
    assert len(pending_power_ons(state, Plan(), b.inventory(vms=[b.vm()])).changes) == 1


def test_no_power_on_when_the_power_off_failed(tmp_path: Path) -> None:
    state = _journal(tmp_path, [{**POWER_OFF, "outcome": "failed"}])
    assert pending_power_ons(state, Plan(), b.inventory(vms=[b.vm()])).empty


def test_rollback_removes_the_devices_the_journal_names(tmp_path: Path) -> None:
    # Someone else added NVDIMM 2 (key 9002) after the run: only the journaled
    # device (9001) is the run's, whatever the keys before the step were.
    step = {**ADDED, "changes": [{"action": "add_nvdimm", "target": "NVDIMM 1"}],
            "undo": {"nvdimm_keys_before": [], "disk_keys_before": [2001]},
            "created": [{"kind": "nvdimm", "key": 9001, "label": "NVDIMM 1", "size_mb": 16384}]}
    inv = b.inventory(vms=[b.vm(disks=[b.disk()], nvdimms=[
        b.nvdimm("NVDIMM 1", key=9001), b.nvdimm("NVDIMM 2", key=9002)])])
    rb = rollback_plan(_journal(tmp_path, [step]), inv, allow_data_loss=True)
    assert [(c.target, c.payload) for c in rb.plan.changes] == [
        ("NVDIMM 1", RemoveNvdimm(key=9001, size_mb=16384))]


def test_a_created_device_that_is_gone_is_not_removed(tmp_path: Path) -> None:
    step = {**ADDED, "changes": [{"action": "add_nvdimm", "target": "NVDIMM 1"}],
            "created": [{"kind": "nvdimm", "key": 9001, "label": "NVDIMM 1", "size_mb": 16384}]}
    inv = b.inventory(vms=[b.vm(disks=[b.disk()], nvdimms=[b.nvdimm("NVDIMM 1", key=9005)])])
    rb = rollback_plan(_journal(tmp_path, [step]), inv, allow_data_loss=True)
    assert rb.plan.changes == ()


def test_journal_of_the_previous_format_is_rolled_back(tmp_path: Path) -> None:
    # Written by pmemctl before typed payloads: v 1, changes with "detail", no "created".
    p = tmp_path / "old.jsonl"
    p.write_text("\n".join([
        '{"v": 1, "type": "run_start", "time": 1, "run": "r0", "command": "apply", '
        '"vcenter": "vc"}',
        '{"v": 1, "type": "intent", "time": 2, "run": "r0", "step": "r0/1", "vm": "db-01", '
        '"kind": "migrate", "changes": [{"vm": "db-01", "action": "migrate_disk", "target": '
        '"Hard disk 1", "before": "san-01", "after": "PMemDS-esx-01", "disruptive": false, '
        '"reason": "", "detail": {"key": 2001, "to_pmem": true}}], "undo": {"vm_moid": '
        '"vm-db-01", "disks": [{"key": 2001, "label": "Hard disk 1", "datastore": "san-01", '
        '"datastore_moid": "ds-san-01", "pmem": false, "to_datastore": "PMemDS-esx-01"}]}}',
        '{"v": 1, "type": "submitted", "time": 3, "run": "r0", "step": "r0/1", "task": "t-1"}',
        '{"v": 1, "type": "done", "time": 4, "run": "r0", "step": "r0/1", "task": "t-1"}',
    ]) + "\n")
    inv = b.inventory(vms=[b.vm(disks=[b.disk(datastore="PMemDS-esx-01")])])
    state = read_journal(p)
    assert state.runs[0].vcenter == "vc" and state.steps[0].created is None
    [c] = rollback_plan(state, inv).plan.changes
    assert isinstance(c.payload, MigrateDisk) and c.payload.target.name == "san-01"
