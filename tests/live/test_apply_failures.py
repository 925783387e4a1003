"""apply failure paths on pmemsim, injected with --fault: stop vs continue, reports, exit 1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
LEGACY = """
    vms:
      - match: {name: "legacy-sql-*"}
        disks: {"*": pmem}
"""
FAULT = ("method=RelocateVM_Task,vm=legacy-sql-01,fault=InsufficientResourcesFault,"
         "message=Not enough PMem on esx-01")


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def on_pmem(sim: simproc.PmemSim) -> dict[str, bool]:
    inv = k.estate(sim)
    return {n: all(d.pmem for d in vm.disks) for n, vm in inv.vms.items()
            if n.startswith("legacy-sql-")}


def test_failure_mid_task_after_progress(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim("--copy-rate", "200GiB/s", "--fault",
                   "method=RelocateVM_Task,vm=legacy-sql-03,fault=SystemError,at=50,"
                   "message=host esx-01 lost its PMem datastore")
    spec = k.spec(tmp_path, LEGACY)
    r = k.run(sim, "apply", str(spec), "--yes", "--on-failure", "continue")
    assert r.exit_code == 1, r.output
    assert "legacy-sql-03: migrate_disk Hard disk 1: FAILED: SystemError: " \
           "host esx-01 lost its PMem datastore" in r.output


# The NVDIMM add is redis-02's first ReconfigVM_Task: its upgrade is an UpgradeVM_Task.
RECONFIG_FAULT = ("method=ReconfigVM_Task,vm=redis-02,nth=1,fault=InsufficientResourcesFault,"
                  "message=PMem exhausted")
REDIS_02 = """
    options: {power_off: true, upgrade_hardware: true, shutdown_timeout_s: 30}
    vms:
      - name: redis-02
        nvdimms: [16GiB]
"""


def test_stop_leaves_it_off_and_the_next_run_powers_it_on(make_sim: MakeSim,
                                                           tmp_path: Path) -> None:
    sim = make_sim("--fault", RECONFIG_FAULT)
    spec = k.spec(tmp_path, REDIS_02)
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 1, r.output
    assert "power_on redis-02 (not started)" in r.output
    assert k.estate(sim).vms["redis-02"].power_state == "poweredOff"
    # The fault fired on the 1st ReconfigVM only: the next run adds the NVDIMM and
    # powers the VM on because the journal says pmemctl powered it off.
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "redis-02: power_on redis-02: started" in r.output
    vm = k.estate(sim).vms["redis-02"]
    assert vm.power_state == "poweredOn" and len(vm.nvdimms) == 1


def test_submit_fault_is_reported(make_sim: MakeSim, tmp_path: Path) -> None:
    # A spec the planner accepts but vCenter refuses at once (no PMem left on the host).
    sim = make_sim("--fault", "method=PowerOnVM_Task,vm=redis-02,fault=InvalidPowerState")
    spec = k.spec(tmp_path, REDIS_02)
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 1, r.output
    assert "power_on redis-02: FAILED: InvalidPowerState" in r.output


def test_plan_shows_what_apply_will_do_after_a_failed_run(make_sim: MakeSim,
                                                         tmp_path: Path) -> None:
    # The failed run left redis-02 powered off: the power-on it owes is in the
    # journal, and plan (one code path with apply) shows it just as apply runs it.
    sim = make_sim("--fault", RECONFIG_FAULT)
    spec = k.spec(tmp_path, REDIS_02)
    assert k.run(sim, "apply", str(spec), "--yes").exit_code == 1
    planned = k.run(sim, "plan", str(spec), "-o", "json")
    assert planned.exit_code == 0, planned.output
    plan_changes = json.loads(planned.stdout)["changes"]
    applied = k.run(sim, "apply", str(spec), "--yes", "-o", "json")
    assert applied.exit_code == 0, applied.output
    events = [json.loads(line) for line in applied.stdout.splitlines() if line.startswith("{")]
    apply_changes = next(e for e in events if e["event"] == "plan")["changes"]
    assert [(c["vm"], c["action"], c["target"]) for c in plan_changes] == [
        ("redis-02", "add_nvdimm", "NVDIMM 1"), ("redis-02", "power_on", "redis-02")]
    assert plan_changes == apply_changes
    power_on = plan_changes[-1]
    assert power_on["payload"] == {"type": "power_on", "owed": True}
