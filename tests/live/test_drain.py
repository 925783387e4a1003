"""pmemctl drain / return against pmemsim: a PMem host's NVDIMM VMs placed on two others,
its vPMemDisks moved off PMem, the host into maintenance mode, and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmemctl.apply.journal import read_journal
from pmemctl.cli import cli
from tests import simproc
from tests.live import applykit as kit

pytestmark = pytest.mark.live

# esx-01 is drained. Its NVDIMM VMs need 40 + 24 + 24 + 8 GiB: esx-02 has 40 GiB
# free, esx-03 56 GiB, so only best fit places them all (first fit in name
# order puts db-a (24) on esx-02, db-b (40) on esx-03, and db-c fits nowhere).
# esx-04 has no PMem. app-01 has a vPMemDisk and no NVDIMMs; mix-01 both (its
# NVDIMM follows it, its vPMemDisk goes to san-01, in one RelocateVM_Task).
ESTATE = """
clusters:
  - name: Prod
    hosts:
      - {name: esx-01, pmem: 256GiB}
      - {name: esx-02, pmem: 64GiB}
      - {name: esx-03, pmem: 72GiB}
      - {name: esx-04}
datastores:
  - {name: san-01, capacity: 4TiB}
vms:
  - {name: db-a, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, nvdimms: [24GiB],
     disks: [{size: 10GiB, datastore: san-01}]}
  - {name: db-b, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, nvdimms: [40GiB],
     disks: [{size: 10GiB, datastore: san-01}]}
  - {name: db-c, host: esx-01, guest_id: rhel8_64Guest, power: poweredOff, nvdimms: [24GiB],
     disks: [{size: 10GiB, datastore: san-01}]}
  - {name: mix-01, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, nvdimms: [8GiB],
     disks: [{size: 10GiB, datastore: san-01}, {size: 4GiB, datastore: pmem}]}
  - {name: app-01, host: esx-01, power: poweredOn,
     disks: [{size: 10GiB, datastore: san-01}, {size: 8GiB, datastore: pmem}]}
  - {name: busy-02, host: esx-02, guest_id: rhel8_64Guest, nvdimms: [24GiB]}
  - {name: busy-03, host: esx-03, guest_id: rhel8_64Guest, nvdimms: [16GiB]}
