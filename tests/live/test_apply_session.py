"""Sessions that end under a run: an admin's TerminateSession (vCenter's idle timeout is alike).

vCenter ends API sessions idle for 30 minutes (KB 1031039) and an admin can
end any session. pmemctl logs in again once and carries on; the journal is
never lost and no task is submitted twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from pmemctl.apply.events import NullHook
from pmemctl.apply.run import ApplyRun, exec_options, load_source
from pmemctl.vsphere.collector import retrieve
from pmemctl.vsphere.session import Connection, connect
from pmemctl.vsphere.vcenter import VCenter
from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
LEGACY = """
    vms:
      - match: {name: "legacy-sql-*"}
        disks: {"*": pmem}
"""


def terminate(sim: simproc.PmemSim, victim: Connection) -> None:
    """End ``victim``'s session from a second session, as an admin would."""
    key = victim.content.sessionManager.currentSession.key
    with connect(k.settings_for(sim)) as admin:
        admin.content.sessionManager.TerminateSession(sessionId=[key])


def test_ensure_session_logs_in_again_after_terminate(demo_sim: simproc.PmemSim) -> None:
    with connect(k.settings_for(demo_sim)) as conn:
        assert conn.ensure_session() is False  # alive: no login
        terminate(demo_sim, conn)
        assert conn.ensure_session() is True
        assert conn.relogins == 1
        assert conn.content.sessionManager.currentSession is not None


def test_an_ended_session_is_an_error_not_an_empty_read(demo_sim: simproc.PmemSim) -> None:
    # vCenter answers RetrievePropertiesEx of an ended session with a missingSet of
    # NotAuthenticated faults, not a SOAP fault; reading it as "no properties" would
    # make a plan out of nothing.
    with connect(k.settings_for(demo_sim)) as conn:
        terminate(demo_sim, conn)
        pcq: Any = vim.PropertyCollector
        spec = pcq.FilterSpec(
            objectSet=[pcq.ObjectSpec(obj=conn.content.rootFolder)],
            propSet=[pcq.PropertySpec(type=vim.Folder, pathSet=["name"])])
        with pytest.raises(vim.fault.NotAuthenticated):
            list(retrieve(conn.content.propertyCollector, [spec]))


def test_apply_logs_in_again_when_the_session_ends_mid_run(
        make_sim: MakeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    sim = make_sim("--copy-rate", "60GiB/s")  # ~3 s of copying
    spec = k.spec(tmp_path, LEGACY)
    src = load_source(spec)
    with connect(k.settings_for(sim)) as conn, \
            ApplyRun(VCenter(conn), src, exec_options(src.options)) as run:
        run.prepare(NullHook())
        # End the session once the first migration is running.
        killer = threading.Timer(0.5, terminate, args=(sim, conn))
        killer.start()
        result = run.execute(NullHook())
        killer.join()
        assert result.ok, [r.to_json() for r in result.results if r.fault]
        assert conn.relogins == 1
    recs = k.records(k.journal_file(tmp_path))
    assert [r["type"] for r in recs].count("relogin") == 1
    inv = k.estate(sim)
    assert all(d.pmem for n in ("legacy-sql-01", "legacy-sql-02", "legacy-sql-03")
               for d in inv.vms[n].disks)
    assert sim.stats()["RelocateVM_Task"] == 3  # nothing submitted twice


REDIS = """
    vms:
      - name: redis-01
        nvdimms: [16GiB]
"""


def _prepared(sim: simproc.PmemSim, tmp_path: Path, conn: Connection) -> ApplyRun:
    src = load_source(k.spec(tmp_path, REDIS))
    run = ApplyRun(VCenter(conn), src, exec_options(src.options))
    run.prepare(NullHook())
    # As if the user read the plan at the prompt for 40 minutes: the session
    # is gone and the snapshot is old.
    run._planned_at -= 40 * 60
    terminate(sim, conn)
    return run


def test_after_a_long_prompt_an_unchanged_plan_runs(
        make_sim: MakeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    sim = make_sim()
    with connect(k.settings_for(sim)) as conn:
        run = _prepared(sim, tmp_path, conn)
        with run:
            before = sim.stats()
            result = run.execute(NullHook())
        assert result.ok and conn.relogins == 1
    d = k.delta(before, sim.stats())
    assert d["Login"] == 1 and d["ReconfigVM_Task"] == 1
    assert d["RetrievePropertiesEx"] >= 2  # the estate was read again before submitting
