#!/usr/bin/env python3
"""Benchmark: `pmemctl plan` on a 5,000-VM pmemsim estate vs a naive pyVmomi walk.

Run from the project root after `tests/run` (or `source tests/bootstrap.sh`):

    .venv/bin/python benchmarks/plan_roundtrips.py [--sample 100]

What it measures, side by side in one run, at --latency-ms 0 and 20:

* pmemctl plan for a spec that selects 50 VMs (2 hosts x 25 VMs) of a
  generated estate of 10 clusters x 20 hosts x 25 VMs (5,000 VMs, 10,000
  disks): wall time, SOAP requests (from /pmemsim/stats, login included) and
  the peak RSS of the pmemctl process.
* a naive walk: what a script that reads the same facts through pyVmomi
  attribute access does (one RetrieveProperties per attribute per VM). With
  20 ms latency a full walk would take minutes, so it walks --sample VMs
  and extrapolates linearly to 5,000; the table says which figures are
  extrapolated.

Targets (issue 3): at most 12 SOAP requests, under 10 s, under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import simproc  # noqa: E402

ESTATE = """\
datacenter: DC0
generate:
  clusters: 10
  hosts_per_cluster: 20
  vms_per_host: 25
  pmem_per_host: 2TiB
  disks_per_vm: 2
  disk_size: 40GiB
"""

SPEC = """\
apiVersion: pmemctl/v1
vms:
  - match: {name: "vm-c01-h0[12]-*"}
    disks: {"*": pmem}
"""

# Runs pmemctl as a grandchild so that RUSAGE_CHILDREN is pmemctl's alone.
WRAP = """
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
dt = time.perf_counter() - t
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{p.returncode} {dt:.3f} {rss_kb}")
sys.stderr.write(p.stderr)
"""


def run_plan(sim: simproc.PmemSim, spec: Path) -> tuple[float, int, float, int]:
    """Return (seconds, SOAP requests, peak MB, selected changes)."""
    env = dict(os.environ, PMEMCTL_URL=sim.url, PMEMCTL_CA_FILE=str(sim.cert))
    before = sim.total_requests()
    pmemctl = str(ROOT / ".venv" / "bin" / "pmemctl")
    out = subprocess.run(
        [sys.executable, "-c", WRAP, pmemctl, "plan", str(spec), "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    code, seconds, rss_kb = out.stdout.strip().splitlines()[-1].split()
    requests = sim.total_requests() - before  # GET /pmemsim/stats is not SOAP: not counted
    if code not in ("0", "1"):
        raise SystemExit(f"pmemctl plan failed ({code}): {out.stderr}")
    # The JSON document is pmemctl's stdout; the wrapper only prints its figures.
    plan = subprocess.run(
        [pmemctl, "plan", str(spec), "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    changes = len(json.loads(plan.stdout)["changes"])
    return float(seconds), requests, int(rss_kb) / 1024, changes


def naive_walk(sim: simproc.PmemSim, sample: int | None) -> tuple[float, int, int]:
    """Per-VM attribute access over every VM (or a sample). Returns (s, requests, VMs)."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    before = sim.total_requests()
    t = time.perf_counter()
    si = SmartConnect(
        host=sim.parts.hostname,
        port=sim.parts.port,
        user=sim.user,
        pwd=sim.password,
        sslContext=ssl.create_default_context(cafile=str(sim.cert)),
    )
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    vms = view.view if sample is None else view.view[:sample]
    for vm in vms:
        _ = (
            vm.name,
            vm.runtime.host.name,
            vm.runtime.powerState,
            vm.config.version,
            vm.config.guestId,
        )
        for dev in vm.config.hardware.device:
            if isinstance(dev, vim.vm.device.VirtualDisk):
                _ = dev.backing.datastore.name
    Disconnect(si)
    return time.perf_counter() - t, sim.total_requests() - before, len(vms)


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sample",
        type=int,
        default=100,
        help="VMs walked naively at 20 ms latency (extrapolated to 5,000)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pmemctl-bench-"))
    (tmp / "estate.yaml").write_text(ESTATE)
    (tmp / "spec.yaml").write_text(SPEC)
    rows = []
    for latency in (0, 20):
        t = time.perf_counter()
        with simproc.start("--latency-ms", str(latency), inventory=tmp / "estate.yaml") as sim:
            startup = time.perf_counter() - t
            secs, reqs, mb, changes = run_plan(sim, tmp / "spec.yaml")
            sample = None if latency == 0 else args.sample
            n_secs, n_reqs, n_vms = naive_walk(sim, sample)
        scale = 5000 / n_vms
        rows.append(
            (
                latency,
                startup,
                secs,
                reqs,
                mb,
                changes,
                n_secs * scale,
                int(n_reqs * scale),
                n_vms != 5000,
            )
        )
    print(
        "| latency | pmemsim start | pmemctl plan | SOAP requests | peak RSS | changes |"
        " naive walk (5,000 VMs) | naive requests | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for lat, start, secs, reqs, mb, changes, nsecs, nreqs, extrapolated in rows:
        mark = " (extrapolated)" if extrapolated else ""
        print(
            f"| {lat} ms | {start:.1f} s | {secs:.2f} s | {reqs} | {mb:.0f} MB | {changes} |"
            f" {nsecs:.1f} s{mark} | {nreqs}{mark} | {nsecs / secs:.0f}x |"
        )


if __name__ == "__main__":
    main()
