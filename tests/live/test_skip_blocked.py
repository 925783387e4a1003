"""``--skip-blocked`` against pmemsim: the VMs without problems converge, the blocked are untouched.

The estate has three VMs that can be done and four that cannot, each for a
reason of its own: host PMem runs out (capacity), the host has no PMem
datastore, a powered-on VM needs an NVDIMM without power-off consent, and a
disk names a datastore that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pmemctl.inventory.model import Inventory
from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]

ESTATE = """
datacenter: DC0
clusters:
  - name: Prod
    hosts:
      - {name: esx-01, pmem: 100GiB}
      - {name: esx-02, pmem: 512GiB}
      - {name: esx-03}
datastores:
  - {name: san-01, type: VMFS, capacity: 8TiB}
vms:
  - {name: app-01, host: esx-01, hardware_version: 14, guest_id: rhel8_64Guest, power: poweredOff,
     disks: [{size: 8GiB, datastore: san-01}]}
  - {name: app-02, host: esx-02, hardware_version: 14, guest_id: rhel8_64Guest, power: poweredOff,
     disks: [{size: 20GiB, datastore: san-01}]}
  - {name: app-03, host: esx-02, hardware_version: 14, guest_id: rhel8_64Guest, power: poweredOn,
     disks: [{size: 20GiB, datastore: san-01}]}
  - {name: db-big, host: esx-01, hardware_version: 14, guest_id: rhel8_64Guest, power: poweredOff,
     disks: [{size: 90GiB, datastore: san-01}]}
  - {name: db-nods, host: esx-02, hardware_version: 14, guest_id: rhel8_64Guest, power: poweredOff,
     disks: [{size: 10GiB, datastore: san-01}]}
  - {name: db-nopmem, host: esx-03, hardware_version: 14, guest_id: rhel8_64Guest,
     power: poweredOff, disks: [{size: 10GiB, datastore: san-01}]}
  - {name: redis-on, host: esx-01, hardware_version: 14, guest_id: rhel8_64Guest, power: poweredOn,
     disks: [{size: 10GiB, datastore: san-01}]}
"""

SPEC = """
    vms:
      - name: app-01
        nvdimms: [16GiB]
      - match: {name: "app-0[23]"}
        disks: {"*": pmem}
      - name: db-big
        disks: {"*": pmem}
      - name: db-nods
        disks: {"*": nas-99}
      - name: db-nopmem
        disks: {"*": pmem}
      - name: redis-on
        nvdimms: [16GiB]
