"""The saved outcome of ``pmemctl probe``: which call shapes one vCenter accepted.

This is the small typed API that ``apply`` reads to pick the call shapes a
vCenter takes (a spec option still wins)::

    result = find_result(settings.host, settings.port)   # None: never probed
    if result is not None:
        shape = result.onto_pmem_shape()                 # "device_change" | "locator" | None

A ``None`` from any of the pickers means "not known": the probe was not run,
the step was skipped, or both shapes were refused. The caller then keeps its
own default.

File format (JSON, ``format_version`` 1)::

    {"format_version": 1, "kind": "pmemctl-probe", "vcenter": "host:port",
     "instance_uuid": "...", "api_version": "7.0.3.0", "recorded_at": "2024-…Z",
     "steps": [{"name", "shape", "accepted": true|false|null, "fault": str|null,
                "fault_keys": [str], "note": str, "facts": {str: str|int|bool|null}}]}

``accepted`` is ``true`` (vCenter took the call and it had the intended
effect), ``false`` (refused: ``fault`` names the vim fault, or a
``pmemctl.*`` pseudo-fault when the task succeeded without the effect) or
``null`` (skipped, or an unexpected error: then ``fault`` is set and the note
says what happened).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pmemctl.errors import PmemctlError

FORMAT_VERSION = 1
KIND = "pmemctl-probe"

# Step names and their shapes, in the order the probe runs them.
UPGRADE = "upgrade"
ONTO_PMEM = "onto_pmem"
OFF_PMEM = "off_pmem"
NEW_PMEM_DISK = "new_pmem_disk"
NVDIMM_SNAPSHOT = "nvdimm_snapshot"
PAGE_SIZE = "page_size"

STEP_SHAPES: dict[str, tuple[str, ...]] = {
    UPGRADE: ("UpgradeVM_Task", "ReconfigVM_Task"),
    ONTO_PMEM: ("device_change", "locator"),
    OFF_PMEM: ("none", "default", "empty"),
    NEW_PMEM_DISK: ("powered_off", "powered_on"),
    NVDIMM_SNAPSHOT: ("no_snapshot_mode", "independent_persistent"),
    PAGE_SIZE: ("unset", "100", "1000", "10000"),
}

_OFF_PREFERENCE: tuple[Literal["default", "empty", "none"], ...] = ("default", "empty", "none")

FactValue = str | int | bool | None
_STEP_KEYS = frozenset({"name", "shape", "accepted", "fault", "fault_keys", "note", "facts"})
_TOP_KEYS = frozenset({"format_version", "kind", "vcenter", "instance_uuid", "api_version",
                       "recorded_at", "steps"})


class ProbeResultError(PmemctlError):
    """A probe result file that is missing, damaged or not a probe result."""

    code = "probe_result"


@dataclass(frozen=True)
class ProbeStep:
    """One call shape tried on the probe VM.

    Attributes:
        name: the step (``onto_pmem``, …; see :data:`STEP_SHAPES`).
        shape: the variant tried (``device_change``, …).
        accepted: True accepted, False refused, None skipped or errored.
        fault: the vim fault type (``InvalidDeviceSpec``), a ``pmemctl.*``
            pseudo-fault, or an unexpected error's type; None when accepted.
        fault_keys: ``faultMessage[].key`` of the fault and its causes.
        note: one human sentence: the fault message, what was observed, why skipped.
        facts: machine-readable observations (``pmem_policy_kept``,
            ``first_page_objects``, ``token``, …).
    """

    name: str
    shape: str
    accepted: bool | None
    fault: str | None = None
    fault_keys: tuple[str, ...] = ()
    note: str = ""
    facts: Mapping[str, FactValue] = field(default_factory=dict)

    @property
    def errored(self) -> bool:
        """True when pmemctl could not get an answer (not a vCenter refusal)."""
        return self.accepted is None and self.fault is not None

    def to_json(self) -> dict[str, Any]:
        """This step as a JSON object."""
        return {"name": self.name, "shape": self.shape, "accepted": self.accepted,
                "fault": self.fault, "fault_keys": list(self.fault_keys), "note": self.note,
                "facts": dict(self.facts)}

    @classmethod
    def from_json(cls, data: Any, where: str = "step") -> ProbeStep:
        """Parse one step; raises ValueError naming ``where`` and the bad key."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object")
        _exact_keys(data, _STEP_KEYS, where)
        name = _typed(data, "name", str, where)
        shape = _typed(data, "shape", str, where)
        if name not in STEP_SHAPES or shape not in STEP_SHAPES[name]:
            raise ValueError(f"{where}: unknown step {name!r}/{shape!r}")
        accepted = data["accepted"]
        if accepted is not None and not isinstance(accepted, bool):
            raise ValueError(f"{where}.accepted: expected true, false or null")
        fault = data["fault"]
        if fault is not None and not isinstance(fault, str):
            raise ValueError(f"{where}.fault: expected a string or null")
        keys = data["fault_keys"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"{where}.fault_keys: expected a list of strings")
        facts = data["facts"]
        if not isinstance(facts, dict) or not all(
                isinstance(v, str | int | bool) or v is None for v in facts.values()):
            raise ValueError(f"{where}.facts: expected an object of strings, numbers, "
                             "booleans or nulls")
        if accepted is False and not fault:
            raise ValueError(f"{where}: refused without a fault")
        return cls(name=name, shape=shape, accepted=accepted, fault=fault,
                   fault_keys=tuple(keys), note=_typed(data, "note", str, where),
                   facts=dict(facts))


