"""Kill ``apply`` at random points, run it again (sometimes with a new journal): no VM stays off.

The estate is a :class:`~pmemctl.testing.FakeVSphere` in fake time, so 24
trials take well under a second each and run in the normal suite. A *kill*
is a :class:`BaseException` nothing in pmemctl catches, raised either

* at a fake time drawn by a seeded RNG (the run dies while waiting: tasks
  and guest shutdowns go on in "vCenter", as after a SIGKILL), or
* right after the Nth estate-changing call returned (the run dies between
  the submit, or the marker, and the journal record of it).

The re-run, with the same or (every other trial) a NEW journal path, must
leave every VM powered on, with exactly the one NVDIMM the spec asks for (no
duplicate), and no owed-power-on marker left. The seed is printed on failure.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from pmemctl.apply.run import ApplyRun, exec_options, load_source
from pmemctl.inventory.model import Inventory
from pmemctl.testing import FakeVSphere
from tests.unit import builders as b
from tests.unit.fakerun import Events

pytestmark = pytest.mark.unit

VMS = [f"app-{i:02d}" for i in range(1, 7)]
SPEC = """\
apiVersion: pmemctl/v1
options: {power_off: true, upgrade_hardware: true, shutdown_timeout_s: 30,
          hard_power_off: true, parallel: {total: 3}}
vms:
  - match: {name: "app-*"}
    nvdimms: [16GiB]
"""
TRIALS = 24
SEED = 20240611


class Killed(BaseException):
    """The process died (SIGKILL): nothing in pmemctl catches a BaseException."""


class KillableFake(FakeVSphere):
    """A FakeVSphere that dies after its Nth estate-changing call (None: never)."""

    kill_after: int | None = None
    changes = 0

    def _tick(self) -> None:
        self.changes += 1
        if self.kill_after is not None and self.changes == self.kill_after:
            self.kill_after = None
            raise Killed(f"after change call {self.changes}")

    def _task(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        tid = super()._task(*args, **kwargs)
        if not self.calls[-1].startswith("watch"):
            self._tick()  # the task is submitted; its id never reaches the journal
        return tid

    def set_owed_power_on(self, vm_moid: str, value: str) -> None:
        super().set_owed_power_on(vm_moid, value)
        self._tick()

    def shutdown_guest(self, vm_moid: str) -> str | None:
        out = super().shutdown_guest(vm_moid)
        self._tick()
        return out


def estate() -> Inventory:
    # Half the guests have Tools (guest shutdown, no task), half not (hard power off).
    return b.inventory(hosts=[b.host()], vms=[
        b.vm(n, hw=13, power="poweredOn", tools_running=i % 2 == 0) for i, n in enumerate(VMS)])


def kill() -> None:
    raise Killed("at a random time")


def apply_once(vs: FakeVSphere, spec: Path, journal: Path) -> bool:
    """One ``apply --yes``; True when it ran to the end, False when killed."""
    src = load_source(spec)
    try:
        with ApplyRun(vs, src, exec_options(src.options), journal) as run:
            plan = run.prepare(Events())
            if plan.empty:
                return True
            result = run.execute(Events())
            assert result.ok, [(r.change.vm, r.change.action.value, r.fault, r.message)
                               for r in result.failures]
    except Killed:
        return False
    return True


def uninterrupted_s(tmp_path: Path, spec: Path) -> float:
    vs = KillableFake(estate())
    assert apply_once(vs, spec, tmp_path / "full.jsonl")
    return vs.clock.now - 1000.0


def test_kill_at_random_then_rerun_leaves_no_vm_off_and_nothing_twice(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(SPEC))
    span = uninterrupted_s(tmp_path, spec)
    assert span > 5  # the kills below land inside the run
    rng = random.Random(SEED)
    kills = 0
    for trial in range(TRIALS):
        vs = KillableFake(estate())
        by_time = trial % 3 != 2
        if by_time:
            point = f"t+{rng.uniform(0.0, span):.2f}s"
            vs.at(1000.0 + float(point[2:-1]), kill)
        else:
            n = rng.randint(1, 4 * len(VMS))
            point = f"call {n}"
            vs.kill_after = n
        first = tmp_path / f"t{trial}.jsonl"
        again = tmp_path / f"t{trial}-new.jsonl" if trial % 2 else first
        killed = not apply_once(vs, spec, first)
        vs.kill_after = None
        kills += killed
        assert apply_once(vs, spec, again), f"seed {SEED} trial {trial}: re-run died"
        where = f"seed {SEED} trial {trial} (kill {point}, killed={killed}, new journal=" \
                f"{again != first})"
        inv = vs.inventory
        off = sorted(n for n in VMS if inv.vms[n].power_state != "poweredOn")
        assert off == [], f"{where}: left off {off}"
        twice = sorted(n for n in VMS if len(inv.vms[n].nvdimms) != 1)
        assert twice == [], f"{where}: NVDIMMs {[len(inv.vms[n].nvdimms) for n in twice]}"
        marked = sorted(n for n in VMS if inv.vms[n].owed_power_on)
        assert marked == [], f"{where}: markers left on {marked}"
        assert all(inv.vms[n].hardware_version == 14 for n in VMS), where
    assert kills >= TRIALS * 3 // 4  # the kill points really landed inside the runs
