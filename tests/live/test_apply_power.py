"""Live: power cycles a service owner can live with (rolling --max-down, Tools, hard power off).

pmemsim brings VMware Tools up ``--tools-delay`` after a power-on, so "powered
on" and "back" are two moments here, as on vCenter. A watcher thread samples
every VM's power state and ``guest.toolsRunningStatus`` on its own session
while apply runs: that is the sim's side of "never two members down at once";
the journal's timestamps are pmemctl's side.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pyVmomi import vim

from pmemctl.cli import cli
from tests import simproc
from tests.live import applykit as k
from tests.pmemsim import client as pc

MakeSim = Callable[..., simproc.PmemSim]
REDIS = ("redis-a", "redis-b", "redis-c")

ESTATE = """\
clusters:
  - name: Prod
    hosts: [{name: esx-01, pmem: 512GiB}]
datastores:
  - {name: san-01, capacity: 2TiB}
vms:
  - {name: redis-a, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, disks: [{size: 8GiB, datastore: san-01}]}
  - {name: redis-b, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, disks: [{size: 8GiB, datastore: san-01}]}
  - {name: redis-c, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, disks: [{size: 8GiB, datastore: san-01}]}
  - {name: legacy-01, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn, tools: false, disks: [{size: 8GiB, datastore: san-01}]}
"""

ROLLING = """
options:
  power_off: true
  nvdimm_snapshot_mode: independent_persistent
  shutdown_timeout_s: 60
  tools_timeout_s: {tools_timeout}
vms:
  - match: {{name: "redis-*"}}
    nvdimms: [16GiB]
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


@contextmanager
def sampled(sim: simproc.PmemSim) -> Iterator[list[tuple[float, dict[str, tuple[str, str]]]]]:
    """Sample (power state, Tools status) of every VM every ~50 ms until the block ends."""
    samples: list[tuple[float, dict[str, tuple[str, str]]]] = []
    stop = threading.Event()
    si = pc.connect(sim)

    def loop() -> None:
        while not stop.is_set():
            objs, _ = pc.retrieve(si, vim.VirtualMachine,
                                  ["name", "runtime.powerState", "guest.toolsRunningStatus"])
            row: dict[str, tuple[str, str]] = {}
            for o in objs:
                p: dict[str, Any] = {x.name: x.val for x in o.propSet}
                row[str(p["name"])] = (str(p["runtime.powerState"]),
                                       str(p.get("guest.toolsRunningStatus")))
            samples.append((time.time(), row))
            stop.wait(0.05)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield samples
    finally:
        stop.set()
        t.join(10)
        pc.disconnect(si)


def not_serving(row: dict[str, tuple[str, str]]) -> set[str]:
    """The Redis VMs that are off, or on without Tools running yet."""
    return {vm for vm in REDIS if row[vm] != ("poweredOn", "guestToolsRunning")}


