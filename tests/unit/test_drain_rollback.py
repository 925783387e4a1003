"""Rolling a drain back (pure): VMs to the drained host, their vPMemDisks onto its PMem again,
and the RelocateSpec a drain's migrate_vm becomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pmemctl.apply.journal import Journal, JournalState, read_journal
from pmemctl.apply.rollback import rollback_plan
from pmemctl.plan.model import Action, Change
from pmemctl.plan.payloads import HostRef, MigrateVm
from pmemctl.vsphere.actions import relocate_spec
from tests.unit import builders as b

pytestmark = pytest.mark.unit


def _journal(tmp_path: Path, steps: list[dict[str, Any]]) -> JournalState:
    p = tmp_path / "j.jsonl"
    with Journal(p, run_id="r1") as j:
        j.write("run_start", command="drain", host="esx-01")
        for s in steps:
            sid = j.next_step_id()
            j.write("intent", step=sid, vm=s["vm"], kind="migrate", changes=s["changes"],
                    undo=s.get("undo", {"disks": []}))
            j.write("submitted", step=sid, task=f"task-{sid}")
            j.write("done", step=sid, task=f"task-{sid}")
    return read_journal(p)


MOVED = {"vm": "db-01", "changes": [{"action": "migrate_vm", "target": "db-01",
                                     "before": "esx-01", "after": "esx-02"},
                                    {"action": "migrate_disk", "target": "Hard disk 2"}],
         "undo": {"disks": [{"key": 2002, "label": "Hard disk 2", "datastore": "PMemDS-esx-01",
                             "datastore_moid": "ds-PMemDS-esx-01", "pmem": True,
                             "to_datastore": "san-01"}]}}


def _estate(on: str, maintenance: bool = False):  # type: ignore[no-untyped-def]
    hosts = [b.host("esx-01", maintenance=maintenance), b.host("esx-02")]
    vm = b.vm(host=on, nvdimms=[b.nvdimm(size_gb=16)],
              disks=[b.disk(), b.disk("Hard disk 2", 8, datastore="san-01")])
    return b.inventory(hosts=hosts, vms=[vm])


def test_a_drained_vm_goes_back_with_its_vpmemdisk(tmp_path: Path) -> None:
    rb = rollback_plan(_journal(tmp_path, [MOVED]), _estate("esx-02"))
    by = {c.action: c for c in rb.plan.changes}
    mv = by[Action.MIGRATE_VM]
    assert isinstance(mv.payload, MigrateVm)
    assert (mv.payload.source.name, mv.payload.target.name) == ("esx-02", "esx-01")
    assert mv.payload.pmem_mb == 16 * 1024 and mv.payload.rollback
    disk = by[Action.MIGRATE_DISK]
    assert disk.after == "PMemDS-esx-01"  # mounted on the host the VM goes back to


def test_a_vm_already_back_or_moved_elsewhere_is_left_alone(tmp_path: Path) -> None:
    rb = rollback_plan(_journal(tmp_path, [MOVED]), _estate("esx-01"))
    assert not [c for c in rb.plan.changes if c.action is Action.MIGRATE_VM]
    assert any("already back on esx-01" in n for n in rb.notes)


def test_a_host_still_in_maintenance_is_named(tmp_path: Path) -> None:
    rb = rollback_plan(_journal(tmp_path, [MOVED]), _estate("esx-02", maintenance=True))
    assert not [c for c in rb.plan.changes if c.action is Action.MIGRATE_VM]
    assert any("maintenance" in n for n in rb.notes)


def test_migrate_vm_becomes_spec_host() -> None:
    c = Change(vm="db-01", action=Action.MIGRATE_VM, target="db-01", before="esx-01",
               after="esx-02", disruptive=False, reason="drain",
               payload=MigrateVm(source=HostRef("esx-01", "host-1"),
                                 target=HostRef("esx-02", "host-2"), pmem_mb=16384),
               vm_moid="vm-1")
    spec = relocate_spec([c], [], "pmem-id")
    assert spec.host._moId == "host-2"
    assert not spec.disk and not spec.deviceChange and spec.pool is None


def test_moves_into_one_host_respect_its_limit_too() -> None:
    from pmemctl.apply.scheduler import Limits, Scheduler, build_jobs
    from pmemctl.plan.model import Plan

    def move(vm: str, src: str) -> Change:
        return Change(vm=vm, action=Action.MIGRATE_VM, target=vm, before=src, after="esx-01",
                      disruptive=False, reason="return",
                      payload=MigrateVm(source=HostRef(src, f"host-{src}"),
                                        target=HostRef("esx-01", "host-esx-01"), pmem_mb=1),
                      vm_moid=f"vm-{vm}", host=src, host_moid=f"host-{src}")
    # Three VMs on three hosts all going back to esx-01: vCenter's 2 per host binds there.
    plan = Plan(changes=(move("a", "esx-02"), move("b", "esx-03"), move("c", "esx-04")))
    sched = Scheduler(build_jobs(plan), Limits(total=8, per_host=2, per_datastore=8))
    assert len(sched.take_ready()) == 2


def test_a_drain_that_waited_long_at_its_prompt_is_checked_against_the_estate(
        tmp_path: Path) -> None:
    # As apply: after 5 min at the confirmation prompt the estate is read again,
    # and a drain plan that no longer holds stops before any change.
    from dataclasses import replace

    import pytest

    from pmemctl.apply.drain_run import DrainRun
    from pmemctl.apply.executor import ExecOptions
    from pmemctl.errors import StalePlanError
    from pmemctl.plan.drain import DrainOptions
    from pmemctl.testing import FakeVSphere
    from tests.unit.fakerun import Events

    vs = FakeVSphere(_estate("esx-01"))
    with DrainRun(vs, DrainOptions(host="esx-01", datastore="san-01"), ExecOptions(),
                  tmp_path / "drain.jsonl") as run:
        assert run.prepare(Events()).plan.changes
        vm = vs.inventory.vms["db-01"]
        vs.inventory.vms["db-01"] = replace(vm, host="esx-02", host_moid="host-esx-02")
        vs.clock.advance(10 * 60)
        with pytest.raises(StalePlanError, match="10 min the drain plan waited"):
            run.execute(Events())
    assert not any(c.startswith(("relocate", "reconfigure")) for c in vs.calls)
