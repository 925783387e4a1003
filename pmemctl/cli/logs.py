"""``pmemctl -v``/``--debug``: SOAP method names and timings on stderr (:mod:`~.calllog`)."""

from __future__ import annotations

import logging
import sys


def enable_debug() -> None:
    """Send pmemctl's DEBUG log (one line per SOAP call) to stderr, prefixed ``debug:``."""
    logger = logging.getLogger("pmemctl")
    if any(getattr(h, "pmemctl_cli", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("debug: %(relativeCreated)7.0f ms %(message)s"))
    handler.pmemctl_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
