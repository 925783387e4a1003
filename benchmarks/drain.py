#!/usr/bin/env python3
"""Benchmark: draining a 40-VM PMem host, against the Storage vMotion lower bound, on pmemsim.

Run from the repository root::

    .venv/bin/python benchmarks/drain.py           # ~1 minute

The estate: one cluster of 5 PMem hosts (1 TiB each). The drained host
``esx-00`` runs 40 powered-on VMs: 20 with one NVDIMM (4-16 GiB) and 20
with one vPMemDisk (2-8 GiB) beside a disk on the shared SAN; the other
four hosts already use part of their PMem. At ``--copy-rate`` 1 GiB/s a VM
moves in 2-16 s (its NVDIMM or vPMemDisk bytes; the SAN disk stays).

Measured on a fresh simulator: the drain plan (:func:`make_drain_plan` on a
snapshot), its execution through the apply executor (the makespan: first
submit to last task done, default limits: 8 in flight, 2 per host, 8 per
datastore) and ``EnterMaintenanceMode_Task`` after it. The lower bound is
what vCenter's own limits allow (:func:`benchmarks.makespan.makespan_lower_bound`:
every migration charges the drained host, 2 slots, and its datastores);
the ratio is makespan / bound. Prints a Markdown table.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.makespan import makespan_lower_bound
from pmemctl.apply.executor import ExecOptions, apply_plan
from pmemctl.apply.journal import Journal
from pmemctl.apply.scheduler import Limits, build_jobs
from pmemctl.inventory.model import Scope
from pmemctl.plan.drain import DrainOptions, make_drain_plan
from pmemctl.vsphere.maintenance import enter_maintenance
from pmemctl.vsphere.session import ConnectionSettings, connect
from pmemctl.vsphere.snapshot import take_snapshot
from pmemctl.vsphere.vcenter import VCenter
from tests import simproc

RATE_MB_S = 1024.0  # --copy-rate 1GiB/s
VCENTER = Limits(total=1_000_000, per_host=2, per_datastore=8)


def estate_yaml(vms: int = 40, others: int = 4, seed: int = 7) -> str:
    """The inventory: esx-00 with ``vms`` VMs, ``others`` more PMem hosts."""
    rng = random.Random(seed)
    lines = ["clusters:", "  - name: Bench", "    hosts:"]
    lines += [f"      - {{name: esx-{h:02d}, pmem: 1TiB}}" for h in range(others + 1)]
    lines += ["datastores:", "  - {name: san-01, capacity: 16TiB}", "vms:"]
    for i in range(vms):
        common = (f"name: vm-{i:02d}, host: esx-00, guest_id: rhel8_64Guest, power: poweredOn, "
                  "hardware_version: 14")
        if i % 2 == 0:
            gib = rng.choice(range(4, 17, 2))
            lines.append(f"  - {{{common}, nvdimms: [{gib}GiB], "
                         "disks: [{size: 20GiB, datastore: san-01}]}")
        else:
            gib = rng.choice(range(2, 9))
            lines.append(f"  - {{{common}, disks: [{{size: 20GiB, datastore: san-01}}, "
                         f"{{size: {gib}GiB, datastore: pmem}}]}}")
    for h in range(1, others + 1):  # the other hosts are partly used already
        lines.append(f"  - {{name: busy-{h:02d}, host: esx-{h:02d}, guest_id: rhel8_64Guest, "
                     f"nvdimms: [{rng.choice((256, 384, 512))}GiB]}}")
    return "\n".join(lines) + "\n"


def settings(sim: simproc.PmemSim) -> ConnectionSettings:
    p = sim.parts
    assert p.hostname and p.port
    return ConnectionSettings(host=p.hostname, port=p.port, user=sim.user,
                              password=sim.password, ca_file=str(sim.cert))


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        inv_file = Path(d) / "estate.yaml"
        inv_file.write_text(estate_yaml())
        with simproc.start("--copy-rate", "1GiB/s", inventory=inv_file) as sim, \
                connect(settings(sim)) as conn:
            vs = VCenter(conn)
            t0 = time.monotonic()

            def want(light):  # type: ignore[no-untyped-def]
                return [v.name for v in light.vms.values() if v.host == "esx-00"]

            inv = take_snapshot(conn, want_devices=want, scope=Scope(hosts=("esx-00",)))
            dp = make_drain_plan(inv, DrainOptions(host="esx-00"))
            plan_s = time.monotonic() - t0
            assert not dp.plan.blocked, dp.plan.problems
            migs = [(j.vm, j.steps[0].host, j.steps[0].datastores, j.migrate_mb)
                    for j in build_jobs(dp.plan)]
            bound = makespan_lower_bound(migs, RATE_MB_S, VCENTER)
            with Journal(Path(d) / "j.jsonl") as journal:
                journal.write("run_start", command="drain", host="esx-00")
                t1 = time.monotonic()
                result = apply_plan(vs, dp.plan, inv, ExecOptions(progress=False),
                                    journal=journal)
                makespan = time.monotonic() - t1
            assert result.ok, result.summary()
            t2 = time.monotonic()
            state = enter_maintenance(vs, dp.host_moid, 60)
            maint_s = time.monotonic() - t2
            assert state.state == "success", state
    moved_gib = sum(m[3] for m in migs) / 1024
    targets = sorted({p.target for p in dp.placement})
    print(f"\nDrain of esx-00: {len(migs)} VMs ({moved_gib:.0f} GiB of NVDIMMs and "
          f"vPMemDisks) to {', '.join(targets)} at 1 GiB/s\n")
    print("| measure | figure |")
    print("|---|---|")
    print(f"| plan (snapshot + placement) | {plan_s:.1f} s |")
    print(f"| drain makespan | {makespan:.1f} s |")
    print(f"| lower bound ({bound.binding}) | {bound.seconds:.1f} s |")
    print(f"| ratio | {makespan / bound.seconds:.3f} |")
    print(f"| EnterMaintenanceMode_Task after the drain | {maint_s:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
