"""vCenter restarts mid-apply (pmemsim ``POST /pmemsim/restart``): a clear end, then convergence.

One pmemsim serves the demo estate. Each round applies a bulk Storage vMotion
of the three ``legacy-sql-*`` VMs (to PMem, then back to ``nfs-01`` the next
round, so every round has work), restarts vCenter after a random delay from a
seeded RNG (with a random 503 window), and checks:

* the interrupted run ends with a clear message: exit 0 or 1, never
  "Internal error" nor a traceback;
* the next ``apply`` converges: every disk where the spec says, no NVDIMM
  added, and no disk moved more often than the restarts forced (at most one
  re-issue per VM whose task the restart lost);
* no ``done`` record for a task the restart made someone else's: every
  ``done`` relocation names a task whose VM (journal ``vm_moid``) matches, and
  there are never more ``done`` relocations than pmemsim ran RelocateVM_Tasks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
VMS = ("legacy-sql-01", "legacy-sql-02", "legacy-sql-03")
SPEC = """
    vms:
      - match: {{name: "legacy-sql-*"}}
        disks: {{"*": {target}}}
"""
# 180 GiB at 180 GiB/s: legacy-sql-01 and -02 take ~1 s, -03 ~0.35 s.
RATE = ("--copy-rate", "180GiB/s")
ROUNDS = 10
SEED = 20261202
BUDGET_S = 40.0


def wait_for(path: Path, text: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list(path.glob("*.jsonl"))
        if files and text in files[0].read_text():
            return True
        time.sleep(0.02)
    return False


def placed(sim: simproc.PmemSim, target: str) -> dict[str, bool]:
    inv = k.estate(sim)
    return {n: all((d.pmem if target == "pmem" else d.datastore == target)
                   for d in inv.vms[n].disks) for n in VMS}


def nvdimms(sim: simproc.PmemSim) -> dict[str, int]:
    return {n: len(vm.nvdimms) for n, vm in k.estate(sim).vms.items()}


def relocation_records(jdir: Path) -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = []
    for f in sorted(jdir.glob("*.jsonl")):
        if ".rollback-" not in f.name:
            recs += k.records(f)
    return recs


def test_ten_vcenter_restarts_mid_apply(make_sim: MakeSim, tmp_path: Path,
                                        monkeypatch: Any) -> None:
    sim = make_sim(*RATE)
    rng = random.Random(SEED)
    nv0 = nvdimms(sim)
    t0 = time.monotonic()
    rounds = 0
    internal_errors: list[str] = []
    second_tries: list[int] = []
    for i in range(ROUNDS):
        if time.monotonic() - t0 > BUDGET_S - 4:  # a loaded machine: fewer rounds, not a hang
            break  # keep the test bounded; the assertion below says how many ran
        target = "pmem" if i % 2 == 0 else "nfs-01"
        spec = k.spec(tmp_path, SPEC.format(target=target), name=f"spec-{i}.yaml")
        jdir = tmp_path / f"journals-{i}"
        env = {"PMEMCTL_JOURNAL_DIR": str(jdir)}
        monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(jdir))
        relocs_before = sim.stats().get("RelocateVM_Task", 0)

        proc = k.spawn(sim, "apply", str(spec), "--yes", "--parallel", "2", env=env)
        assert wait_for(jdir, '"type": "submitted"'), f"round {i}: nothing submitted"
        time.sleep(rng.uniform(0.05, 0.6))
        rep = sim.restart(round(rng.uniform(0.0, 0.8), 2))
        up_at = time.monotonic() + rep["down_s"]
        try:
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        both = out + err
        # The interrupted run ends with a clear message.
        assert "Traceback" not in both, both
        # "Internal error" is collected and asserted at the end, so every
        # round's other checks (convergence, false done records) still run.
        if "Internal error" in both:
            internal_errors.append(f"round {i}: " + both.strip().splitlines()[-1])
        assert proc.returncode in (0, 1), both
        assert both.strip(), "the run said nothing"

        # The next apply (once vCenter answers again) converges. While it
        # answers 503, current main says "does not look like a vCenter SDK
        # endpoint (no vimServiceVersions.xml there)": misleading (r-net).
        time.sleep(max(0.0, up_at - time.monotonic()))
        r = k.run(sim, "apply", str(spec), "--yes")
        if r.exit_code != 0:
            # A Storage vMotion the restart hid may still finish under this run
            # (pmemsim completes running tasks unseen): the run ends clearly and
            # the one after converges. Counted, so a pattern would show.
            assert "Internal error" not in r.output, f"round {i}: {r.output[-1500:]}"
            second_tries.append(i)
            r = k.run(sim, "apply", str(spec), "--yes")
        assert r.exit_code == 0, f"round {i}: {r.output[-1500:]}"
        assert all(placed(sim, target).values()), (i, placed(sim, target))
        assert nvdimms(sim) == nv0  # no NVDIMM duplicated (none added)
        again = k.run(sim, "apply", str(spec), "--yes")
        assert "No changes. The estate matches the spec." in again.output, again.output

        # No disk moved twice beyond what the restart lost: one task per VM,
        # plus at most one re-issue per VM whose task was queued (lost) or
        # whose outcome the restart hid.
        relocs = sim.stats().get("RelocateVM_Task", 0) - relocs_before
        lost = {e.split()[1] for e in rep["lost_queued"] + rep["completing"]
                if e.endswith("RelocateVM_Task")}
        assert len(VMS) <= relocs <= len(VMS) + len(lost), (i, relocs, rep)

        # No false done record: every done relocation is on its own VM, and
        # there are no more of them than relocations pmemsim ran.
        recs = relocation_records(jdir)
        intents = {r["step"]: r for r in recs if r["type"] == "intent"}
        submitted = {r["step"]: r for r in recs if r["type"] == "submitted"}
        done = [r for r in recs if r["type"] == "done" and r["step"] in submitted
                and intents[r["step"]].get("vm") in VMS]
        assert len(done) <= relocs, (i, len(done), relocs)
        for d in done:
            s = submitted[d["step"]]
            undo = intents[d["step"]].get("undo") or {}
            if s.get("vm_moid") and undo.get("vm_moid"):
                assert s["vm_moid"] == undo["vm_moid"], (i, d, s)
        rounds += 1
    elapsed = time.monotonic() - t0
    print(f"{rounds} vCenter restarts mid-apply in {elapsed:.1f}s; rounds that needed a "
          f"second apply to converge: {second_tries}")
    assert len(second_tries) <= rounds // 2, second_tries
    assert rounds >= 3, f"only {rounds} restarts ran"
    # Never "Internal error" after a vCenter restart.
    assert not internal_errors, f"{len(internal_errors)}/{rounds} runs ended in Internal error:\n" + \
        "\n".join(internal_errors)
