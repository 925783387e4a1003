"""apply picks its call shapes: the documented ones, a saved probe result, or the spec's option."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
LEGACY_03 = """
    options: {pmem_migration_shape: %s}
    vms:
      - name: legacy-sql-03
        disks: {"*": pmem}
"""


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _run_start(tmp_path: Path) -> dict[str, object]:
    return next(r for r in k.records(k.journal_file(tmp_path)) if r["type"] == "run_start")


def test_locator_shape_on_strict_pmemsim_fails_and_says_why(make_sim: MakeSim,
                                                           tmp_path: Path) -> None:
    # A spec that forces the locator shape meets a vCenter that refuses it.
    sim = make_sim()
    r = k.run(sim, "apply", str(k.spec(tmp_path, LEGACY_03 % "locator")), "--yes")
    assert r.exit_code == 1, r.output
    assert "call shapes from the spec: disks go onto PMem by a disk locator" in r.output
    assert "FAILED: InvalidDeviceSpec: Invalid configuration for device '0'. (Setting a PMem " \
           "datastore directly for device configuration is not supported." in r.output
    assert "[com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly]) — this vCenter refuses " \
           "specs that name the PMem datastore" in r.output
    failed = [x for x in k.records(k.journal_file(tmp_path)) if x["type"] == "failed"]
    assert failed[0]["fault_keys"] == ["com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly"]


def test_probe_then_apply_uses_what_the_probe_saw(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    probe = k.run(sim, "probe", "--host", "esx-01", "--datastore", "san-01", "--yes")
    assert probe.exit_code == 0, probe.output
    r = k.run(sim, "apply", str(k.spec(tmp_path, LEGACY_03 % "auto")), "--yes")
    assert r.exit_code == 0, r.output
    # Strict pmemsim accepts the documented shapes, and the probe confirmed that
    # DefaultProfileSpec takes a disk off the PMem policy.
    assert "call shapes from pmemctl probe: disks go onto PMem by a deviceChange profile " \
           "edit and leave it with the target datastore's default policy" in r.output
    options = _run_start(tmp_path)["options"]
    assert isinstance(options, dict)
    assert options["call_shapes"] == {"onto": "device_change", "off": "default",
                                      "source": "pmemctl probe"}


def test_a_vcenter_that_wants_locators_gets_them(make_sim: MakeSim, tmp_path: Path) -> None:
    # A probe result from a vCenter that refused the deviceChange shape and accepted
    # the locator shape (pmemsim relaxed to accept the latter).
    from pmemctl.probe.result import ProbeResult, ProbeStep, default_result_path, save_result

    sim = make_sim("--relax", "pmem-locator")
    with k.connect(k.settings_for(sim)) as conn:
        uuid = conn.about.instance_uuid
    parts = sim.parts
    assert parts.hostname and parts.port
    save_result(ProbeResult(
        vcenter=sim.host, instance_uuid=uuid, api_version="8.0.3.0",
        recorded_at="2026-12-01T00:00:00Z",
        steps=(ProbeStep("onto_pmem", "device_change", False, "InvalidDeviceSpec"),
               ProbeStep("onto_pmem", "locator", True))),
        default_result_path(parts.hostname, parts.port))
    r = k.run(sim, "apply", str(k.spec(tmp_path, LEGACY_03 % "auto")), "--yes")
    assert r.exit_code == 0, r.output
    assert "disks go onto PMem by a disk locator naming the PMem datastore" in r.output
    options = _run_start(tmp_path)["options"]
    assert isinstance(options, dict)
    assert options["call_shapes"]["onto"] == "locator"
    host = k.estate(sim).host_named("esx-01")
    assert host is not None
    assert {d.datastore for d in k.estate(sim).vms["legacy-sql-03"].disks} == {
        host.pmem_datastore}


def test_documented_shapes_without_a_probe(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    r = k.run(sim, "apply", str(k.spec(tmp_path, LEGACY_03 % "auto")), "--yes")
    assert r.exit_code == 0, r.output
    assert "call shapes from" not in r.output
    options = _run_start(tmp_path)["options"]
    assert isinstance(options, dict)
    assert options["call_shapes"] == {"onto": "device_change", "off": "default",
                                      "source": "documented default"}


def test_pbm_that_does_not_answer_falls_back_with_a_warning(
        make_sim: MakeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PBM is a second endpoint; here it answers 404 (as on a vCenter whose
    # storage-policy service is down). The run goes on with the fixed policy id.
    monkeypatch.setattr("pmemctl.vsphere.session.PBM_PATH", "/no-pbm-here")
    sim = make_sim()
    r = k.run(sim, "apply", str(k.spec(tmp_path, """
        vms:
          - name: redis-01
            nvdimms: [16GiB]
    """)), "--yes")
    assert r.exit_code == 0, r.output
    assert "PBM (storage policies) did not answer" in r.output
    assert "using the fixed PMem policy id c268da1b-b343-49f7-a468-b1deeb7078e0" in r.output
    assert [n.size_mb for n in k.estate(sim).vms["redis-01"].nvdimms] == [16 * 1024]
