"""apply against pmemsim: every action, idempotence, and what the journal records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import simproc
from tests.live import applykit as k

GiB = 1024
MakeSim = Callable[..., simproc.PmemSim]


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def test_add_nvdimm_then_no_changes(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-01
            nvdimms: [16GiB]
    """)
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "redis-01: add_nvdimm NVDIMM 1: started (task-" in r.output
    assert "Apply complete: 1 done, 0 failed." in r.output
    text = k.journal_file(tmp_path).read_text()
    assert f"{sim.user}:{sim.password}@" not in text and "soap_session" not in text
    vm = k.estate(sim).vms["redis-01"]
    assert [n.size_mb for n in vm.nvdimms] == [16 * GiB]
    assert vm.nvdimm_controller_key is not None
    # The journal names the device the reconfigure created: rollback never guesses.
    (done,) = [r for r in k.records(k.journal_file(tmp_path)) if r["type"] == "done"]
    assert done["created"] == [{"kind": "nvdimm", "key": vm.nvdimms[0].key,
                                "label": "NVDIMM 1", "size_mb": 16 * GiB}]
    # Idempotence: the second run plans nothing and touches nothing.
    before = sim.stats()
    r2 = k.run(sim, "apply", str(spec), "--yes")
    assert r2.exit_code == 0, r2.output
    assert r2.output.strip().endswith("No changes. The estate matches the spec.")
    assert "ReconfigVM_Task" not in k.delta(before, sim.stats())


def test_upgrade_graceful_power_off_nvdimm_power_on(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    spec = k.spec(tmp_path, """
        options: {power_off: true, upgrade_hardware: true, shutdown_timeout_s: 30}
        vms:
          - name: redis-02
            nvdimms: [16GiB]
    """)
    assert k.estate(sim).vms["redis-02"].tools_running
    before = sim.stats()
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    vm = k.estate(sim).vms["redis-02"]
    assert vm.hardware_version >= 14
    assert [n.size_mb for n in vm.nvdimms] == [16 * GiB]
    assert vm.power_state == "poweredOn"
    d = k.delta(before, sim.stats())
    assert d.get("ShutdownGuest") == 1 and "PowerOffVM_Task" not in d  # graceful
    assert d.get("PowerOnVM_Task") == 1
    # The upgrade is UpgradeVM_Task; the one ReconfigVM_Task carries only the NVDIMM.
    assert d.get("UpgradeVM_Task") == 1 and d.get("ReconfigVM_Task") == 1
    # Order inside the VM: power off → upgrade → reconfigure → power on.
    kinds = [rec["kind"] for rec in k.records(k.journal_file(tmp_path))
             if rec["type"] == "intent"]
    assert kinds == ["power_off", "upgrade", "reconfigure", "power_on"]


def test_create_vpmemdisk(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    spec = k.spec(tmp_path, """
        vms:
          - name: cache-01
            disks:
              "Hard disk 3": {storage: pmem, size: 32GiB}
    """)
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    inv = k.estate(sim)
    disks = {d.label: d for d in inv.vms["cache-01"].disks}
    assert disks["Hard disk 3"].size_mb == 32 * GiB
    assert disks["Hard disk 3"].pmem
    assert disks["Hard disk 3"].datastore == inv.host_named("esx-10").pmem_datastore
    r2 = k.run(sim, "apply", str(spec), "--yes")
    assert "No changes." in r2.output and r2.exit_code == 0


def test_migrate_onto_pmem_and_back_off(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim("--copy-rate", "2TiB/s")
    onto = k.spec(tmp_path, """
        vms:
          - name: legacy-sql-01
            disks: {"*": pmem}
    """, "onto.yaml")
    before = sim.stats()
    r = k.run(sim, "apply", str(onto), "--yes")
    assert r.exit_code == 0, r.output
    # Both disks move in ONE RelocateVM_Task; the VM stays on and its home stays on san-01.
    assert k.delta(before, sim.stats()).get("RelocateVM_Task") == 1
    inv = k.estate(sim)
    vm = inv.vms["legacy-sql-01"]
    pmem_ds = inv.host_named("esx-01").pmem_datastore
    assert {d.datastore for d in vm.disks} == {pmem_ds}
    assert all(d.pmem for d in vm.disks)
    assert vm.power_state == "poweredOn"
    assert vm.home_datastore == "san-01"
    intent = next(rec for rec in k.records(k.journal_file(tmp_path)) if rec["type"] == "intent")
    assert {d["datastore"] for d in intent["undo"]["disks"]} == {"san-01"}
    assert all(d["datastore_moid"] for d in intent["undo"]["disks"])
    off = k.spec(tmp_path, """
        vms:
          - name: legacy-sql-01
            disks: {"*": nfs-01}
    """, "off.yaml")
    r = k.run(sim, "apply", str(off), "--yes")
    assert r.exit_code == 0, r.output
    vm = k.estate(sim).vms["legacy-sql-01"]
    assert {d.datastore for d in vm.disks} == {"nfs-01"}
    assert not any(d.pmem for d in vm.disks)


def test_nvdimm_and_new_disks_in_one_reconfigure(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-01
            nvdimms: [8GiB]
            disks:
              "Hard disk 2": {storage: pmem, size: 4GiB}
    """)
    before = sim.stats()
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert k.delta(before, sim.stats()).get("ReconfigVM_Task") == 1
    inv = k.estate(sim)
    vm = inv.vms["redis-01"]
    assert [n.size_mb for n in vm.nvdimms] == [8 * GiB]
    disks = {d.label: d for d in vm.disks}
    assert (disks["Hard disk 2"].size_mb, disks["Hard disk 2"].pmem) == (4 * GiB, True)
    assert disks["Hard disk 2"].datastore == inv.host_named("esx-01").pmem_datastore
    again = k.run(sim, "apply", str(spec), "--yes")
    assert again.output.strip().endswith("No changes. The estate matches the spec.")


@pytest.mark.parametrize("mode", [None, "independent_persistent"])
def test_nvdimm_snapshot_mode_keeps_snapshots_working(make_sim: MakeSim, tmp_path: Path,
                                                      mode: str | None) -> None:
    # vSphere 7.0 U3+: a snapshot of a VM with NVDIMMs fails unless ConfigSpec.pmem
    # .snapshotMode is set, and it can only be set while the VM has no snapshots:
    # pmemctl sets it in the NVDIMM's own reconfigure when the spec asks.
    from tests.pmemsim import client as pc

    sim = make_sim()
    option = f"options: {{nvdimm_snapshot_mode: {mode}}}\n" if mode else ""
    text = option + "vms:\n  - name: redis-01\n    nvdimms: [16GiB]\n"
    r = k.run(sim, "apply", str(k.spec(tmp_path, text)), "--yes")
    assert r.exit_code == 0, r.output
    assert ("snapshot-based backups" in r.output) is (mode is None)  # the plan warned
    si = pc.connect(sim)
    info = pc.wait(pc.vm(si, "redis-01").CreateSnapshot_Task(
        name="nightly", description="", memory=False, quiesce=False), timeout=30)
    assert info.state == ("error" if mode is None else "success")