"""


@pytest.fixture
def drain_sim(tmp_path: Path, make_sim) -> simproc.PmemSim:  # type: ignore[no-untyped-def]
    return make_sim(inventory=kit.inventory_file(tmp_path, ESTATE))


def _where(sim: simproc.PmemSim) -> dict[str, str]:
    return {v.name: v.host for v in kit.estate(sim).vms.values()}


def test_drain_plan_is_shown_and_changes_nothing_without_yes(drain_sim: simproc.PmemSim) -> None:
    before = _where(drain_sim)
    r = kit.run(drain_sim, "drain", "esx-01", "-o", "json")
    assert r.exit_code == 1, r.output  # no terminal to confirm on
    plan = json.loads(r.output.splitlines()[0])
    placement = {p["vm"]: p["to"] for p in plan["drain"]["placement"]}
    assert placement == {"db-a": "esx-03", "db-b": "esx-02", "db-c": "esx-03",
                         "mix-01": "esx-03", "app-01": "esx-04"}
    rows = {h["name"]: (h["pmem_free_mb_before"], h["pmem_free_mb_after"])
            for h in plan["hosts"]}
    assert rows["esx-02"] == (40 * 1024, 0)
    assert rows["esx-03"] == (56 * 1024, 0)
    assert rows["esx-01"] == (148 * 1024, 256 * 1024)
    assert plan["drain"]["blockers"] == []
    assert _where(drain_sim) == before


def test_drain_enters_maintenance_and_return_brings_everything_back(
        drain_sim: simproc.PmemSim, tmp_path: Path) -> None:
    journal = tmp_path / "drain.jsonl"
    r = kit.run(drain_sim, "drain", "esx-01", "--enter-maintenance", "--yes",
                "--journal", str(journal))
    assert r.exit_code == 0, r.output
    assert "esx-01 entered maintenance mode" in r.output
    inv = kit.estate(drain_sim)
    assert {n: inv.vms[n].host for n in ("db-a", "db-b", "db-c", "mix-01", "app-01")} == {
        "db-a": "esx-03", "db-b": "esx-02", "db-c": "esx-03", "mix-01": "esx-03",
        "app-01": "esx-04"}
    for name in ("app-01", "mix-01"):
        assert [d.datastore for d in inv.vms[name].disks] == ["san-01", "san-01"]
    assert inv.vms["mix-01"].nvdimms[0].size_mb == 8 * 1024
    hosts = {h.name: h for h in inv.hosts.values()}
    assert hosts["esx-01"].maintenance
    status = json.loads(kit.run(drain_sim, "status", "-o", "json").output)
    assert {h["name"]: h["maintenance"] for h in status["hosts"]}["esx-01"] is True
    assert hosts["esx-01"].pmem_free_mb == 256 * 1024
    assert hosts["esx-02"].pmem_free_mb == 0 and hosts["esx-03"].pmem_free_mb == 0
    state = read_journal(journal)
    assert [r.command for r in state.runs] == ["drain"]
    assert {s.vm for s in state.done} == {"db-a", "db-b", "db-c", "mix-01", "app-01"}

    back = kit.run(drain_sim, "return", "esx-01", "--yes", "--journal", str(journal))
    assert back.exit_code == 0, back.output
    assert "esx-01 exited maintenance mode" in back.output
    inv = kit.estate(drain_sim)
    moved = ("db-a", "db-b", "db-c", "mix-01", "app-01")
    assert {n: inv.vms[n].host for n in moved} == dict.fromkeys(moved, "esx-01")
    for name in ("app-01", "mix-01"):
        disk = inv.vms[name].disks[1]
        assert disk.pmem and disk.datastore.startswith("PMemDS-")
    hosts = {h.name: h for h in inv.hosts.values()}
    assert not hosts["esx-01"].maintenance
    assert hosts["esx-01"].pmem_free_mb == 148 * 1024
    again = kit.run(drain_sim, "return", "esx-01", "--yes", "--journal", str(journal))
    assert again.exit_code == 0 and "Nothing to roll back" in again.output


def test_a_vm_that_fits_nowhere_blocks_or_is_powered_off(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    # esx-02 has 24 GiB free, esx-03 32 GiB: db-b (40 GiB, running) fits nowhere.
    inv_text = ESTATE.replace("{name: esx-02, pmem: 64GiB}", "{name: esx-02, pmem: 24GiB}")
    inv_text = inv_text.replace(
        "  - {name: busy-02, host: esx-02, guest_id: rhel8_64Guest, nvdimms: [24GiB]}\n", "")
    inv_text = inv_text.replace("nvdimms: [16GiB]}", "nvdimms: [32GiB]}").replace(
        "{name: esx-03, pmem: 72GiB}", "{name: esx-03, pmem: 64GiB}")
    sim = make_sim(inventory=kit.inventory_file(tmp_path, inv_text))
    r = kit.run(sim, "drain", "esx-01", "--yes")
    assert r.exit_code == 1 and "--power-off-unplaced" in r.output
    assert _where(sim)["db-b"] == "esx-01"
    # A script asking for JSON is told why, with the stable code, on stderr.
    js = CliRunner().invoke(cli, ["drain", "esx-01", "--yes", "-o", "json", *kit.conn_args(sim)])
    assert js.exit_code == 1
    error = json.loads(js.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "blocked" and any(p["vm"] == "db-b" for p in error["problems"])
    ok = kit.run(sim, "drain", "esx-01", "--yes", "--power-off-unplaced", "--enter-maintenance",
                 "--journal", str(tmp_path / "j.jsonl"))
    assert ok.exit_code == 0, ok.output
    assert "PMem reserved on esx-01" in ok.output
    inv = kit.estate(sim)
    assert str(inv.vms["db-b"].power_state) == "poweredOff" and inv.vms["db-b"].host == "esx-01"
    assert inv.host_named("esx-01").maintenance  # type: ignore[union-attr]
    back = kit.run(sim, "return", "esx-01", "--yes", "--journal", str(tmp_path / "j.jsonl"))
    assert back.exit_code == 0, back.output
    inv = kit.estate(sim)
    assert str(inv.vms["db-b"].power_state) == "poweredOn"  # the drain owed it a power-on
    assert {inv.vms[n].host for n in ("db-a", "db-b", "db-c", "mix-01", "app-01")} == {"esx-01"}


def test_pmemsim_refuses_maintenance_while_a_vm_runs(drain_sim: simproc.PmemSim) -> None:
    from tests.pmemsim import client as pc

    si = pc.connect(drain_sim)
    host = pc.host(si, "esx-01")
    task = host.EnterMaintenanceMode_Task(timeout=1, evacuatePoweredOffVms=False)
    info = pc.wait(task)
    assert info.state == "error" and type(info.error).__name__.endswith("Timedout")
    assert "db-a" in pc.reason(info) and not host.runtime.inMaintenanceMode
    off = pc.wait(host.ExitMaintenanceMode_Task(timeout=0))
    assert off.state == "error" and type(off.error).__name__.endswith("InvalidState")


PLACEMENT_ESTATE = """
clusters:
  - name: Prod
    hosts:
      - {name: esx-01, pmem: 16GiB}
      - {name: esx-02, pmem: 64GiB}
      - {name: esx-03, pmem: 48GiB}
