#!/usr/bin/env python3
"""Benchmark: `pmemctl plan` on a 5,000-VM pmemsim estate vs a naive pyVmomi walk.

Run from the project root after `tests/run` (or `source tests/bootstrap.sh`):

    .venv/bin/python benchmarks/plan_roundtrips.py [--sample 100] [--no-naive]

What it measures, side by side in one run, at --latency-ms 0 and 20, with
pmemsim capping pages at vCenter's 100 objects (``--max-page 100``, passed
when ``tests/pmemsim/run --help`` lists it; otherwise pages are unlimited
and the table says so):

* pmemctl plan on a generated estate of 10 clusters x 20 hosts x 25 VMs
  (5,000 VMs, 10,000 disks) for four specs: 50 VMs by a name glob (the whole
  estate is read lightly), 50 VMs by ``host:`` (only two hosts' VMs are read),
  1,000 VMs by a name glob, and 1,000 VMs by ``cluster:``. Wall time, SOAP
  requests (from /pmemsim/stats, login included) and the peak RSS of the
  pmemctl process.
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

SPECS = {
    "50 by name": '{name: "vm-c01-h0[12]-*"}',
    "50 by host": '{name: "*", host: "esx-c01-h0[12]"}',
    "1,000 by name": '{name: "vm-c0[12]-*"}',
    "1,000 by cluster": '{name: "*", cluster: "cluster-0[12]"}',
}


def spec_text(match: str) -> str:
    """A spec moving every disk of the matched VMs onto PMem."""
    return f'apiVersion: pmemctl/v1\nvms:\n  - match: {match}\n    disks: {{"*": pmem}}\n'


def page_flag() -> list[str]:
    """``--max-page 100`` when this pmemsim has the flag (vCenter's page size)."""
    run = ROOT / "tests" / "pmemsim" / "run"
    out = subprocess.run([str(run), "--help"], capture_output=True, text=True, check=False)
    return ["--max-page", "100"] if "max-page" in out.stdout + out.stderr else []

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


# Until pmemsim has --max-page, pmemctl itself asks for 100-object pages
# (RetrieveOptions.maxObjects), which pages exactly as a capping server does.
CLIENT_PAGES = """
import sys
import pmemctl.vsphere.snapshot as s
s.MAX_OBJECTS = 100
from pmemctl.cli import main
sys.argv[0] = "pmemctl"
sys.exit(main())
"""


def run_plan(sim: simproc.PmemSim, spec: Path, client_pages: bool = False,
             output: str = "json") -> tuple[float, int, float, int]:
    """Return (seconds, SOAP requests, peak MB, selected changes)."""
    # This checkout's pmemctl, whichever virtualenv runs the benchmark.
    env = dict(os.environ, PMEMCTL_URL=sim.url, PMEMCTL_CA_FILE=str(sim.cert),
               PYTHONPATH=str(ROOT))
    before = sim.total_requests()
    pmemctl = [sys.executable, "-m", "pmemctl"]
    cmd = [sys.executable, "-c", CLIENT_PAGES] if client_pages else pmemctl
    out = subprocess.run(
        [sys.executable, "-c", WRAP, *cmd, "plan", str(spec), "-o", output],
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
        [*pmemctl, "plan", str(spec), "-o", "json"],
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
    """Run the benchmark and print Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sample",
        type=int,
        default=100,
        help="VMs walked naively at 20 ms latency (extrapolated to 5,000)",
    )
    ap.add_argument("--no-naive", action="store_true", help="skip the naive pyVmomi walk")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pmemctl-bench-"))
    (tmp / "estate.yaml").write_text(ESTATE)
    for i, match in enumerate(SPECS.values()):
        (tmp / f"spec{i}.yaml").write_text(spec_text(match))
    paging = page_flag()
    pages = ("100 objects (pmemsim --max-page 100)" if paging else
             "100 objects (pmemsim has no --max-page yet: pmemctl asks for maxObjects=100)")
    print(f"pages: {pages}\n")
    rows = []
    naive = []
    for latency in (0, 20):
        t = time.perf_counter()
        with simproc.start("--latency-ms", str(latency), *paging,
                           inventory=tmp / "estate.yaml") as sim:
            startup = time.perf_counter() - t
            for i, label in enumerate(SPECS):
                secs, reqs, mb, changes = run_plan(sim, tmp / f"spec{i}.yaml",
                                                   client_pages=not paging)
                rows.append((latency, label, startup, secs, reqs, mb, changes))
            if not args.no_naive:
                sample = None if latency == 0 else args.sample
                n_secs, n_reqs, n_vms = naive_walk(sim, sample)
                naive.append((latency, n_secs * 5000 / n_vms, int(n_reqs * 5000 / n_vms),
                              n_vms != 5000, rows[-len(SPECS)][3]))
    print("| latency | spec | pmemsim start | pmemctl plan | SOAP requests | peak RSS | changes |")
    print("|---|---|---|---|---|---|---|")
    for lat, label, start, secs, reqs, mb, changes in rows:
        print(f"| {lat} ms | {label} | {start:.1f} s | {secs:.2f} s | {reqs} | {mb:.0f} MB |"
              f" {changes} |")
    if naive:
        print("\n| latency | naive walk (5,000 VMs) | naive requests | speed-up vs 50 by name |")
        print("|---|---|---|---|")
        for lat, nsecs, nreqs, extrapolated, secs in naive:
            mark = " (extrapolated)" if extrapolated else ""
            print(f"| {lat} ms | {nsecs:.1f} s{mark} | {nreqs}{mark} | {nsecs / secs:.0f}x |")


if __name__ == "__main__":
    main()
