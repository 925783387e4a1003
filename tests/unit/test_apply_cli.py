"""``pmemctl plan|apply`` in-process on FakeVSphere: confirmation, flags, saved plans, JSON.

Moved from the live tier (tests/live/test_apply_cli.py, test_apply_actions.py,
test_apply_failures.py): these are the CLI's own logic and need no server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmemctl.testing import FakeVSphere, Fault
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit

REDIS = """
    vms:
      - name: redis-01
        nvdimms: [16GiB]
"""
REDIS_02 = """
    options: {power_off: true, upgrade_hardware: true, shutdown_timeout_s: 30}
    vms:
      - name: redis-02
        nvdimms: [16GiB]
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def demo() -> FakeVSphere:
    """The demo estate's VMs these tests use (tests/pmemsim/demo.yaml), as pmemsim serves them."""
    return FakeVSphere(b.inventory(
        hosts=[b.host("esx-01"), b.host("esx-02")],
        vms=[b.vm("redis-01", hw=14, disks=[b.disk()]),
             b.vm("redis-02", host="esx-02", hw=13, power="poweredOn", tools_running=True,
                  disks=[b.disk()]),
             b.vm("legacy-sql-03", hw=13, disks=[b.disk(size_gb=60)])]))


def test_no_terminal_and_no_yes_refuses(tmp_path: Path) -> None:
    vs = demo()
    r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS)))
    assert r.exit_code == 1
    assert "Plan: 1 change for 1 VM." in r.stdout
    assert "not applying: no terminal to confirm on" in r.stderr
    assert k.submitted(vs) == []


@pytest.mark.parametrize("flag", ["--parallel", "--per-host", "--per-datastore"])
def test_limits_must_be_positive(tmp_path: Path, flag: str) -> None:
    vs = demo()
    r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS)), "--yes", flag, "0")
    assert r.exit_code == 64, r.output
    assert vs.calls == []


