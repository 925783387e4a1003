"""Sizes print exactly: a size that is not round never reads as its rounded neighbour."""

from __future__ import annotations

import pytest

from pmemctl.units import format_mb, parse_size_mb

pytestmark = pytest.mark.unit

GIB = 1024


@pytest.mark.parametrize(("mb", "text"), [
    (300, "300 MiB"),
    (16 * GIB, "16 GiB"),
    (1536, "1.5 GiB"),
    (1280, "1.25 GiB"),
    (96 * GIB + 1, "96 GiB 1 MiB"),
    (1126, "1 GiB 102 MiB"),
    (1024 * GIB + 3 * GIB + 1, "1 TiB 3 GiB 1 MiB"),
    (1536 * GIB, "1.5 TiB"),
    (-2 * GIB, "-2 GiB"),
    (0, "0 MiB"),
])
def test_format_mb(mb: int, text: str) -> None:
    assert format_mb(mb) == text


def test_a_one_mib_change_never_reads_as_no_change() -> None:
    # The issue: "96.0 GiB -> 96.0 GiB" for a +1 MiB grow.
    assert format_mb(96 * GIB) != format_mb(96 * GIB + 1)


@pytest.mark.parametrize("mb", [1, 1023, 1025, 98305, 1536, 1048577, 7 * GIB + 512, 3 * 1024 * GIB])
def test_every_printed_size_reads_back_as_the_same_mib(mb: int) -> None:
    # Sum the printed parts: the text is exact, whatever its shape.
    words = format_mb(mb).split()
    total = sum(parse_size_mb(f"{n}{u}") for n, u in zip(words[::2], words[1::2], strict=True))
    assert total == mb
