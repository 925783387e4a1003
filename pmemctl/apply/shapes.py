"""Which call shapes apply sends to this vCenter: the spec's choice, else what the probe saw.

Order of precedence, so that a user always has the last word:

1. the spec's ``options.pmem_migration_shape`` when it is not ``auto``;
2. the saved result of ``pmemctl probe`` for this vCenter, when it found a
   shape the vCenter accepted;
3. the documented shapes (see :mod:`pmemctl.vsphere.actions`): onto PMem by a
   ``deviceChange`` profile edit, off PMem with the target's default profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pmemctl.vsphere.actions import OFF_PROFILES, ONTO_SHAPES, OffProfile, OntoShape

AUTO = "auto"


class ShapeEvidence(Protocol):
    """What a saved probe result says (``pmemctl.probe``'s ``ProbeResult``)."""

    def onto_pmem_shape(self) -> str | None:
        """The accepted shape for moving a disk onto PMem, or None."""

    def off_pmem_profile(self) -> str | None:
        """The profile that took a disk off the PMem policy, or None."""


@dataclass(frozen=True)
class CallShapes:
    """The shapes one run sends, and why (for the plan's notes and the journal)."""

    onto: OntoShape = "device_change"
    off: OffProfile = "default"
    source: str = "documented default"


def choose(spec_shape: str = AUTO, probe: ShapeEvidence | None = None,
           probe_label: str = "pmemctl probe") -> CallShapes:
    """The shapes to send: the spec's choice, else the probe's findings, else the defaults.

    Raises:
        ValueError: ``spec_shape`` is not ``auto`` nor a known shape (the
            spec loader rejects it first; this guards library callers).
    """
    onto: OntoShape = "device_change"
    off: OffProfile = "default"
    sources: list[str] = []
    if spec_shape != AUTO:
        if spec_shape not in ONTO_SHAPES:
            raise ValueError(f"unknown pmem_migration_shape {spec_shape!r}; "
                             f"expected auto or one of {', '.join(ONTO_SHAPES)}")
        onto = spec_shape
        sources.append("the spec")
    elif probe is not None:
        found = probe.onto_pmem_shape()
        if found in ONTO_SHAPES:
            onto = found
            sources.append(probe_label)
    if probe is not None:
        found_off = probe.off_pmem_profile()
        if found_off in OFF_PROFILES:
            off = found_off
            if probe_label not in sources:
                sources.append(probe_label)
    return CallShapes(onto=onto, off=off, source=" and ".join(sources) or "documented default")


def for_vcenter(host: str, port: int, instance_uuid: str,
                spec_shape: str = AUTO) -> tuple[CallShapes, list[str]]:
    """The shapes for the vCenter at ``host:port``, and notes for the plan.

    Reads the probe result saved for that vCenter (``pmemctl probe``). A
    result recorded on another vCenter (a different ``instanceUuid`` behind
    the same address) or a damaged file is ignored, with a note.

    Side Effects:
        Reads ``$XDG_STATE_HOME/pmemctl/probe/<host>_<port>.json`` if present.
    """
    from pmemctl.probe.result import ProbeResultError, default_result_path, find_result

    notes: list[str] = []
    probe = None
    try:
        probe = find_result(host, port)
    except ProbeResultError as e:
        notes.append(f"{e}; using the documented call shapes")
    if probe is not None and probe.instance_uuid and instance_uuid \
            and probe.instance_uuid != instance_uuid:
        notes.append(f"the probe result {default_result_path(host, port)} was recorded on "
                     f"another vCenter (instance {probe.instance_uuid}); ignored: run "
                     "`pmemctl probe` again")
        probe = None
    shapes = choose(spec_shape, probe)
    if shapes != CallShapes():
        notes.append(f"call shapes from {shapes.source}: disks go onto PMem by "
                     f"{_ONTO_WORDS[shapes.onto]} and leave it with {_OFF_WORDS[shapes.off]}")
    return shapes, notes


_ONTO_WORDS = {"device_change": "a deviceChange profile edit",
               "locator": "a disk locator naming the PMem datastore"}
_OFF_WORDS = {"default": "the target datastore's default policy (DefaultProfileSpec)",
              "empty": "no policy (EmptyProfileSpec)",
              "none": "no profile in the locator (the disk may keep the PMem policy)"}
