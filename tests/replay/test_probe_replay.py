"""pmemctl probe replayed from a cassette that `pmemctl probe --record --anonymize` wrote.

The cassette is made by the package's own recorder (the code behind
``--record``), anonymized, so this also proves that a user's recording loads
in the replay tier with the aliases as arguments. Re-record (needs Go)::

    PMEMCTL_RECORD=1 .venv/bin/python -m pytest tests/replay/test_probe_replay.py

which rewrites ``cassettes/test_probe_replay/probe_demo.yaml`` and the
expected table and result beside it (``probe_demo.expected.json``).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console

from pmemctl.probe.record import recording
from pmemctl.probe.render import render_result
from pmemctl.probe.result import STEP_SHAPES, ProbeResult, ProbeStep
from pmemctl.probe.run import ProbeReport, run_probe
from pmemctl.probe.target import find_target
from pmemctl.vsphere.session import ConnectionSettings, connect
from tests import simproc
from tests.replay.cassette import CASSETTES, make_vcr
from tests.replay.conftest import RECORDING

CASSETTE = CASSETTES / "test_probe_replay" / "probe_demo.yaml"
EXPECTED = CASSETTES / "test_probe_replay" / "probe_demo.expected.json"
PREFIX = "pmemctl-probe-replay"  # fixed: the VM names are in the recorded request bodies


def _table(result: ProbeResult) -> str:
    # The vCenter address differs between recording and replay; the rest must not.
    shown = ProbeResult(vcenter="recorded:443", instance_uuid=result.instance_uuid,
                        api_version=result.api_version, recorded_at="",
                        steps=result.steps)
    buf = io.StringIO()
    render_result(shown, Console(file=buf, width=140, color_system=None, markup=False,
                                 highlight=False))
    return buf.getvalue()


def _summary(report: ProbeReport) -> dict[str, Any]:
    r = report.result
    return {"api_version": r.api_version, "instance_uuid": r.instance_uuid,
            "steps": [s.to_json() for s in r.steps], "left_behind": report.left_behind}


def _record() -> None:
    with simproc.start() as sim:
        p = sim.parts
        assert p.hostname and p.port
        settings = ConnectionSettings(host=p.hostname, port=p.port, user=sim.user,
                                      password=sim.password, ca_file=str(sim.cert))
        # The same sequence as `pmemctl probe --record CASSETTE --anonymize --yes`.
        with recording(CASSETTE, anonymize=True) as anon, connect(settings) as conn:
            assert anon is not None
            anon.add(settings.host, "vcenter")
            target = find_target(conn, "esx-01", "san-01", anon)
            report = run_probe(conn, target, prefix=PREFIX)
        summary = json.loads(anon.apply_text(json.dumps(_summary(report))))
        # Rendered from the renamed steps: renaming a rendered table would shift its columns.
        renamed = ProbeResult(vcenter="", instance_uuid=summary["instance_uuid"],
                              api_version=summary["api_version"], recorded_at="",
                              steps=tuple(ProbeStep.from_json(s) for s in summary["steps"]))
        expected = {"host": anon.aliases["esx-01"], "datastore": anon.aliases["san-01"],
                    "summary": summary, "table": _table(renamed)}
        EXPECTED.write_text(json.dumps(expected, indent=2) + "\n")


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    if RECORDING:
        _record()
    if not CASSETTE.exists():
        pytest.fail(f"no cassette {CASSETTE}; record it with: PMEMCTL_RECORD=1 "
                    ".venv/bin/python -m pytest tests/replay/test_probe_replay.py")
    data: dict[str, Any] = json.loads(EXPECTED.read_text())
    return data


@pytest.fixture(scope="module")
def replayed(expected: dict[str, Any]) -> ProbeReport:
    settings = ConnectionSettings(host="127.0.0.1", port=8989, user="probe-user",
                                  password="any", insecure=True)
    with make_vcr("none").use_cassette(str(CASSETTE)), connect(settings) as conn:
        target = find_target(conn, expected["host"], expected["datastore"])
        return run_probe(conn, target, prefix=PREFIX)


def test_replay_gives_the_recorded_result(replayed: ProbeReport,
                                          expected: dict[str, Any]) -> None:
    assert _summary(replayed) == expected["summary"]


def test_replay_prints_the_recorded_table(replayed: ProbeReport,
                                          expected: dict[str, Any]) -> None:
    assert _table(replayed.result) == expected["table"]


def test_every_step_answered(replayed: ProbeReport) -> None:
    assert [(s.name, s.shape) for s in replayed.result.steps] == [
        (n, s) for n, shapes in STEP_SHAPES.items() for s in shapes]
    for s in replayed.result.steps:
        assert s.accepted is not False or s.fault, s
        assert not s.errored, s
    assert replayed.ok
