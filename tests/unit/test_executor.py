"""The executor on FakeVSphere: every action, failure policies, Ctrl-C, timeouts, sessions."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from pmemctl.apply.executor import ExecOptions, Executor, exec_context
from pmemctl.apply.journal import Journal, JournalWriteError, read_journal
from pmemctl.apply.scheduler import Limits, Outcome
from pmemctl.cli.views.apply import report_lines
from pmemctl.testing import FakeVSphere, Fault
from pmemctl.vsphere.api import VSphereFault
from tests.unit import builders as b
from tests.unit.fakerun import execute, plan_of, records

pytestmark = pytest.mark.unit

NO_PMEM = Fault("InsufficientResourcesFault", "Insufficient resources.",
                (("com.vmware.vim.vpxd.vmprov.insufficientPMem", "Not enough PMem on the host."),))


def redis_inv(**vm: object) -> object:
    args: dict[str, object] = {"hw": 13, "power": "poweredOn", "tools_running": True, **vm}
    return b.inventory(hosts=[b.host()], vms=[b.vm("redis-01", **args)])  # type: ignore[arg-type]


def test_upgrade_guest_shutdown_nvdimm_power_on(tmp_path: Path) -> None:
    inv = redis_inv()
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True,
                          upgrade_hardware=True), inv)
    vs = FakeVSphere(inv)
    result, state, ev = execute(vs, plan, inv, tmp_path)
    assert result.ok and result.summary() == {"not_started": 0, "done": 4, "failed": 0,
                                              "skipped": 0}
    assert vs.calls == ["pmem_policy_id", "watch", "mark redis-01 owed power-on",
                        "shutdown_guest redis-01",
                        "upgrade redis-01 vmx-14", "read_devices redis-01",
                        "reconfigure redis-01: add_nvdimm NVDIMM 1 16384 MB",
                        "read_devices redis-01", "power_on redis-01",
                        "clear redis-01 owed power-on"]
    assert vs.inventory.vms["redis-01"].owed_power_on == ""  # cleared after the power on
    assert ev.lines == [
        "redis-01: power_off redis-01: started: guest shutdown (timeout 300 s), then power off",
        "redis-01: power_off redis-01: done after 2.0s",
        "redis-01: upgrade_hardware redis-01: started (task-1)",
        "redis-01: upgrade_hardware redis-01: done after 1.0s (task-1)",
        "redis-01: add_nvdimm NVDIMM 1: started (task-2)",
        "redis-01: add_nvdimm NVDIMM 1: done after 2.0s (task-2)",
        "redis-01: power_on redis-01: started (task-3)",
        # The power-on task takes 1 s, the guest's Tools 1 s more (FakeVSphere.tools_boot_s).
        "redis-01: power_on redis-01: powered on; waiting for VMware Tools (timeout 300 s) "
        "(task-3)",
        "redis-01: power_on redis-01: done after 2.0s (task-3)",
    ]
    vm = vs.inventory.vms["redis-01"]
    assert (vm.hardware_version, vm.power_state, [n.size_mb for n in vm.nvdimms]) == \
        (14, "poweredOn", [16384])
    assert vm.tools_running
    assert next(s.created for s in state.steps if s.kind == "reconfigure")[0].key == 20000
    assert records(tmp_path).count("shutdown_requested") == 1
    assert records(tmp_path).count("powered_on") == 1
    assert result.elapsed_s == 7.0 and vs.clock.now == 1007.0


def test_second_run_has_nothing_to_do(tmp_path: Path) -> None:
    inv = redis_inv(hw=14, power="poweredOff")
    vs = FakeVSphere(inv)
    spec = b.spec(b.entry("redis-01", nvdimms_gb=[16]))
    execute(vs, plan_of(spec, inv), inv, tmp_path)
    assert plan_of(spec, vs.snapshot()).empty


def test_hard_power_off_without_tools(tmp_path: Path) -> None:
    inv = redis_inv(hw=14, tools_running=False)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True,
                          hard_power_off=True), inv)
    vs = FakeVSphere(inv)
    result, _, ev = execute(vs, plan, inv, tmp_path)
    assert result.ok
    assert "power_off redis-01" in vs.calls and "shutdown_guest redis-01" not in vs.calls
    assert ev.lines[0] == ("redis-01: power_off redis-01: started: hard power off "
                           "(no VMware Tools) (task-1)")


def test_a_vm_already_off_when_its_power_off_runs_counts_as_powered_off(tmp_path: Path) -> None:
    # After a kill: the killed run's guest shutdown lands between the resume's
    # snapshot (VM on) and its PowerOffVM_Task, which vCenter refuses with
    # InvalidPowerState(existingState=poweredOff). The goal holds: go on.
    inv = redis_inv(hw=14, tools_running=False)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True,
                          hard_power_off=True), inv)
    vs = FakeVSphere(redis_inv(hw=14, tools_running=False, power="poweredOff"))
    result, _, ev = execute(vs, plan, inv, tmp_path)
    assert result.ok, ev.lines
    assert vs.inventory.vms["redis-01"].power_state.value == "poweredOn"
    assert len(vs.inventory.vms["redis-01"].nvdimms) == 1
    assert "redis-01: power_off redis-01: done" in " ".join(ev.lines)


def test_a_power_off_refused_for_another_state_still_fails(tmp_path: Path) -> None:
    inv = redis_inv(hw=14, tools_running=False)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True,
                          hard_power_off=True), inv)
    vs = FakeVSphere(inv)
    vs.fail("power_off", Fault("InvalidPowerState", "suspended", existing_state="suspended"),
            when="submit")
    result, _, _ = execute(vs, plan, inv, tmp_path)
    assert result.count(Outcome.FAILED) == 1


def test_a_vm_found_on_at_its_power_on_still_has_its_tools_waited_for(tmp_path: Path) -> None:
    # InvalidPowerState(existingState=poweredOn) at the power-on: the goal holds, but
    # the step (and its parallel.down slot) ends only with VMware Tools running, as
    # after its own power-on. Here they never come up, so it ends in ToolsTimeout
    # instead of a "done" that would let the next VM of a rolling change go down.
    inv = redis_inv(hw=14)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True), inv)
    vs = FakeVSphere(inv)
    vs.fail("power_on", Fault("InvalidPowerState", "on", existing_state="poweredOn"),
            when="submit")
    result, _, ev = execute(vs, plan, inv, tmp_path)
    assert any("waiting for VMware Tools" in line for line in ev.lines), ev.lines
    assert not any(line.startswith("redis-01: power_on redis-01: done") for line in ev.lines)
    assert result.count(Outcome.FAILED) == 1


def test_guest_shutdown_refused_falls_back_to_a_power_off(tmp_path: Path) -> None:
    inv = redis_inv(hw=14)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True), inv)
    vs = FakeVSphere(inv)
    vs.fail("shutdown_guest", Fault("ToolsUnavailable"))
    result, _, _ = execute(vs, plan, inv, tmp_path)
    assert result.ok and vs.calls[2:5] == ["mark redis-01 owed power-on", "shutdown_guest redis-01",
                                        "power_off redis-01"]


def test_shutdown_timeout_powers_off_hard(tmp_path: Path) -> None:
    inv = redis_inv(hw=14)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True,
                          shutdown_timeout_s=30), inv)
    vs = FakeVSphere(inv)
    vs.shutdown_s = None  # the guest never shuts down
    result, _, ev = execute(vs, plan, inv, tmp_path)
    assert result.ok
    assert vs.calls[2:5] == ["mark redis-01 owed power-on", "shutdown_guest redis-01",
                                        "power_off redis-01"]
    assert ev.lines[:3] == [
        "redis-01: power_off redis-01: started: guest shutdown (timeout 30 s), then power off",
        "redis-01: power_off redis-01: guest shutdown timed out; powering off",
        "redis-01: power_off redis-01: done after 31.0s (task-1)",
    ]


def test_hard_power_off_after_timeout_refused(tmp_path: Path) -> None:
    inv = redis_inv(hw=14)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True,
                          shutdown_timeout_s=30), inv)
    vs = FakeVSphere(inv)
    vs.shutdown_s = None
    vs.fail("power_off", Fault("NoPermission", "Permission to perform this operation was denied."),
            when="submit")
    result, _, ev = execute(vs, plan, inv, tmp_path)
    assert result.count(Outcome.FAILED) == 1 and result.count(Outcome.PENDING) == 2
    assert ev.lines[2] == ("redis-01: power_off redis-01: FAILED: NoPermission: Permission to "
                           "perform this operation was denied. — the vCenter user lacks a "
                           "privilege for this call: see the fault's privilege")


def test_grow_then_remove_and_disks(tmp_path: Path) -> None:
    inv = b.inventory(hosts=[b.host()], vms=[b.vm("redis-01", nvdimms=[b.nvdimm(size_gb=8),
                                                                     b.nvdimm("NVDIMM 2")],
                                                   disks=[b.disk(), b.disk("Hard disk 2")])])
    spec = b.spec(b.entry("redis-01", nvdimms_gb=[16],
                          disks={"Hard disk 2": "san-01", "Hard disk 3": ("pmem", 8),
                                 "Hard disk 4": ("san-01", 4)}), allow_data_loss=True)
    plan = plan_of(spec, inv)
    vs = FakeVSphere(inv)
    result, state, _ = execute(vs, plan, inv, tmp_path)
    assert result.ok
    assert vs.calls[3] == ("reconfigure redis-01: remove_nvdimm NVDIMM 2, grow_nvdimm NVDIMM 1 "
                           "16384 MB, create_disk Hard disk 3 8192 MB, create_disk Hard disk 4 "
                           "4096 MB")
    vm = vs.inventory.vms["redis-01"]
    assert [(d.label, d.datastore, d.pmem) for d in vm.disks] == [
        ("Hard disk 1", "san-01", False), ("Hard disk 2", "san-01", False),
        ("Hard disk 3", "PMemDS-esx-01", True), ("Hard disk 4", "san-01", False)]
    created = state.steps[0].created
    assert [(c.kind, c.label, c.size_mb) for c in created] == [
        ("disk", "Hard disk 3", 8192), ("disk", "Hard disk 4", 4096)]


def test_migrate_onto_pmem_and_back(tmp_path: Path) -> None:
    inv = b.inventory(hosts=[b.host()], vms=[b.vm(disks=[b.disk(), b.disk("Hard disk 2")])])
    vs = FakeVSphere(inv)
    vs.disk_policy_ids = {("vm-db-01", 2001): ["gold"]}
    plan = plan_of(b.spec(b.entry("db-01", disks={"*": "pmem"})), inv)
    result, state, ev = execute(vs, plan, inv, tmp_path, options=ExecOptions(progress=True))
    assert result.ok and result.moved_mb == 2 * 40 * 1024
    assert vs.calls == ["pmem_policy_id", "disk_policies db-01:2001 db-01:2002", "watch",
                        "read_devices db-01",
                        "relocate db-01: Hard disk 1 -> PMemDS-esx-01, Hard disk 2 -> "
                        "PMemDS-esx-01"]
    assert [e.progress for e in ev.events if e.kind == "progress"] == [50]
    undo = state.steps[0].undo
    assert undo is not None and undo.disks[0].policy_ids == ("gold",)  # type: ignore[union-attr]
    back = plan_of(b.spec(b.entry("db-01", disks={"*": "san-01"})), vs.snapshot())
    vs.calls.clear()
    result, _, _ = execute(vs, back, vs.snapshot(), tmp_path / "back",
                           options=ExecOptions(onto_shape="locator"))
    assert result.ok and vs.calls[-1] == ("relocate db-01: Hard disk 1 -> san-01, Hard disk 2 "
                                          "-> san-01")
    assert all(not d.pmem for d in vs.inventory.vms["db-01"].disks)


def _three_migrations() -> object:
    return b.inventory(hosts=[b.host()],
                       vms=[b.vm(f"db-0{i}", disks=[b.disk()]) for i in (1, 2, 3)])


def test_stop_submits_nothing_after_a_failure(tmp_path: Path) -> None:
    inv = _three_migrations()
    plan = plan_of(b.spec(b.entry(match="db-*", disks={"*": "pmem"})), inv)  # type: ignore[arg-type]
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    vs.fail("relocate", NO_PMEM, vm="db-01")
    opts = ExecOptions(limits=Limits(total=1))
    result, state, ev = execute(vs, plan, inv, tmp_path, options=opts)  # type: ignore[arg-type]
    assert result.count(Outcome.FAILED) == 1 and result.count(Outcome.PENDING) == 2
    assert [c for c in vs.calls if c.startswith("relocate")] == [
        "relocate db-01: Hard disk 1 -> PMemDS-esx-01"]
    assert ev.lines[1] == (
        "db-01: migrate_disk Hard disk 1: FAILED: InsufficientResourcesFault: Insufficient "
        "resources. (Not enough PMem on the host. [com.vmware.vim.vpxd.vmprov.insufficientPMem])"
        " — the host has too little free PMem: free some (remove or shrink NVDIMMs, move "
        "vPMemDisks off PMem) or ask for less (task-1)")
    failed = [s for s in state.steps if s.outcome == "failed"]
    assert failed[0].fault == "InsufficientResourcesFault"
    assert report_lines(result)[:2] == [
        "Apply failed: 0 done, 1 failed, 2 not started.",
        "  db-01: migrate_disk Hard disk 1: InsufficientResourcesFault: Insufficient resources. "
        "(Not enough PMem on the host. [com.vmware.vim.vpxd.vmprov.insufficientPMem]) — the host "
        "has too little free PMem: free some (remove or shrink NVDIMMs, move vPMemDisks off "
        "PMem) or ask for less (task-1)"]


def test_continue_goes_on_with_other_vms(tmp_path: Path) -> None:
    inv = _three_migrations()
    plan = plan_of(b.spec(b.entry(match="db-*", disks={"*": "pmem"})), inv)  # type: ignore[arg-type]
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    vs.fail("relocate", NO_PMEM, vm="db-02", when="submit")
    result, _, _ = execute(vs, plan, inv, tmp_path, options=ExecOptions(on_failure="continue"))  # type: ignore[arg-type]
    assert result.count(Outcome.DONE) == 2 and result.count(Outcome.FAILED) == 1
    assert result.failures[0].task is None and result.failures[0].change.vm == "db-02"


def test_continue_powers_the_failed_vm_back_on(tmp_path: Path) -> None:
    inv = redis_inv(hw=14)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True,
                          on_failure="continue"), inv)
    vs = FakeVSphere(inv)
    vs.fail("reconfigure", NO_PMEM)
    result, _, _ev = execute(vs, plan, inv, tmp_path, options=ExecOptions(on_failure="continue"))
    assert vs.calls[-2:] == ["power_on redis-01", "clear redis-01 owed power-on"]
    assert vs.inventory.vms["redis-01"].power_state == "poweredOn"
    assert [r.outcome for r in result.results] == [Outcome.DONE, Outcome.FAILED, Outcome.DONE]


def test_stop_leaves_it_off(tmp_path: Path) -> None:
    inv = redis_inv(hw=14)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True), inv)
    vs = FakeVSphere(inv)
    vs.fail("reconfigure", NO_PMEM)
    result, _, _ev = execute(vs, plan, inv, tmp_path)
    assert vs.inventory.vms["redis-01"].power_state == "poweredOff"
    assert [r.outcome for r in result.results] == [Outcome.DONE, Outcome.FAILED, Outcome.PENDING]
    assert report_lines(result)[-2:] == [
        "  redis-01: done: power_off redis-01; not done: add_nvdimm NVDIMM 1 (failed), "
        "power_on redis-01 (not started)",
        "  redis-01: STILL POWERED OFF: its own add_nvdimm failed (InsufficientResourcesFault); "
        "fix that and run apply again, or power it on by hand"]
    assert result.still_off == {"redis-01": "its own add_nvdimm failed "
                                "(InsufficientResourcesFault); fix that and run apply again, or "
                                "power it on by hand"}
    # The marker stays: any later run, whatever its journal, powers it on.
    assert vs.inventory.vms["redis-01"].owed_power_on


def test_stop_powers_back_on_the_vms_whose_own_work_did_not_fail(tmp_path: Path) -> None:
    # redis-01 is powered off hard (no Tools) and its reconfigure fails at once,
    # stopping the run while redis-02's guest shutdown is still under way. When
    # that shutdown completes, redis-02's reconfigure is new work (skipped) but
    # its power-on is owed: it must not stay off for a failure not its own.
    inv = b.inventory(hosts=[b.host()], vms=[
        b.vm("redis-01", hw=14, power="poweredOn", tools_running=False),
        b.vm("redis-02", hw=14, power="poweredOn", tools_running=True)])
    spec = b.spec(b.entry("redis-01", nvdimms_gb=[16]), b.entry("redis-02", nvdimms_gb=[16]),
                  power_off=True, hard_power_off=True)
    plan = plan_of(spec, inv)
    vs = FakeVSphere(inv)
    vs.shutdown_s = 10.0
    vs.fail("reconfigure", NO_PMEM, vm="redis-01", when="submit")
    result, _, _ = execute(vs, plan, inv, tmp_path)
    off, on = vs.inventory.vms["redis-01"], vs.inventory.vms["redis-02"]
    assert off.power_state == "poweredOff" and off.owed_power_on  # its own work failed
    assert on.power_state == "poweredOn" and on.owed_power_on == "" and not on.nvdimms
    assert not any(c.startswith("reconfigure redis-02") for c in vs.calls)  # no new work
    assert vs.calls.count("power_on redis-02") == 1
    assert list(result.still_off) == ["redis-01"]
    outcomes = {(r.change.vm, r.change.action.value): r.outcome for r in result.results}
    assert outcomes[("redis-02", "add_nvdimm")] is Outcome.SKIPPED
    assert outcomes[("redis-02", "power_on")] is Outcome.DONE


def test_already_upgraded_counts_as_done(tmp_path: Path) -> None:
    inv = redis_inv(power="poweredOff")
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), upgrade_hardware=True), inv)
    vs = FakeVSphere(inv)
    vs._put(vs.inventory.vms["redis-01"].__class__(**{**vs.inventory.vms["redis-01"].__dict__,
                                                       "hardware_version": 15}))
    result, _, _ = execute(vs, plan, inv, tmp_path)
    assert result.ok
    vs2 = FakeVSphere(inv)
    vs2.fail("upgrade", Fault("AlreadyUpgraded"), when="submit")
    assert execute(vs2, plan, inv, tmp_path / "again")[0].ok


def test_a_device_gone_fails_the_step_without_a_call(tmp_path: Path) -> None:
    inv = b.inventory(hosts=[b.host()], vms=[b.vm("redis-01", nvdimms=[b.nvdimm(size_gb=8)])])
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16])), inv)
    vs = FakeVSphere(inv)
    vs._put(vs.inventory.vms["redis-01"].__class__(**{**vs.inventory.vms["redis-01"].__dict__,
                                                       "nvdimms": ()}))
    _result, _, ev = execute(vs, plan, inv, tmp_path)
    assert not any(c.startswith("reconfigure") for c in vs.calls)
    assert ev.lines == ["redis-01: grow_nvdimm NVDIMM 1: FAILED: InventoryError: redis-01: "
                        "NVDIMM 1 (device key 8001) is gone; run plan again"]


def test_vm_not_in_inventory(tmp_path: Path) -> None:
    inv = redis_inv(hw=14, power="poweredOff")
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16])), inv)
    empty = b.inventory(hosts=[b.host()])
    _result, _, ev = execute(FakeVSphere(inv), plan, empty, tmp_path)
    assert ev.lines == ["redis-01: add_nvdimm NVDIMM 1: FAILED: PmemctlError: VM redis-01 is "
                        "not in the inventory"]


def test_ctrl_c_once_waits_twice_leaves_tasks(tmp_path: Path) -> None:
    inv = _three_migrations()
    plan = plan_of(b.spec(b.entry(match="db-*", disks={"*": "pmem"})), inv)  # type: ignore[arg-type]
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    ex: list[Executor] = []
    vs.at(1003.0, lambda: ex[0].interrupt())  # noqa: PLW0108 -- ex is filled later
    result, _, ev = execute(vs, plan, inv, tmp_path, options=ExecOptions(limits=Limits(total=2)),  # type: ignore[arg-type]
                                executor=ex)
    assert result.interrupted and result.count(Outcome.DONE) == 2 and \
        result.count(Outcome.PENDING) == 1
    assert ("Stopping: no new tasks; waiting for running tasks (2 task(s) still running). "
            "Press Ctrl-C again to stop waiting.") in ev.lines
    assert records(tmp_path)[-1] == "interrupted"

    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    ex.clear()
    vs.at(1003.0, lambda: ex[0].interrupt())  # noqa: PLW0108 -- ex is filled later
    vs.at(1004.0, lambda: ex[0].interrupt())  # noqa: PLW0108 -- ex is filled later
    result, _state, _ = execute(vs, plan, inv, tmp_path / "again", options=ExecOptions(limits=Limits(total=2)),  # type: ignore[arg-type]
                               executor=ex)
    assert result.left_running == ["task-1", "task-2"]
    assert report_lines(result)[-1] == ("  Still running on vCenter (not cancelled): task-1, "
                                        "task-2")


def test_relogin_after_session_ends_before_a_submit(tmp_path: Path) -> None:
    inv = _three_migrations()
    plan = plan_of(b.spec(b.entry(match="db-*", disks={"*": "pmem"})), inv)  # type: ignore[arg-type]
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    vs.at(1010.0, vs.expire_session)
    with pytest.raises(VSphereFault, match="NotAuthenticated"):  # no relogin hook: it ends the run
        execute(vs, plan, inv, tmp_path, options=ExecOptions(limits=Limits(total=1)))  # type: ignore[arg-type]
    assert vs.relogins == 0


def test_relogin(tmp_path: Path) -> None:
    from pmemctl.apply.executor import exec_context
    from pmemctl.apply.journal import Journal
    for during_wait in (False, True):
        inv = _three_migrations()
        plan = plan_of(b.spec(b.entry(match="db-*", disks={"*": "pmem"})), inv)  # type: ignore[arg-type]
        vs = FakeVSphere(inv)  # type: ignore[arg-type]
        vs.at(1005.0, lambda vs=vs, d=during_wait: vs.expire_session(during_wait=d))  # type: ignore[misc]
        path = tmp_path / f"j{during_wait}.jsonl"
        with Journal(path, run_id="r1") as j:
            ctx = exec_context(vs, plan, inv)  # type: ignore[arg-type]
            ctx.relogin, ctx.check_session = vs.relogin, vs.ensure_session
            from tests.unit.fakerun import Events
            ev = Events()
            result = Executor(ctx, plan, ExecOptions(limits=Limits(total=1)), j, ev).run()
        assert result.ok and vs.relogins == 1
        assert "Warning: the vCenter session had ended; logged in again" in ev.lines
        assert "watch (reopened)" in vs.calls
        assert '"type": "relogin"' in path.read_text()


def test_relogin_during_a_submit(tmp_path: Path) -> None:
    from pmemctl.apply.executor import exec_context
    from pmemctl.apply.journal import Journal
    inv = redis_inv(hw=14, power="poweredOff")
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16])), inv)
    vs = FakeVSphere(inv)
    vs.expire_session()
    with Journal(tmp_path / "j.jsonl", run_id="r1") as j:
        ctx = exec_context(FakeVSphere(inv), plan, inv)
        ctx.vsphere = vs
        ctx.relogin = vs.relogin
        result = Executor(ctx, plan, ExecOptions(), j).run()
    assert result.ok and vs.calls[:4] == ["watch", "read_devices redis-01", "relogin",
                                          "watch (reopened)"]


def test_json_event_lines(tmp_path: Path) -> None:
    inv = redis_inv(hw=14, power="poweredOff")
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16])), inv)
    _, _, ev = execute(FakeVSphere(inv), plan, inv, tmp_path, options=ExecOptions(progress=False))
    assert ev.json == [
        {"event": "started", "vm": "redis-01", "action": "add_nvdimm", "target": "NVDIMM 1",
         "task": "task-1", "time": 1000.0},
        {"event": "done", "vm": "redis-01", "action": "add_nvdimm", "target": "NVDIMM 1",
         "task": "task-1", "elapsed_s": 2.0, "time": 1002.0},
    ]


def test_pbm_down_falls_back_with_warnings(tmp_path: Path) -> None:
    from pmemctl.apply.executor import exec_context
    inv = b.inventory(hosts=[b.host()], vms=[b.vm(disks=[b.disk()])])
    plan = plan_of(b.spec(b.entry("db-01", disks={"*": "pmem"})), inv)
    vs = FakeVSphere(inv)
    vs.pbm_fault = Fault("ServiceUnavailable", "PBM is down")
    ctx = exec_context(vs, plan, inv)
    assert ctx.warnings == [
        "PBM (storage policies) did not answer (ServiceUnavailable); using the fixed PMem "
        f"policy id {inv.pmem_policy_id}",
        "PBM did not report the disks' current storage policies; a rollback will give disks it "
        "moves back the target datastore's default policy"]


class FullDiskJournal(Journal):
    """A journal whose file system fills up at the ``fail_at``-th record of type ``kind``."""

    def __init__(self, path: Path, kind: str, fail_at: int = 1) -> None:
        super().__init__(path, run_id="r1")
        self.kind, self.left = kind, fail_at

    def write(self, type_: str, **fields: Any) -> dict[str, Any]:
        if type_ == self.kind:
            self.left -= 1
            if self.left == 0:
                raise JournalWriteError(
                    f"cannot write to journal {self.path}: No space left on device",
                    path=self.path, record_type=type_, errno_=errno.ENOSPC)
        return super().write(type_, **fields)


def test_a_full_disk_stops_new_work_and_powers_the_vm_back_on(tmp_path: Path) -> None:
    # The VM is shut down; then the journal cannot record the reconfigure's intent.
    # Nothing more may start (it could not be journaled), and the VM must not stay off.
    inv = redis_inv(hw=14)
    plan = plan_of(b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True), inv)
    vs = FakeVSphere(inv)
    with FullDiskJournal(tmp_path / "j.jsonl", "intent", fail_at=2) as j:
        j.write("run_start", command="apply")
        ex = Executor(exec_context(vs, plan, inv), plan, ExecOptions(), j)
        with pytest.raises(JournalWriteError) as e:
            ex.run()
    assert e.value.powered_on == ("redis-01",) and e.value.still_off == ()
    assert str(e.value).endswith("No space left on device; powered back on: redis-01")
    assert not any(c.startswith("reconfigure") for c in vs.calls)  # no new work
    assert vs.calls[-2:] == ["power_on redis-01", "clear redis-01 owed power-on"]
    assert vs.inventory.vms["redis-01"].power_state == "poweredOn"
    # The journal is whole up to the last record written, so the next run resumes.
    assert read_journal(tmp_path / "j.jsonl").steps[0].outcome == "done"
