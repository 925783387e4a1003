"""The drain placement (pmemctl/plan/placement.py): pure, table-driven."""

from __future__ import annotations

import pytest

from pmemctl.plan.placement import Bin, Item, place

pytestmark = pytest.mark.unit

SAN = frozenset({"san"})


def first_fit(items: list[Item], bins: list[Bin]) -> dict[str, str] | None:
    """Greedy first fit in the given order: the baseline best fit must beat."""
    left = {b.name: b.usable_mb for b in bins}
    out: dict[str, str] = {}
    for it in items:
        b = next((b for b in bins if left[b.name] >= it.pmem_mb), None)
        if b is None:
            return None
        left[b.name] -= it.pmem_mb
        out[it.name] = b.name
    return out


CASES = [
    # (id, items (name, MB), bins (name, usable MB), expected assignment, expected unplaced)
    ("one fits", [("a", 10)], [("h1", 16)], {"a": "h1"}, set()),
    ("tightest host wins", [("a", 10)], [("h1", 64), ("h2", 12)], {"a": "h2"}, set()),
    ("largest first",
     [("s1", 30), ("big", 40), ("s2", 30)], [("h1", 40), ("h2", 60)],
     {"s1": "h2", "big": "h1", "s2": "h2"}, set()),
    ("never over capacity", [("a", 20), ("b", 20)], [("h1", 30)], {"a": "h1"}, {"b"}),
    ("exactly full", [("a", 16), ("b", 16)], [("h1", 32)], {"a": "h1", "b": "h1"}, set()),
    ("nothing fits", [("a", 100)], [("h1", 64), ("h2", 64)], {}, {"a"}),
    ("no PMem needed spreads", [("a", 0), ("b", 0)], [("h1", 0), ("h2", 0)],
     {"a": "h1", "b": "h2"}, set()),
    ("no candidate hosts", [("a", 1)], [], {}, {"a"}),
]


@pytest.mark.parametrize(("items", "bins", "assigned", "unplaced"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_place(items: list[tuple[str, int]], bins: list[tuple[str, int]],
               assigned: dict[str, str], unplaced: set[str]) -> None:
    got = place([Item(n, mb, SAN) for n, mb in items], [Bin(n, mb, SAN) for n, mb in bins])
    assert got.assigned == assigned
    assert set(got.unplaced) == unplaced
    for b, mb in bins:
        used = sum(m for n, m in items if got.assigned.get(n) == b)
        assert used <= mb and got.left_mb[b] == mb - used


def test_greedy_first_fit_fails_where_best_fit_decreasing_succeeds() -> None:
    items = [Item("s1", 30, SAN), Item("big", 40, SAN), Item("s2", 30, SAN)]
    bins = [Bin("h1", 40, SAN), Bin("h2", 60, SAN)]
    assert first_fit(items, bins) is None  # s1 takes h1, big goes to h2, s2 fits nowhere
    got = place(items, bins)
    assert got.unplaced == {}
    assert got.left_mb == {"h1": 0, "h2": 0}


def test_ha_reserve_is_the_callers_usable_figure() -> None:
    # A 100 MB host with 25 % held by HA offers 75 usable: an 80 MB VM does not fit.
    got = place([Item("a", 80, SAN)], [Bin("h1", 75, SAN)])
    assert "needs 80 MB" in got.unplaced["a"] and "75 MB (h1)" in got.unplaced["a"]


def test_a_host_that_does_not_mount_the_vms_datastores_is_never_chosen() -> None:
    items = [Item("a", 10, frozenset({"san", "nfs"}))]
    bins = [Bin("roomy", 500, SAN), Bin("tight", 10, frozenset({"san", "nfs"}))]
    assert place(items, bins).assigned == {"a": "tight"}
    alone = place(items, [Bin("roomy", 500, SAN)])
    assert alone.unplaced == {"a": "no other host of the cluster mounts its datastores"}


def test_a_host_without_pmem_takes_only_vms_that_need_none() -> None:
    bins = [Bin("nopmem", 0, SAN, has_pmem=False)]
    got = place([Item("nv", 8, SAN), Item("plain", 0, SAN)], bins)
    assert got.assigned == {"plain": "nopmem"}
    assert "has PMem" in got.unplaced["nv"]


def test_deterministic_and_in_caller_order() -> None:
    items = [Item(f"vm{i}", 8 * (i % 3), SAN) for i in range(9)]
    bins = [Bin("h1", 40, SAN), Bin("h2", 40, SAN)]
    a, b = place(items, bins), place(items, bins)
    assert a == b
    assert list(a.assigned) == [it.name for it in items if it.name in a.assigned]