@dataclass(frozen=True)
class ProbeResult:
    """Everything one probe run learned about one vCenter."""

    vcenter: str  # "host:port"
    instance_uuid: str
    api_version: str
    recorded_at: str  # ISO 8601 UTC
    steps: tuple[ProbeStep, ...]

    def step(self, name: str, shape: str) -> ProbeStep | None:
        """The step ``name``/``shape``, or None when the result has no such step."""
        return next((s for s in self.steps if s.name == name and s.shape == shape), None)

    def _accepted(self, name: str, shape: str) -> bool | None:
        s = self.step(name, shape)
        return None if s is None else s.accepted

    def onto_pmem_shape(self) -> Literal["device_change", "locator"] | None:
        """The accepted Storage vMotion shape onto PMem; ``device_change`` preferred."""
        if self._accepted(ONTO_PMEM, "device_change"):
            return "device_change"
        if self._accepted(ONTO_PMEM, "locator"):
            return "locator"
        return None

    def off_pmem_profile(self) -> Literal["default", "empty", "none"] | None:
        """The profile spec that moved a disk off PMem AND left it without the PMem policy.

        ``default`` (``DefaultProfileSpec``) is preferred, then ``empty``, then
        ``none`` (no profile). None when no variant is known to drop the PMem
        policy (including when PBM could not say which policy the disk got).
        """
        for shape in _OFF_PREFERENCE:
            s = self.step(OFF_PMEM, shape)
            if s is not None and s.accepted and s.facts.get("pmem_policy_kept") is False:
                return shape
        return None

    def pmem_disk_needs_power_off(self) -> bool | None:
        """Whether adding a vPMemDisk needs the VM powered off (None: not known)."""
        on = self._accepted(NEW_PMEM_DISK, "powered_on")
        off = self._accepted(NEW_PMEM_DISK, "powered_off")
        if on:
            return False
        if on is False and off:
            return True
        return None

    def upgrade_via(self) -> Literal["UpgradeVM_Task", "ReconfigVM_Task"] | None:
        """The call that raised the hardware version; ``UpgradeVM_Task`` preferred."""
        if self._accepted(UPGRADE, "UpgradeVM_Task"):
            return "UpgradeVM_Task"
        if self._accepted(UPGRADE, "ReconfigVM_Task"):
            return "ReconfigVM_Task"
        return None

    def to_json(self) -> dict[str, Any]:
        """The result file's JSON document."""
        return {"format_version": FORMAT_VERSION, "kind": KIND, "vcenter": self.vcenter,
                "instance_uuid": self.instance_uuid, "api_version": self.api_version,
                "recorded_at": self.recorded_at, "steps": [s.to_json() for s in self.steps]}

    @classmethod
    def from_json(cls, data: Any) -> ProbeResult:
        """Parse a result document; raises ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        if data.get("kind") != KIND:
            raise ValueError(f'not a pmemctl probe result (no "kind": "{KIND}")')
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"format_version {version!r} is not supported (this pmemctl "
                             f"reads {FORMAT_VERSION}): run pmemctl probe again")
        _exact_keys(data, _TOP_KEYS, "result")
        vcenter = _typed(data, "vcenter", str, "result")
        if not re.fullmatch(r".+:\d+", vcenter):
            raise ValueError(f"result.vcenter: expected host:port, got {vcenter!r}")
        steps = data["steps"]
        if not isinstance(steps, list):
            raise ValueError("result.steps: expected a list")
        parsed = tuple(ProbeStep.from_json(s, f"steps[{i}]") for i, s in enumerate(steps))
        seen: set[tuple[str, str]] = set()
        for s in parsed:
            if (s.name, s.shape) in seen:
                raise ValueError(f"step {s.name}/{s.shape} appears twice")
            seen.add((s.name, s.shape))
        return cls(vcenter=vcenter, instance_uuid=_typed(data, "instance_uuid", str, "result"),
                   api_version=_typed(data, "api_version", str, "result"),
                   recorded_at=_typed(data, "recorded_at", str, "result"), steps=parsed)


def _exact_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    missing = sorted(allowed - data.keys())
    unknown = sorted(data.keys() - allowed)
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    if unknown:
        raise ValueError(f"{where}: unknown key {', '.join(unknown)}")


def _typed(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data[key]
    if not isinstance(value, kind):
        raise ValueError(f"{where}.{key}: expected a {kind.__name__}")
    return value


def default_result_dir() -> Path:
    """``$XDG_STATE_HOME/pmemctl/probe`` (``~/.local/state/pmemctl/probe``)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pmemctl" / "probe"


def default_result_path(host: str, port: int) -> Path:
    """Where the probe result for the vCenter ``host:port`` is saved by default."""
    # Host names are safe file names already; keep IPv6 colons readable but
    # never let a path separator through.
    safe = re.sub(r"[^A-Za-z0-9._:-]+", "_", host.lower()) or "_"
    return default_result_dir() / f"{safe}_{port}.json"


def load_result(path: str | Path) -> ProbeResult:
    """Read a saved probe result.

    Raises:
        ProbeResultError: the file is missing, unreadable, not JSON, not a
            probe result or of another format version; the message names it.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProbeResultError(f"{p}: no such probe result (run pmemctl probe)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProbeResultError(f"{p}: cannot read the probe result: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProbeResultError(f"{p}: not a probe result (not JSON: {e.msg} at line "
                               f"{e.lineno})") from None
    try:
        return ProbeResult.from_json(data)
    except ValueError as e:
        raise ProbeResultError(f"{p}: {e}") from None


def find_result(host: str, port: int) -> ProbeResult | None:
    """The saved probe result for the vCenter ``host:port``; None when there is none.

    Raises:
        ProbeResultError: a file exists there but is not a usable result.
    """
    path = default_result_path(host, port)
    if not path.exists():
        return None
    return load_result(path)


def save_result(result: ProbeResult, path: str | Path) -> Path:
    """Write ``result`` to ``path`` atomically (temp file + rename); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(p)
    return p
