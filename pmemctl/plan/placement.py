"""Where VMs go when a host is drained: a pure, best-fit-decreasing placement.

:func:`place` takes VMs (the PMem each needs on its new host, the
datastores it must still reach there) and candidate hosts (usable PMem,
that is free minus what vSphere HA admission control reserves, the
datastores they mount, how many migrations may land on them) and returns
which host each VM goes to, or why it fits nowhere. No host ever ends up
over its usable PMem.

Best fit decreasing: the VMs needing most PMem are placed first, each on
the host where it leaves the least usable PMem unused. First fit in the
VMs' own order can strand a large VM after small ones took the room it
needed (see ``tests/unit/test_placement.py``); sorting by size and packing
tightly leaves the large holes for the large VMs. VMs that need no PMem
(no NVDIMMs) go to the reachable host with the fewest VMs placed so far,
so that plain vMotions spread over the cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """One VM to place: PMem it needs on the target, datastores (moids) the target must mount."""

    name: str
    pmem_mb: int
    datastores: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Bin:
    """One candidate host: the PMem a plan may take there and the datastores it mounts."""

    name: str
    usable_mb: int
    datastores: frozenset[str] = frozenset()
    has_pmem: bool = True


@dataclass(frozen=True)
class Placement:
    """The outcome: VM → host, the VMs that fit nowhere (with the reason), PMem left per host."""

    assigned: dict[str, str] = field(default_factory=dict)
    unplaced: dict[str, str] = field(default_factory=dict)
    left_mb: dict[str, int] = field(default_factory=dict)


def place(items: Sequence[Item], bins: Sequence[Bin]) -> Placement:
    """Best-fit-decreasing placement of ``items`` on ``bins`` (pure, deterministic).

    Ties (same PMem left) go to the host with fewer VMs placed, then to the
    first host in ``bins`` order; items of equal size keep their order.
    """
    left = {b.name: b.usable_mb for b in bins}
    count = {b.name: 0 for b in bins}
    assigned: dict[str, str] = {}
    unplaced: dict[str, str] = {}
    order = sorted(range(len(items)), key=lambda i: -items[i].pmem_mb)
    for i in order:
        item = items[i]
        reach = [b for b in bins if item.datastores <= b.datastores]
        if not reach:
            unplaced[item.name] = "no other host of the cluster mounts its datastores"
            continue
        if item.pmem_mb <= 0:
            best = min(reach, key=lambda b: count[b.name])
        else:
            fits = [b for b in reach if b.has_pmem and left[b.name] >= item.pmem_mb]
            if not fits:
                unplaced[item.name] = _why_not(item, reach, left)
                continue
            best = min(fits, key=lambda b: (left[b.name] - item.pmem_mb, count[b.name]))
        assigned[item.name] = best.name
        left[best.name] -= max(item.pmem_mb, 0)
        count[best.name] += 1
    # Report in the callers' order, not the placement order.
    ordered = {it.name: assigned[it.name] for it in items if it.name in assigned}
    return Placement(assigned=ordered, unplaced={it.name: unplaced[it.name] for it in items
                                                 if it.name in unplaced}, left_mb=left)


def _why_not(item: Item, reach: Sequence[Bin], left: dict[str, int]) -> str:
    pmem = [b for b in reach if b.has_pmem]
    if not pmem:
        return "no other host of the cluster that mounts its datastores has PMem"
    best = max(pmem, key=lambda b: left[b.name])
    return (f"needs {item.pmem_mb} MB of PMem; the most any host that mounts its datastores "
            f"has left is {left[best.name]} MB ({best.name})")
