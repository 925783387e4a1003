"""Results that read right, against pmemsim: the NVDIMM controller, journals per vCenter,
stale saved plans. Each test starts its own pmemsim on the estate below."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyVmomi import vim

from pmemctl.cli import cli
from tests import simproc
from tests.live import applykit as k
from tests.pmemsim import client as pc

MakeSim = Callable[..., simproc.PmemSim]

# Two PMem hosts in one cluster, a NAS datastore with a mixed-case name, and
# VMs for each story: an NVDIMM VM whose NVDIMMs go, a VM that gets its first
# NVDIMM, and a VM whose disk goes onto PMem.
INVENTORY = """
datacenter: DC-UX
clusters:
  - name: Gold
    hosts:
      - {name: esx-a, pmem: 256GiB}
      - {name: esx-b, pmem: 256GiB}
datastores:
  - {name: san-ux, type: VMFS, capacity: 4TiB}
  - {name: NFS Gold, type: NFS, capacity: 2TiB, hosts: [esx-a, esx-b]}
vms:
  - {name: kv-01, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest, power: poweredOff,
     disks: [{size: 20GiB, datastore: san-ux}], nvdimms: [8GiB, 8GiB]}
  - {name: kv-02, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest, power: poweredOff,
     disks: [{size: 20GiB, datastore: san-ux}]}
  - {name: redis-03, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest,
     power: poweredOff, disks: [{size: 10GiB, datastore: san-ux}]}
  - {name: redis-04, host: esx-b, hardware_version: 19, guest_id: rhel8_64Guest,
     power: poweredOn, disks: [{size: 10GiB, datastore: san-ux}]}
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "journals"
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(d))
    return d


@pytest.fixture
def ux_sim(make_sim: MakeSim, tmp_path: Path) -> simproc.PmemSim:
    return make_sim(inventory=k.inventory_file(tmp_path, INVENTORY))


def _controllers(sim: simproc.PmemSim, vm: str) -> list[int]:
    si = pc.connect(sim)
    try:
        return [d.key for d in pc.vm(si, vm).config.hardware.device
                if isinstance(d, vim.vm.device.VirtualNVDIMMController)]
    finally:
        pc.disconnect(si)


