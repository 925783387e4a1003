"""Which VMs a spec selects, and what it wants for each of them.

:func:`select_vms` runs on a *light* inventory (VMs without device lists):
the snapshot calls it first to learn which VMs need their devices read. It
therefore looks only at a VM's name, cluster, folder and host.

Matching rules (every comparison is case-sensitive, as vSphere names are):

* ``name: web-01`` selects exactly that VM; a missing VM is a problem.
* ``match`` fields are :func:`fnmatch.fnmatchcase` globs. ``name`` is matched
  against the VM name, ``cluster`` against the VM's cluster name, ``host``
  against its host name, and ``folder`` against the **full** folder path
  below the datacenter's VM folder (``"Prod/Legacy"``; ``""`` at the root),
  with surrounding slashes ignored on both sides. ``*`` also crosses ``/``,
  so ``folder: Legacy`` selects only VMs directly in the top-level folder
  ``Legacy`` while ``folder: "*Legacy"`` also selects ``Prod/Legacy`` and
  ``folder: "Legacy/*"`` selects its subfolders. A VM without a cluster never
  matches a ``cluster`` selector. A ``match`` that selects nothing is a
  problem: it is almost always a typo.
* ``exclude`` (one glob or a list) drops the VMs whose name it matches.
* ``attributes: {team: db}`` keeps the VMs whose vCenter custom attribute
  (``customValue``) ``team`` is set to a value the glob matches; several
  attributes must all match. The snapshot reads custom attributes only when
  a spec selects by them (:func:`spec_scope` sets ``Scope.attributes``).
* Names compare as vSphere names do: a name or glob may be written as typed
  (``web/01``) or as vSphere escapes it (``web%2f01``, ``%`` as ``%25``).
  Selected VMs are listed case-insensitively sorted.

Merging, when several entries select the same VM:

* ``nvdimms``: entries that leave it out do not count; the others must give
  the same list, or it is a conflict.
* ``disks``: the union of all targets. The same key (a label, or ``"*"``)
  given twice must name the same storage; sizes merge (a size given once
  applies), and two different sizes conflict. An explicit label always wins
  over a glob or selector, and they over ``"*"``, whichever entry each comes
  from: ``"*"`` means "every disk not named otherwise". The planner resolves
  the keys against the real disks (:mod:`pmemctl.plan.disksel`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from pmemctl.inventory.model import VM, Inventory, Scope, name_order, unescape_name
from pmemctl.plan.model import Problem
from pmemctl.spec.model import DiskTarget, Location, Match, Spec, VmEntry
from pmemctl.units import format_mb


@dataclass(frozen=True)
class Desired:
    """The merged desired state for one VM.

    ``disks`` maps a disk label (or ``"*"``) to its target, sorted by key.
    ``sources`` are the locations of every entry that selected the VM.
    """

    name: str
    nvdimms: tuple[int, ...] | None = None
    disks: tuple[tuple[str, DiskTarget], ...] = ()
    sources: tuple[Location, ...] = ()
    placement: str | None = None  # "any-host-in-cluster" when an entry says so

    def disk_targets(self) -> dict[str, DiskTarget]:
        """The disk targets as a dict (label or ``"*"`` → target)."""
        return dict(self.disks)


@dataclass(frozen=True)
class Selection:
    """The VMs a spec selects (by name) and the problems found selecting them."""

    vms: dict[str, Desired] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    @property
    def names(self) -> list[str]:
        """Selected VM names, sorted case-insensitively (``DB-02`` between db-01 and db-03)."""
        return sorted(self.vms, key=name_order)


def select_vms(spec: Spec, inventory: Inventory) -> Selection:
    """Resolve every spec entry to VM names and merge what the entries want.

    Only ``name``, ``cluster``, ``folder`` and ``host`` of each VM are read,
    so this works before device lists are loaded. Problems are collected,
    never raised: a missing VM, a ``match`` selecting nothing, and entries
    that disagree about one VM.
    """
    problems: list[Problem] = []
    picked: dict[str, list[VmEntry]] = {}
    for entry in spec.vms:
        names = _resolve(entry, inventory)
        if not names:
            problems.append(_nothing_selected(entry))
        for name in names:
            picked.setdefault(name, []).append(entry)
    desired: dict[str, Desired] = {}
    for name in sorted(picked):
        merged, conflicts = _merge(name, picked[name])
        desired[name] = merged
        problems.extend(conflicts)
    return Selection(vms=desired, problems=tuple(problems))


def spec_scope(spec: Spec) -> Scope | None:
    """Where the spec's VMs can be, so the snapshot reads only there; None for everywhere.

    Only when every entry is a ``match`` narrowed by a host, cluster or
    folder: a bare ``name`` (or a ``match`` on the name alone) can be any VM.
    Each entry contributes its narrowest field (host, then cluster, then
    folder); the scope is a superset of the selection, which still applies
    every field.
    """
    attributes = any(e.match is not None and e.match.attributes for e in spec.vms)
    everywhere = Scope(attributes=True) if attributes else None
    clusters: list[str] = []
    hosts: list[str] = []
    folders: list[str] = []
    for entry in spec.vms:
        m = entry.match
        if entry.name is not None or m is None:
            return everywhere
        if m.host is not None:
            hosts.append(m.host)
        elif m.cluster is not None:
            clusters.append(m.cluster)
        elif m.folder is not None:
            folders.append(m.folder)
        else:
            return everywhere
    if not (clusters or hosts or folders):
        return everywhere
    return Scope(clusters=tuple(sorted(set(clusters))), hosts=tuple(sorted(set(hosts))),
                 folders=tuple(sorted(set(folders))), attributes=attributes)


def _resolve(entry: VmEntry, inventory: Inventory) -> list[str]:
    """The names of the VMs one entry selects, sorted."""
    if entry.name is not None:
        # The name as typed, else as vSphere escapes it (web%2f01 is web/01).
        for name in (entry.name, unescape_name(entry.name)):
            if name in inventory.vms:
                return [name]
        return []
    if entry.match is None:  # the loader forbids this; select nothing rather than everything
        return []
    return sorted(n for n, vm in inventory.vms.items() if matches(entry.match, vm))


def matches(match: Match, vm: VM) -> bool:
    """True when ``vm`` satisfies every field of ``match`` (see the module docstring)."""
    if not name_matches(vm.name, match.name):
        return False
    if any(name_matches(vm.name, glob) for glob in match.exclude):
        return False
    if match.attributes and not attributes_match(match.attributes, vm.attributes):
        return False
    if match.cluster is not None and (
        vm.cluster is None or not fnmatch.fnmatchcase(vm.cluster, match.cluster)
    ):
        return False
    if match.folder is not None and not fnmatch.fnmatchcase(
        vm.folder.strip("/"), match.folder.strip("/")
    ):
        return False
    return match.host is None or fnmatch.fnmatchcase(vm.host, match.host)


def name_matches(name: str, glob: str) -> bool:
    """A VM name (unescaped) against a glob written as typed or as vSphere escapes names."""
    return fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(escape_name(name), glob)


def escape_name(name: str) -> str:
    """A name as vSphere sends it: ``%`` → ``%25``, ``/`` → ``%2f``, ``\\`` → ``%5c``."""
    return name.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")


def attributes_match(wanted: tuple[tuple[str, str], ...],
                     have: tuple[tuple[str, str], ...]) -> bool:
    """Every wanted custom attribute is set on the VM with a value its glob matches.

    The last value of a name wins (vcsim 0.24 appends on ``SetField``); an
    unset or empty value never matches, so ``team: "*"`` means "has a team".
    """
    values = dict(have)
    return all(values.get(name) and fnmatch.fnmatchcase(values[name], glob)
               for name, glob in wanted)


def _nothing_selected(entry: VmEntry) -> Problem:
    if entry.name is not None:
        return Problem(None, f"{entry.location}: VM '{entry.name}' not found")
    assert entry.match is not None
    m = entry.match
    fields = [("name", m.name), ("cluster", m.cluster), ("folder", m.folder), ("host", m.host)]
    fields += [("exclude", g) for g in m.exclude] + list(m.attributes)
    what = ", ".join(f"{k}={v}" for k, v in fields if v is not None)
    return Problem(None, f"{entry.location}: match({what}) selects no VM")


def _merge(name: str, entries: list[VmEntry]) -> tuple[Desired, list[Problem]]:
    """Merge the entries selecting one VM; report each disagreement once."""
    problems: list[Problem] = []
    nvdimms: tuple[int, ...] | None = None
    nvdimms_from: Location | None = None
    disks: dict[str, DiskTarget] = {}
    disks_from: dict[str, Location] = {}
    for entry in entries:
        if entry.nvdimms is not None:
            if nvdimms is None or nvdimms_from is None:
                nvdimms, nvdimms_from = entry.nvdimms, entry.location
            elif entry.nvdimms != nvdimms:
                problems.append(
                    _conflict(
                        name,
                        nvdimms_from,
                        entry.location,
                        "nvdimms",
                        (_sizes(nvdimms), _sizes(entry.nvdimms)),
                    )
                )
        for label, target in entry.disks:
            if label not in disks:
                disks[label], disks_from[label] = target, entry.location
                continue
            combined = _combine(disks[label], target)
            if combined is None:
                problems.append(
                    _conflict(
                        name,
                        disks_from[label],
                        entry.location,
                        f"disk '{label}'",
                        (_target(disks[label]), _target(target)),
                    )
                )
            else:
                disks[label] = combined
    merged = Desired(
        name=name,
        nvdimms=nvdimms,
        disks=tuple(sorted(disks.items())),
        sources=tuple(e.location for e in entries),
        # Any entry allowing a move allows it: placement only widens where NVDIMMs may go.
        placement=next((e.placement for e in entries if e.placement), None),
    )
    return merged, problems


def _conflict(
    name: str, first: Location, second: Location, what: str, values: tuple[str, str]
) -> Problem:
    return Problem(
        name,
        f"VM '{name}' is selected by {first} and {second}, "
        f"which disagree on {what} ({values[0]} vs {values[1]})",
    )


def _combine(a: DiskTarget, b: DiskTarget) -> DiskTarget | None:
    """Two targets for the same disk as one, or None when they disagree."""
    if a.storage != b.storage:
        return None
    if a.size_mb is not None and b.size_mb is not None and a.size_mb != b.size_mb:
        return None
    return DiskTarget(a.storage, a.size_mb if a.size_mb is not None else b.size_mb)


def _sizes(sizes: tuple[int, ...]) -> str:
    return "[" + ", ".join(format_mb(s) for s in sizes) + "]"


def _target(target: DiskTarget) -> str:
    if target.size_mb is None:
        return target.storage
    return f"{target.storage}, {format_mb(target.size_mb)}"
