"""Saved plans: ``plan --out PLANFILE`` writes one, ``apply PLANFILE`` runs it.

The file is JSON::

    {"format_version": 2, "kind": "pmemctl-plan", "created": "2024-05-01T12:00:00+00:00",
     "spec_path": "spec.yaml", "options": {...}, "vm_names": [...],
     "fingerprint": "sha256:...", "objects": {"VM redis-01": "sha256:...", ...},
     "plan": {...Plan.to_json()...}}

``fingerprint`` is :meth:`Inventory.fingerprint` over the planned VMs; apply
recomputes it and refuses a plan whose estate has moved on. ``objects`` holds
one digest per host and VM covered, only so the refusal can say *what*
changed. The file holds names, sizes and options: no server, user or secret.

A plan file is a regular file: ``--out`` naming a directory, device or FIFO
is refused (:func:`check_plan_target`, before any work), and reading one
stops at :data:`MAX_PLAN_BYTES`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from pmemctl.errors import Diagnostic, PmemctlError, SpecError, StalePlanError
from pmemctl.fileio import FileProblem, check_regular_target, read_bounded
from pmemctl.inventory.model import Inventory
from pmemctl.plan.model import Plan
from pmemctl.spec.model import OnFailure, Options, Parallel

# 2: the plan inside carries typed payloads (plan format 2); a version-1 file is refused.
SAVE_FORMAT_VERSION = 2
KIND = "pmemctl-plan"
_KEYS = (
    "format_version",
    "kind",
    "created",
    "spec_path",
    "options",
    "vm_names",
    "fingerprint",
    "plan",
)
_OPTIONAL_KEYS = ("objects",)
# A plan of thousands of VMs is a few MiB of JSON; the limit keeps `apply
# /dev/zero` (or any huge file) from being read into memory.
MAX_PLAN_BYTES = 64 << 20


class PlanFileError(PmemctlError):
    """A plan file that cannot be written where asked (exit 1)."""

    code = "plan_file"


def check_plan_target(path: str | Path) -> None:
    """Refuse, before any work, an ``--out`` that is not (or cannot be) a regular file.

    Raises:
        PlanFileError: ``path`` is a directory, device, FIFO or socket, or its
            directory does not exist.
    """
    try:
        check_regular_target(path)
    except FileProblem as exc:
        raise PlanFileError(f"cannot save the plan to {path}: {exc}; give a file name") from None
    parent = Path(path).parent
    if not parent.is_dir():
        raise PlanFileError(f"cannot save the plan to {path}: the directory {parent} "
                            "does not exist")


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from a file, with what apply needs to trust it."""

    plan: Plan
    options: Options
    fingerprint: str
    vm_names: tuple[str, ...]
    spec_path: str
    created: str
    objects: tuple[tuple[str, str], ...] = ()  # ("VM redis-01", digest), sorted