def test_blocked_plan_exits_1(tmp_path: Path) -> None:
    vs = demo()
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-02
            nvdimms: [16GiB]
    """)
    r = k.run(vs, "apply", str(spec), "--yes")
    assert r.exit_code == 1
    assert "apply will refuse this plan" in r.stdout
    assert k.submitted(vs) == []


def test_saved_plan_applies_when_fresh_and_is_refused_when_stale(tmp_path: Path) -> None:
    vs = demo()
    spec = k.spec(tmp_path, REDIS)
    fresh, stale = tmp_path / "fresh.json", tmp_path / "stale.json"
    assert k.run(vs, "plan", str(spec), "--out", str(fresh)).exit_code == 0
    assert k.run(vs, "plan", str(spec), "--out", str(stale)).exit_code == 0
    r = k.run(vs, "apply", str(fresh), "--yes")
    assert r.exit_code == 0, r.output
    assert k.submitted(vs) == ["reconfigure redis-01: add_nvdimm NVDIMM 1 16384 MB"]
    r = k.run(vs, "apply", str(stale), "--yes")
    assert r.exit_code == 1
    assert "the estate changed since the plan was made" in r.stderr
    assert k.submitted(vs) == ["reconfigure redis-01: add_nvdimm NVDIMM 1 16384 MB"]


def test_json_output_is_json_lines(tmp_path: Path) -> None:
    vs = demo()
    spec = k.spec(tmp_path, """
        vms:
          - name: legacy-sql-03
            disks: {"*": pmem}
    """)
    journal = tmp_path / "elsewhere" / "my.jsonl"
    r = k.run(vs, "apply", str(spec), "--yes", "--output", "json", "--journal", str(journal))
    assert r.exit_code == 0, r.output
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert docs[-1]["journal"] == str(journal) and journal.is_file()
    assert docs[0]["event"] == "plan" and len(docs[0]["changes"]) == 1
    events = [d["event"] for d in docs[1:]]
    assert events == ["started", "done", "summary"]
    assert docs[1]["task"] == "task-1" and docs[1]["vm"] == "legacy-sql-03"
    assert docs[-1]["done"] == 1 and docs[-1]["failed"] == 0


def test_stop_leaves_it_off_and_the_next_run_powers_it_on(tmp_path: Path) -> None:
    vs = demo()
    vs.fail("reconfigure", Fault("InsufficientResourcesFault", "PMem exhausted"), vm="redis-02")
    spec = k.spec(tmp_path, REDIS_02)
    r = k.run(vs, "apply", str(spec), "--yes")
    assert r.exit_code == 1, r.output
    assert "power_on redis-02 (not started)" in r.output
    assert vs.inventory.vms["redis-02"].power_state == "poweredOff"
    # The fault fired on the 1st reconfigure only: the next run adds the NVDIMM and
    # powers the VM on because the journal says pmemctl powered it off.
    r = k.run(vs, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "redis-02: power_on redis-02: started" in r.output
    vm = vs.inventory.vms["redis-02"]
    assert vm.power_state == "poweredOn" and len(vm.nvdimms) == 1
    assert k.submitted(vs) == [
        "shutdown_guest redis-02", "upgrade redis-02 vmx-14",
        "reconfigure redis-02: add_nvdimm NVDIMM 1 16384 MB",  # failed
        "reconfigure redis-02: add_nvdimm NVDIMM 1 16384 MB", "power_on redis-02"]


def test_a_rerun_with_another_journal_still_powers_it_on(tmp_path: Path) -> None:
    # The owed power-on is marked on the VM (a custom field), not only in the
    # journal: a run with a new --journal finds it in plan and in apply.
    vs = demo()
    vs.fail("reconfigure", Fault("InsufficientResourcesFault", "PMem exhausted"), vm="redis-02")
    spec = k.spec(tmp_path, REDIS_02)
    first = tmp_path / "first.jsonl"
    r = k.run(vs, "apply", str(spec), "--yes", "--journal", str(first))
    assert r.exit_code == 1, r.output
    vm = vs.inventory.vms["redis-02"]
    assert vm.power_state == "poweredOff"
    run_id = k.records(first)[0]["run"]
    assert vm.owed_power_on == f"{run_id} {first.resolve()}"
    r = k.run(vs, "plan", str(spec))
    assert "power_on" in r.output and run_id in r.output, r.output
    r = k.run(vs, "apply", str(spec), "--yes", "--journal", str(tmp_path / "second.jsonl"))
    assert r.exit_code == 0, r.output
    vm = vs.inventory.vms["redis-02"]
    assert vm.power_state == "poweredOn" and len(vm.nvdimms) == 1 and vm.owed_power_on == ""
    assert vs.calls.count("power_on redis-02") == 1
    assert vs.calls[-1] == "clear redis-02 owed power-on"


def test_rollback_powers_on_the_vm_apply_left_off(tmp_path: Path) -> None:
    vs = demo()
    vs.fail("reconfigure", Fault("InsufficientResourcesFault", "PMem exhausted"), vm="redis-02")
    journal = tmp_path / "first.jsonl"
    r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS_02)), "--yes", "--journal", str(journal))
    assert r.exit_code == 1 and vs.inventory.vms["redis-02"].power_state == "poweredOff"
    r = k.run(vs, "rollback", str(journal), "--yes")
    assert r.exit_code == 0, r.output
    vm = vs.inventory.vms["redis-02"]
    assert vm.power_state == "poweredOn" and vm.owed_power_on == ""


def test_a_vm_that_cannot_be_marked_is_not_powered_off(tmp_path: Path) -> None:
    vs = demo()
    vs.fail("set_owed_power_on", Fault("NoPermission", "Permission to perform this operation "
                                       "was denied."), vm="redis-02")
    r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS_02)), "--yes")
    assert r.exit_code == 1, r.output
    assert "Global.SetCustomValue" in r.output
    assert vs.inventory.vms["redis-02"].power_state == "poweredOn"
    assert not any(c.startswith(("shutdown_guest", "power_off")) for c in vs.calls)


def test_submit_fault_is_reported(tmp_path: Path) -> None:
    # A spec the planner accepts but vCenter refuses at once.
    vs = demo()
    vs.fail("power_on", Fault("InvalidPowerState"), vm="redis-02", when="submit")
    r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS_02)), "--yes")
    assert r.exit_code == 1, r.output
    assert "power_on redis-02: FAILED: InvalidPowerState" in r.output


def test_plan_shows_what_apply_will_do_after_a_failed_run(tmp_path: Path) -> None:
    # The failed run left redis-02 powered off: the power-on it owes is in the
    # journal, and plan (one code path with apply) shows it just as apply runs it.
    vs = demo()
    vs.fail("reconfigure", Fault("InsufficientResourcesFault", "PMem exhausted"), vm="redis-02")
    spec = k.spec(tmp_path, REDIS_02)
    assert k.run(vs, "apply", str(spec), "--yes").exit_code == 1
    planned = k.run(vs, "plan", str(spec), "-o", "json")
    assert planned.exit_code == 0, planned.output
    plan_changes = json.loads(planned.stdout)["changes"]
    applied = k.run(vs, "apply", str(spec), "--yes", "-o", "json")
    assert applied.exit_code == 0, applied.output
    events = [json.loads(line) for line in applied.stdout.splitlines() if line.startswith("{")]
    apply_changes = next(e for e in events if e["event"] == "plan")["changes"]
    assert [(c["vm"], c["action"], c["target"]) for c in plan_changes] == [
        ("redis-02", "add_nvdimm", "NVDIMM 1"), ("redis-02", "power_on", "redis-02")]
    assert plan_changes == apply_changes
    power_on = plan_changes[-1]
    assert power_on["payload"] == {"type": "power_on", "owed": True, "wait_tools": False,
                                   "tools_timeout_s": 0}
