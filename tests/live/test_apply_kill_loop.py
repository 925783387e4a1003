"""Twenty real SIGKILLs of ``pmemctl apply`` on pmemsim, resumed with random journal paths.

The issue's done-when: "A 20-trial kill loop with random journal paths leaves
0 VMs off and 0 duplicates". Each trial starts ``pmemctl apply`` as a
process (its own process group), kills it with SIGKILL after a delay drawn by
a seeded RNG, and runs ``apply`` again with a journal path drawn at random:
the killed run's own path, or a new one that knows nothing of it. The owed
power-ons must then be found on the VMs themselves (the marker), not in the
journal.

Trials alternate two specs over one pmemsim, so every trial has work and a
power cycle in it: add an 8 GiB NVDIMM and move the disk onto PMem; then
remove the NVDIMM and move the disk back to ``nfs-01``. After each resume:

* every VM is powered on (pmemctl powered them all off, none was off before);
* every VM has exactly the NVDIMMs the spec asks for (no duplicate device);
* every disk is where the spec says;
* pmemsim ran no more RelocateVM_Tasks than there were disks to move, and
  no more NVDIMM reconfigurations than VMs (nothing submitted twice);
* a plan with the same spec finds nothing to do (every fourth trial).

The seed and the trial are in every assertion message.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pmemctl.inventory.model import PowerState
from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
VMS = [f"app-{i:02d}" for i in range(1, 7)]
ESTATE = """\
datacenter: DC0
clusters:
  - name: Prod
    hosts:
      - {name: esx-01, pmem: 256GiB}
      - {name: esx-02, pmem: 256GiB}
datastores:
  - {name: san-01, type: VMFS, capacity: 4TiB}
  - {name: nfs-01, type: NFS, capacity: 4TiB, hosts: [esx-01, esx-02]}
vms:
""" + "".join(
    f"  - {{name: {vm}, host: esx-0{i % 2 + 1}, hardware_version: 14, guest_id: rhel8_64Guest,\n"
    f"     power: poweredOn, disks: [{{size: 20GiB, datastore: nfs-01}}]}}\n"
    for i, vm in enumerate(VMS))
OPTIONS = "options: {power_off: true, allow_data_loss: true, shutdown_timeout_s: 30, " \
          "parallel: {total: 3}}\n"
TO_PMEM = OPTIONS + """vms:
  - match: {name: "app-*"}
    nvdimms: [8GiB]
    disks: {"*": pmem}
"""
BACK = OPTIONS + """vms:
  - match: {name: "app-*"}
    nvdimms: []
    disks: {"*": nfs-01}
"""
TRIALS = 20
SEED = 20261203
# 20 GiB at 40 GiB/s: each disk copies for ~0.5 s, so a trial's apply runs
# for a few seconds and the kill lands anywhere in it: before the first
# shutdown, among shutdowns, reconfigurations, relocations and power-ons.
RATE = ("--copy-rate", "40GiB/s")


def kill_after(proc: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL ``proc``'s process group after ``delay`` s; False when it ended first."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return True


def test_twenty_sigkills_with_random_journal_paths_leave_no_vm_off_and_nothing_twice(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(*RATE, inventory=k.inventory_file(tmp_path, ESTATE))
    rng = random.Random(SEED)
    specs = {"pmem": k.spec(tmp_path, TO_PMEM, "to-pmem.yaml"),
             "back": k.spec(tmp_path, BACK, "back.yaml")}
    journals = tmp_path / "journals"
    journals.mkdir()
    killed = new_paths = 0
    for trial in range(TRIALS):
        where = "pmem" if trial % 2 == 0 else "back"
        spec = specs[where]
        ctx = f"seed {SEED}, trial {trial} ({where})"
        first = journals / f"t{trial}-a.jsonl"
        before = sim.stats()
        proc = k.spawn(sim, "apply", str(spec), "--yes", "--journal", str(first))
        killed += kill_after(proc, rng.uniform(0.2, 3.0))
        # The resume: the killed run's journal, or one that has never heard of it.
        fresh = rng.random() < 0.5
        new_paths += fresh
        second = journals / f"t{trial}-b.jsonl" if fresh else first
        r = k.run(sim, "apply", str(spec), "--yes", "--journal", str(second))
        assert r.exit_code == 0, f"{ctx}: {r.output}"
        assert "Internal error" not in r.output, ctx

        inv = k.estate(sim)
        off = [vm for vm in VMS if inv.vms[vm].power_state is not PowerState.ON]
        assert off == [], f"{ctx}: left powered off: {off}"
        want_nvdimms = 1 if where == "pmem" else 0
        wrong = {vm: len(inv.vms[vm].nvdimms) for vm in VMS
                 if len(inv.vms[vm].nvdimms) != want_nvdimms}
        assert wrong == {}, f"{ctx}: NVDIMMs per VM {wrong}"
        misplaced = [vm for vm in VMS for d in inv.vms[vm].disks
                     if (not d.pmem if where == "pmem" else d.datastore != "nfs-01")]
        assert misplaced == [], f"{ctx}: disks not moved: {misplaced}"
        ran = k.delta(before, sim.stats())
        assert ran.get("RelocateVM_Task", 0) <= len(VMS), f"{ctx}: relocations {ran}"
        assert ran.get("ReconfigVM_Task", 0) <= len(VMS), f"{ctx}: reconfigurations {ran}"
        if trial % 4 == 3:  # a plan costs a second; the estate checks above are the proof
            plan = k.run(sim, "plan", str(spec), "--detailed-exitcode", "--journal", str(second))
            assert plan.exit_code == 0, f"{ctx}: {plan.output}"
    # The loop tested what it says: most trials were killed mid-run, and
    # several resumed from a journal that knew nothing of the killed run.
    assert killed >= TRIALS * 3 // 4, killed
    assert new_paths >= 5, new_paths


@pytest.fixture(autouse=True)
def _journal_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Claims and anything else that defaults to the journal directory stay in tmp.
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))

