"""The plan as a value: ordered changes, blocking problems, PMem per host.

``make_plan(spec, inventory) -> Plan`` (:mod:`pmemctl.plan.planner`) is pure;
``apply`` runs only plans the planner produced and decides nothing itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pmemctl.plan.actions import ACTION_ORDER, Action
from pmemctl.plan.payloads import Payload, payload_from_json, payload_to_json

__all__ = ["ACTION_ORDER", "FORMAT_VERSION", "Action", "Change", "HostPmem", "Payload", "Plan",
           "Problem", "Skipped"]

# The plan JSON contract's version. Its keys never change; extensions are added
# (``payload``, ``vm_moid``, ``host``, ``host_moid`` replaced the ``detail``
# extension). Saved plan files carry their own version (savefile.py), which did
# change, so an old file is refused before this shape is read.
FORMAT_VERSION = 1


def _fields(data: Any, what: str, keys: tuple[str, ...],
            optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """``data`` as a mapping with exactly ``keys`` (and any of ``optional``); ValueError otherwise.

    ``optional`` keys are extensions that older saved plans do not have.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{what}: expected an object, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    extra = sorted(str(k) for k in data if k not in keys and k not in optional)
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unknown " + ", ".join(extra))
        raise ValueError(f"{what}: " + "; ".join(parts))
    return data


