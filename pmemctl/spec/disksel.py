"""The keys of a spec's ``disks:`` mapping: which disks of a VM a key means.

One form, read by the loader (to refuse what the planner would not mean)
and by :mod:`pmemctl.plan.disksel` (to pick the disks):

* ``"Hard disk 2"`` — an **exact label**. A VM that lacks it is a problem
  (or, with ``size``, the disk is created).
* ``"*"`` — **every disk** not chosen by a more specific key.
* a **glob**: any key with ``*``, ``?`` or ``[...]`` is an
  :func:`fnmatch.fnmatchcase` pattern on the label, so ``"Hard disk [2-9]"``
  means Hard disk 2 to Hard disk 9 (``[2-9]`` is one character: Hard disk 10
  and up need ``"Hard disk [1-9][0-9]"``, or ``number:2-``).
* a **selector**, ``KIND:VALUE``:

  - ``number:2-`` / ``number:2-4`` / ``number:3`` — by the N of "Hard disk N"
    (a range, open-ended when the upper bound is left out);
  - ``unit:1-`` / ``unit:0`` — by the disk's unit number on its controller
    (``unitNumber``; the OS disk is normally at unit 0);
  - ``on:pmem`` — the disks on PMem **now**; ``on:NAME`` — the disks on
    datastore NAME now (a glob on the datastore name).

  vSphere labels disks ``Hard disk N``, never with a ``:``, so a key with an
  unknown ``KIND:`` is refused rather than read as a label.

Precedence, for each disk: an exact label beats a glob or selector, which
beats ``"*"``. Two globs or selectors that cover one disk with different
targets are a problem (name the disk exactly to settle it). The value
``keep`` leaves a disk as it is, so ``{"*": pmem, "Hard disk 1": keep}``
moves every disk but the first.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from enum import Enum

ALL = "*"
SELECTOR_KINDS = ("number", "unit", "on")
_GLOB_CHARS = frozenset("*?[")
_SELECTOR_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*):(.*)$", re.DOTALL)
_RANGE_RE = re.compile(r"^\s*(\d+)\s*(?:(-)\s*(\d+)?)?\s*$")
_LABEL_NUMBER_RE = re.compile(r"^Hard disk ([1-9][0-9]*)$")


class KeyKind(str, Enum):
    """How a ``disks:`` key picks disks; the value orders precedence (higher wins)."""

    ALL = "all"
    GLOB = "glob"
    NUMBER = "number"
    UNIT = "unit"
    ON = "on"
    EXACT = "exact"

    @property
    def rank(self) -> int:
        """3 for an exact label, 2 for a glob or selector, 1 for ``*``."""
        if self is KeyKind.EXACT:
            return 3
        if self is KeyKind.ALL:
            return 1
        return 2


@dataclass(frozen=True)
class DiskKey:
    """A parsed ``disks:`` key. ``low``/``high`` bound number and unit ranges (high None: open)."""

    text: str
    kind: KeyKind
    pattern: str = ""  # the glob, or the datastore glob of on:NAME ("pmem" for on:pmem)
    low: int = 0
    high: int | None = None

    @property
    def exact(self) -> bool:
        """True for an exact label: the only kind whose absence from a VM is a problem."""
        return self.kind is KeyKind.EXACT

    @property
    def on_pmem(self) -> bool:
        """True for ``on:pmem``."""
        return self.kind is KeyKind.ON and self.pattern == "pmem"

    def covers(self, label: str, unit: int | None, datastore: str, pmem: bool) -> bool:
        """True when this key selects a disk with these current properties."""
        if self.kind is KeyKind.ALL:
            return True
        if self.kind is KeyKind.EXACT:
            return label == self.text
        if self.kind is KeyKind.GLOB:
            return fnmatch.fnmatchcase(label, self.pattern)
        if self.kind is KeyKind.NUMBER:
            number = label_number(label)
            return number is not None and self._in_range(number)
        if self.kind is KeyKind.UNIT:
            return unit is not None and self._in_range(unit)
        if self.on_pmem:
            return pmem
        return fnmatch.fnmatchcase(datastore, self.pattern)

    def _in_range(self, value: int) -> bool:
        return value >= self.low and (self.high is None or value <= self.high)


class DiskKeyError(ValueError):
    """A ``disks:`` key that means nothing pmemctl would do; the message says why."""


def parse_key(text: str) -> DiskKey:
    """Parse one ``disks:`` key (see the module docstring).

    Raises:
        DiskKeyError: an empty key, an unknown ``KIND:``, a bad range, an
            unclosed ``[`` in a glob, or an empty ``on:``.
    """
    if not text.strip():
        raise DiskKeyError("a disk label must not be empty")
    if text == ALL:
        return DiskKey(text, KeyKind.ALL)
    m = _SELECTOR_RE.match(text)
    if m is not None:
        return _selector(text, m.group(1), m.group(2))
    if _GLOB_CHARS.intersection(text):
        if unclosed_bracket(text):
            raise DiskKeyError(f"unclosed '[' in glob {text!r}; write [[] for a literal '['")
        return DiskKey(text, KeyKind.GLOB, pattern=text)
    return DiskKey(text, KeyKind.EXACT)


def _selector(text: str, kind: str, value: str) -> DiskKey:
    if kind not in SELECTOR_KINDS:
        raise DiskKeyError(
            f"unknown disk selector {kind + ':'!r}; selectors are number:N-M (Hard disk N), "
            "unit:N-M (unit number), on:pmem and on:DATASTORE (where the disk is now)"
        )
    if kind == "on":
        if not value.strip():
            raise DiskKeyError("on: needs 'pmem' or a datastore name (a glob), e.g. on:san-01")
        if unclosed_bracket(value):
            raise DiskKeyError(f"unclosed '[' in {text!r}; write [[] for a literal '['")
        return DiskKey(text, KeyKind.ON, pattern=value)
    r = _RANGE_RE.match(value)
    example = "number:2- (every disk but Hard disk 1)" if kind == "number" else \
        "unit:1- (every disk not at unit 0)"
    if r is None:
        raise DiskKeyError(f"{kind}: takes N, N-M or N- (open-ended), e.g. {example}; "
                           f"got {value!r}")
    low = int(r.group(1))
    high: int | None = low if r.group(2) is None else (
        int(r.group(3)) if r.group(3) is not None else None)
    if high is not None and high < low:
        raise DiskKeyError(f"{kind}:{value} is an empty range ({low} > {high})")
    if kind == "number" and low < 1:
        raise DiskKeyError("number: counts from 1 (Hard disk 1)")
    kind_enum = KeyKind.NUMBER if kind == "number" else KeyKind.UNIT
    return DiskKey(text, kind_enum, low=low, high=high)


def label_number(label: str) -> int | None:
    """N of ``Hard disk N``, or None for another label."""
    m = _LABEL_NUMBER_RE.match(label)
    return int(m.group(1)) if m else None


def unclosed_bracket(pattern: str) -> bool:
    """True when a ``[`` has no closing ``]``, following fnmatch.translate's rules.

    fnmatch would read such a ``[`` literally, silently: the loader refuses it.
    """
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1  # a leading ']' is a literal member of the set
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                return True
            i = j
        i += 1
    return False