def save_plan(  # noqa: PLR0917 -- the signature the CLI was promised
    path: str | Path,
    plan: Plan,
    options: Options,
    inventory: Inventory,
    vm_names: list[str],
    spec_path: str,
) -> None:
    """Write ``plan`` to ``path`` for a later ``apply PLANFILE``.

    Side Effects:
        Writes a temporary file next to ``path`` and renames it over ``path``,
        so a crash never leaves a half-written plan behind. A symlink is
        followed: the file it points to is replaced, the link stays.

    Raises:
        PlanFileError: ``path`` is not a regular file, or writing failed (a
            full disk); nothing is left behind then.
    """
    doc = {
        "format_version": SAVE_FORMAT_VERSION,
        "kind": KIND,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "spec_path": spec_path,
        "options": asdict(options),
        "vm_names": sorted(vm_names),
        "fingerprint": inventory.fingerprint(vm_names),
        "objects": _digests(inventory, vm_names),
        "plan": plan.to_json(),
    }
    check_plan_target(path)
    # Write next to the link's target: renaming over the link would replace it.
    target = Path(os.path.realpath(path))
    try:
        _write_atomically(target, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise PlanFileError(f"cannot save the plan to {path}: {exc.strerror or exc} "
                            "(no plan file was written)") from None


def load_plan(path: str | Path) -> SavedPlan:
    """Read a saved plan.

    Raises:
        SpecError: the file is unreadable, not JSON, not a pmemctl plan, of
            another format version, or malformed; the message says which.
    """
    where = str(path)
    try:
        text = read_bounded(path, MAX_PLAN_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise _error(where, "cannot read the plan file: No such file or directory") from None
    except FileProblem as exc:
        raise _error(where, f"cannot read the plan file: {exc}") from None
    except UnicodeDecodeError as exc:
        raise _error(where, f"not a pmemctl plan: not UTF-8 text ({exc.reason})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise _error(where, "not a pmemctl plan: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise SpecError(
            [
                Diagnostic(
                    where, exc.lineno, exc.colno, f"not a pmemctl plan: invalid JSON: {exc.msg}"
                )
            ]
        ) from exc
    try:
        return _parse(data)
    except (ValueError, TypeError) as exc:
        raise _error(where, str(exc)) from exc


def check_fresh(saved: SavedPlan, inventory: Inventory) -> None:
    """Refuse a saved plan when the estate it was made for has changed.

    Raises:
        StalePlanError: the fingerprint of the planned VMs and their hosts
            differs; the message names what changed when it can.
    """
    names = list(saved.vm_names)
    if inventory.fingerprint(names) == saved.fingerprint:
        return
    then = dict(saved.objects)
    now = _digests(inventory, names)
    what = [f"{key} changed" for key in sorted(then) if key in now and now[key] != then[key]]
    what += [f"{key} is gone" for key in sorted(then) if key not in now]
    what += [f"{key} is new" for key in sorted(now) if then and key not in then]
    detail = ", ".join(what) if what else f"fingerprint {saved.fingerprint[:19]}…"
    raise StalePlanError(f"the estate changed since the plan was made ({detail}); run plan again")


def is_plan_file(path: str | Path) -> bool:
    """True when ``path`` is a JSON object with ``"kind": "pmemctl-plan"``.

    Lets ``apply SPEC|PLANFILE`` tell the two apart; a YAML spec, a missing
    file, a device or any other JSON is not a plan.
    """
    try:
        text = read_bounded(path, MAX_PLAN_BYTES).decode("utf-8")
    except (OSError, FileProblem, UnicodeDecodeError):
        return False  # the spec loader says what is wrong with it
    if not text.lstrip().startswith("{"):  # cheap exit for YAML specs
        return False
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("kind") == KIND


# --------------------------------------------------------------------------- helpers


def _error(where: str, message: str) -> SpecError:
    return SpecError([Diagnostic(where, 1, 1, message)])


def _parse(data: Any) -> SavedPlan:
    """Validate a decoded file; ValueError names the first bad element."""
    if not isinstance(data, dict):
        raise ValueError("not a pmemctl plan: expected a JSON object")
    if data.get("kind") != KIND:
        raise ValueError(f"not a pmemctl plan: kind is {data.get('kind')!r}, not {KIND!r}")
    version = data.get("format_version")
    if version != SAVE_FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(
            f"plan file format_version {version!r} is not supported (this pmemctl reads "
            f"{SAVE_FORMAT_VERSION}); run plan again with this version"
        )
    missing = [k for k in _KEYS if k not in data]
    extra = sorted(k for k in data if k not in _KEYS + _OPTIONAL_KEYS)
    if missing or extra:
        raise ValueError(
            "malformed plan file: "
            + "; ".join(
                part
                for part in (
                    "missing " + ", ".join(missing) if missing else "",
                    "unknown " + ", ".join(extra) if extra else "",
                )
                if part
            )
        )
    names = data["vm_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("malformed plan file: vm_names must be a list of names")
    for key in ("created", "spec_path", "fingerprint"):
        if not isinstance(data[key], str):
            raise ValueError(f"malformed plan file: {key} must be a string")
    objects = data.get("objects", {})
    if not isinstance(objects, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in objects.items()
    ):
        raise ValueError("malformed plan file: objects must map names to digests")
    try:
        plan = Plan.from_json(data["plan"])
    except ValueError as exc:
        raise ValueError(f"malformed plan file: {exc}") from exc
    return SavedPlan(
        plan=plan,
        options=_options(data["options"]),
        fingerprint=data["fingerprint"],
        vm_names=tuple(names),
        spec_path=data["spec_path"],
        created=data["created"],
        objects=tuple(sorted(objects.items())),
    )


def _options(data: Any) -> Options:
    """Rebuild :class:`Options` from ``asdict`` output; strict about keys and types."""
    if not isinstance(data, dict):
        raise ValueError("malformed plan file: options must be an object")
    values = _exact(data, Options, "options")
    values["parallel"] = Parallel(**_exact(values["parallel"], Parallel, "options.parallel"))
    try:
        values["on_failure"] = OnFailure(values["on_failure"])
    except ValueError:
        raise ValueError(f"options.on_failure: unexpected value {values['on_failure']!r}") from None
    return Options(**values)


# Option fields newer than the saved-plan format (see _exact), and the ones that
# are an integer or null.
_ADDED_LATER = frozenset({"hard_power_off", "tools_timeout_s", "upgrade_hardware_to", "down",
                          "skip_blocked"})
_OPTIONAL_INTS = frozenset({"down", "upgrade_hardware_to"})


def _exact(data: Any, cls: type, where: str) -> dict[str, Any]:
    """``data`` when its keys are exactly the fields of ``cls`` with matching JSON types."""
    if not isinstance(data, dict):
        raise ValueError(f"malformed plan file: {where} must be an object")
    defaults = cls()
    names = [f.name for f in fields(defaults)]
    # Options added after format 2 was set may be missing from older files: their defaults.
    given = sorted(set(data) | (set(names) & _ADDED_LATER))
    if given != sorted(names):
        raise ValueError(f"malformed plan file: {where} must have exactly {', '.join(names)}")
    data = {**{n: getattr(defaults, n) for n in names if n not in data}, **data}
    for name in names:
        default = getattr(defaults, name)
        if name in _OPTIONAL_INTS and data[name] is not None and (
                type(data[name]) is not int or data[name] < 1):
            raise ValueError(f"malformed plan file: {where}.{name} has the wrong type")
        # An Enum option is its value (a str) in JSON.
        kind = str if isinstance(default, Enum) else type(default)
        if isinstance(default, (bool, int, str)) and type(data[name]) is not kind:
            raise ValueError(f"malformed plan file: {where}.{name} has the wrong type")
    return dict(data)


def _digests(inventory: Inventory, vm_names: list[str]) -> dict[str, str]:
    """One digest per host and VM that :meth:`Inventory.fingerprint` covers."""
    hosts, vms = inventory.fingerprint_parts(vm_names)
    parts: list[tuple[str, Any]] = [(f"host {n}", h) for n, h in hosts]
    parts += [(f"VM {n}", v) for n, v in vms]
    out = {}
    for key, obj in parts:
        blob = json.dumps(asdict(obj), sort_keys=True, default=str).encode()
        out[key] = "sha256:" + hashlib.sha256(blob).hexdigest()
    return out


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
