"""Power cycles: the down cap (parallel.down), waiting for VMware Tools, the spec's new options."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pmemctl.apply.executor import ExecOptions
from pmemctl.apply.run import exec_options
from pmemctl.apply.scheduler import Limits, Outcome, Scheduler, Step, StepKind
from pmemctl.errors import SpecError
from pmemctl.plan.model import Action, Plan
from pmemctl.plan.payloads import PowerOn
from pmemctl.plan.savefile import load_plan, save_plan
from pmemctl.spec.load import load_spec_text
from pmemctl.spec.model import OnFailure, Options, Parallel
from pmemctl.testing import FakeVSphere, Fault
from tests.unit import builders as b
from tests.unit.fakerun import execute, plan_of
from tests.unit.test_scheduler import ch, mig

pytestmark = pytest.mark.unit


def cycled(*vms: str, owed: tuple[str, ...] = ()) -> Plan:
    """Each VM: power off, add an NVDIMM, power on; ``owed`` VMs: only an owed power-on."""
    changes = []
    for vm in vms:
        changes += [ch(vm, Action.POWER_OFF), ch(vm, Action.ADD_NVDIMM, "NVDIMM 1"),
                    ch(vm, Action.POWER_ON)]
    for vm in owed:
        changes.append(ch(vm, Action.POWER_ON, payload=PowerOn(owed=True)))
    return Plan(changes=tuple(changes))


def drive(sched: Scheduler, fail: frozenset[tuple[str, StepKind]] = frozenset()
          ) -> list[tuple[str, str]]:
    """Run to the end, finishing the oldest running step each round; the (vm, kind) starts.

    After every round it checks that no more VMs are down than the cap allows.
    """
    started: list[tuple[str, str]] = []
    running: list[Step] = []
    while True:
        for s in sched.take_ready():
            started.append((s.vm, s.kind.value))
            running.append(s)
        if sched.limits.down is not None:
            assert sum(j.down for j in sched.jobs) <= sched.limits.down
        if sched.finished:
            return started
        assert running, "nothing runs and the scheduler is not finished"
        s = running.pop(0)
        sched.finish(s, ok=(s.vm, s.kind) not in fail)


def test_down_cap_one_takes_vms_down_one_at_a_time() -> None:
    sched = Scheduler.from_plan(cycled("a", "b", "c"), Limits(total=8, down=1))
    started = drive(sched)
    assert started == [("a", "power_off"), ("a", "reconfigure"), ("a", "power_on"),
                       ("b", "power_off"), ("b", "reconfigure"), ("b", "power_on"),
                       ("c", "power_off"), ("c", "reconfigure"), ("c", "power_on")]
    assert sched.counts() == {"done": 9}


def test_without_a_down_cap_total_alone_bounds_the_power_offs() -> None:
    sched = Scheduler.from_plan(cycled("a", "b", "c"), Limits(total=8))
    first = sched.take_ready()
    assert [(s.vm, s.kind) for s in first] == [(v, StepKind.POWER_OFF) for v in "abc"]


def test_down_cap_two_and_other_work_goes_on_meanwhile() -> None:
    plan = Plan(changes=(*cycled("a", "b", "c").changes, mig("m", 2001, 4096)))
    sched = Scheduler.from_plan(plan, Limits(total=8, down=2))
    first = {(s.vm, s.kind) for s in sched.take_ready()}
    # Two go down; the migration of a VM that stays up is not held back by the cap.
    assert first == {("a", StepKind.POWER_OFF), ("b", StepKind.POWER_OFF),
                     ("m", StepKind.MIGRATE)}
    started = drive(Scheduler.from_plan(plan, Limits(total=8, down=2)))
    assert [v for v, k in started if k == "power_off"] == ["a", "b", "c"]


def test_a_slot_is_given_back_only_when_the_power_on_is_done() -> None:
    sched = Scheduler.from_plan(cycled("a", "b"), Limits(down=1))
    (off,) = sched.take_ready()
    sched.finish(off, ok=True)
    (reconf,) = sched.take_ready()
    sched.finish(reconf, ok=True)
    (on,) = sched.take_ready()
    assert on.kind is StepKind.POWER_ON
    assert sched.take_ready() == []  # a is powered on, but its power-on (Tools) is not done
    sched.finish(on, ok=True)
    assert [(s.vm, s.kind) for s in sched.take_ready()] == [("b", StepKind.POWER_OFF)]


def test_an_owed_power_on_holds_a_slot_from_the_start() -> None:
    sched = Scheduler.from_plan(cycled("a", owed=("z",)), Limits(down=1))
    assert [(s.vm, s.kind) for s in sched.take_ready()] == [("z", StepKind.POWER_ON)]


def test_a_failed_power_off_gives_the_slot_back() -> None:
    sched = Scheduler.from_plan(cycled("a", "b"), Limits(down=1), on_failure=OnFailure.CONTINUE)
    started = drive(sched, fail=frozenset({("a", StepKind.POWER_OFF)}))
    assert ("b", "power_on") in started
    assert sched.counts() == {"failed": 1, "skipped": 2, "done": 3}


def test_a_failed_power_on_keeps_its_slot_and_the_rest_is_skipped_with_a_reason() -> None:
    sched = Scheduler.from_plan(cycled("a", "b", "c"), Limits(down=1),
                                on_failure=OnFailure.CONTINUE)
    started = drive(sched, fail=frozenset({("a", StepKind.POWER_ON)}))
    assert [v for v, k in started if k == "power_off"] == ["a"]  # b and c never go down
    assert sched.finished
    assert sched.counts() == {"done": 2, "failed": 1, "skipped": 6}
    assert sched.notes["b"] == (
        "not powered off: parallel.down is 1 and a still count as down (a power-on or its "
        "VMware Tools failed); bring them back, then run apply again")


# -- the executor on FakeVSphere: Tools after the power-on --------------------------------


def rolling(n: int, **vm: object) -> tuple[object, Plan]:
    inv = b.inventory(hosts=[b.host()], vms=[
        b.vm(f"redis-0{i}", hw=14, power="poweredOn", tools_running=True, **vm)  # type: ignore[arg-type]
        for i in range(1, n + 1)])
    spec = b.spec(b.entry(match="redis-*", nvdimms_gb=[16]), power_off=True, tools_timeout_s=60)
    return inv, plan_of(spec, inv)  # type: ignore[arg-type]


def journal(tmp_path: Path) -> list[dict[str, object]]:
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def down_windows(tmp_path: Path) -> dict[str, tuple[int, int]]:
    """Per VM: from its power-off intent to its power-on done, as journal record numbers
    (the records are in the order things happened; fake time leaves their clock alone)."""
    recs = journal(tmp_path)
    step_vm = {r["step"]: (r["vm"], r["kind"]) for r in recs if r["type"] == "intent"}
    start: dict[str, int] = {}
    end: dict[str, int] = {}
    for n, r in enumerate(recs):
        if r["type"] == "intent" and r["kind"] == "power_off":
            start[str(r["vm"])] = n
        if r["type"] == "done" and step_vm[r["step"]][1] == "power_on":
            end[str(step_vm[r["step"]][0])] = n
    return {vm: (start[vm], end[vm]) for vm in start}


def test_rolling_power_cycle_never_has_two_vms_down(tmp_path: Path) -> None:
    inv, plan = rolling(3)
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    result, _, _ = execute(vs, plan, inv, tmp_path,  # type: ignore[arg-type]
                           options=ExecOptions(limits=Limits(down=1)))
    assert result.ok
    windows = sorted(down_windows(tmp_path).values())
    assert len(windows) == 3
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start > end
    done_on = [r for r in journal(tmp_path) if r["type"] == "done" and "tools_s" in r]
    assert [r["tools_s"] for r in done_on] == [1.0, 1.0, 1.0]  # FakeVSphere.tools_boot_s
    assert all(v.tools_running for v in vs.inventory.vms.values())


def test_tools_that_never_come_up_fail_the_power_on_and_nothing_else_goes_down(
        tmp_path: Path) -> None:
    inv, plan = rolling(2)
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    vs.tools_boot_s = None  # the guest never starts its Tools
    result, _, _ = execute(vs, plan, inv, tmp_path,  # type: ignore[arg-type]
                           options=ExecOptions(limits=Limits(down=1),
                                               on_failure=OnFailure.CONTINUE))
    (failure,) = result.failures
    assert (failure.change.action, failure.fault) == (Action.POWER_ON, "ToolsTimeout")
    assert failure.message is not None and "did not report running within 60 s" in failure.message
    first = failure.change.vm
    other = next(v for v in vs.inventory.vms if v != first)
    assert vs.inventory.vms[first].power_state == "poweredOn"
    assert vs.inventory.vms[first].owed_power_on == ""  # it is on: the marker is cleared
    assert vs.inventory.vms[other].power_state == "poweredOn"  # never taken down
    assert f"power_off {other}" not in vs.calls and f"shutdown_guest {other}" not in vs.calls
    assert result.still_off == {}
    skipped = [r for r in result.results if r.outcome is Outcome.SKIPPED]
    assert {r.change.vm for r in skipped} == {other}
    assert all(r.message and "parallel.down is 1" in r.message for r in skipped)


def test_a_vm_without_tools_is_not_waited_for(tmp_path: Path) -> None:
    inv = b.inventory(hosts=[b.host()], vms=[
        b.vm("redis-01", hw=14, power="poweredOn", tools_running=False)])
    spec = b.spec(b.entry("redis-01", nvdimms_gb=[16]), power_off=True, hard_power_off=True)
    plan = plan_of(spec, inv)
    vs = FakeVSphere(inv)
    result, _, ev = execute(vs, plan, inv, tmp_path)
    assert result.ok
    assert not any("waiting for VMware Tools" in line for line in ev.lines)


def test_a_failed_power_on_task_is_not_waited_for(tmp_path: Path) -> None:
    inv, plan = rolling(1)
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    vs.fail("power_on", Fault("InsufficientResourcesFault", "Insufficient resources."))
    result, _, _ = execute(vs, plan, inv, tmp_path)  # type: ignore[arg-type]
    (failure,) = result.failures
    assert failure.fault == "InsufficientResourcesFault"
    assert list(result.still_off) == ["redis-01"]


# -- the spec ---------------------------------------------------------------------------

SPEC = """\
apiVersion: pmemctl/v1
options:
  {options}