def _typed(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` when it has the JSON type ``kind``; ValueError naming ``what`` otherwise."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int subclass in Python, but JSON true is not a number.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ValueError(f"{what}: unexpected value {value!r}")
    return value


@dataclass(frozen=True)
class Change:
    """One step for one VM.

    ``target`` names the device or disk ("NVDIMM 2", "Hard disk 1") or the VM
    itself for power and hardware changes. ``before``/``after`` are short
    human strings (``"san-01"`` → ``"PMemDS-…"``, ``"16 GiB"``, ``"vmx-13"``).
    ``payload`` is everything apply needs, decided by the planner (see
    :mod:`pmemctl.plan.payloads`); ``vm_moid`` and ``host_moid`` are resolved
    so that apply never looks a name up.
    """

    vm: str
    action: Action
    target: str
    before: str | None
    after: str | None
    disruptive: bool
    reason: str
    payload: Payload
    vm_moid: str = ""
    host: str = ""
    host_moid: str = ""

    def __post_init__(self) -> None:
        if self.payload.ACTION is not self.action:
            raise ValueError(f"{self.action.value} change with a "
                             f"{self.payload.ACTION.value} payload")

    def to_json(self) -> dict[str, Any]:
        """The contract shape of one change; ``payload`` and the moids are extensions."""
        return {
            "vm": self.vm,
            "action": self.action.value,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "disruptive": self.disruptive,
            "reason": self.reason,
            "vm_moid": self.vm_moid,
            "host": self.host,
            "host_moid": self.host_moid,
            "payload": payload_to_json(self.payload),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "change") -> Change:
        """The inverse of :meth:`to_json`; ValueError on any deviation."""
        d = _fields(
            data,
            where,
            ("vm", "action", "target", "before", "after", "disruptive", "reason", "vm_moid",
             "host", "host_moid", "payload"),
        )
        try:
            action = Action(d["action"])
        except ValueError:
            raise ValueError(f"{where}: unknown action {d['action']!r}") from None
        payload = payload_from_json(d["payload"], f"{where}.payload")
        if payload.ACTION is not action:
            raise ValueError(f"{where}.payload: a {payload.ACTION.value} payload on a "
                             f"{action.value} change")
        opt_str = (str, type(None))
        return cls(
            vm=_typed(d["vm"], str, f"{where}.vm"),
            action=action,
            target=_typed(d["target"], str, f"{where}.target"),
            before=_typed(d["before"], opt_str, f"{where}.before"),
            after=_typed(d["after"], opt_str, f"{where}.after"),
            disruptive=_typed(d["disruptive"], bool, f"{where}.disruptive"),
            reason=_typed(d["reason"], str, f"{where}.reason"),
            payload=payload,
            vm_moid=_typed(d["vm_moid"], str, f"{where}.vm_moid"),
            host=_typed(d["host"], str, f"{where}.host"),
            host_moid=_typed(d["host_moid"], str, f"{where}.host_moid"),
        )


@dataclass(frozen=True)
class Problem:
    """Something that blocks the plan. ``vm`` is None for spec-level problems.

    ``vm`` is the VM to drop from the spec to clear the problem (for a pool
    that runs dry, the VM whose change first overran it); ``vms`` names every
    VM involved (all the pool's takers; every VM a vCenter-wide problem
    concerns). ``vms`` defaults to ``(vm,)``, and is empty only for a problem
    about no VM at all (a ``match`` that selects nothing).
    """

    vm: str | None
    message: str
    vms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.vms and self.vm is not None:
            object.__setattr__(self, "vms", (self.vm,))

    def to_json(self) -> dict[str, Any]:
        """The contract shape of one problem; ``vms`` is an extension."""
        return {"vm": self.vm, "message": self.message, "vms": list(self.vms)}

    @classmethod
    def from_json(cls, data: Any, where: str = "problem") -> Problem:
        """The inverse of :meth:`to_json`; ValueError on any deviation."""
        d = _fields(data, where, ("vm", "message"), optional=("vms",))
        vms = _typed(d.get("vms", []), list, f"{where}.vms")
        return cls(
            vm=_typed(d["vm"], (str, type(None)), f"{where}.vm"),
            message=_typed(d["message"], str, f"{where}.message"),
            vms=tuple(_typed(v, str, f"{where}.vms[{i}]") for i, v in enumerate(vms)),
        )


@dataclass(frozen=True)
class Skipped:
    """A VM left out of the plan by ``skip_blocked``: why, and what it would have had.

    ``changes`` are the changes the VM would have had (shown, never run);
    ``host`` is its host's name ("" when unknown).
    """

    vm: str
    reasons: tuple[str, ...]
    host: str = ""
    changes: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{"vm", "host", "reasons", "changes"}``."""
        return {"vm": self.vm, "host": self.host, "reasons": list(self.reasons),
                "changes": [c.to_json() for c in self.changes]}

    @classmethod
    def from_json(cls, data: Any, where: str = "skipped") -> Skipped:
        """The inverse of :meth:`to_json`; ValueError on any deviation."""
        d = _fields(data, where, ("vm", "host", "reasons", "changes"))
        reasons = _typed(d["reasons"], list, f"{where}.reasons")
        changes = _typed(d["changes"], list, f"{where}.changes")
        return cls(
            vm=_typed(d["vm"], str, f"{where}.vm"),
            host=_typed(d["host"], str, f"{where}.host"),
            reasons=tuple(_typed(r, str, f"{where}.reasons[{i}]") for i, r in enumerate(reasons)),
            changes=tuple(Change.from_json(c, f"{where}.changes[{i}]")
                          for i, c in enumerate(changes)),
        )


@dataclass(frozen=True)
class HostPmem:
    """PMem free on one host before and after the plan."""

    name: str
    capacity_mb: int
    free_mb_before: int
    free_mb_after: int

    def to_json(self) -> dict[str, Any]:
        """The contract shape of one host row."""
        return {
            "name": self.name,
            "pmem_capacity_mb": self.capacity_mb,
            "pmem_free_mb_before": self.free_mb_before,
            "pmem_free_mb_after": self.free_mb_after,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "host") -> HostPmem:
        """The inverse of :meth:`to_json`; ValueError on any deviation."""
        d = _fields(
            data, where, ("name", "pmem_capacity_mb", "pmem_free_mb_before", "pmem_free_mb_after")
        )
        return cls(
            name=_typed(d["name"], str, f"{where}.name"),
            capacity_mb=_typed(d["pmem_capacity_mb"], int, f"{where}.pmem_capacity_mb"),
            free_mb_before=_typed(d["pmem_free_mb_before"], int, f"{where}.pmem_free_mb_before"),
            free_mb_after=_typed(d["pmem_free_mb_after"], int, f"{where}.pmem_free_mb_after"),
        )


@dataclass(frozen=True)
class Plan:
    """Everything ``plan`` shows and ``apply`` executes."""

    changes: tuple[Change, ...] = ()
    problems: tuple[Problem, ...] = ()
    hosts: tuple[HostPmem, ...] = ()
    warnings: tuple[str, ...] = ()
    # VMs left out by skip_blocked (their problems are their reasons, not in ``problems``).
    skipped: tuple[Skipped, ...] = ()

    @property
    def blocked(self) -> bool:
        """True when any problem stands in the way (skipped VMs no longer do)."""
        return bool(self.problems)

    @property
    def empty(self) -> bool:
        """True when there is nothing to do."""
        return not self.changes

    def to_json(self) -> dict[str, Any]:
        """The ``plan --output json`` contract."""
        return {
            "format_version": FORMAT_VERSION,
            "changes": [c.to_json() for c in self.changes],
            "problems": [p.to_json() for p in self.problems],
            "hosts": [h.to_json() for h in self.hosts],
            "warnings": list(self.warnings),
            "skipped": [s.to_json() for s in self.skipped],
        }

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """The inverse of :meth:`to_json`, for saved plans.

        Strict: unknown or missing keys, wrong types, unknown actions and a
        different ``format_version`` raise ValueError naming the bad element
        (``changes[2].action``), so a hand-edited plan cannot slip through.
        """
        d = _fields(data, "plan", ("format_version", "changes", "problems", "hosts", "warnings"),
                    optional=("skipped",))
        version = d["format_version"]
        if version != FORMAT_VERSION or isinstance(version, bool):
            raise ValueError(f"plan: format_version {version!r} is not {FORMAT_VERSION} (a plan "
                             "from another pmemctl version: make it again with this one)")
        lists = {
            k: _typed(d.get(k, []), list, f"plan.{k}")
            for k in ("changes", "problems", "hosts", "warnings", "skipped")
        }
        return cls(
            changes=tuple(
                Change.from_json(c, f"changes[{i}]") for i, c in enumerate(lists["changes"])
            ),
            problems=tuple(
                Problem.from_json(p, f"problems[{i}]") for i, p in enumerate(lists["problems"])
            ),
            hosts=tuple(HostPmem.from_json(h, f"hosts[{i}]") for i, h in enumerate(lists["hosts"])),
            warnings=tuple(
                _typed(w, str, f"warnings[{i}]") for i, w in enumerate(lists["warnings"])
            ),
            skipped=tuple(
                Skipped.from_json(s, f"skipped[{i}]") for i, s in enumerate(lists["skipped"])
            ),
        )
