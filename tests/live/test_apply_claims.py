"""Two operators: two applies of one spec with two journals, at once, on one pmemsim."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
LEGACY = """
    vms:
      - match: {name: "legacy-sql-*"}
        disks: {"*": pmem}
"""


def _wait_for(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"no {text} in {path} within {timeout}s")


def test_a_second_operator_is_refused_and_nothing_runs_twice(make_sim: MakeSim,
                                                             tmp_path: Path) -> None:
    sim = make_sim("--copy-rate", "90GiB/s")  # ~2 s per VM: the runs overlap
    spec = k.spec(tmp_path, LEGACY)
    ja, jb = tmp_path / "alice.jsonl", tmp_path / "bob.jsonl"
    alice = k.spawn(sim, "apply", str(spec), "--yes", "--parallel", "1", "--journal", str(ja))
    try:
        _wait_for(ja, '"type": "submitted"')
        bob = k.spawn(sim, "apply", str(spec), "--yes", "--journal", str(jb))
        out_b, err_b = bob.communicate(timeout=60)
        out_a, err_a = alice.communicate(timeout=60)
    finally:
        for p in (alice,):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert alice.returncode == 0, out_a + err_a
    assert bob.returncode == 1, out_b + err_b
    run_a = k.records(ja)[0]["run"]
    assert (f"is being changed by another pmemctl, run {run_a} (pid {alice.pid}, "
            f"journal {ja}, since ") in err_b
    assert "nothing was changed. Wait for that run to finish and run apply again" in err_b
    # Every disk moved once, by alice; bob submitted nothing.
    assert sim.stats()["RelocateVM_Task"] == 3
    assert not any(r["type"] == "submitted" for r in k.records(jb)) if jb.exists() else True
    assert all(d.pmem for n, vm in k.estate(sim).vms.items() if n.startswith("legacy-sql-")
               for d in vm.disks)
    # Now that alice is done, bob's apply goes ahead and finds nothing to do.
    r = k.run(sim, "apply", str(spec), "--yes", "--journal", str(jb))
    assert r.exit_code == 0 and "No changes. The estate matches the spec." in r.output
