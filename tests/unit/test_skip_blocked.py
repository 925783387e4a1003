"""``skip_blocked``: the VMs without problems are planned, the others listed with why.

Table-driven over the pure planner: which VMs are skipped, for which reasons,
what the rest of the plan is, and how PMem is counted without the skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmemctl.inventory.model import About
from pmemctl.plan.model import Action, HostPmem, Plan, Problem, Skipped
from pmemctl.plan.planner import make_plan
from pmemctl.plan.savefile import load_plan, save_plan
from pmemctl.spec.model import Options
from tests.unit.builders import GIB, disk, entry, host, inventory, nvdimm, spec, vm


def skipped(plan: Plan) -> dict[str, list[str]]:
    return {s.vm: list(s.reasons) for s in plan.skipped}


def planned_vms(plan: Plan) -> list[str]:
    return sorted({c.vm for c in plan.changes})


# --------------------------------------------------------------------------- problems[].vms


def test_problem_vms_defaults_to_its_vm() -> None:
    assert Problem("db-01", "x").vms == ("db-01",)
    assert Problem(None, "x").vms == ()
    assert Problem(None, "x", ("a", "b")).to_json() == {"vm": None, "message": "x",
                                                        "vms": ["a", "b"]}


def test_capacity_problem_names_every_taker_and_the_vm_to_drop() -> None:
    inv = inventory(vms=[vm("db-01", disks=[disk(size_gb=400)]),
                         vm("db-02", disks=[disk(size_gb=200)])])
    plan = make_plan(spec(entry(match="db-*", disks={"*": "pmem"})), inv)
    [problem] = plan.problems
    assert (problem.vm, problem.vms) == ("db-02", ("db-01", "db-02"))
    assert plan.skipped == ()


def test_vcenter_wide_problem_names_the_vms_it_concerns() -> None:
    esxi = About(api_version="8.0.3.0", api_type="HostAgent")
    inv = inventory(vms=[vm("db-01", disks=[disk()]),
                         vm("db-02", disks=[disk(datastore="PMemDS-esx-01")])], about=esxi)
    plan = make_plan(spec(entry(name="db-01", disks={"*": "pmem"}),
                          entry(name="db-02", disks={"*": "san-01"})), inv)
    [problem] = plan.problems
    assert (problem.vm, problem.vms) == (None, ("db-01",))


# --------------------------------------------------------------------------- skipping


def test_blocked_vms_are_skipped_and_the_rest_planned() -> None:
    inv = inventory(vms=[
        vm("app-01", disks=[disk()]),
        vm("redis-01", power="poweredOn"),  # an NVDIMM needs it off: no consent
        vm("sql-01", disks=[disk()]),
    ])
    s = spec(entry(name="app-01", disks={"*": "pmem"}),
             entry(name="redis-01", nvdimms_gb=[16]),
             entry(name="sql-01", disks={"*": "nas-99"}),  # no such datastore
             skip_blocked=True)
    plan = make_plan(s, inv)
    assert planned_vms(plan) == ["app-01"]
    assert plan.problems == () and not plan.blocked
    assert skipped(plan) == {
        "redis-01": ["VM redis-01 is powered on; adding NVDIMM 1 needs it powered off "
                     "(set options.power_off: true)"],
        "sql-01": [next(p.message for p in make_plan(
            spec(entry(name="sql-01", disks={"*": "nas-99"})), inv).problems)],
    }
    redis = next(x for x in plan.skipped if x.vm == "redis-01")
    # What it would have had is kept for the table; it is not in the plan's changes.
    assert redis.host == "esx-01"
    assert [c.action for c in redis.changes] == [Action.ADD_NVDIMM]
    assert plan.hosts == (HostPmem("esx-01", 512 * GIB, 512 * GIB, 472 * GIB),)


def test_without_skip_blocked_nothing_is_skipped() -> None:
    inv = inventory(vms=[vm("app-01", disks=[disk()]), vm("redis-01", power="poweredOn")])
    plan = make_plan(spec(entry(name="app-01", disks={"*": "pmem"}),
                          entry(name="redis-01", nvdimms_gb=[16])), inv)
    assert plan.blocked and plan.skipped == ()
    assert planned_vms(plan) == ["app-01", "redis-01"]


@pytest.mark.parametrize(
    ("sizes_gb", "free_gb", "skipped_vms", "free_after_gb"),
    [
        # db-02 overruns the 512 GiB: skipped; db-03 still fits after db-01.
        ([300, 300, 100], 512, ["db-02"], 112),
        # Every VM after the first overruns on its own turn.
        ([400, 200, 200], 512, ["db-02", "db-03"], 112),
        # Nothing fits: every VM is skipped, PMem stays as it is.
        ([600, 700], 512, ["db-01", "db-02"], 512),
        # Everything fits: nothing skipped.
        ([100, 100], 512, [], 312),
    ],
)
def test_capacity_is_counted_without_the_skipped(sizes_gb: list[int], free_gb: int,
                                                 skipped_vms: list[str],
                                                 free_after_gb: int) -> None:
    vms = [vm(f"db-{i + 1:02}", disks=[disk(size_gb=g)]) for i, g in enumerate(sizes_gb)]
    inv = inventory(hosts=[host(free_gb=free_gb)], vms=vms)
    plan = make_plan(spec(entry(match="db-*", disks={"*": "pmem"}), skip_blocked=True), inv)
    assert sorted(skipped(plan)) == skipped_vms
    assert all("not enough PMem" in r for rs in skipped(plan).values() for r in rs)
    assert plan.problems == ()
    assert planned_vms(plan) == sorted({v.name for v in vms} - set(skipped_vms))
    assert [(h.free_mb_before, h.free_mb_after) for h in plan.hosts] == [
        (free_gb * GIB, free_after_gb * GIB)]


def test_pmem_a_skipped_vm_would_have_freed_is_not_counted() -> None:
    # db-01 would give 100 GiB back (a removal without allow_data_loss: blocked);
    # db-02 fits only with it, so once db-01 is skipped db-02 is skipped too.
    inv = inventory(hosts=[host(free_gb=100)], vms=[
        vm("db-01", nvdimms=[nvdimm(size_gb=100)]),
        vm("db-02", disks=[disk(size_gb=150)]),
    ])
    s = spec(entry(name="db-01", nvdimms_gb=[]), entry(name="db-02", disks={"*": "pmem"}))
    assert [p.vm for p in make_plan(s, inv).problems] == ["db-01"]  # db-02 fits here
    plan = make_plan(spec(*s.vms, skip_blocked=True), inv)
    assert sorted(skipped(plan)) == ["db-01", "db-02"]
    assert "not enough PMem" in skipped(plan)["db-02"][0]
    assert plan.changes == () and plan.problems == ()


def test_a_problem_about_no_vm_still_blocks() -> None:
    inv = inventory(vms=[vm("app-01", disks=[disk()]), vm("redis-01", power="poweredOn")])
    plan = make_plan(spec(entry(name="app-01", disks={"*": "pmem"}),
                          entry(name="redis-01", nvdimms_gb=[16]),
                          entry(match="typo-*", disks={"*": "pmem"}, line=9),
                          skip_blocked=True), inv)
    assert plan.blocked
    assert [p.message for p in plan.problems] == ["spec.yaml:9:5: match(name=typo-*) selects no VM"]
    assert sorted(skipped(plan)) == ["redis-01"]


def test_vcenter_wide_problem_skips_every_vm_it_concerns() -> None:
    esxi = About(api_version="8.0.3.0", api_type="HostAgent")
    inv = inventory(vms=[vm("db-01", disks=[disk()]),
                         vm("db-02", disks=[disk(datastore="PMemDS-esx-01")])], about=esxi)
    plan = make_plan(spec(entry(name="db-01", disks={"*": "pmem"}),
                          entry(name="db-02", disks={"*": "san-01"}), skip_blocked=True), inv)
    assert sorted(skipped(plan)) == ["db-01"]
    assert planned_vms(plan) == ["db-02"] and not plan.blocked


def test_conflicting_entries_skip_the_vm() -> None:
    inv = inventory(vms=[vm("db-01", disks=[disk()]), vm("db-02", disks=[disk()])])
    plan = make_plan(spec(entry(name="db-01", disks={"*": "pmem"}, line=3),
                          entry(match="db-*", disks={"*": "san-01"}, line=6),
                          entry(name="db-02", disks={"*": "pmem"}, line=9),
                          skip_blocked=True), inv)
    # db-01 and db-02 are each selected twice with different targets.
    assert sorted(skipped(plan)) == ["db-01", "db-02"]
    assert all("disagree" in skipped(plan)[v][0] for v in ("db-01", "db-02"))


# --------------------------------------------------------------------------- JSON and files


def test_json_round_trip_and_older_documents() -> None:
    inv = inventory(vms=[vm("app-01", disks=[disk()]), vm("redis-01", power="poweredOn")])
    plan = make_plan(spec(entry(name="app-01", disks={"*": "pmem"}),
                          entry(name="redis-01", nvdimms_gb=[16]), skip_blocked=True), inv)
    data = plan.to_json()
    assert [s["vm"] for s in data["skipped"]] == ["redis-01"]
    assert set(data["skipped"][0]) == {"vm", "host", "reasons", "changes"}
    assert Plan.from_json(json.loads(json.dumps(data))) == plan
    # A plan document written before skipped and problems[].vms existed still loads.
    old = {**data, "problems": [{"vm": "x", "message": "m"}]}
    del old["skipped"]
    loaded = Plan.from_json(old)
    assert loaded.skipped == () and loaded.problems == (Problem("x", "m"),)
    with pytest.raises(ValueError, match=r"skipped\[0\]: missing reasons"):
        Plan.from_json({**data, "skipped": [{"vm": "a", "host": "", "changes": []}]})


def test_saved_plan_keeps_the_skipped_and_reads_older_options(tmp_path: Path) -> None:
    inv = inventory(vms=[vm("app-01", disks=[disk()]), vm("redis-01", power="poweredOn")])
    options = Options(skip_blocked=True)
    plan = make_plan(spec(entry(name="app-01", disks={"*": "pmem"}),
                          entry(name="redis-01", nvdimms_gb=[16]), skip_blocked=True), inv)
    path = tmp_path / "plan.json"
    save_plan(path, plan, options, inv, ["app-01", "redis-01"], "spec.yaml")
    saved = load_plan(path)
    assert saved.plan.skipped == plan.skipped and saved.options == options
    # A file saved before options.skip_blocked existed: read with the default.
    data = json.loads(path.read_text())
    del data["options"]["skip_blocked"]
    path.write_text(json.dumps(data))
    assert load_plan(path).options == Options()


def test_skipped_is_a_value() -> None:
    s = Skipped("db-01", ("r",))
    assert Skipped.from_json(s.to_json()) == s


# --------------------------------------------------------------------------- the spec


def test_spec_option_loads_and_a_wrong_type_is_located() -> None:
    from pmemctl.errors import SpecError
    from pmemctl.spec.load import load_spec, load_spec_text

    text = ("apiVersion: pmemctl/v1\noptions:\n  skip_blocked: {}\nvms:\n"
            "  - {name: db-01, nvdimms: [16GiB]}\n")
    assert load_spec_text(text.replace("{}", "true")).options.skip_blocked is True
    assert load_spec_text(text.replace("{}", "false")).options.skip_blocked is False
    with pytest.raises(SpecError) as info:
        load_spec_text(text.replace("{}", "sometimes"), "spec.yaml")
    [d] = info.value.diagnostics
    assert (d.file, d.line, d.column) == ("spec.yaml", 3, 17)
    assert "options.skip_blocked" in d.message
    playbook = load_spec(Path(__file__).parents[2] / "playbooks" / "bulk-skip-blocked.yaml")
    assert playbook.options.skip_blocked and not playbook.options.power_off
