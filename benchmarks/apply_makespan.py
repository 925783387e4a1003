#!/usr/bin/env python3
"""Benchmark: makespan and round trips of a bulk migration onto PMem, on pmemsim.

Run from the repository root::

    .venv/bin/python benchmarks/apply_makespan.py            # ~7 minutes (--runs 3)
    .venv/bin/python benchmarks/apply_makespan.py --quick    # smaller, ~2 minutes
    .venv/bin/python benchmarks/apply_makespan.py --runs 1   # one run of each, ~4 minutes

The estate: 20 PMem hosts, 200 VMs with one disk each (1-4 GiB, varied so
that the order matters), at ``--copy-rate`` 1 GiB/s, so one migration takes
1-4 s. The spec moves every disk onto PMem. Two topologies:

* *shared SAN*: every source disk on one datastore, as in a cluster backed
  by one SAN LUN. vCenter's 8-per-datastore limit binds.
* *spread*: sources over 20 datastores. vCenter's 2-per-host limit binds
  (40 at once), so pmemctl's own ``total`` cap (default 8, a blast-radius
  limit, not a vCenter one) must be raised with ``--parallel 40``.

Measured, each on a fresh simulator:

1. ``apply`` through the library API: shared SAN with default limits (8
   total, 2/host, 8/datastore); spread with ``--parallel 40``. Makespan vs
   the lower bound that vCenter's limits set (2/host, 8/datastore, no total
   cap; :func:`benchmarks.makespan.makespan_lower_bound`, which says
   which constraint binds) and SOAP requests per migration from
   ``/pmemsim/stats``.
2. A sequential loop, one RelocateVM_Task at a time waiting on each (what
   an Ansible or govc loop does). Running all 200 one by one would take
   ~8 minutes, so by default it runs a sample of every 5th disk and scales
   the time by total MiB / sample MiB (``--full-sequential`` runs all).

Prints a Markdown table; exits 1 (printing "over target", never FAIL) when,
in the two applies without a progress display (what the CLI does without a
terminal), the median makespan ratio of ``--runs`` runs exceeds 1.05 (shared
SAN) or 1.10 (spread), or requests per migration exceed 4. A third apply
watches ``task.info.progress`` as the terminal display does, for comparison.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyVim.task import WaitForTask
from pyVmomi import vim

from benchmarks.makespan import makespan_lower_bound, simulate_makespan
from pmemctl.apply.executor import ExecOptions, apply_plan
from pmemctl.apply.journal import Journal
from pmemctl.apply.scheduler import Limits, build_jobs
from pmemctl.plan.payloads import MigrateDisk
from pmemctl.plan.planner import make_plan
from pmemctl.plan.select import select_vms
from pmemctl.spec.load import load_spec_text
from pmemctl.vsphere import actions, calls
from pmemctl.vsphere.session import ConnectionSettings, connect
from pmemctl.vsphere.snapshot import take_snapshot
from pmemctl.vsphere.vcenter import VCenter
from tests import simproc

SPEC = """\
apiVersion: pmemctl/v1
vms:
  - match: {name: "bench-*"}
    disks: {"*": pmem}