def test_removing_every_nvdimm_removes_the_controller_too(ux_sim: simproc.PmemSim,
                                                         tmp_path: Path) -> None:
    assert _controllers(ux_sim, "kv-01") != []
    spec = k.spec(tmp_path, """
        options: {allow_data_loss: true}
        vms:
          - name: kv-01
            nvdimms: []
    """)
    r = k.run(ux_sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert k.estate(ux_sim).vms["kv-01"].nvdimms == ()
    assert _controllers(ux_sim, "kv-01") == []
    # And nothing is left to do.
    r = k.run(ux_sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0 and "No changes." in r.output


def test_rollback_removes_the_controller_the_apply_added(ux_sim: simproc.PmemSim,
                                                        tmp_path: Path) -> None:
    spec = k.spec(tmp_path, """
        vms:
          - name: kv-02
            nvdimms: [16GiB]
    """)
    assert _controllers(ux_sim, "kv-02") == []
    r = k.run(ux_sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert len(_controllers(ux_sim, "kv-02")) == 1
    r = k.run(ux_sim, "rollback", "--last", str(spec), "--yes", "--allow-data-loss")
    assert r.exit_code == 0, r.output
    assert k.estate(ux_sim).vms["kv-02"].nvdimms == ()
    assert _controllers(ux_sim, "kv-02") == []


def test_two_vcenters_on_one_address_keep_two_journals(make_sim: MakeSim, tmp_path: Path,
                                                       _journals: Path) -> None:
    inv = k.inventory_file(tmp_path, INVENTORY)
    one, two = make_sim(inventory=inv), make_sim(inventory=inv)
    assert one.parts.hostname == two.parts.hostname and one.parts.port != two.parts.port
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-03
            disks: {"*": pmem}
    """)
    for sim in (one, two):
        r = k.run(sim, "apply", str(spec), "--yes")
        assert r.exit_code == 0, r.output
    # Offline: no connection flags.
    out = CliRunner().invoke(cli, ["journals", str(spec), "-o", "json"], catch_exceptions=False)
    listed = json.loads(out.stdout)["journals"]
    assert [j["vcenter_port"] for j in listed] == [two.parts.port, one.parts.port]
    assert len({j["path"] for j in listed}) == 2
    assert all(j["status"] == "done" and j["steps_done"] == 1 for j in listed)
    # --last picks the newest journal of the vCenter connected to: first the older
    # one's (its flags say which), then the other's; each undoes only its own.
    r = k.run(one, "rollback", "--last", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert f"against 127.0.0.1:{one.parts.port}" in r.stderr
    assert not k.estate(one).vms["redis-03"].disks[0].pmem
    assert k.estate(two).vms["redis-03"].disks[0].pmem  # the other vCenter's is untouched
    r = k.run(two, "rollback", "--last", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert not k.estate(two).vms["redis-03"].disks[0].pmem


def test_a_saved_plan_refused_after_a_vmotion_names_both_hosts(ux_sim: simproc.PmemSim,
                                                              tmp_path: Path) -> None:
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-03
            disks: {"*": pmem}
    """)
    plan = tmp_path / "plan.json"
    assert k.run(ux_sim, "plan", str(spec), "--out", str(plan)).exit_code == 0
    si = pc.connect(ux_sim)
    try:
        pc.wait(pc.vm(si, "redis-03").RelocateVM_Task(
            vim.vm.RelocateSpec(host=pc.host(si, "esx-b"))))
    finally:
        pc.disconnect(si)
    r = k.run(ux_sim, "apply", str(plan), "--yes")
    assert r.exit_code == 1
    assert "(VM redis-03 moved from esx-a to esx-b); run plan again" in r.stderr
    assert "is gone" not in r.stderr and "is new" not in r.stderr


def test_re_applying_an_applied_plan_says_so(ux_sim: simproc.PmemSim, tmp_path: Path) -> None:
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-03
            disks: {"*": pmem}
    """)
    plan = tmp_path / "plan.json"
    assert k.run(ux_sim, "plan", str(spec), "--out", str(plan)).exit_code == 0
    assert k.run(ux_sim, "apply", str(plan), "--yes").exit_code == 0
    before = ux_sim.stats()
    r = k.run(ux_sim, "apply", str(plan), "--yes")
    assert r.exit_code == 1
    assert "has already been applied" in r.stderr
    assert "RelocateVM_Task" not in k.delta(before, ux_sim.stats())


def test_an_unknown_datastore_gets_a_did_you_mean_from_the_estate(ux_sim: simproc.PmemSim,
                                                                  tmp_path: Path) -> None:
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-03
            disks: {"Hard disk 1": "NFS gold"}
    """)
    r = k.run(ux_sim, "plan", str(spec))
    assert r.exit_code == 1
    assert ("Error: datastore NFS gold does not exist in datacenter DC-UX (VM redis-03, "
            "Hard disk 1); did you mean NFS Gold?") in r.stdout


def test_a_resumed_plan_shows_the_power_on_the_failed_run_still_owes(make_sim: MakeSim,
                                                                    tmp_path: Path) -> None:
    # The first run powers redis-04 off and its reconfigure fails: under
    # on_failure stop the VM stays off, its power-on "not started".
    sim = make_sim("--fault", "method=ReconfigVM_Task,vm=redis-04,nth=1,fault=InvalidState",
                   inventory=k.inventory_file(tmp_path, INVENTORY))
    spec = k.spec(tmp_path, """
        options: {power_off: true, shutdown_timeout_s: 30}
        vms:
          - name: redis-04
            nvdimms: [16GiB]
    """)
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 1, r.output
    assert "power_on redis-04 (not started)" in r.output
    assert k.estate(sim).vms["redis-04"].power_state == "poweredOff"
    # The spec is edited to another job before the next run: the plan still shows
    # (and the run still does) the power-on redis-04 is owed, with the new work.
    k.spec(tmp_path, """
        vms:
          - name: redis-03
            disks: {"*": pmem}
    """)
    planned = k.run(sim, "plan", str(spec), "-o", "json")
    changes = [(c["vm"], c["action"]) for c in json.loads(planned.stdout)["changes"]]
    assert changes == [("redis-03", "migrate_disk"), ("redis-04", "power_on")], changes
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "redis-04: power_on redis-04: started" in r.output
    vms = k.estate(sim).vms
    assert vms["redis-04"].power_state == "poweredOn" and vms["redis-03"].disks[0].pmem


def test_ctrl_c_at_the_confirmation_prompt_exits_130(ux_sim: simproc.PmemSim, tmp_path: Path,
                                                    _journals: Path) -> None:
    # On a real pseudo-terminal: pmemctl asks, the user presses Ctrl-C.
    import os
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    spec = k.spec(tmp_path, """
        vms:
          - name: kv-02
            nvdimms: [16GiB]
    """)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pmemctl", "apply", str(spec),
                             *k.conn_args(ux_sim)], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "TERM": "dumb"}, start_new_session=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert b"Apply this 1 change to vcenter" in seen, seen.decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        while True:  # the rest of the output
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert code == 130, seen.decode(errors="replace")
    assert b"Apply cancelled (Ctrl-C); nothing was changed." in seen
    assert k.estate(ux_sim).vms["kv-02"].nvdimms == ()
    assert list(_journals.glob("*")) == []  # no empty journal left behind


