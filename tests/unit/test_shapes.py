"""Choosing call shapes: the spec wins, then a saved probe result, then the documented shapes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pmemctl.apply.shapes import CallShapes, choose


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
