"""Sizes as users write them (``16GiB``) and as pmemctl computes with them (MiB)."""

from __future__ import annotations

import re

_UNITS = {"MIB": 1, "GIB": 1024, "TIB": 1024 * 1024}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")


def parse_size_mb(text: str) -> int:
    """Parse ``"512MiB"``, ``"16GiB"`` or ``"1.5TiB"`` into whole MiB.

    Raises:
        ValueError: with a message suitable for a diagnostic when the size is
            malformed, uses an unknown unit, is zero, or is not a whole MiB.
    """
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(
            f"bad size {text!r}: write a number and a unit, e.g. 16GiB (MiB, GiB, TiB)"
        )
    number, unit = m.group(1), m.group(2)
    if len(number) > 15:
        # More digits than a float holds exactly; 400 digits would make it infinite.
        raise ValueError(f"bad size: the number has {len(number)} digits; write at most 15")
    factor = _UNITS.get(unit.upper())
    if factor is None:
        raise ValueError(f"bad size {text!r}: unknown unit {unit!r}; use MiB, GiB or TiB")
    value = float(number) * factor
    if value <= 0:
        raise ValueError(f"bad size {text!r}: must be greater than zero")
    if value != int(value):
        raise ValueError(f"bad size {text!r}: must be a whole number of MiB")
    return int(value)


def format_mb(mb: int) -> str:
    """Render MiB exactly, the way a human reads it: ``16 GiB``, ``1.5 TiB``, ``96 GiB 1 MiB``.

    A size that is not a round number of its largest unit (at most two
    decimals) is written as parts instead, so a +1 MiB change never reads
    as "96.0 GiB → 96.0 GiB".
    """
    sign, rest = ("-" if mb < 0 else ""), abs(mb)
    for unit, factor in (("TiB", 1024 * 1024), ("GiB", 1024)):
        if rest >= factor:
            if (rest * 100) % factor == 0:
                text = f"{rest / factor:.2f}".rstrip("0").rstrip(".")
                return f"{sign}{text} {unit}"
            parts = []
            for u, f in (("TiB", 1024 * 1024), ("GiB", 1024), ("MiB", 1)):
                if rest >= f:
                    parts.append(f"{rest // f} {u}")
                    rest %= f
            return sign + " ".join(parts)
    return f"{mb} MiB"