def test_the_live_display_counts_mib_while_a_storage_vmotion_runs(make_sim: MakeSim,
                                                                  tmp_path: Path) -> None:
    # The terminal display's own object, fed by a real run on pmemsim: the
    # 10 GiB move takes about 5 s, and "MiB moved" grows before it ends.
    import io

    from rich.console import Console

    from pmemctl.apply.events import Event, NullHook
    from pmemctl.apply.run import ApplyRun, exec_options, load_source, migration_mb
    from pmemctl.cli.progress import LiveProgress
    from pmemctl.vsphere.session import connect
    from pmemctl.vsphere.vcenter import VCenter

    class Recorder(LiveProgress):
        seen: list[tuple[str, int]]

        def event(self, e: Event) -> None:
            super().event(e)
            self.seen.append((e.kind, self.moved_mb))

    sim = make_sim("--copy-rate", "2GiB/s", inventory=k.inventory_file(tmp_path, INVENTORY))
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-03
            disks: {"*": pmem}
    """)
    src = load_source(spec)
    with connect(k.settings_for(sim)) as conn, \
            ApplyRun(VCenter(conn), src, exec_options(src.options)) as run:
        plan = run.prepare(NullHook())
        live = Recorder(Console(file=io.StringIO(), force_terminal=True, width=100),
                        total_changes=len(plan.changes), total_mb=migration_mb(plan))
        live.seen = []
        with live:
            result = run.execute(live, live=True)
    assert result.ok
    total = 10 * 1024
    during = [mb for kind, mb in live.seen if kind == "progress"]
    assert any(0 < mb < total for mb in during), live.seen
    assert live.seen[-1] == ("done", total)


def test_a_saved_plan_refused_after_a_rename_says_renamed(ux_sim: simproc.PmemSim,
                                                         tmp_path: Path) -> None:
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-03
            disks: {"*": pmem}
    """)
    plan = tmp_path / "plan.json"
    assert k.run(ux_sim, "plan", str(spec), "--out", str(plan)).exit_code == 0
    si = pc.connect(ux_sim)
    try:
        pc.wait(pc.vm(si, "redis-03").Rename_Task("redis-03-old"))
    finally:
        pc.disconnect(si)
    r = k.run(ux_sim, "apply", str(plan), "--yes")
    assert r.exit_code == 1
    assert "VM redis-03 was renamed to redis-03-old" in r.stderr, r.stderr
