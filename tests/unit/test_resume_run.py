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
