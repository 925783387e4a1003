"""The NVDIMM controller goes with the VM's last NVDIMM: planner, call shape, rollback, CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from pmemctl.apply.journal import Journal, read_journal
from pmemctl.apply.rollback import rollback_plan
from pmemctl.inventory.model import PMEM_POLICY_ID
from pmemctl.plan.model import Action, Change
from pmemctl.plan.payloads import RemoveNvdimm
from pmemctl.plan.planner import make_plan
from pmemctl.testing import FakeVSphere
from pmemctl.vsphere import actions
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit


def _removes(changes: tuple[Change, ...]) -> list[RemoveNvdimm]:
    return [c.payload for c in changes if isinstance(c.payload, RemoveNvdimm)]


@pytest.mark.parametrize(("have", "want", "controller"), [
    ([16], [], [27000]),            # the last NVDIMM goes: its controller with it
    ([16, 16], [], [None, 27000]),  # both go: the controller with the second
    ([16, 16], [16], [None]),       # one stays: so does the controller
    ([32], [16], [None]),           # shrink = recreate: the controller is needed again
])
def test_the_planner_removes_the_controller_with_the_last_nvdimm(
        have: list[int], want: list[int], controller: list[int | None]) -> None:
    dimms = [b.nvdimm(f"NVDIMM {i + 1}", size_gb=g) for i, g in enumerate(have)]
    inv = b.inventory(vms=[b.vm("db-01", nvdimms=dimms, disks=[b.disk()])])
    plan = make_plan(b.spec(b.entry(name="db-01", nvdimms_gb=want), allow_data_loss=True), inv)
    assert not plan.problems
    assert [p.remove_controller_key for p in _removes(plan.changes)] == controller


def _remove_change(controller: int | None) -> Change:
    return Change("vm-1", Action.REMOVE_NVDIMM, "NVDIMM 1", "16 GiB", None, True, "",
                  RemoveNvdimm(key=14000, size_mb=16384, remove_controller_key=controller))


def _devices() -> list[Any]:
    return [vim.vm.device.VirtualNVDIMMController(key=13000),
            vim.vm.device.VirtualNVDIMM(key=14000, controllerKey=13000, capacityInMB=16384)]


def test_the_controller_removal_is_the_last_device_change_and_has_no_file_operation() -> None:
    spec = actions.reconfigure_spec([_remove_change(13000)], _devices(), PMEM_POLICY_ID)
    dimm, ctl = spec.deviceChange
    assert (dimm.operation, dimm.fileOperation, dimm.device.key) == ("remove", "destroy", 14000)
    assert type(ctl.device) is vim.vm.device.VirtualNVDIMMController
    assert (ctl.operation, ctl.fileOperation, ctl.device.key) == ("remove", None, 13000)


def test_without_the_flag_the_controller_stays() -> None:
    spec = actions.reconfigure_spec([_remove_change(None)], _devices(), PMEM_POLICY_ID)
    assert [d.device.key for d in spec.deviceChange] == [14000]


def _journal(tmp_path: Path, add_controller: bool) -> Any:
    p = tmp_path / "j.jsonl"
    with Journal(p, run_id="r1") as j:
        j.write("run_start", command="apply")
        sid = j.next_step_id()
        j.write("intent", step=sid, vm="db-01", kind="reconfigure",
                changes=[{"action": "add_nvdimm", "target": "NVDIMM 1",
                          "payload": {"type": "add_nvdimm", "index": 1, "size_mb": 16384,
                                      "add_controller": add_controller}}],
                undo={"nvdimm_keys_before": [], "disk_keys_before": [2001]})
        j.write("submitted", step=sid, task="task-1")
        j.write("done", step=sid, task="task-1",
                created=[{"kind": "nvdimm", "key": 9001, "label": "NVDIMM 1", "size_mb": 16384}])
    return read_journal(p)


@pytest.mark.parametrize("added", [True, False])
def test_rollback_removes_the_controller_only_when_the_run_added_it(tmp_path: Path,
                                                                    added: bool) -> None:
    inv = b.inventory(vms=[b.vm("db-01", disks=[b.disk()], nvdimms=[b.nvdimm(key=9001)])])
    rb = rollback_plan(_journal(tmp_path, added), inv, allow_data_loss=True)
    [p] = _removes(rb.plan.changes)
    assert p.remove_controller_key == (27000 if added else None)


def test_rollback_keeps_the_controller_while_another_nvdimm_remains(tmp_path: Path) -> None:
    inv = b.inventory(vms=[b.vm("db-01", disks=[b.disk()],
                                nvdimms=[b.nvdimm(key=9001), b.nvdimm("NVDIMM 2", key=9002)])])
    rb = rollback_plan(_journal(tmp_path, True), inv, allow_data_loss=True)
    [p] = _removes(rb.plan.changes)
    assert p.key == 9001 and p.remove_controller_key is None


def test_apply_then_rollback_leaves_the_vm_without_a_controller(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    vs = FakeVSphere(b.inventory(vms=[b.vm("db-01", disks=[b.disk()])]))
    spec = k.spec(tmp_path, "vms:\n  - name: db-01\n    nvdimms: [16GiB]\n")
    assert k.run(vs, "apply", str(spec), "--yes").exit_code == 0
    assert vs.inventory.vms["db-01"].nvdimm_controller_key is not None
    r = k.run(vs, "rollback", "--last", str(spec), "--yes", "--allow-data-loss")
    assert r.exit_code == 0, r.output
    vm = vs.inventory.vms["db-01"]
    assert vm.nvdimms == () and vm.nvdimm_controller_key is None
    assert k.submitted(vs)[-1] == "reconfigure db-01: remove_nvdimm NVDIMM 1 and the NVDIMM " \
                                  "controller"
