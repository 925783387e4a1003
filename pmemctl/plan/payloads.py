"""What each planned change does, as one frozen, typed value per action.

The planner decides everything here (the device keys, the datastores by
managed object id, the storage policy, whether the NVDIMM controller comes
with the first NVDIMM, how the VM goes down); the executor only turns a
payload into a vSphere spec and never reads the inventory. Each payload has
a JSON form (``{"type": <action>, ...}``, the ``payload`` of a change in
``plan -o json`` and in saved plans) and its exact inverse.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

from pmemctl.plan.actions import Action


@dataclass(frozen=True)
class DatastoreRef:
    """A datastore as the plan knows it: its moid (names are unique only per datacenter)."""

    name: str
    moid: str = ""
    pmem: bool = False


PolicyKind = Literal["pmem", "target_default", "keep", "defined"]


@dataclass(frozen=True)
class PolicyRef:
    """The storage policy a disk gets where it lands.

    ``pmem``: the Host-local PMem Default Storage Policy (onto PMem).
    ``target_default``: the target datastore's default (off PMem).
    ``keep``: leave the association alone (between regular datastores).
    ``defined``: exactly ``ids`` (rollback restoring a disk's own policy).
    """

    kind: PolicyKind = "keep"
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpgradeHardware:
    """``UpgradeVM_Task`` from one hardware version to another (VM powered off)."""

    ACTION: ClassVar[Action] = Action.UPGRADE_HARDWARE
    from_version: int
    to_version: int


@dataclass(frozen=True)
class PowerOff:
    """How the VM goes down: a guest shutdown (then a hard power off after
    ``timeout_s``), or a hard power off when it has no running VMware Tools."""

    ACTION: ClassVar[Action] = Action.POWER_OFF
    method: Literal["guest", "hard"]
    timeout_s: int


@dataclass(frozen=True)
class PowerOn:
    """Power the VM on again; ``owed`` when a killed run powered it off.

    ``wait_tools``: the step ends only once ``guest.toolsRunningStatus`` is
    ``guestToolsRunning`` (it fails after ``tools_timeout_s``).
    """

    ACTION: ClassVar[Action] = Action.POWER_ON
    owed: bool = False
    wait_tools: bool = False
    tools_timeout_s: int = 0


@dataclass(frozen=True)
class AddNvdimm:
    """A new NVDIMM; ``add_controller`` when the VM has no NVDIMM controller yet."""

    ACTION: ClassVar[Action] = Action.ADD_NVDIMM
    index: int
    size_mb: int
    add_controller: bool = False
    controller_key: int | None = None
    snapshot_mode: str | None = None


@dataclass(frozen=True)
class GrowNvdimm:
    """A larger ``capacityInMB`` for the NVDIMM with device key ``key``."""

    ACTION: ClassVar[Action] = Action.GROW_NVDIMM
    key: int
    size_mb_before: int
    size_mb: int


@dataclass(frozen=True)
class RemoveNvdimm:
    """Remove (and destroy) the NVDIMM with device key ``key``."""

    ACTION: ClassVar[Action] = Action.REMOVE_NVDIMM
    key: int
    size_mb: int


@dataclass(frozen=True)
class CreateDisk:
    """A new disk: a vPMemDisk when ``datastore.pmem``, else on ``datastore``."""

    ACTION: ClassVar[Action] = Action.CREATE_DISK
    label: str
    size_mb: int
    datastore: DatastoreRef

    @property
    def pmem(self) -> bool:
        """True for a vPMemDisk."""
        return self.datastore.pmem


@dataclass(frozen=True)
class RemoveDisk:
    """Remove (and destroy) a disk that an apply created; only rollback plans it."""

    ACTION: ClassVar[Action] = Action.REMOVE_DISK
    key: int
    size_mb: int


@dataclass(frozen=True)
class MigrateDisk:
    """Storage vMotion of one disk from ``source`` to ``target`` under ``policy``."""

    ACTION: ClassVar[Action] = Action.MIGRATE_DISK
    disk_key: int
    size_mb: int
    source: DatastoreRef
    target: DatastoreRef
    policy: PolicyRef = PolicyRef()
    rollback: bool = False
    # The disk's backing file when planned: apply moves the disk only while the
    # device with that key still has it, so a foreign disk that took the key or
    # the label is never moved in its place. "" when unknown.
    file_name: str = ""

    @property
    def to_pmem(self) -> bool:
        """True when the disk goes onto PMem."""
        return self.target.pmem

    @property
    def from_pmem(self) -> bool:
        """True when the disk leaves PMem."""
        return self.source.pmem


Payload = Union[  # noqa: UP007 - typing.get_args needs the Union at runtime on 3.10
    UpgradeHardware, PowerOff, PowerOn, AddNvdimm, GrowNvdimm, RemoveNvdimm, CreateDisk,
    RemoveDisk, MigrateDisk,
]
PAYLOADS: dict[Action, type[Any]] = {p.ACTION: p for p in typing.get_args(Payload)}


def payload_to_json(payload: Payload) -> dict[str, Any]:
    """``{"type": <action>, <field>: <value>, ...}``; refs as nested objects, tuples as lists."""
    return {"type": payload.ACTION.value, **_encode(payload)}


def _encode(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = _encode(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def payload_from_json(data: Any, where: str = "payload") -> Payload:
    """The inverse of :func:`payload_to_json`; ValueError naming the bad element."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object")
    try:
        cls = PAYLOADS[Action(data.get("type"))]
    except ValueError:
        raise ValueError(f"{where}.type: unknown payload type {data.get('type')!r}") from None
    body = {k: v for k, v in data.items() if k != "type"}
    result: Payload = _decode(cls, body, where)
    return result


def _decode(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}: missing {name}")
            continue
        kwargs[name] = _value(hints[name], data[name], f"{where}.{name}")
    return cls(**kwargs)


def _value(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(o for o in options if o is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _decode(hint, value, where)  # type: ignore[arg-type]
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ValueError(f"{where}: unexpected value {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where}: expected a list of strings")
        return tuple(value)
    kind = hint if isinstance(hint, type) else None
    # bool is an int in Python, not in JSON.
    if kind is not None and (not isinstance(value, kind) or
                             (isinstance(value, bool) and kind is not bool)):
        raise ValueError(f"{where}: unexpected value {value!r}")
    return value