vms: [{{name: a, nvdimms: [16GiB]}}]
"""


def load(options: str):  # type: ignore[no-untyped-def]
    return load_spec_text(SPEC.format(options=options), "spec.yaml").options


def errors(options: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(options)
    return [str(d) for d in info.value.diagnostics]


def test_spec_power_options() -> None:
    o = load("{hard_power_off: true, tools_timeout_s: 90, parallel: {down: 1}, "
             "upgrade_hardware: vmx-19}")
    assert (o.hard_power_off, o.tools_timeout_s, o.parallel.down) == (True, 90, 1)
    assert (o.upgrade_hardware, o.upgrade_hardware_to) == (True, 19)
    d = load("{}")
    assert (d.hard_power_off, d.tools_timeout_s, d.parallel.down) == (False, 300, None)
    assert (d.upgrade_hardware, d.upgrade_hardware_to) == (False, None)
    assert load("{upgrade_hardware: true}").upgrade_hardware_to is None


@pytest.mark.parametrize(("options", "message"), [
    ("{upgrade_hardware: vmx19}", "spec.yaml:3:22: options.upgrade_hardware: expected true, "
                                  "false or a hardware version such as 'vmx-19', got 'vmx19'"),
    ("{upgrade_hardware: vmx-13}", "spec.yaml:3:22: options.upgrade_hardware: vmx-13 is below "
                                   "vmx-14, the oldest hardware version that can have NVDIMMs"),
    ("{upgrade_hardware: vmx-190}", "spec.yaml:3:22: options.upgrade_hardware: expected true, "
                                    "false or a hardware version such as 'vmx-19', got "
                                    "'vmx-190'"),
    ("{parallel: {down: 0}}", "spec.yaml:3:21: options.parallel.down: expected a whole number "
                              "of at least 1, got 0"),
    ("{hard_power_off: yes}", "spec.yaml:3:20: options.hard_power_off: expected true or false, "
                              "got 'yes'; write true or false (YAML 1.2 tools read it as a "
                              "string)"),
])
def test_spec_power_options_errors(options: str, message: str) -> None:
    assert errors(options) == [message]


# -- saved plans ------------------------------------------------------------------------


def saved_plan(tmp_path: Path) -> Path:
    inv = b.inventory(hosts=[b.host()], vms=[b.vm("db-01", hw=14, power="poweredOn",
                                                  tools_running=True)])
    spec = b.spec(b.entry("db-01", nvdimms_gb=[16]), power_off=True)
    plan = plan_of(spec, inv)
    path = tmp_path / "plan.json"
    save_plan(path, plan, spec.options, inv, ["db-01"], "spec.yaml")
    return path


def test_a_plan_saved_before_the_power_options_still_loads_with_their_defaults(
        tmp_path: Path) -> None:
    path = saved_plan(tmp_path)
    data = json.loads(path.read_text())
    for key in ("hard_power_off", "tools_timeout_s", "upgrade_hardware_to"):
        del data["options"][key]
    del data["options"]["parallel"]["down"]
    path.write_text(json.dumps(data))
    options = load_plan(path).options
    assert (options.hard_power_off, options.tools_timeout_s, options.upgrade_hardware_to,
            options.parallel.down) == (False, 300, None, None)


@pytest.mark.parametrize("down", [0, "1", True])
def test_a_saved_plan_with_a_bad_down_is_refused(tmp_path: Path, down: object) -> None:
    path = saved_plan(tmp_path)
    data = json.loads(path.read_text())
    data["options"]["parallel"]["down"] = down
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError, match=r"options.parallel.down has the wrong type"):
        load_plan(path)


def test_max_down_flag_overrides_the_spec() -> None:
    spec_opts = Options(parallel=Parallel(down=3))
    assert exec_options(spec_opts).limits.down == 3
    assert exec_options(spec_opts, max_down=1).limits.down == 1
    assert exec_options(Options()).limits.down is None
