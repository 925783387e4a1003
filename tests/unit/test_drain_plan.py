"""The drain planner (pmemctl/plan/drain.py): pure, on builder inventories."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pmemctl.plan.drain import DrainOptions, make_drain_plan
from pmemctl.plan.model import Action
from pmemctl.plan.payloads import MigrateDisk, MigrateVm
from tests.unit import builders as b

pytestmark = pytest.mark.unit

GIB = b.GIB


def _vm(name: str, host: str = "esx-01", **kw: object):  # type: ignore[no-untyped-def]
    v = b.vm(name, host=host, **kw)  # type: ignore[arg-type]
    return replace(v, home_datastore="san-01", datastore_moids=("ds-san-01",))


def estate(*vms, free=(512, 40, 100), ha_pct: int = 0):  # type: ignore[no-untyped-def]
    hosts = [b.host(f"esx-0{i + 1}", free_gb=f, ha_pct=ha_pct) for i, f in enumerate(free)]
    return b.inventory(hosts=hosts, vms=vms)


def test_nvdimm_vms_go_best_fit_to_two_hosts_and_the_plan_shows_pmem_per_host() -> None:
    inv = estate(_vm("big", nvdimms=[b.nvdimm(size_gb=40)], power="poweredOn"),
                 _vm("mid", nvdimms=[b.nvdimm(size_gb=60)], power="poweredOn"),
                 _vm("small", nvdimms=[b.nvdimm(size_gb=30)]))
    dp = make_drain_plan(inv, DrainOptions(host="esx-01"))
    assert dp.plan.problems == ()
    assert {p.vm: p.target for p in dp.placement} == {"big": "esx-02", "mid": "esx-03",
                                                       "small": "esx-03"}
    moves = [c for c in dp.plan.changes if c.action is Action.MIGRATE_VM]
    assert all(isinstance(c.payload, MigrateVm) and c.payload.source.name == "esx-01"
               for c in moves)
    rows = {h.name: (h.free_mb_before, h.free_mb_after) for h in dp.plan.hosts}
    assert rows["esx-02"] == (40 * GIB, 0)
    assert rows["esx-03"] == (100 * GIB, 10 * GIB)
    assert rows["esx-01"][1] == rows["esx-01"][0] + 130 * GIB
    assert dp.to_json()["drain"]["placement"][0] == {"vm": "big", "to": "esx-02",
                                                      "pmem_mb": 40 * GIB}


def test_vpmemdisks_go_to_the_named_datastore_and_a_running_vm_moves_too() -> None:
    d = b.disk("Hard disk 2", 8, datastore="PMemDS-esx-01")
    inv = estate(_vm("app", disks=[b.disk(), d], power="poweredOn"))
    dp = make_drain_plan(inv, DrainOptions(host="esx-01", datastore="san-01"))
    assert dp.plan.problems == ()
    (mig,) = [c for c in dp.plan.changes if c.action is Action.MIGRATE_DISK]
    assert isinstance(mig.payload, MigrateDisk)
    assert mig.payload.target.name == "san-01" and mig.payload.policy.kind == "target_default"
    (vmove,) = [c for c in dp.plan.changes if c.action is Action.MIGRATE_VM]
    assert isinstance(vmove.payload, MigrateVm) and vmove.payload.pmem_mb == 0


def test_a_vm_that_fits_nowhere_is_a_problem_or_powered_off_on_request() -> None:
    inv = estate(_vm("huge", nvdimms=[b.nvdimm(size_gb=200)], power="poweredOn",
                     tools_running=True), free=(312, 40, 100))
    dp = make_drain_plan(inv, DrainOptions(host="esx-01"))
    assert [p.vm for p in dp.plan.problems] == ["huge"]
    assert "--power-off-unplaced" in dp.plan.problems[0].message
    assert "huge is powered on" in dp.blockers
    off = make_drain_plan(inv, DrainOptions(host="esx-01", power_off_unplaced=True))
    assert off.plan.problems == ()
    (c,) = off.plan.changes
    assert c.action is Action.POWER_OFF and "PMem reserved on esx-01" in c.reason
    assert any("200 GiB of PMem stays in use on esx-01" in x for x in off.blockers)


def test_ha_reserve_is_kept_free_on_targets() -> None:
    # 100 GiB hosts with 25 % for HA: 75 usable each; an 80 GiB VM fits nowhere.
    inv = estate(_vm("a", nvdimms=[b.nvdimm(size_gb=80)], power="poweredOn"),
                 free=(100, 100, 100), ha_pct=25)
    dp = make_drain_plan(inv, DrainOptions(host="esx-01"))
    assert [p.vm for p in dp.plan.problems] == ["a"]
    assert any("placement leaves it free" in w for w in dp.plan.warnings)


def test_to_host_limits_the_targets_and_unknown_hosts_are_problems() -> None:
    inv = estate(_vm("a", nvdimms=[b.nvdimm(size_gb=8)], power="poweredOn"))
    dp = make_drain_plan(inv, DrainOptions(host="esx-01", to_hosts=("esx-03",)))
    assert [p.target for p in dp.placement] == ["esx-03"]
    bad = make_drain_plan(inv, DrainOptions(host="esx-01", to_hosts=("esx-09",)))
    assert any("esx-09" in p.message for p in bad.plan.problems)
    assert make_drain_plan(inv, DrainOptions(host="nope")).plan.blocked


def test_a_target_that_does_not_mount_the_vms_datastore_is_not_used() -> None:
    v = replace(_vm("a", nvdimms=[b.nvdimm(size_gb=8)], power="poweredOn"),
                datastore_moids=("ds-san-01", "ds-nfs"))
    hosts = [b.host("esx-01", datastores=("san-01", "nfs")), b.host("esx-02"),
             b.host("esx-03", datastores=("san-01", "nfs"), free_gb=10)]
    dss = [b.datastore("san-01", hosts=["esx-01", "esx-02", "esx-03"]),
           b.datastore("nfs", hosts=["esx-01", "esx-03"])]
    dp = make_drain_plan(b.inventory(hosts=hosts, vms=[v], datastores=dss),
                         DrainOptions(host="esx-01"))
    assert [p.target for p in dp.placement] == ["esx-03"]


def test_a_powered_off_vm_without_pmem_stays_and_nothing_blocks() -> None:
    inv = estate(_vm("idle"))
    dp = make_drain_plan(inv, DrainOptions(host="esx-01"))
    assert dp.plan.changes == () and dp.plan.problems == () and dp.blockers == ()
