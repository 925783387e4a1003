"""pmemctl probe end to end on pmemsim: table, clean-up, result file, cassette, refusals.

pmemsim is being made stricter in parallel (locator shape, version changes,
hot vPMemDisk adds, page caps, PBM associations, snapshotMode), so these
tests assert structure, not which shapes today's pmemsim accepts: every step
and shape present, each accepted or refused with a fault name, no probe VM
left, the saved result consistent with the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from pmemctl.probe import run as probe_run
from pmemctl.probe.result import STEP_SHAPES, ProbeStep, find_result, load_result
from pmemctl.probe.run import ProbeInterrupted, run_probe
from pmemctl.probe.target import find_target
from pmemctl.vsphere.session import connect
from tests import simproc
from tests.live import applykit as k
from tests.pmemsim import client as pc

MakeSim = Callable[..., simproc.PmemSim]


def vm_names(sim: simproc.PmemSim) -> set[str]:
    si = pc.connect(sim)
    try:
        return set(pc.objects(si, vim.VirtualMachine))
    finally:
        pc.disconnect(si)


def estate_view(sim: simproc.PmemSim) -> dict[str, Any]:
    """What the probe must never change: every other VM's power state and disk placement."""
    inv = k.estate(sim)
    return {n: (v.power_state, v.hardware_version, sorted((d.label, d.datastore) for d in v.disks),
                [x.size_mb for x in v.nvdimms]) for n, v in inv.vms.items()}


def assert_structure(steps: list[dict[str, Any]]) -> None:
    expected = [(name, shape) for name, shapes in STEP_SHAPES.items() for shape in shapes]
    assert [(s["name"], s["shape"]) for s in steps] == expected
    for s in steps:
        where = f"{s['name']}/{s['shape']}"
        if s["accepted"] is False:
            assert s["fault"], f"{where}: refused without a fault name"
        elif s["accepted"] is True:
            assert s["fault"] is None, where
        else:  # skipped by design (e.g. API too old) — never an unexpected error here
            assert s["fault"] is None and s["note"], where


