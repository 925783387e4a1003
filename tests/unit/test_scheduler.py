"""The scheduler: per-VM jobs, limits, LPT order, failure policy, lower bound."""

from __future__ import annotations

import pytest

from benchmarks.makespan import makespan_lower_bound
from pmemctl.apply.scheduler import (
    Limits,
    Outcome,
    Scheduler,
    StepKind,
    build_jobs,
)
from pmemctl.plan.model import Action, Change, Plan
from pmemctl.plan.payloads import (
    AddNvdimm,
    CreateDisk,
    DatastoreRef,
    MigrateDisk,
    Payload,
    PolicyRef,
    PowerOff,
    PowerOn,
    UpgradeHardware,
)


def _payload(action: Action, size_mb: int) -> Payload:
    if action is Action.POWER_OFF:
        return PowerOff("guest", 300)
    if action is Action.POWER_ON:
        return PowerOn()
    if action is Action.UPGRADE_HARDWARE:
        return UpgradeHardware(13, 14)
    if action is Action.ADD_NVDIMM:
        return AddNvdimm(1, size_mb, add_controller=True)
    if action is Action.CREATE_DISK:
        return CreateDisk("Hard disk 2", size_mb, DatastoreRef("PMemDS-esx-01", pmem=True))
    raise AssertionError(action)


def ch(vm: str, action: Action, target: str = "", *, size_mb: int = 1024,
       host: str = "esx-01", payload: Payload | None = None) -> Change:
    return Change(vm=vm, action=action, target=target or vm, before=None, after=None,
                  disruptive=False, reason="test", payload=payload or _payload(action, size_mb),
                  host=host)


def mig(vm: str, key: int, size_mb: int, *, host: str = "esx-01", src: str = "san-01",
        dst: str = "PMemDS-esx-01") -> Change:
    return ch(vm, Action.MIGRATE_DISK, f"Hard disk {key}", host=host, payload=MigrateDisk(
        key, size_mb, DatastoreRef(src), DatastoreRef(dst, pmem=True), PolicyRef("pmem")))


def test_steps_follow_action_order_and_group_reconfigure_and_migrate() -> None:
    plan = Plan(changes=(
        ch("a", Action.POWER_OFF), ch("a", Action.UPGRADE_HARDWARE),
        ch("a", Action.ADD_NVDIMM, "NVDIMM 1", size_mb=1024),
        ch("a", Action.CREATE_DISK, "Hard disk 2", size_mb=1024),
        mig("a", 1, 100), mig("a", 3, 50), ch("a", Action.POWER_ON),
    ))
    [job] = build_jobs(plan)
    assert [s.kind for s in job.steps] == [StepKind.POWER_OFF, StepKind.UPGRADE,
                                           StepKind.RECONFIGURE, StepKind.MIGRATE,
                                           StepKind.POWER_ON]
    assert len(job.steps[2].changes) == 2
    assert job.steps[3].size_mb == 150
    assert job.steps[3].datastores == ("PMemDS-esx-01", "san-01")


def test_steps_of_one_job_are_sequential() -> None:
    plan = Plan(changes=(ch("a", Action.POWER_OFF), mig("a", 1, 10), ch("a", Action.POWER_ON)))
    s = Scheduler.from_plan(plan)
    [first] = s.take_ready()
    assert first.kind is StepKind.POWER_OFF
    assert s.take_ready() == []
    s.finish(first, ok=True)
    [second] = s.take_ready()
    assert second.kind is StepKind.MIGRATE
    s.finish(second, ok=True)
    [third] = s.take_ready()
    s.finish(third, ok=True)
    assert s.finished
    assert s.counts() == {"done": 3}


def test_largest_migration_first() -> None:
    plan = Plan(changes=(mig("small", 1, 10), mig("big", 1, 1000), mig("mid", 1, 500)))
    s = Scheduler.from_plan(plan, Limits(total=1))
    assert [x.vm for x in s.take_ready()] == ["big"]


def test_per_host_limit_counts_migrations_only() -> None:
    plan = Plan(changes=(
        mig("a", 1, 10), mig("b", 1, 10), mig("c", 1, 10),
        ch("d", Action.ADD_NVDIMM, "NVDIMM 1", size_mb=1),
    ))
    s = Scheduler.from_plan(plan, Limits(total=8, per_host=2, per_datastore=8))
    started = s.take_ready()
    assert sorted(x.vm for x in started) == ["a", "b", "d"]
    s.finish(started[0], ok=True)
    assert [x.vm for x in s.take_ready()] == ["c"]


