"""The probe result API apply reads: pickers, JSON round trip, strict loading, paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pmemctl.errors import PmemctlError
from pmemctl.probe.result import (
    STEP_SHAPES,
    ProbeResult,
    ProbeResultError,
    ProbeStep,
    default_result_path,
    find_result,
    load_result,
    save_result,
)
from pmemctl.vsphere.cassette import Anonymizer


def result(**accepted: Any) -> ProbeResult:
    """Every step; ``accepted`` maps "name/shape" to True/False/None or (bool, facts)."""
    steps = []
    for name, shapes in STEP_SHAPES.items():
        for shape in shapes:
            value = accepted.get(f"{name}/{shape}".replace("/", "__"), True)
            facts: dict[str, Any] = {}
            if isinstance(value, tuple):
                value, facts = value
            steps.append(ProbeStep(name, shape, value, fault="X" if value is False else None,
                                   facts=facts))
    return ProbeResult(vcenter="vc1:443", instance_uuid="u", api_version="8.0.3.0",
                       recorded_at="2024-01-01T00:00:00Z", steps=tuple(steps))


def test_onto_pmem_prefers_device_change() -> None:
    assert result().onto_pmem_shape() == "device_change"
    assert result(onto_pmem__device_change=False).onto_pmem_shape() == "locator"
    assert result(onto_pmem__device_change=False,
                  onto_pmem__locator=False).onto_pmem_shape() is None
    assert result(onto_pmem__device_change=None, onto_pmem__locator=None).onto_pmem_shape() is None


def test_off_pmem_needs_the_policy_gone_and_prefers_default() -> None:
    gone, kept = {"pmem_policy_kept": False}, {"pmem_policy_kept": True}
    assert result().off_pmem_profile() is None  # accepted, but PBM did not say
    assert result(off_pmem__none=(True, gone), off_pmem__default=(True, gone),
                  off_pmem__empty=(True, gone)).off_pmem_profile() == "default"
    assert result(off_pmem__none=(True, gone), off_pmem__default=(True, kept),
                  off_pmem__empty=(True, gone)).off_pmem_profile() == "empty"
    assert result(off_pmem__none=(True, gone), off_pmem__default=(False, {}),
                  off_pmem__empty=(True, kept)).off_pmem_profile() == "none"


def test_pmem_disk_power_off() -> None:
    assert result().pmem_disk_needs_power_off() is False
    assert result(new_pmem_disk__powered_on=False).pmem_disk_needs_power_off() is True
    assert result(new_pmem_disk__powered_on=False,
                  new_pmem_disk__powered_off=False).pmem_disk_needs_power_off() is None
    assert result(new_pmem_disk__powered_on=None).pmem_disk_needs_power_off() is None


def test_upgrade_via() -> None:
    assert result().upgrade_via() == "UpgradeVM_Task"
    assert result(upgrade__UpgradeVM_Task=False).upgrade_via() == "ReconfigVM_Task"
    assert result(upgrade__UpgradeVM_Task=False,
                  upgrade__ReconfigVM_Task=False).upgrade_via() is None


def test_json_round_trip_and_save_load(tmp_path: Path) -> None:
    r = result(off_pmem__default=(True, {"pmem_policy_kept": False, "policy_ids": "a"}))
    assert ProbeResult.from_json(json.loads(json.dumps(r.to_json()))) == r
    path = save_result(r, tmp_path / "sub" / "r.json")
    assert load_result(path) == r


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("kind"), "not a pmemctl probe result"),
    (lambda d: d.update(format_version=2), "format_version 2 is not supported"),
    (lambda d: d.update(extra=1), "unknown key extra"),
    (lambda d: d.pop("steps"), "missing steps"),
    (lambda d: d.update(vcenter="vc1"), "expected host:port"),
    (lambda d: d["steps"][0].update(accepted="yes"), "steps[0].accepted"),
    (lambda d: d["steps"][0].update(name="warp"), "unknown step 'warp'"),
    (lambda d: d["steps"][0].update(accepted=False, fault=None), "refused without a fault"),
    (lambda d: d["steps"][1].update(shape=d["steps"][0]["shape"]), "appears twice"),
    (lambda d: d["steps"][0].update(facts={"x": [1]}), "steps[0].facts"),
])
def test_loader_is_strict(tmp_path: Path, mutate: Any, message: str) -> None:
    data = result().to_json()
    mutate(data)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProbeResultError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_result(path)


def test_bad_files_raise_a_pmemctl_error(tmp_path: Path) -> None:
    assert issubclass(ProbeResultError, PmemctlError)
    with pytest.raises(ProbeResultError, match="no such probe result"):
        load_result(tmp_path / "missing.json")
    (tmp_path / "j.jsonl").write_text('{"v": 1, "type": "run_start"}\n{"v": 1}\n')
    with pytest.raises(ProbeResultError, match="not JSON"):
        load_result(tmp_path / "j.jsonl")
    (tmp_path / "plan.json").write_text('{"format_version": 1, "changes": []}')
    with pytest.raises(ProbeResultError, match="not a pmemctl probe result"):
        load_result(tmp_path / "plan.json")


def test_default_path_and_find(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_result_path("VC01.example.com", 443) == (
        tmp_path / "pmemctl" / "probe" / "vc01.example.com_443.json")
    assert default_result_path("a/b", 8989).name == "a_b_8989.json"
    assert find_result("vc01.example.com", 443) is None
    save_result(result(), default_result_path("vc01.example.com", 443))
    found = find_result("vc01.example.com", 443)
    assert found is not None and found.onto_pmem_shape() == "device_change"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_result_path("vc", 443) == (
        tmp_path / "home" / ".local" / "state" / "pmemctl" / "probe" / "vc_443.json")


def test_anonymizer_renames_whole_names_consistently() -> None:
    a = Anonymizer()
    a.add("esx-01", "host")
    a.add("esx-01.corp", "host")
    a.add("san-01", "datastore")
    body = (b"<name>esx-01</name><name>esx-01.corp</name><fileName>[san-01] vm/vm.vmdk"
            b"</fileName><x>esx-010</x><userName>admin@vsphere.local</userName>")
    assert a.apply_bytes(body) == (
        b"<name>anon-host-1</name><name>anon-host-2</name><fileName>[anon-datastore-1] vm/vm.vmdk"
        b"</fileName><x>esx-010</x><userName>probe-user</userName>")


def test_apply_reads_the_probe_result_through_its_shape_chooser() -> None:
    from pmemctl.apply.shapes import choose

    gone = {"pmem_policy_kept": False}
    r = result(onto_pmem__device_change=False, off_pmem__default=(False, {}),
               off_pmem__empty=(True, gone))
    shapes = choose(probe=r)
    assert (shapes.onto, shapes.off) == ("locator", "empty")
    assert choose("device_change", probe=r).onto == "device_change"  # the spec still wins
