"""Choosing call shapes: the spec wins, then a saved probe result, then the documented shapes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pmemctl.apply.shapes import CallShapes, choose, for_vcenter


@dataclass
class Probe:
    onto: str | None = None
    off: str | None = None

    def onto_pmem_shape(self) -> str | None:
        return self.onto

    def off_pmem_profile(self) -> str | None:
        return self.off


def test_documented_defaults_without_spec_or_probe() -> None:
    assert choose() == CallShapes("device_change", "default", "documented default")


def test_probe_result_is_used_on_auto() -> None:
    assert choose("auto", Probe(onto="locator", off="empty")) == CallShapes(
        "locator", "empty", "pmemctl probe")


def test_spec_wins_over_the_probe_for_onto() -> None:
    got = choose("device_change", Probe(onto="locator", off="none"))
    assert got == CallShapes("device_change", "none", "the spec and pmemctl probe")


def test_probe_that_found_nothing_changes_nothing() -> None:
    assert choose("auto", Probe()) == CallShapes()


def test_unknown_spec_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown pmem_migration_shape 'sideways'"):
        choose("sideways")


def _save(path_host: str, port: int, *, uuid: str = "vc-1", locator_only: bool = True) -> None:
    from pmemctl.probe.result import (
        ProbeResult,
        ProbeStep,
        default_result_path,
        save_result,
    )

    steps = (
        ProbeStep("onto_pmem", "device_change", not locator_only,
                  None if not locator_only else "InvalidDeviceSpec"),
        ProbeStep("onto_pmem", "locator", True),
        ProbeStep("off_pmem", "empty", True, facts={"pmem_policy_kept": False}),
    )
    save_result(ProbeResult(vcenter=f"{path_host}:{port}", instance_uuid=uuid,
                            api_version="8.0.3.0", recorded_at="2026-12-01T00:00:00Z",
                            steps=steps), default_result_path(path_host, port))


def test_saved_probe_result_of_this_vcenter_picks_the_shapes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    _save("vc01", 443)
    shapes, notes = for_vcenter("vc01", 443, "vc-1")
    assert shapes == CallShapes("locator", "empty", "pmemctl probe")
    assert notes == ["call shapes from pmemctl probe: disks go onto PMem by a disk locator "
                     "naming the PMem datastore and leave it with no policy (EmptyProfileSpec)"]
    # Another address, no result: the documented shapes, nothing to say.
    assert for_vcenter("vc02", 443, "vc-2") == (CallShapes(), [])


def test_spec_option_wins_over_the_saved_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    _save("vc01", 443)
    shapes, _ = for_vcenter("vc01", 443, "vc-1", "device_change")
    assert (shapes.onto, shapes.off) == ("device_change", "empty")


def test_result_of_another_vcenter_behind_the_address_is_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    _save("vc01", 443, uuid="old-vc")
    shapes, notes = for_vcenter("vc01", 443, "new-vc")
    assert shapes == CallShapes()
    assert len(notes) == 1 and "recorded on another vCenter (instance old-vc)" in notes[0]


def test_damaged_result_is_a_note_not_a_crash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pmemctl.probe.result import default_result_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = default_result_path("vc01", 443)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    shapes, notes = for_vcenter("vc01", 443, "vc-1")
    assert shapes == CallShapes()
    assert len(notes) == 1 and notes[0].endswith("using the documented call shapes")