def windows(records: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Per VM: journal time of its power-off intent, and of its power-on ``done``."""
    kinds = {r["step"]: (r["vm"], r["kind"]) for r in records if r["type"] == "intent"}
    start = {r["vm"]: r["time"] for r in records
             if r["type"] == "intent" and r["kind"] == "power_off"}
    end = {kinds[r["step"]][0]: r["time"] for r in records
           if r["type"] == "done" and kinds[r["step"]][1] == "power_on"}
    return {vm: (start[vm], end[vm]) for vm in start}


def test_rolling_power_cycle_max_down_1_never_has_two_down(make_sim: MakeSim,
                                                           tmp_path: Path) -> None:
    sim = make_sim("--tools-delay", "700ms",
                   inventory=k.inventory_file(tmp_path, ESTATE))
    spec = k.spec(tmp_path, ROLLING.format(tools_timeout=60))
    plan = json.loads(k.run(sim, "plan", str(spec), "-o", "json").output)
    offs = [c for c in plan["changes"] if c["action"] == "power_off"]
    assert [c["payload"] for c in offs] == [{"type": "power_off", "method": "guest",
                                             "timeout_s": 60}] * 3
    assert all(c["reason"].endswith(": guest shutdown (timeout 60 s), then power off")
               for c in offs)
    with sampled(sim) as samples:
        r = k.run(sim, "apply", str(spec), "--yes", "--max-down", "1")
    assert r.exit_code == 0, r.output
    assert "powered on; waiting for VMware Tools (timeout 60 s)" in r.output
    ons = [c for c in plan["changes"] if c["action"] == "power_on"]
    assert [c["payload"] for c in ons] == [{"type": "power_on", "owed": False, "wait_tools": True,
                                            "tools_timeout_s": 60}] * 3

    # pmemsim's side: never two members off or without Tools at once, and each one was.
    assert len(samples) > 20
    down = [not_serving(row) for _, row in samples]
    assert max(len(d) for d in down) == 1, [d for d in down if len(d) > 1][:3]
    assert set().union(*down) == set(REDIS)

    # pmemctl's side: each VM's window, from its power-off to its power-on done (which
    # is when its Tools ran), ends before the next VM's power-off starts.
    recs = k.records(k.journal_file(tmp_path))
    spans = sorted(windows(recs).values())
    assert len(spans) == 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end
    waited = [r["tools_s"] for r in recs if r["type"] == "done" and "tools_s" in r]
    assert len(waited) == 3 and all(s >= 0.5 for s in waited), waited  # --tools-delay 700ms
    assert sum(r["type"] == "powered_on" for r in recs) == 3
    vms = k.estate(sim).vms
    assert all(vms[n].tools_running and len(vms[n].nvdimms) == 1 for n in REDIS)


def test_without_max_down_the_vms_go_down_together(make_sim: MakeSim, tmp_path: Path) -> None:
    # The control for the test above: the sampler does see overlap when nothing caps it.
    sim = make_sim("--tools-delay", "700ms", inventory=k.inventory_file(tmp_path, ESTATE))
    spec = k.spec(tmp_path, ROLLING.format(tools_timeout=60))
    with sampled(sim) as samples:
        r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert max(len(not_serving(row)) for _, row in samples) >= 2


def test_tools_that_do_not_come_back_stop_the_rolling_change(make_sim: MakeSim,
                                                             tmp_path: Path) -> None:
    sim = make_sim("--tools-delay", "30s", inventory=k.inventory_file(tmp_path, ESTATE))
    spec = k.spec(tmp_path, ROLLING.format(tools_timeout=2))
    r = k.run(sim, "apply", str(spec), "--yes", "--max-down", "1", "--on-failure", "continue")
    assert r.exit_code == 1, r.output
    assert "ToolsTimeout" in r.output
    assert "VMware Tools did not report running within 2 s" in r.output
    vms = k.estate(sim).vms
    # One VM went down and came back powered on (its guest still booting); the others
    # were never touched: parallel.down counts it as down until its Tools run.
    cycled = [n for n in REDIS if vms[n].nvdimms]
    assert len(cycled) == 1
    assert all(vms[n].power_state == "poweredOn" for n in REDIS)
    assert all(vms[n].owed_power_on == "" for n in REDIS)
    others = [n for n in REDIS if n not in cycled]
    for n in others:
        assert (f"{n}: power_off {n}: skipped (not powered off: parallel.down is 1 and "
                f"{cycled[0]} still count as down") in r.output


def test_hard_power_off_needs_its_own_opt_in(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, ESTATE))
    text = """
        options: {power_off: true, nvdimm_snapshot_mode: independent_persistent%s}
        vms:
          - name: legacy-01
            nvdimms: [16GiB]
    """
    spec = k.spec(tmp_path, text % "")
    r = k.run(sim, "plan", str(spec))
    assert r.exit_code == 1
    assert ("VM legacy-01 has no running VMware Tools, so adding NVDIMM 1 needs a hard power "
            "off") in r.output
    assert "set options.hard_power_off: true" in r.output
    spec = k.spec(tmp_path, text % ", hard_power_off: true", name="hard.yaml")
    r = k.run(sim, "plan", str(spec), "-o", "json")
    assert r.exit_code == 0, r.output
    changes = json.loads(r.output)["changes"]
    off = next(c for c in changes if c["action"] == "power_off")
    on = next(c for c in changes if c["action"] == "power_on")
    assert off["payload"] == {"type": "power_off", "method": "hard", "timeout_s": 300}
    assert off["reason"].endswith("hard power off (no VMware Tools)")
    assert on["payload"]["wait_tools"] is False
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    vm = k.estate(sim).vms["legacy-01"]
    assert vm.power_state == "poweredOn" and len(vm.nvdimms) == 1


def test_pmemsim_tools_come_up_after_the_power_on(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim("--tools-delay", "1500ms", inventory=k.inventory_file(tmp_path, ESTATE))
    si = pc.connect(sim)
    try:
        v = pc.vm(si, "redis-a")
        assert v.guest.toolsRunningStatus == "guestToolsRunning"  # inventory VMs start up
        pc.ok(v.PowerOffVM_Task())
        assert v.guest.toolsRunningStatus == "guestToolsNotRunning"
        t0 = time.monotonic()
        pc.ok(v.PowerOnVM_Task())
        assert v.runtime.powerState == "poweredOn"
        assert (v.guest.toolsRunningStatus, v.guest.guestState) == ("guestToolsNotRunning",
                                                                    "notRunning")
        with pytest.raises(vim.fault.ToolsUnavailable):
            v.ShutdownGuest()  # the guest is still booting
        while v.guest.toolsRunningStatus != "guestToolsRunning":
            assert time.monotonic() - t0 < 10
            time.sleep(0.05)
        assert time.monotonic() - t0 >= 1.0
        assert (v.guest.guestState, v.guest.toolsStatus) == ("running", "toolsOk")
        # A VM without Tools never reports them, however long it runs.
        nt = pc.vm(si, "legacy-01")
        pc.ok(nt.PowerOffVM_Task())
        pc.ok(nt.PowerOnVM_Task())
        time.sleep(1.7)
        assert nt.guest.toolsRunningStatus == "guestToolsNotRunning"
    finally:
        pc.disconnect(si)


UPGRADE_ESTATE = """\
clusters:
  - name: Prod
    hosts: [{name: esx-01, pmem: 512GiB}]
datastores:
  - {name: san-01, capacity: 2TiB}
vms:
  - {name: db-13, host: esx-01, hardware_version: 13, guest_id: rhel8_64Guest, disks: [{size: 8GiB, datastore: san-01}]}
  - {name: db-15, host: esx-01, hardware_version: 15, guest_id: rhel8_64Guest, disks: [{size: 8GiB, datastore: san-01}]}
  - {name: db-20, host: esx-01, hardware_version: 20, guest_id: rhel8_64Guest, disks: [{size: 8GiB, datastore: san-01}]}
"""


def test_upgrade_hardware_to_a_named_version(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, UPGRADE_ESTATE))
    text = """
        options: {upgrade_hardware: %s, nvdimm_snapshot_mode: independent_persistent}
        vms:
          - match: {name: "%s"}
            nvdimms: [16GiB]
    """
    bad = k.spec(tmp_path, text % ("vmx19", "db-*"), name="bad.yaml")
    r = CliRunner().invoke(cli, ["validate", str(bad)])  # offline: no connection flags
    assert r.exit_code == 1, r.output
    assert (f"{bad}:3:29: options.upgrade_hardware: expected true, false or a hardware "
            "version such as 'vmx-19', got 'vmx19'") in r.output
    # db-20 is newer than vmx-19: never a downgrade, a problem instead.
    spec = k.spec(tmp_path, text % ("vmx-19", "db-*"))
    r = k.run(sim, "plan", str(spec))
    assert r.exit_code == 1
    assert "VM db-20 is vmx-20, newer than options.upgrade_hardware vmx-19" in r.output
    spec = k.spec(tmp_path, text % ("vmx-19", "db-1*"), name="ok.yaml")
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    vms = k.estate(sim).vms
    assert {n: vms[n].hardware_version for n in ("db-13", "db-15", "db-20")} == {
        "db-13": 19, "db-15": 19, "db-20": 20}
    assert all(len(vms[n].nvdimms) == 1 for n in ("db-13", "db-15"))
