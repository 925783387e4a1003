"""Kill-and-resume, tasks unknown to the journal, and Ctrl-C, on pmemsim."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pmemctl.plan.model import Action, Change
from pmemctl.plan.payloads import DatastoreRef, MigrateDisk, PolicyRef
from pmemctl.vsphere import actions, calls
from pmemctl.vsphere.session import connect
from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
LEGACY = """
    vms:
      - match: {name: "legacy-sql-*"}
        disks: {"*": pmem}
"""
# 180 GiB at 90 GiB/s: legacy-sql-01 and -02 take ~2 s, legacy-sql-03 ~0.7 s.
SLOW = ("--copy-rate", "90GiB/s")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    return {"PMEMCTL_JOURNAL_DIR": str(tmp_path / "journals")}


def wait_for_record(tmp_path: Path, kind: str, count: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list((tmp_path / "journals").glob("*.jsonl"))
        if files:
            text = files[0].read_text()
            if text.count(f'"type": "{kind}"') >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"no {kind} record within {timeout}s")


def all_on_pmem(sim: simproc.PmemSim) -> bool:
    inv = k.estate(sim)
    return all(d.pmem for n, vm in inv.vms.items() if n.startswith("legacy-sql-")
               for d in vm.disks)


def test_sigkill_mid_apply_then_resume_converges(make_sim: MakeSim, tmp_path: Path,
                                                 env: dict[str, str]) -> None:
    sim = make_sim(*SLOW)
    spec = k.spec(tmp_path, LEGACY)
    proc = k.spawn(sim, "apply", str(spec), "--yes", "--parallel", "2", env=env)
    wait_for_record(tmp_path, "submitted", 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    state = k.journal(tmp_path)
    assert len(state.pending) == 2  # two relocations still running on the sim
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "still running from an earlier run; waiting, not re-issuing" in r.output
    assert all_on_pmem(sim)
    # One RelocateVM_Task per VM in total: the resumed run re-issued nothing.
    assert sim.stats()["RelocateVM_Task"] == 3
    state = k.journal(tmp_path)
    assert state.pending == [] and len(state.runs) == 2
    # And a third run has nothing to do.
    r = k.run(sim, "apply", str(spec), "--yes")
    assert "No changes. The estate matches the spec." in r.output


def test_task_unknown_to_the_journal_is_waited_for(make_sim: MakeSim, tmp_path: Path,
                                                   env: dict[str, str]) -> None:
    # As if pmemctl died between the SOAP submit and journaling the task id.
    sim = make_sim(*SLOW)
    inv = k.estate(sim)
    vm = inv.vms["legacy-sql-01"]
    pmem = inv.host_named("esx-01").pmem_datastore
    assert pmem
    with connect(k.settings_for(sim)) as conn:
        stub = conn.content.propertyCollector._stub
        changes = [Change(vm.name, Action.MIGRATE_DISK, d.label, None, None, False, "",
                          MigrateDisk(d.key, d.size_mb, DatastoreRef(d.datastore, d.datastore_moid),
                                      DatastoreRef(pmem, pmem=True), PolicyRef("pmem")))
                   for d in vm.disks]
        devices = calls.fetch_devices(conn.content, [vm.moid])[vm.moid]
        spec_obj: Any = actions.relocate_spec(changes, devices, inv.pmem_policy_id,
                                              stub=stub)
        calls.submit_relocate(actions.vm_ref(stub, vm.moid), spec_obj)
    spec = k.spec(tmp_path, LEGACY)
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "waiting for task-" in r.output
    assert all_on_pmem(sim)
    assert sim.stats()["RelocateVM_Task"] == 3  # legacy-sql-01 was not moved twice


def test_ctrl_c_waits_for_running_tasks_and_exits_130(make_sim: MakeSim, tmp_path: Path,
                                                      env: dict[str, str]) -> None:
    sim = make_sim(*SLOW)
    spec = k.spec(tmp_path, LEGACY)
    proc = k.spawn(sim, "apply", str(spec), "--yes", "--parallel", "1", env=env)
    wait_for_record(tmp_path, "submitted")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Stopping: no new tasks" in out
    assert "Apply interrupted: 2 done, 0 failed, 3 not started." in out
    recs = k.records(k.journal_file(tmp_path))
    assert recs[-1]["type"] == "interrupted" and recs[-1]["running"] == []
    assert k.journal(tmp_path).pending == []  # the running task was waited for
    assert sim.stats()["RelocateVM_Task"] == 1
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0 and all_on_pmem(sim)


def test_second_ctrl_c_stops_waiting_and_reports_tasks(make_sim: MakeSim, tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    sim = make_sim(*SLOW)
    spec = k.spec(tmp_path, LEGACY)
    proc = k.spawn(sim, "apply", str(spec), "--yes", "--parallel", "1", env=env)
    wait_for_record(tmp_path, "submitted")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Still running on vCenter (not cancelled): task-" in out
    recs = k.records(k.journal_file(tmp_path))
    assert recs[-1]["type"] == "interrupted" and recs[-1]["running"]
    # The next run waits for that task instead of issuing it again.
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert sim.stats()["RelocateVM_Task"] == 3