def test_probe_end_to_end(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim("--password", "Pr0be-S3cret")  # "pass" is a substring of "password"
    before_names, before = vm_names(sim), estate_view(sim)
    out, cassette = tmp_path / "result.json", tmp_path / "probe.yaml"
    r = k.run(sim, "probe", "--host", "esx-01", "--datastore", "san-01", "--yes",
              "--out", str(out), "--record", str(cassette))
    assert r.exit_code == 0, r.output

    # VMs: every probe VM is gone, nothing else changed.
    assert vm_names(sim) == before_names
    assert estate_view(sim) == before
    stats = sim.stats()
    assert stats.get("CreateVM_Task", 0) >= 5 and stats.get("Destroy_Task", 0) == stats["CreateVM_Task"]

    # Result file: loadable, complete, consistent with the table.
    result = load_result(out)
    steps = result.to_json()["steps"]
    assert_structure(steps)
    assert result.vcenter == sim.host
    assert result.api_version == "7.0.3.0" and result.instance_uuid
    lines = r.stdout.splitlines()
    for s in result.steps:
        verdict = {True: "accepted", False: "refused", None: "skipped"}[s.accepted]
        row = [ln for ln in lines if f" {s.name} " in ln and f" {s.shape} " in ln]
        assert row and verdict in row[0], (s, row)
        if s.fault:
            assert s.fault in row[0]
    # The pickers agree with the rows they read.
    onto = {s.shape: s.accepted for s in result.steps if s.name == "onto_pmem"}
    assert result.onto_pmem_shape() == ("device_change" if onto["device_change"] else
                                        "locator" if onto["locator"] else None)
    assert f"onto PMem shape: {result.onto_pmem_shape() or 'not known'}" in r.stdout
    page = [s for s in result.steps if s.name == "page_size"]
    assert all(isinstance(s.facts.get("first_page_objects"), int) for s in page if s.accepted)

    # Cassette: written, scrubbed.
    text = cassette.read_text()
    assert "CreateVM_Task" in text and "Destroy_Task" in text
    assert sim.password not in text
    assert "vmware_soap_session" in text
    for line in text.splitlines():
        if "vmware_soap_session=" in line:
            assert 'vmware_soap_session="REDACTED"' in line or "vmware_soap_session=REDACTED" in line
    assert "<vcSessionCookie>" not in text or "<vcSessionCookie>REDACTED" in text


def test_result_goes_to_the_state_dir_and_find_result_reads_it(
        make_sim: MakeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    r = k.run(sim, "probe", "--host", "esx-01", "--datastore", "san-01", "--yes", "-o", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    p = sim.parts
    assert p.hostname and p.port
    assert doc["saved"] == str(tmp_path / "state" / "pmemctl" / "probe" / f"{p.hostname}_{p.port}.json")
    assert doc["left_behind"] == [] and doc["cassette"] is None
    found = find_result(p.hostname, p.port)
    assert found is not None and found.to_json() == doc["result"]
    assert find_result("elsewhere.example.com", 443) is None


def test_anonymized_cassette_renames_hosts_and_datastores(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    cassette = tmp_path / "anon.yaml"
    r = k.run(sim, "probe", "--host", "esx-01", "--datastore", "san-01", "--yes",
              "--out", str(tmp_path / "r.json"), "--record", str(cassette), "--anonymize")
    assert r.exit_code == 0, r.output
    text = cassette.read_text()
    for name in ("esx-01", "esx-02", "san-01", "nfs-01", "PMemDS-"):
        assert name not in text, name
    assert "anon-host-" in text and "anon-datastore-" in text
    assert f">{sim.user}<" not in text and ">probe-user<" in text
    # The table the user sees keeps the real names.
    assert "san-01" in r.stdout


def test_no_terminal_and_no_yes_refuses_before_connecting(demo_sim: simproc.PmemSim) -> None:
    before = demo_sim.stats()
    r = k.run(demo_sim, "probe", "--host", "esx-01", "--datastore", "san-01")
    assert r.exit_code == 1
    assert "not probing: no terminal to confirm on" in r.stderr
    assert k.delta(before, demo_sim.stats()) == {}


@pytest.mark.parametrize(("host", "datastore", "message"), [
    ("esx-03", "san-01", "host 'esx-03' has no PMem datastore"),
    ("esx-99", "san-01", "no host named 'esx-99'"),
    ("esx-01", "nope", "no datastore named 'nope'"),
    ("esx-10", "nfs-01", "datastore 'nfs-01' is not mounted on host 'esx-10'"),
])
def test_bad_input_is_a_usage_error_and_changes_nothing(
        demo_sim: simproc.PmemSim, host: str, datastore: str, message: str) -> None:
    before = demo_sim.stats()
    r = k.run(demo_sim, "probe", "--host", host, "--datastore", datastore, "--yes")
    assert r.exit_code == 64, r.output
    assert message in r.stderr
    changed = k.delta(before, demo_sim.stats())
    assert not any(m.endswith("_Task") for m in changed), changed


def test_pmem_datastore_is_refused_as_the_shared_datastore(demo_sim: simproc.PmemSim) -> None:
    with connect(k.settings_for(demo_sim)) as conn:
        host = k.estate(demo_sim).host_named("esx-01")
        assert host is not None
        pmem = host.pmem_datastore
        assert pmem
        r = k.run(demo_sim, "probe", "--host", "esx-01", "--datastore", pmem, "--yes")
        del conn
    assert r.exit_code == 64 and "is a PMem datastore" in r.stderr


def test_anonymize_needs_record(demo_sim: simproc.PmemSim) -> None:
    r = k.run(demo_sim, "probe", "--host", "esx-01", "--datastore", "san-01", "--yes",
              "--anonymize")
    assert r.exit_code == 64 and "--anonymize only applies to --record" in r.output


def test_ctrl_c_still_deletes_every_probe_vm(make_sim: MakeSim) -> None:
    sim = make_sim()
    before = vm_names(sim)

    def interrupt(i: int, n: int, title: str) -> None:
        if i == 3:  # after two steps' VMs came and went, while nothing is running
            raise KeyboardInterrupt

    with connect(k.settings_for(sim)) as conn:
        target = find_target(conn, "esx-01", "san-01")
        with pytest.raises(ProbeInterrupted, match="every probe VM was deleted"):
            run_probe(conn, target, on_step=interrupt)
    assert vm_names(sim) == before


def test_an_unexpected_error_in_one_step_is_reported_and_the_others_run(
        make_sim: MakeSim, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = make_sim()
    before = vm_names(sim)

    def broken(lab: Any, ctx: Any) -> list[ProbeStep]:
        lab.create_vm("broken")  # a VM exists when the step blows up: it must still go
        raise RuntimeError("boom")

    steps = [(n, broken if n == "off_pmem" else f) for n, f in probe_run.STEPS]
    monkeypatch.setattr(probe_run, "STEPS", tuple(steps))
    with connect(k.settings_for(sim)) as conn:
        report = run_probe(conn, find_target(conn, "esx-01", "san-01"))
    assert not report.ok and report.left_behind == []
    off = [s for s in report.result.steps if s.name == "off_pmem"]
    assert [s.shape for s in off] == list(STEP_SHAPES["off_pmem"])
    assert all(s.errored and s.fault == "RuntimeError" and "boom" in s.note for s in off)
    others = [s for s in report.result.steps if s.name != "off_pmem"]
    assert others and not any(s.errored for s in others)
    assert vm_names(sim) == before