"""
RATE_MB_S = 1024.0  # --copy-rate 1GiB/s


def estate_yaml(hosts: int, vms: int, sources: int, seed: int = 42) -> tuple[str, list[int]]:
    """The inventory YAML and the disk sizes (MiB) in VM order."""
    rng = random.Random(seed)
    sizes = [rng.choice(range(1024, 4096 + 1, 256)) for _ in range(vms)]
    lines = ["datacenter: DC0", "clusters:", "  - name: Bench", "    hosts:"]
    lines += [f"      - {{name: esx-{h:02d}, pmem: 1TiB}}" for h in range(hosts)]
    lines += ["datastores:"]
    lines += [f"  - {{name: src-{d:02d}, type: VMFS, capacity: 4TiB}}" for d in range(sources)]
    lines += ["vms:"]
    for i, mb in enumerate(sizes):
        lines.append(
            f"  - {{name: bench-{i:03d}, host: esx-{i % hosts:02d}, hardware_version: 14, "
            f"guest_id: rhel8_64Guest, power: poweredOn, "
            f"disks: [{{size: {mb}MiB, datastore: src-{(i * 7 + i // hosts) % sources:02d}}}]}}")
    return "\n".join(lines) + "\n", sizes


def settings(sim: simproc.PmemSim) -> ConnectionSettings:
    p = sim.parts
    assert p.hostname and p.port
    return ConnectionSettings(host=p.hostname, port=p.port, user=sim.user,
                              password=sim.password, ca_file=str(sim.cert))


@dataclass
class Run:
    label: str
    makespan: float
    bound: float
    binding: str
    requests: int
    migrations: int
    simulated: float  # this scheduler with zero overhead
    # Seconds from each task's completeTime on the server to pmemctl's journal
    # record of it ("done"): how late pmemctl sees a completion.
    notice: list[float]

    @property
    def ratio(self) -> float:
        return self.makespan / self.bound

    @property
    def per_migration(self) -> float:
        return self.requests / self.migrations


# vCenter's own limits: 2 Storage vMotions per host, 8 per datastore, nothing global.
VCENTER = Limits(total=1_000_000, per_host=2, per_datastore=8)


def run_apply(inv_file: Path, limits: Limits, label: str, progress: bool = False) -> Run:
    """One apply on a fresh sim; makespan measured around the executor only."""
    with simproc.start("--copy-rate", "1GiB/s", inventory=inv_file) as sim:
        spec = load_spec_text(SPEC, "bench.yaml")
        with connect(settings(sim)) as conn:
            inventory = take_snapshot(conn, want_devices=lambda light: select_vms(
                spec, light).names)
            plan = make_plan(spec, inventory)
            assert not plan.blocked, plan.problems
            migs = [(j.vm, j.steps[0].host, j.steps[0].datastores, j.migrate_mb)
                    for j in build_jobs(plan)]
            bound = makespan_lower_bound(migs, RATE_MB_S, VCENTER)
            simulated = simulate_makespan(plan, limits, RATE_MB_S)
            with tempfile.TemporaryDirectory() as d, Journal(Path(d) / "j.jsonl") as journal:
                journal.write("run_start", command="apply", spec="bench.yaml")
                before = sim.stats()
                t0 = time.monotonic()
                opts = ExecOptions(limits=limits, progress=progress)
                result = apply_plan(VCenter(conn), plan, inventory, opts, journal=journal)
                makespan = time.monotonic() - t0
                after = sim.stats()
                notice = completion_notice(conn, journal.path)
        assert result.ok, result.summary()
        requests = sum(after.values()) - sum(before.values())
        return Run(label, makespan, bound.seconds, bound.binding, requests, len(migs), simulated,
                   notice)


def completion_notice(conn: Any, journal_path: Path) -> list[float]:
    """Per task: journal ``done`` time minus the server's ``info.completeTime``, in seconds.

    Same machine, same clock. Read after the run (outside the measured
    makespan and request counts), one property read per task.
    """
    import json

    done: dict[str, float] = {}
    for line in journal_path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("type") == "done" and rec.get("task"):
            done[rec["task"]] = float(rec["time"])
    stub = conn.content.propertyCollector._stub
    out = []
    for task_id, noted in done.items():
        complete = vim.Task(task_id, stub).info.completeTime
        if complete is not None:
            out.append(noted - complete.timestamp())
    return sorted(out)


def median_run(runs: list[Run]) -> Run:
    """The run whose makespan ratio is the median of ``runs`` (the lower middle for an even
    count), labelled with how many there were."""
    ordered = sorted(runs, key=lambda r: r.ratio)
    mid = ordered[(len(ordered) - 1) // 2]
    if len(runs) == 1:
        return mid
    ratios = ", ".join(f"{r.ratio:.3f}" for r in runs)
    return Run(f"{mid.label}, median of {len(runs)} (ratios {ratios})", mid.makespan, mid.bound,
               mid.binding, mid.requests, mid.migrations, mid.simulated, mid.notice)


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` (nearest rank); 0 when empty."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def run_sequential(inv_file: Path, every: int) -> tuple[float, int, int]:
    """Relocate one disk at a time, waiting on each; returns (seconds, MiB moved, disks)."""
    with simproc.start("--copy-rate", "1GiB/s", inventory=inv_file) as sim, \
            connect(settings(sim)) as conn:
        spec = load_spec_text(SPEC, "bench.yaml")
        inventory = take_snapshot(conn, want_devices=lambda light: select_vms(spec, light).names)
        plan = make_plan(spec, inventory)
        stub = conn.content.propertyCollector._stub
        changes = plan.changes[::every]
        t0 = time.monotonic()
        for c in changes:
            # What a loop script sends: the documented deviceChange shape, one disk at
            # a time (vCenter refuses a locator naming the PMem datastore).
            vm: Any = vim.VirtualMachine(c.vm_moid, stub)
            devices = calls.fetch_devices(conn.content, [c.vm_moid])[c.vm_moid]
            spec_obj = actions.relocate_spec([c], devices, inventory.pmem_policy_id, stub=stub)
            WaitForTask(vm.RelocateVM_Task(spec=spec_obj))
        elapsed = time.monotonic() - t0
        return elapsed, sum(c.payload.size_mb for c in changes
                            if isinstance(c.payload, MigrateDisk)), len(changes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 VMs instead of 200")
    ap.add_argument("--full-sequential", action="store_true",
                    help="run the sequential loop over every disk (slow)")
    ap.add_argument("--runs", type=int, default=3,
                    help="runs of the two measured applies; the table shows the run with "
                         "the median ratio, and the targets judge the median (default 3)")
    args = ap.parse_args()
    vms = 60 if args.quick else 200
    text, sizes = estate_yaml(hosts=20, vms=vms, sources=20)
    shared, _ = estate_yaml(hosts=20, vms=vms, sources=1)
    with tempfile.TemporaryDirectory() as d:
        inv_file = Path(d) / "estate.yaml"
        inv_file.write_text(text)
        shared_file = Path(d) / "shared.yaml"
        shared_file.write_text(shared)
        # progress=False is what the CLI does without a terminal (CI, scripts); the live
        # display on a terminal also watches task.info.progress: measured separately.
        # A shared, noisy machine: each measured apply runs --runs times and the
        # run with the median ratio stands for it (a single slow run never decides).
        runs = [median_run([run_apply(shared_file, Limits(), "shared SAN, default limits (8/2/8)")
                            for _ in range(args.runs)]),
                median_run([run_apply(inv_file, Limits(total=40), "spread, --parallel 40 (40/2/8)")
                            for _ in range(args.runs)]),
                run_apply(inv_file, Limits(total=40),
                          "spread, --parallel 40, watching info.progress (terminal)", True)]
        every = 1 if args.full_sequential else 5
        seq_s, seq_mb, seq_n = run_sequential(shared_file, every)
    total_mb = sum(sizes)
    seq_total = seq_s * total_mb / seq_mb
    print(f"\n{vms} disk migrations onto PMem, 20 hosts, "
          f"{sum(sizes) / 1024:.0f} GiB at 1 GiB/s (1-4 s each)\n")
    print("| run | makespan | lower bound | binding constraint | ratio | schedule without "
          "overhead (ratio) | SOAP requests | requests/migration | completion noticed after "
          "(median / p95 / max) | speed-up vs sequential |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r.label} | {r.makespan:.1f} s | {r.bound:.1f} s | {r.binding} | "
              f"{r.ratio:.3f} | {r.simulated:.1f} s ({r.simulated / r.bound:.3f}) | "
              f"{r.requests} | {r.per_migration:.2f} | {quantile(r.notice, 0.5):.3f} s / "
              f"{quantile(r.notice, 0.95):.3f} s / {quantile(r.notice, 1.0):.3f} s | "
              f"{seq_total / r.makespan:.1f}× |")
    how = "measured" if every == 1 else f"{seq_n} of {vms} measured ({seq_s:.1f} s), scaled by MiB"
    serial_bound = total_mb / RATE_MB_S
    print(f"| sequential loop (RelocateVM_Task + WaitForTask each) | {seq_total:.1f} s | "
          f"{serial_bound:.1f} s | one at a time | {seq_total / serial_bound:.3f} "
          f"| - | - | - | 1.0× ({how}) |")
    # The targets: 1.05x the bound on one shared datastore, 1.10x spread.
    ok = (runs[0].ratio <= 1.05 and runs[1].ratio <= 1.10
          and all(r.per_migration <= 4 for r in runs[:2]))
    print("\nwithin target" if ok else
          "\nover target (1.05x shared, 1.10x spread, 4 requests per migration): "
          "on a shared, noisy machine run it again before believing it")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
