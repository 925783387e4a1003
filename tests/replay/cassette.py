"""vcrpy set-up for the replay tier: the package's recorder, pointed at ``tests/replay/cassettes``.

The patches, matchers and scrubbing live in :mod:`pmemctl.vsphere.cassette`
(``pmemctl probe --record`` uses the same code, so a user's recording loads
here unchanged); this module only adds where the project's cassettes are.
"""

from __future__ import annotations

import re
from pathlib import Path

import vcr

from pmemctl.vsphere import cassette as _cassette
from pmemctl.vsphere.cassette import (
    CUSTOM_PATCHES,
    REDACTED,
    match_body,
    match_operation,
    normalized_body,
    scrub_request,
    scrub_response,
    soap_operation,
)

__all__ = ["CASSETTES", "CUSTOM_PATCHES", "REDACTED", "cassette_path", "make_vcr", "match_body",
           "match_operation", "normalized_body", "scrub_request", "scrub_response",
           "soap_operation"]

CASSETTES = Path(__file__).resolve().parent / "cassettes"


def make_vcr(record_mode: str) -> vcr.VCR:
    """A VCR for pyVmomi whose cassettes live under ``tests/replay/cassettes``."""
    return _cassette.make_vcr(record_mode, library_dir=CASSETTES)


def cassette_path(module: str, test_name: str) -> Path:
    """``tests/replay/cassettes/<module>/<test_name>.yaml``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    return CASSETTES / module / f"{safe}.yaml"
