#!/usr/bin/env python3
"""Benchmark: `pmemctl plan` against its floors, as ratios measured in one run.

    .venv/bin/python benchmarks/plan_ratios.py [--runs 3]

On the 5,000-VM estate of plan_roundtrips.py, with vCenter's 100-object
pages (``--max-page 100``), each figure the median of ``--runs`` runs:

* plan over 50 VMs by name: the snapshot (in-process ``take_snapshot``, the
  wire reader) against the raw-HTTP floor: the same request bodies sent again
  over one TLS connection with http.client, answers read and dropped;
  and against the same snapshot with pyVmomi reading every page;
* SOAP requests of ``pmemctl plan`` (from /pmemsim/stats);
* ``pmemctl plan`` over 1,000 VMs, table output against JSON output;
* peak RSS of ``pmemctl plan -o json`` (50 by name) on a 20,000-VM estate.

A ratio is printed with its target and "over target" only when the median
of the runs is over it; a single slow run never decides.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.plan_roundtrips import ESTATE, SPECS, run_plan, spec_text  # noqa: E402
from tests import simproc  # noqa: E402
from tests.unit.wire_record import Recorder  # noqa: E402


def settings(sim: simproc.PmemSim) -> Any:
    from pmemctl.vsphere.session import ConnectionSettings

    p = sim.parts
    return ConnectionSettings(host=p.hostname or "", port=p.port, user=sim.user,
                              password=sim.password, ca_file=str(sim.cert))


def snapshot_seconds(sim: simproc.PmemSim, glob: str, streaming: bool,
                     record: bool = False) -> tuple[float, list[Any]]:
    """Seconds of take_snapshot (login excluded), and the requests it sent when ``record``."""
    from pmemctl.vsphere import collector, snapshot
    from pmemctl.vsphere.session import connect

    collector.STREAMING = streaming
    bodies: list[Any] = []
    with connect(settings(sim)) as conn:
        stub = conn.si._stub
        if record:
            real_request = stub.SerializeRequest

            def keep(mo: Any, info: Any, args: Any) -> Any:
                body = real_request(mo, info, args)
                bodies.append(body)
                return body
            stub.SerializeRequest = keep
            recorder = Recorder(stub)
        t = time.perf_counter()
        snapshot.take_snapshot(conn, lambda inv: [n for n in inv.vms if fnmatch.fnmatch(n, glob)])
        dt = time.perf_counter() - t
    collector.STREAMING = True
    if record:  # each request with the view the answer created, if any
        views = [_view_of(e["body"]) for e in recorder.exchanges]
        return dt, list(zip(bodies, views, strict=True))
    return dt, bodies


def _view_of(answer: str) -> str | None:
    m = re.search(r'<returnval type="ContainerView">([^<]+)</returnval>', answer)
    return m.group(1) if m else None


def floor_seconds(sim: simproc.PmemSim, bodies: list[Any]) -> float:
    """The same requests on one pooled connection of a fresh session, answers only read."""
    from pmemctl.vsphere.session import connect

    with connect(settings(sim)) as conn:
        stub = conn.si._stub
        # The recorded requests carry morefs of views the first session made;
        # pmemsim numbers views per session the same way, so they resolve here.
        headers = {"Cookie": stub.cookie, "SOAPAction": stub.versionId,
                   "Content-Type": "text/xml; charset=UTF-8"}
        http = stub.GetConnection()
        t = time.perf_counter()
        renamed: dict[str, str] = {}  # views of the recording -> this session's
        for body, view in bodies:
            text = body.decode() if isinstance(body, bytes) else body
            for old, new in renamed.items():
                text = text.replace(f">{old}<", f">{new}<")
            http.request("POST", stub.path, text.encode(), headers)
            resp = http.getresponse()
            answer = resp.read()
            if view is not None:
                new_view = _view_of(answer.decode())
                if new_view is not None:
                    renamed[view] = new_view
            # A fault would answer faster than the real read: the floor must be real.
            assert resp.status == 200, f"floor replay got HTTP {resp.status}"
        dt = time.perf_counter() - t
        stub.ReturnConnection(http)
    return dt


def verdict(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else "over target"


def main() -> None:
    """Run and print one Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    med = statistics.median
    tmp = Path(tempfile.mkdtemp(prefix="pmemctl-ratios-"))
    (tmp / "estate.yaml").write_text(ESTATE)
    (tmp / "estate20k.yaml").write_text(ESTATE.replace("vms_per_host: 25", "vms_per_host: 100"))
    for i, match in enumerate(SPECS.values()):
        (tmp / f"spec{i}.yaml").write_text(spec_text(match))
    glob50 = "vm-c01-h0[12]-*"
    rows: list[tuple[str, str, str, str]] = []
    with simproc.start("--max-page", "100", inventory=tmp / "estate.yaml") as sim:
        _, bodies = snapshot_seconds(sim, glob50, True, record=True)
        wire_s, pyv_s, floor_s = [], [], []
        for _ in range(args.runs):
            wire_s.append(snapshot_seconds(sim, glob50, True)[0])
            pyv_s.append(snapshot_seconds(sim, glob50, False)[0])
            floor_s.append(floor_seconds(sim, bodies))
        r = med(wire_s) / med(floor_s)
        rows.append(("50 of 5,000 by name: snapshot / raw-HTTP floor",
                     f"{med(wire_s):.2f} s / {med(floor_s):.2f} s = {r:.2f}x", "≤ 2.5x",
                     verdict(r, 2.5)))
        r = med(pyv_s) / med(floor_s)
        rows.append(("same, pyVmomi reading every page / floor",
                     f"{med(pyv_s):.2f} s / {med(floor_s):.2f} s = {r:.2f}x", "(was)", ""))
        _, reqs, _, _ = run_plan(sim, tmp / "spec0.yaml")
        rows.append(("50 of 5,000 by name: SOAP requests of `pmemctl plan`", str(reqs), "≤ 20",
                     "ok" if reqs <= 20 else "over target"))
        table, js = [], []
        for _ in range(args.runs):
            table.append(run_plan(sim, tmp / "spec2.yaml", output="table")[0])
            js.append(run_plan(sim, tmp / "spec2.yaml")[0])
        r = med(table) / med(js)
        rows.append(("1,000 of 5,000 by name: `plan` table / JSON",
                     f"{med(table):.2f} s / {med(js):.2f} s = {r:.2f}x", "≤ 1.3x",
                     verdict(r, 1.3)))
    with simproc.start("--max-page", "100", inventory=tmp / "estate20k.yaml") as sim:
        (tmp / "spec20k.yaml").write_text(spec_text(SPECS["50 by name"]))
        mbs = [run_plan(sim, tmp / "spec20k.yaml")[2] for _ in range(args.runs)]
        rows.append(("20,000 VMs, 50 by name: peak RSS of `pmemctl plan`",
                     f"{med(mbs):.0f} MB", "< 150 MB", "ok" if med(mbs) < 150 else "over target"))
    print(f"medians of {args.runs} runs, pages of 100 objects, 0 ms latency\n")
    print("| measure | figure | target | |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