datastores:
  - {name: san-01, capacity: 4TiB}
vms:
  - {name: redis-01, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, nvdimms: [8GiB],
     disks: [{size: 10GiB, datastore: san-01}]}
"""


def test_spec_placement_moves_a_vm_to_a_host_that_fits_then_adds_the_nvdimm(
        tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(inventory=kit.inventory_file(tmp_path, PLACEMENT_ESTATE))
    spec = kit.spec(tmp_path, """\
        options: {power_off: true}
        vms:
          - name: redis-01
            nvdimms: [8GiB, 32GiB]
            placement: any-host-in-cluster
        """)
    r = kit.run(sim, "apply", str(spec), "--yes", "--journal", str(tmp_path / "j.jsonl"))
    assert r.exit_code == 0, r.output
    inv = kit.estate(sim)
    vm = inv.vms["redis-01"]
    assert vm.host == "esx-03"  # 40 GiB needed: esx-03 (48) fits tighter than esx-02 (64)
    assert sorted(n.size_mb for n in vm.nvdimms) == [8 * 1024, 32 * 1024]
    assert str(vm.power_state) == "poweredOn"
    hosts = {h.name: h.pmem_free_mb for h in inv.hosts.values()}
    assert hosts == {"esx-01": 16 * 1024, "esx-02": 64 * 1024, "esx-03": 8 * 1024}
    kinds = [s.kind.value for s in read_journal(tmp_path / "j.jsonl").done]
    assert kinds == ["power_off", "move", "reconfigure", "power_on"]


def test_a_vm_another_run_is_changing_refuses_the_drain(drain_sim: simproc.PmemSim,
                                                        tmp_path: Path) -> None:
    import time

    from pmemctl.apply.claims import Claims, default_lock_dir

    moid = kit.estate(drain_sim).vms["db-a"].moid
    p = drain_sim.parts
    assert p.hostname and p.port
    other = Claims(directory=default_lock_dir(p.hostname, p.port), run="other-run")
    other.add({moid: "db-a"}, journal=tmp_path / "other.jsonl", since=time.time())
    try:
        r = kit.run(drain_sim, "drain", "esx-01", "--yes", "--journal", str(tmp_path / "j.jsonl"))
    finally:
        other.release()
    assert r.exit_code == 1
    assert "is being changed by another pmemctl, run other-run" in r.output
    assert _where(drain_sim)["db-a"] == "esx-01" and drain_sim.stats().get("RelocateVM_Task") is None


def test_rollback_of_the_drain_journal_brings_the_vms_back(drain_sim: simproc.PmemSim,
                                                           tmp_path: Path) -> None:
    journal = tmp_path / "drain.jsonl"
    r = kit.run(drain_sim, "drain", "esx-01", "--yes", "--journal", str(journal))
    assert r.exit_code == 0, r.output
    assert "Nothing would block maintenance of esx-01" in r.output
    assert _where(drain_sim)["db-b"] == "esx-02"
    rb = kit.run(drain_sim, "rollback", str(journal), "--yes")
    assert rb.exit_code == 0, rb.output
    where = _where(drain_sim)
    assert {where[n] for n in ("db-a", "db-b", "db-c", "mix-01", "app-01")} == {"esx-01"}
