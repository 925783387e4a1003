"""Which of a VM's disks each ``disks:`` key means, and which disks to create (pure).

The key grammar and precedence are :mod:`pmemctl.spec.disksel`'s. Here they
meet a VM's real disks:

* every disk gets the target of its most specific covering key; two keys of
  the same rank that disagree about a disk are a problem, never a coin toss;
* ``keep`` leaves the disk alone;
* an exact label the VM lacks is created when the spec gives a size, and is a
  problem otherwise (the spec asked to move a disk that is not there; the
  advice never suggests creating an empty disk instead);
* a glob, ``number:`` or ``unit:`` that selects none of the VM's disks is
  skipped with a note; ``on:`` selecting nothing is the converged state of an
  evacuation and is silent, but an ``on:NAME`` naming no datastore at all is
  a problem (a typo would otherwise move nothing, quietly);
* a new disk must be asked for under the label vSphere will give it (the
  lowest free ``Hard disk N``, as pmemsim numbers new devices), so that the
  next plan finds it and is empty.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from pmemctl.inventory.model import Disk
from pmemctl.spec.disksel import DiskKey, DiskKeyError, KeyKind, label_number, parse_key
from pmemctl.spec.model import DiskTarget

#: Most VMs an unmatched-key note names before it counts the rest.
NOTE_VMS = 20


def unmatched_note(vms: list[str], key: str) -> str:
    """``VM db-01: no disk matches 'number:2-'; skipped`` (``VMs a, b and 3 more: …``)."""
    shown = ", ".join(vms[:NOTE_VMS]) + (f" and {len(vms) - NOTE_VMS} more"
                                         if len(vms) > NOTE_VMS else "")
    return f"VM{'s' if len(vms) > 1 else ''} {shown}: no disk matches {key!r}; skipped"


@dataclass
class DiskChoice:
    """What the keys mean for one VM: disks to place, labels to create, problems and notes."""

    place: list[tuple[Disk, DiskTarget]] = field(default_factory=list)
    create: list[tuple[str, DiskTarget]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The keys of ``notes`` (a glob or selector that selected no disk of this VM),
    #: so that a plan can say each once for all its VMs.
    unmatched: list[str] = field(default_factory=list)


def choose_disks(
    vm: str,
    disks: Iterable[Disk],
    targets: dict[str, DiskTarget],
    datastore_names: Iterable[str] = (),
) -> DiskChoice:
    """Resolve ``targets`` (spec key → target) against the VM's ``disks``.

    ``datastore_names`` are the datastores the VM could name (its
    datacenter's): an ``on:NAME`` that matches none of them is a problem.
    Disks are visited in label order, so changes come out in that order.
    """
    out = DiskChoice()
    keys: list[tuple[DiskKey, DiskTarget]] = []
    for text, target in targets.items():
        try:
            keys.append((parse_key(text), target))
        except DiskKeyError as exc:  # the loader refuses these; a hand-built Spec may not
            out.problems.append(f"VM {vm}: disks key {text!r}: {exc}")
    ordered = sorted(disks, key=lambda d: (_label_order(d.label), d.key))
    used: set[str] = set()
    for disk in ordered:
        chosen = _target_for(vm, disk, keys, used, out)
        if chosen is not None and not chosen.is_keep:
            out.place.append((disk, chosen))
    _missing(vm, ordered, keys, used, out, datastore_names=list(datastore_names))
    return out


def _target_for(
    vm: str, disk: Disk, keys: list[tuple[DiskKey, DiskTarget]], used: set[str], out: DiskChoice
) -> DiskTarget | None:
    covering = [(k, t) for k, t in keys if k.covers(disk.label, disk.unit_number,
                                                      disk.datastore, disk.pmem)]
    if not covering:
        return None
    for k, _ in covering:
        used.add(k.text)
    top = max(k.kind.rank for k, _ in covering)
    best = [(k, t) for k, t in covering if k.kind.rank == top]
    storages = {t.storage for _, t in best}
    if len(storages) > 1:
        said = ", ".join(f"{k.text!r} ({t.storage})" for k, t in best)
        out.problems.append(
            f"VM {vm}: {disk.label} is selected by {said}, which disagree; name "
            f"'{disk.label}' exactly to say which"
        )
        return None
    return best[0][1]


def _missing(
    vm: str,
    disks: list[Disk],
    keys: list[tuple[DiskKey, DiskTarget]],
    used: set[str],
    out: DiskChoice,
    *,
    datastore_names: list[str],
) -> None:
    labels = [d.label for d in disks]
    new_labels = _next_labels(labels)
    for key, target in keys:
        if key.text in used or key.kind is KeyKind.ALL:
            continue
        if key.exact:
            if target.size_mb is not None:
                out.create.append((key.text, target))
            elif not target.is_keep:
                has = ", ".join(labels) if labels else "no disks"
                out.problems.append(
                    f"VM {vm} has no disk '{key.text}' (it has {has}), so it cannot be moved; "
                    "name a disk it has, or select by a glob or selector (e.g. "
                    "'Hard disk [2-9]', 'number:2-') to skip the VMs that lack it"
                )
            continue
        if key.kind is KeyKind.ON:
            if not key.on_pmem and datastore_names and not any(
                fnmatch.fnmatchcase(n, key.pattern) for n in datastore_names
            ):
                out.problems.append(
                    f"VM {vm}: disks key {key.text!r} names no datastore (none matches "
                    f"{key.pattern!r} in the VM's datacenter)"
                )
            continue
        out.notes.append(unmatched_note([vm], key.text))
        out.unmatched.append(key.text)
    creates, out.create = sorted(out.create, key=lambda c: _label_order(c[0])), []
    for (label, target), expected in zip(creates, new_labels, strict=False):
        if label == expected:
            out.create.append((label, target))
        else:
            out.problems.append(
                f"VM {vm}: vSphere will call a new disk '{expected}' (the lowest free number), "
                f"not '{label}'; ask for '{expected}', or the next plan would not find "
                f"'{label}' and would create it again"
            )


def _next_labels(labels: list[str]) -> Iterable[str]:
    """The labels vSphere gives new disks, in order: the lowest free ``Hard disk N`` first.

    Guess, from pmemsim (tests/pmemsim/reconfig.go ``freeLabel``): vSphere's
    own numbering rule is not documented.
    """
    taken = {n for n in (label_number(label) for label in labels) if n is not None}
    n = 0
    while True:
        n += 1
        if n not in taken:
            yield f"Hard disk {n}"


def _label_order(label: str) -> tuple[int, str]:
    number = label_number(label)
    return (number if number is not None else -1, label)