"""

OK = ["app-01", "app-02", "app-03"]
BLOCKED = ["db-big", "db-nods", "db-nopmem", "redis-on"]


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def _state(inv: Inventory, name: str) -> tuple[object, ...]:
    vm = inv.vms[name]
    return (vm.power_state, vm.hardware_version, tuple(n.size_mb for n in vm.nvdimms),
            tuple((d.label, d.datastore, d.pmem) for d in vm.disks))


def test_skip_blocked_applies_the_rest_and_exits_1(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim("--copy-rate", "2TiB/s", inventory=k.inventory_file(tmp_path, ESTATE))
    spec = k.spec(tmp_path, SPEC)
    before = k.estate(sim)

    # Without the flag the plan is blocked, and every blocked VM shows it.
    r = k.run(sim, "plan", str(spec))
    assert r.exit_code == 1
    headings = {line.split()[1].rstrip(":"): line for line in r.stdout.splitlines()
                if line.startswith("VM ") and ("(host" in line or line.endswith(": BLOCKED"))}
    assert sorted(headings) == sorted(OK + BLOCKED)
    # app-01 shares esx-01's PMem with db-big and redis-on: the shortage involves it too.
    assert sorted(v for v, line in headings.items() if line.endswith(": BLOCKED")) == \
        sorted(["app-01", *BLOCKED])
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 1 and "apply will refuse this plan" in r.output
    assert {n: _state(k.estate(sim), n) for n in OK + BLOCKED} == {
        n: _state(before, n) for n in OK + BLOCKED}

    # The plan with the flag: the rest planned, the blocked listed with why.
    r = k.run(sim, "plan", str(spec), "--skip-blocked", "-o", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["problems"] == []
    assert sorted({c["vm"] for c in doc["changes"]}) == OK
    reasons = {s["vm"]: s["reasons"] for s in doc["skipped"]}
    assert sorted(reasons) == BLOCKED
    assert "not enough PMem" in reasons["db-big"][0]
    assert reasons["db-nopmem"] == ["host esx-03 has no PMem (VM db-nopmem)"]
    assert "set options.power_off: true" in reasons["redis-on"][0]
    assert "nas-99" in reasons["db-nods"][0]
    # Capacity without the skipped: esx-01 gives app-01 its 16 GiB, nothing for db-big.
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert hosts["esx-01"]["pmem_free_mb_before"] - hosts["esx-01"]["pmem_free_mb_after"] == \
        16 * 1024

    r = k.run(sim, "apply", str(spec), "--yes", "--skip-blocked")
    assert r.exit_code == 1, r.output
    assert "Apply complete: 3 done, 0 failed." in r.output
    assert ("Skipped 4 blocked VMs, left untouched: db-big, db-nods, db-nopmem, redis-on "
            "(exit 1).") in r.output
    assert "  db-nopmem: host esx-03 has no PMem (VM db-nopmem)" in r.output
    after = k.estate(sim)
    assert [n.size_mb for n in after.vms["app-01"].nvdimms] == [16 * 1024]
    assert all(d.pmem for n in ("app-02", "app-03") for d in after.vms[n].disks)
    assert after.vms["app-03"].power_state == "poweredOn"
    assert {n: _state(after, n) for n in BLOCKED} == {n: _state(before, n) for n in BLOCKED}
    # The journal shows no step on a skipped VM.
    stepped = {rec["vm"] for rec in k.records(k.journal_file(tmp_path)) if rec["type"] == "intent"}
    assert stepped == set(OK)

    # Again: the rest is done, the blocked are still blocked, so still exit 1.
    r = k.run(sim, "apply", str(spec), "--yes", "--skip-blocked")
    assert r.exit_code == 1, r.output
    assert "No changes planned. Skipped 4 blocked VMs" in r.output
    assert "Skipped 4 blocked VMs, left untouched" in r.output


def test_options_skip_blocked_in_the_spec_and_json_summary(make_sim: MakeSim,
                                                           tmp_path: Path) -> None:
    sim = make_sim("--copy-rate", "2TiB/s", inventory=k.inventory_file(tmp_path, ESTATE))
    spec = k.spec(tmp_path, "options: {skip_blocked: true}\n" + SPEC.replace("\n    ", "\n"))
    r = k.run(sim, "apply", str(spec), "--yes", "-o", "json")
    assert r.exit_code == 1, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    plan = events[0]
    assert plan["event"] == "plan" and sorted(s["vm"] for s in plan["skipped"]) == BLOCKED
    summary = events[-1]
    assert summary["event"] == "summary" and summary["failed"] == 0
    assert [s["vm"] for s in summary["skipped"]] == BLOCKED
    assert all(s["reasons"] for s in summary["skipped"])
    start = next(rec for rec in k.records(k.journal_file(tmp_path)) if rec["type"] == "run_start")
    assert start["options"]["skip_blocked"] is True


def test_saved_plan_made_without_the_flag_is_refused_with_it(make_sim: MakeSim,
                                                             tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, ESTATE))
    spec = k.spec(tmp_path, SPEC)
    out = tmp_path / "plan.json"
    assert k.run(sim, "plan", str(spec), "--out", str(out)).exit_code == 1
    r = k.run(sim, "apply", str(out), "--yes", "--skip-blocked")
    assert r.exit_code == 64
    assert "made without --skip-blocked" in r.output
    # The one saved with the flag runs the rest.
    assert k.run(sim, "plan", str(spec), "--skip-blocked", "--out", str(out)).exit_code == 1
    r = k.run(sim, "apply", str(out), "--yes")
    assert r.exit_code == 1, r.output
    assert "Skipped 4 blocked VMs, left untouched" in r.output
    assert [n.size_mb for n in k.estate(sim).vms["app-01"].nvdimms] == [16 * 1024]