def test_per_datastore_limit_counts_source_and_destination() -> None:
    # Different hosts and destinations, one shared source: the source limit binds.
    plan = Plan(changes=tuple(
        mig(f"vm{i}", 1, 10, host=f"esx-{i}", dst=f"PMemDS-{i}") for i in range(5)))
    s = Scheduler.from_plan(plan, Limits(total=8, per_host=2, per_datastore=3))
    assert len(s.take_ready()) == 3


def test_total_limit() -> None:
    plan = Plan(changes=tuple(mig(f"vm{i}", 1, 10, host=f"h{i}", src=f"s{i}", dst=f"d{i}")
                              for i in range(10)))
    s = Scheduler.from_plan(plan, Limits(total=4))
    assert len(s.take_ready()) == 4
    assert s.take_ready() == []


def test_stop_on_failure_starts_nothing_new() -> None:
    plan = Plan(changes=(mig("a", 1, 100), mig("b", 1, 50, host="h2", src="s2", dst="d2"),
                         mig("c", 1, 10, host="h3", src="s3", dst="d3")))
    s = Scheduler.from_plan(plan, Limits(total=2))
    a, b = s.take_ready()
    s.finish(a, ok=False)
    assert s.take_ready() == []
    assert not s.finished  # b is still running: it is waited for
    s.finish(b, ok=True)
    assert s.finished
    assert s.counts() == {"failed": 1, "done": 1, "not_started": 1}


def test_continue_skips_the_failed_vm_but_still_powers_it_on() -> None:
    plan = Plan(changes=(
        ch("a", Action.POWER_OFF), ch("a", Action.ADD_NVDIMM, "NVDIMM 1", size_mb=1),
        mig("a", 1, 10), ch("a", Action.POWER_ON), mig("b", 1, 5, host="h2"),
    ))
    s = Scheduler.from_plan(plan, Limits(total=8), on_failure="continue")
    started = {x.vm: x for x in s.take_ready()}
    s.finish(started["a"], ok=True)      # power off done
    s.finish(started["b"], ok=True)
    [reconf] = s.take_ready()
    s.finish(reconf, ok=False)           # NVDIMM add fails
    [on] = s.take_ready()
    assert on.kind is StepKind.POWER_ON  # owed: pmemctl powered it off
    s.finish(on, ok=True)
    assert s.finished
    migrate = next(x for x in s.steps if x.vm == "a" and x.kind is StepKind.MIGRATE)
    assert migrate.outcome is Outcome.SKIPPED


def test_continue_without_power_off_skips_power_on() -> None:
    plan = Plan(changes=(mig("a", 1, 10), ch("a", Action.POWER_ON)))
    s = Scheduler.from_plan(plan, on_failure="continue")
    [m] = s.take_ready()
    s.finish(m, ok=False)
    assert s.take_ready() == []
    assert s.finished


def test_lower_bound_picks_the_binding_constraint() -> None:
    migs = [(f"vm{i}", f"h{i % 2}", ("src", f"dst{i % 2}"), 100) for i in range(8)]
    b = makespan_lower_bound(migs, copy_rate_mb_s=10, limits=Limits(total=8, per_host=2,
                                                                    per_datastore=8))
    # Each host: 400 MB / (2 × 10) = 20 s; src: 800 / 80 = 10 s; total 800/80 = 10 s.
    assert b.seconds == pytest.approx(20)
    assert b.binding.startswith("host")
    one = makespan_lower_bound([("big", "h", ("a", "b"), 1000)], 10, Limits())
    assert one.seconds == pytest.approx(100)  # the largest job alone


def test_lower_bound_counts_the_two_jobs_that_must_share_a_slot() -> None:
    # One host, 2 slots, three equal jobs: two must run back to back.
    migs = [(f"vm{i}", "h", (f"s{i}", f"d{i}"), 100) for i in range(3)]
    b = makespan_lower_bound(migs, 10, Limits())
    assert b.seconds == pytest.approx(20)  # not 150/(2·10) = 15
    assert b.binding == "host h (2 slots)"
