"""TaskWatcher on pmemsim: many tasks, one filter, few round trips; the no-ListView fallback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pmemctl.plan.model import Action, Change
from pmemctl.plan.payloads import DatastoreRef, MigrateDisk, PolicyRef
from pmemctl.vsphere import actions, calls
from pmemctl.vsphere.session import connect
from pmemctl.vsphere.tasks import TaskWatcher, task_states
from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]


def _relocate_all(conn: Any, sim: simproc.PmemSim) -> list[Any]:
    inv = k.estate(sim)
    stub = conn.content.propertyCollector._stub
    tasks = []
    for name in ("legacy-sql-01", "legacy-sql-02", "legacy-sql-03"):
        vm = inv.vms[name]
        pmem = inv.host_of(vm).pmem_datastore
        changes = [Change(name, Action.MIGRATE_DISK, d.label, None, None, False, "",
                          MigrateDisk(d.key, d.size_mb, DatastoreRef(d.datastore, d.datastore_moid),
                                      DatastoreRef(pmem or "", pmem=True), PolicyRef("pmem")))
                   for d in vm.disks]
        devices = calls.fetch_devices(conn.content, [vm.moid])[vm.moid]
        spec = actions.relocate_spec(changes, devices, inv.pmem_policy_id, stub=stub)
        tasks.append(calls.submit_relocate(actions.vm_ref(stub, vm.moid), spec))
    return tasks


@pytest.mark.parametrize("list_view", [True, False], ids=["listview", "filter-per-task"])
def test_many_tasks_one_collector(make_sim: MakeSim, list_view: bool) -> None:
    sim = make_sim("--copy-rate", "200GiB/s")
    with connect(k.settings_for(sim)) as conn:
        before = sim.stats()
        with TaskWatcher(conn.content, progress=True, list_view=list_view) as w:
            ids = {w.add(t) for t in _relocate_all(conn, sim)}
            seen_progress = False
            while not all(w.tasks[t].finished for t in ids):
                for u in w.wait(1):
                    seen_progress |= bool(u.task and u.task.progress and u.task.progress < 100)
        d = k.delta(before, sim.stats())
    assert all(w.tasks[t].state == "success" for t in ids)
    assert seen_progress
    assert d["RelocateVM_Task"] == 3
    if list_view:
        assert d["ModifyListView"] <= 2 and "CreateFilter" in d  # one filter for all
        assert d["CreateFilter"] == 1
    else:
        assert d["CreateFilter"] == 3 and "ModifyListView" not in d
    # ~1.8 s of copying; pmemsim pushes each progress step (~100 ms) as it happens.
    assert d["WaitForUpdatesEx"] <= 40


def test_power_state_and_task_states(make_sim: MakeSim) -> None:
    sim = make_sim()
    inv = k.estate(sim)
    vm = inv.vms["redis-02"]  # powered on, tools running
    with connect(k.settings_for(sim)) as conn:
        ref = actions.vm_ref(conn.content.propertyCollector._stub, vm.moid)
        with TaskWatcher(conn.content) as w:
            w.add(ref)
            assert calls.request_guest_shutdown(ref) is None
            states = set()
            for _ in range(10):
                states |= {u.power_state for u in w.wait(1) if u.power_state}
                if "poweredOff" in states:
                    break
        assert "poweredOff" in states
        task = calls.submit_power_on(ref)
        got = task_states(conn.content, [task._moId, "task-999999"])
        assert set(got) == {task._moId}  # the unknown task is left out, not an error
