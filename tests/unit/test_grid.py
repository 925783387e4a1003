"""The plain grid that renders large plans (pmemctl/plan/grid.py)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from pmemctl.plan.grid import MIN_WIDTH, Grid, fit_widths

pytestmark = pytest.mark.unit


def render(grid: Grid, width: int) -> list[str]:
    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, markup=False, highlight=False).print(grid)
    return buf.getvalue().splitlines()


def test_columns_line_up_under_their_headers_and_lines_carry_no_trailing_spaces() -> None:
    g = Grid("VM", "Action", "Reason")
    g.add_row("redis-01", "add_nvdimm", "spec")
    g.add_row("a-much-longer-vm-name", "power_off", "needs a power cycle", end_section=True)
    g.add_row("b", "x", "")
    lines = render(g, 200)
    assert lines[0].index("Action") == lines[2].index("add_nvdimm") == lines[3].index("power_off")
    assert lines[0].index("Reason") == lines[3].index("needs a power cycle")
    assert set(lines[1]) == {"─"}
    assert lines[4] == ""  # the section break
    assert lines[5].startswith("b ")
    assert all(line == line.rstrip() for line in lines)


def test_a_narrow_console_folds_the_widest_columns_and_never_drops_a_character() -> None:
    host = "esx-cluster-04-host-00.example.com"
    g = Grid("VM (host)", "", "Action", "Before → After")
    g.add_row(f"legacy-vm-0001 ({host})", "→", "migrate_disk",
              "san-datastore-03 → PMemDS-esx-cluster-04-host-17")
    lines = render(g, 60)
    assert max(len(line) for line in lines) <= 60
    for word in (host, "PMemDS-esx-cluster-04-host-17", "legacy-vm-0001"):
        # Folded across lines, each name is still all there, in order.
        assert _spread(word, lines), word
    assert "migrate_disk" in lines[2]  # the narrow columns keep their width
    # A word that fits a line starts a line rather than being cut.
    assert lines[2].startswith("legacy-vm-0001 ")


def _spread(word: str, lines: list[str]) -> bool:
    """True when ``word``'s characters appear in order in ``lines`` (a subsequence)."""
    joined = "".join(line.replace(" ", "") for line in lines)
    it = iter(joined)
    return all(ch in it for ch in word)


@pytest.mark.parametrize(("natural", "width", "expected"), [
    ([10, 1, 5], 100, [10, 1, 5]),           # fits: untouched
    ([40, 1, 10], 40, [23, 1, 10]),          # only the widest gives way
    ([40, 1, 30], 50, [21, 1, 22]),          # widest first, then both in turn
    ([40, 1, 30], 10, [MIN_WIDTH, 1, MIN_WIDTH]),  # floor: longer lines, nothing cut
])
def test_fit_widths_gives_way_from_the_widest_column(natural: list[int], width: int,
                                                     expected: list[int]) -> None:
    assert fit_widths(natural, width, 3) == expected


def test_a_row_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="2 cells under 3 headers"):
        Grid("a", "b", "c").add_row("1", "2")
