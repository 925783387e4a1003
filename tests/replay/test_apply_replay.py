"""apply's main flows replayed from recorded pmemsim sessions: NVDIMM add, migrate onto PMem."""

from __future__ import annotations

from pathlib import Path

from pmemctl.apply.executor import ExecOptions, apply_plan
from pmemctl.apply.journal import Journal, read_journal
from pmemctl.apply.scheduler import Outcome
from pmemctl.plan.planner import make_plan
from pmemctl.plan.select import select_vms
from pmemctl.spec.load import load_spec_text
from pmemctl.vsphere.session import Connection
from pmemctl.vsphere.snapshot import take_snapshot
from pmemctl.vsphere.vcenter import VCenter

GiB = 1024


def _apply(conn: Connection, text: str, tmp_path: Path) -> tuple[int, int]:
    spec = load_spec_text("apiVersion: pmemctl/v1\n" + text, "spec.yaml")
    inv = take_snapshot(conn, want_devices=lambda light: select_vms(spec, light).names)
    plan = make_plan(spec, inv)
    assert not plan.blocked and not plan.empty
    with Journal(tmp_path / "j.jsonl") as journal:
        journal.write("run_start", command="apply", spec="spec.yaml")
        result = apply_plan(VCenter(conn), plan, inv, ExecOptions(progress=False), journal=journal)
    state = read_journal(tmp_path / "j.jsonl")
    assert state.pending == [] and all(s.task and s.task.startswith("task-") for s in state.steps)
    return result.count(Outcome.DONE), result.count(Outcome.FAILED)


def test_add_nvdimm(replay_conn: Connection, tmp_path: Path) -> None:
    done, failed = _apply(replay_conn, "vms:\n  - {name: redis-01, nvdimms: [16GiB]}\n",
                          tmp_path)
    assert (done, failed) == (1, 0)
    vm = take_snapshot(replay_conn, want_devices=lambda light: ["redis-01"]).vms["redis-01"]
    assert [n.size_mb for n in vm.nvdimms] == [16 * GiB]


def test_migrate_onto_pmem(replay_conn: Connection, tmp_path: Path) -> None:
    done, failed = _apply(replay_conn,
                          'vms:\n  - {name: legacy-sql-01, disks: {"*": pmem}}\n', tmp_path)
    assert (done, failed) == (2, 0)
    inv = take_snapshot(replay_conn, want_devices=lambda light: ["legacy-sql-01"])
    pmem = inv.host_named("esx-01").pmem_datastore
    assert {d.datastore for d in inv.vms["legacy-sql-01"].disks} == {pmem}
