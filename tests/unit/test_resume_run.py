"""Resume (settling a killed run's tasks) and ApplyRun/RollbackRun on FakeVSphere."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pmemctl.apply import resume
from pmemctl.apply.journal import Journal, read_journal
from pmemctl.apply.resume import ResumeTimeout, settle_journal, settle_vms
from pmemctl.apply.run import ApplyRun, RollbackRun, exec_options, load_rollback, load_source
from pmemctl.errors import StalePlanError
from pmemctl.testing import FakeVSphere, Fault
from tests.unit import builders as b
from tests.unit.fakerun import Events

pytestmark = pytest.mark.unit

SPEC = """\
apiVersion: pmemctl/v1
vms:
  - name: db-01
    disks: {"*": pmem}
"""


def _inv() -> object:
    return b.inventory(hosts=[b.host()], vms=[b.vm(disks=[b.disk()]), b.vm("db-02")])


def _killed_journal(path: Path, tasks: list[str]) -> None:
    with Journal(path, run_id="r0") as j:
        j.write("run_start", command="apply")
        for t in tasks:
            sid = j.next_step_id()
            j.write("intent", step=sid, vm="db-01", kind="migrate", changes=[], undo={})
            j.write("submitted", step=sid, task=t)


def test_settle_journal_waits_never_reissues(tmp_path: Path) -> None:
    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    running = vs.start_task("db-01", duration=5)
    failing = vs.start_task("db-01", duration=1, fault=Fault("InvalidState", "busy"))
    path = tmp_path / "j.jsonl"
    _killed_journal(path, [running, failing, "task-99"])
    ev = Events()
    with Journal(path, run_id="r1") as j:
        out = settle_journal(vs, j, read_journal(path), ev)
    assert out.anything and out.gone == ["task-99"] and out.waited == ["task-1", "task-2"]
    assert out.finished == {"task-1": "success", "task-2": "error"}
    assert ev.lines == [
        "db-01: waiting for task-1: still running from an earlier run; waiting, not re-issuing",
        "db-01: waiting for task-2: still running from an earlier run; waiting, not re-issuing"]
    assert vs.calls == ["task_states task-1 task-2 task-99", "watch"]
    state = read_journal(path)
    assert state.pending == [] and [s.outcome for s in state.steps] == ["done", "failed",
                                                                        "unknown"]
    assert state.steps[1].fault == "InvalidState"


def test_settle_vms_waits_for_tasks_the_journal_never_heard_of() -> None:
    inv = _inv()
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    assert settle_vms(vs, inv, ["db-01"]) == []  # type: ignore[arg-type]
    tid = vs.start_task("db-01", duration=3)
    assert settle_vms(vs, inv, ["db-01", "db-02"]) == [tid]  # type: ignore[arg-type]
    assert vs.tasks[tid].state == "success" and vs.clock.now == 1003.0


def test_a_resume_wait_has_a_deadline_and_says_what_it_waited_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume, "RESUME_WAIT_S", 90.0)
    inv = _inv()
    vs = FakeVSphere(inv)  # type: ignore[arg-type]
    tid = vs.start_task("db-01", duration=10_000)
    with pytest.raises(ResumeTimeout, match=rf"waited 90 s .*{tid}.*Nothing was issued again"):
        settle_vms(vs, inv, ["db-01"])  # type: ignore[arg-type]
    assert 1090.0 <= vs.clock.now < 1092.0  # it gave up at the deadline, not later
    # It also read the task directly (every RECHECK_S), not only through the watcher.
    assert vs.calls.count(f"task_states {tid}") == 3  # at 30, 60 and 90 s


def _source(tmp_path: Path, text: str = SPEC) -> object:
    p = tmp_path / "spec.yaml"
    p.write_text(textwrap.dedent(text))
    return load_source(p)


def test_apply_run_prepares_and_executes(tmp_path: Path) -> None:
    vs = FakeVSphere(_inv(), warnings=["vCenter 9.0: PMem APIs are deprecated"])  # type: ignore[arg-type]
    src = _source(tmp_path)
    journal = tmp_path / "j.jsonl"
    with ApplyRun(vs, src, exec_options(src.options), journal) as run:  # type: ignore[arg-type]
        plan = run.prepare(Events())
        assert [(c.vm, c.action.value) for c in plan.changes] == [("db-01", "migrate_disk")]
        assert plan.warnings[0] == "vCenter 9.0: PMem APIs are deprecated"
        result = run.execute(Events())
    assert result.ok and vs.calls[:3] == ["snapshot", "running_vm_tasks db-01",
                                          "pmem_policy_id"]
    state = read_journal(journal)
    assert [r.vcenter for r in state.runs] == ["vc.fake"] and state.pending == []
    # The second run finds nothing to do and leaves the journal alone.
    with ApplyRun(vs, src, exec_options(src.options), journal) as run:  # type: ignore[arg-type]
        assert run.prepare(Events()).empty
    assert len(read_journal(journal).runs) == 1


def test_apply_run_resumes_a_killed_run(tmp_path: Path) -> None:
    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    journal = tmp_path / "j.jsonl"
    _killed_journal(journal, [vs.start_task("db-01", duration=4)])
    src = _source(tmp_path)
    ev = Events()
    with ApplyRun(vs, src, exec_options(src.options), journal) as run:  # type: ignore[arg-type]
        run.prepare(ev)
    assert ev.lines == ["db-01: waiting for task-1: still running from an earlier run; "
                        "waiting, not re-issuing"]
    assert read_journal(journal).pending == []


def test_after_a_long_prompt_the_session_is_renewed_and_the_plan_checked(tmp_path: Path) -> None:
    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    src = _source(tmp_path)
    with ApplyRun(vs, src, exec_options(src.options), tmp_path / "j.jsonl") as run:  # type: ignore[arg-type]
        run.prepare(Events())
        vs.clock.advance(40 * 60)
        vs.expire_session()
        assert run.execute(Events()).ok
    assert vs.relogins == 1 and vs.calls.count("snapshot") == 2


def test_after_a_long_prompt_a_changed_estate_stops_the_run(tmp_path: Path) -> None:
    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    src = _source(tmp_path)
    with ApplyRun(vs, src, exec_options(src.options), tmp_path / "j.jsonl") as run:  # type: ignore[arg-type]
        run.prepare(Events())
        vm = vs.inventory.vms["db-01"]
        vs.inventory.vms["db-01"] = type(vm)(**{**vm.__dict__, "disks": (
            type(vm.disks[0])(**{**vm.disks[0].__dict__, "datastore": "PMemDS-esx-01",
                                 "pmem": True}),)})
        vs.clock.advance(10 * 60)
        with pytest.raises(StalePlanError) as e:
            run.execute(Events())
    assert str(e.value) == (
        "the estate changed in the 10 min the plan waited for confirmation: no longer needed: "
        "db-01 migrate_disk Hard disk 1. Nothing was changed; run apply again to review the "
        "new plan")
    assert not any(c.startswith("relocate") for c in vs.calls)


def test_rollback_moves_the_disk_back(tmp_path: Path) -> None:
    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    vs.disk_policy_ids = {("vm-db-01", 2001): ["gold"]}
    src = _source(tmp_path)
    journal = tmp_path / "j.jsonl"
    with ApplyRun(vs, src, exec_options(src.options), journal) as run:  # type: ignore[arg-type]
        run.prepare(Events())
        run.execute(Events())
    assert vs.inventory.vms["db-01"].disks[0].pmem
    rb = RollbackRun(vs, load_rollback(journal))  # type: ignore[arg-type]
    plan = rb.prepare(Events())
    assert [(c.vm, c.action.value, c.after) for c in plan.plan.changes] == [
        ("db-01", "migrate_disk", "san-01")]
    vs.calls.clear()
    assert rb.execute(Events()).ok
    assert vs.calls[-1] == "relocate db-01: Hard disk 1 -> san-01"
    assert not vs.inventory.vms["db-01"].disks[0].pmem
    assert rb.journal_path is not None and rb.journal_path.name.startswith("j.rollback-")
    # Rolled back: a second rollback has nothing left to do.
    assert RollbackRun(vs, load_rollback(journal)).prepare(Events()).empty  # type: ignore[arg-type]


def test_rollback_refuses_a_journal_of_another_vcenter(tmp_path: Path) -> None:
    from dataclasses import replace

    from pmemctl.errors import UsageError
    from pmemctl.vsphere.session import ConnectionSettings

    inv = _inv()
    a = FakeVSphere(inv, about=replace(inv.about, instance_uuid="uuid-A"))  # type: ignore[arg-type, attr-defined]
    src = _source(tmp_path)
    journal = tmp_path / "j.jsonl"
    with ApplyRun(a, src, exec_options(src.options), journal) as run:  # type: ignore[arg-type]
        run.prepare(Events())
        assert run.execute(Events()).ok
    start = read_journal(journal).runs[0]
    assert (start.vcenter, start.vcenter_port, start.instance_uuid) == ("vc.fake", 443, "uuid-A")
    # Same host name and port (a rebuilt appliance, a forward), another instance.
    b_same_name = FakeVSphere(a.inventory, about=replace(inv.about, instance_uuid="uuid-B"))  # type: ignore[attr-defined]
    with pytest.raises(UsageError) as e:
        RollbackRun(b_same_name, load_rollback(journal))  # type: ignore[arg-type]
    assert str(e.value) == (
        f"journal {journal} was written against another vCenter: instance UUID uuid-A "
        "(connected: uuid-B) (run " + start.run + "). Nothing was changed; connect to the "
        "vCenter the journal names (--url/--server)")
    # The same instance reached on another port (a proxy, a load balancer) is the same
    # vCenter; without an instance UUID on both sides, host and port decide.
    other_port = FakeVSphere(a.inventory, about=a.about, settings=ConnectionSettings(
        host="vc.fake", port=8443, user="admin", password=""))
    assert RollbackRun(other_port, load_rollback(journal)).prepare(Events()).plan.changes  # type: ignore[arg-type]
    no_uuid = FakeVSphere(a.inventory, about=replace(inv.about, instance_uuid=""),  # type: ignore[attr-defined]
                          settings=ConnectionSettings(host="vc.fake", port=8443, user="admin",
                                                      password=""))
    with pytest.raises(UsageError, match="port 443 \\(connected: 8443\\)"):
        RollbackRun(no_uuid, load_rollback(journal))  # type: ignore[arg-type]
    assert not any(c.startswith("relocate") for c in b_same_name.calls + no_uuid.calls)
    # The vCenter the journal names is accepted.
    assert RollbackRun(a, load_rollback(journal)).prepare(Events()).plan.changes  # type: ignore[arg-type]


def _killed_step(path: Path, task: str, *, vm_moid: str | None = "vm-db-01",
                 description_id: str | None = "VirtualMachine.relocate",
                 queue_time: str | None = None) -> None:
    with Journal(path, run_id="r0") as j:
        j.write("run_start", command="apply")
        sid = j.next_step_id()
        j.write("intent", step=sid, vm="db-01", kind="migrate", changes=[], undo={})
        j.write("submitted", step=sid, task=task, vm_moid=vm_moid, description_id=description_id)
        if queue_time is not None:
            j.write("task_seen", step=sid, task=task, queue_time=queue_time)


def test_apply_journals_what_identifies_each_task(tmp_path: Path) -> None:
    import json

    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    src = _source(tmp_path)
    journal = tmp_path / "j.jsonl"
    with ApplyRun(vs, src, exec_options(src.options), journal) as run:  # type: ignore[arg-type]
        run.prepare(Events())
        assert run.execute(Events()).ok
    recs = {r["type"]: r for r in map(json.loads, journal.read_text().splitlines())}
    assert {k: recs["submitted"][k] for k in ("task", "vm_moid", "description_id")} == {
        "task": "task-1", "vm_moid": "vm-db-01", "description_id": "VirtualMachine.relocate"}
    assert recs["task_seen"]["queue_time"] == "1970-01-01T00:16:40+00:00"  # fake time 1000.0
    step = read_journal(journal).steps[0]
    assert (step.vm_moid, step.description_id, step.queue_time) == (
        "vm-db-01", "VirtualMachine.relocate", "1970-01-01T00:16:40+00:00")


@pytest.mark.parametrize(("case", "why"), [
    ("other VM", "task-1 on vCenter is another task (VM vm-db-02, not vm-db-01; "
                 "queued 1970-01-01T00:17:40+00:00, not 1970-01-01T00:16:40+00:00)"),
    ("same VM, later", "task-1 on vCenter is another task (queued 1970-01-01T00:17:40+00:00, "
                       "not 1970-01-01T00:16:40+00:00)"),
    ("same VM, other call, never seen", "task-1 on vCenter is another task "
     "(VirtualMachine.powerOn, not VirtualMachine.relocate)"),
])
def test_a_task_id_reused_after_a_vcenter_restart_is_unknown_not_done(
        tmp_path: Path, case: str, why: str) -> None:
    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    ours = vs.start_task("db-01", duration=30)
    seen = "1970-01-01T00:16:40+00:00" if case != "same VM, other call, never seen" else None
    path = tmp_path / "j.jsonl"
    _killed_step(path, ours, queue_time=seen)
    vs.restart()  # our task is lost with the old server; ids start over
    vs.clock.advance(60)
    theirs = {"other VM": lambda: vs.start_task("db-02", duration=1),
              "same VM, later": lambda: vs.start_task("db-01", duration=1),
              "same VM, other call, never seen": lambda: vs.start_task("db-01", "power_on", 1)}
    assert theirs[case]() == ours == "task-1"
    vs.run_until(vs.clock.now + 5)  # someone else's task succeeded under our id
    with Journal(path, run_id="r1") as j:
        out = settle_journal(vs, j, read_journal(path), Events())
    assert out.gone == ["task-1"] and out.finished == {} and out.waited == []
    step = read_journal(path).steps[0]
    assert step.outcome == "unknown" and step.message == (
        why + ": the id was reused, as after a vCenter restart; re-planning decides")


def test_the_task_the_journal_names_is_still_believed(tmp_path: Path) -> None:
    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    ours = vs.start_task("db-01", duration=3)
    path = tmp_path / "j.jsonl"
    _killed_step(path, ours, queue_time="1970-01-01T00:16:40+00:00")
    with Journal(path, run_id="r1") as j:
        out = settle_journal(vs, j, read_journal(path), Events())
    assert out.finished == {ours: "success"} and read_journal(path).steps[0].outcome == "done"


def test_a_second_apply_of_the_spec_with_another_journal_is_refused(tmp_path: Path) -> None:
    from pmemctl.apply.claims import VmBusyError

    vs = FakeVSphere(_inv())  # type: ignore[arg-type]
    src = _source(tmp_path)
    with ApplyRun(vs, src, exec_options(src.options), tmp_path / "a.jsonl") as first:  # type: ignore[arg-type]
        first.prepare(Events())
        second = ApplyRun(vs, src, exec_options(src.options), tmp_path / "b.jsonl")  # type: ignore[arg-type]
        with pytest.raises(VmBusyError) as e:
            second.prepare(Events())
        second.close()
        assert str(e.value).startswith(
            f"VM db-01 is being changed by another pmemctl, run {first._journal.run_id} (pid ")
        assert f"journal {tmp_path / 'a.jsonl'}, since " in str(e.value)
        assert "nothing was changed. Wait for that run to finish and run apply again" \
            in str(e.value)
        assert first.execute(Events()).ok
    assert sum(c.startswith("relocate") for c in vs.calls) == 1
    # Once the first let go, a new run may go ahead: it finds nothing left to do.
    with ApplyRun(vs, src, exec_options(src.options), tmp_path / "b.jsonl") as third:  # type: ignore[arg-type]
        assert third.prepare(Events()).empty


def test_a_claim_let_go_after_the_plan_was_read_is_recent(tmp_path: Path) -> None:
    import time

    from pmemctl.apply.claims import claim_vms

    vms = {"vm-1": "db-01", "vm-2": "db-02"}
    since = time.time()
    with claim_vms("vc", 443, "rA", {"vm-1": "db-01"}, journal=tmp_path / "a", since=since,
                   directory=tmp_path) as a:
        assert a.recent == []
    # rA let go after rB began reading: rB's plan may predate rA's changes.
    with claim_vms("vc", 443, "rB", vms, journal=tmp_path / "b", since=since,
                   directory=tmp_path) as b:
        assert b.recent == ["db-01"]
    with claim_vms("vc", 443, "rC", vms, journal=tmp_path / "c", since=time.time() + 1,
                   directory=tmp_path) as c:
        assert c.recent == []
