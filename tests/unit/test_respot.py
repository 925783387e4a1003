"""``placement: any-host-in-cluster`` (pmemctl/plan/respot.py through make_plan): pure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pmemctl.apply.scheduler import StepKind, build_jobs
from pmemctl.plan.model import Action
from pmemctl.plan.payloads import MigrateVm
from pmemctl.plan.planner import make_plan
from pmemctl.spec.load import load_spec_text
from tests.unit import builders as b

pytestmark = pytest.mark.unit

GIB = b.GIB


def _spec(placement: bool = True, size: str = "32GiB"):  # type: ignore[no-untyped-def]
    extra = "\n    placement: any-host-in-cluster" if placement else ""
    return load_spec_text(f"""apiVersion: pmemctl/v1
options: {{power_off: true}}
vms:
  - name: db-01
    nvdimms: [{size}]{extra}
""", "spec.yaml")


def _inv(free=(16, 64, 40)):  # type: ignore[no-untyped-def]
    hosts = [b.host(f"esx-0{i + 1}", free_gb=f) for i, f in enumerate(free)]
    vm = replace(b.vm("db-01", power="poweredOn", tools_running=True),
                 datastore_moids=("ds-san-01",))
    return b.inventory(hosts=hosts, vms=[vm])


def test_a_vm_whose_host_is_short_moves_first_to_the_best_fit() -> None:
    plan = make_plan(_spec(), _inv())
    assert plan.problems == ()
    assert [c.action for c in plan.changes] == [Action.POWER_OFF, Action.MIGRATE_VM,
                                                Action.ADD_NVDIMM, Action.POWER_ON]
    move = plan.changes[1]
    assert isinstance(move.payload, MigrateVm) and move.payload.first
    assert (move.before, move.after) == ("esx-01", "esx-03")  # 40 GiB is the tightest fit
    assert plan.changes[2].host == "esx-03"
    rows = {h.name: (h.free_mb_before, h.free_mb_after) for h in plan.hosts}
    assert rows["esx-03"] == (40 * GIB, 8 * GIB)
    [job] = build_jobs(plan)
    assert [s.kind for s in job.steps] == [StepKind.POWER_OFF, StepKind.MOVE,
                                           StepKind.RECONFIGURE, StepKind.POWER_ON]


def test_without_placement_the_host_is_short() -> None:
    plan = make_plan(_spec(placement=False), _inv())
    assert not [c for c in plan.changes if c.action is Action.MIGRATE_VM]
    assert any("not enough PMem" in p.message for p in plan.problems)


def test_a_host_with_room_keeps_its_vm() -> None:
    plan = make_plan(_spec(size="8GiB"), _inv())
    assert not [c for c in plan.changes if c.action is Action.MIGRATE_VM]
    assert plan.problems == ()


def test_no_host_fits_is_a_problem_naming_the_placement() -> None:
    plan = make_plan(_spec(size="128GiB"), _inv())
    assert any("any-host-in-cluster: no host fits" in p.message for p in plan.problems)


def test_placement_needs_nvdimms_and_a_known_value() -> None:
    from pmemctl.errors import SpecError

    with pytest.raises(SpecError, match="placement applies to nvdimms"):
        load_spec_text("apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks: {'*': pmem}\n"
                       "    placement: any-host-in-cluster\n", "s.yaml")
    with pytest.raises(SpecError, match="unknown placement"):
        load_spec_text("apiVersion: pmemctl/v1\nvms:\n  - name: a\n    nvdimms: [8GiB]\n"
                       "    placement: anywhere\n", "s.yaml")


def test_a_vm_that_grows_in_place_leaves_less_room_for_the_next() -> None:
    # esx-01 has room for one 32 GiB NVDIMM, not two: db-01 stays and grows there,
    # so db-02 must move (it used not to, and esx-01 ran out of PMem).
    spec = load_spec_text("""apiVersion: pmemctl/v1
options: {power_off: true}
vms:
  - match: {name: "db-*"}
    nvdimms: [32GiB]
    placement: any-host-in-cluster
""", "spec.yaml")
    hosts = [b.host("esx-01", free_gb=40), b.host("esx-02", free_gb=64)]
    vms = [replace(b.vm(n, power="poweredOn", tools_running=True), datastore_moids=("ds-san-01",))
           for n in ("db-01", "db-02")]
    plan = make_plan(spec, b.inventory(hosts=hosts, vms=vms))
    assert plan.problems == ()
    moves = [(c.vm, c.before, c.after) for c in plan.changes if c.action is Action.MIGRATE_VM]
    assert moves == [("db-02", "esx-01", "esx-02")]


def test_a_vm_that_needs_no_more_pmem_is_not_moved() -> None:
    # nvdimms: [] on a host without PMem: nothing to grow, so no vMotion for nothing.
    plan = make_plan(load_spec_text("""apiVersion: pmemctl/v1
options: {power_off: true, allow_data_loss: true}
vms:
  - name: db-01
    nvdimms: []
    placement: any-host-in-cluster
""", "spec.yaml"), b.inventory(
        hosts=[b.host("esx-01", pmem_gb=0), b.host("esx-02", free_gb=64)],
        vms=[replace(b.vm("db-01", power="poweredOn", tools_running=True),
                     host="esx-01", datastore_moids=("ds-san-01",))]))
    assert not [c for c in plan.changes if c.action is Action.MIGRATE_VM]
