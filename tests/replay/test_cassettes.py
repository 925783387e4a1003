"""Every cassette is free of passwords and live session cookies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.replay.cassette import CASSETTES, REDACTED
from tests.replay.conftest import RECORDING

FILES = sorted(CASSETTES.rglob("*.yaml"))
PASSWORD_RE = re.compile(r"<password[^>]*>([^<]*)</password>")
COOKIE_RE = re.compile(r'vmware_soap_session="?([^";\s\\]+)')
VC_COOKIE_RE = re.compile(r"<vcSessionCookie[^>]*>([^<]*)</vcSessionCookie>")
URL_CREDS_RE = re.compile(r"https?://[^/@\s:]+:[^/@\s]+@")


pytestmark = pytest.mark.skipif(
    RECORDING, reason="recording: run again without PMEMCTL_RECORD to scan the new cassettes"
)


def test_there_are_cassettes() -> None:
    assert FILES, f"no cassettes under {CASSETTES}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CASSETTES)))
def test_cassettes_hold_no_secrets(path: Path) -> None:
    text = path.read_text()
    for pattern, what in ((PASSWORD_RE, "password"), (COOKIE_RE, "session cookie"),
                          (VC_COOKIE_RE, "vcSessionCookie")):
        leaked = {v for v in pattern.findall(text) if v != REDACTED}
        assert not leaked, f"{path}: {what} not scrubbed: {sorted(leaked)[:3]}"
    assert not URL_CREDS_RE.search(text), f"{path}: credentials in a URL"
    # pmemsim's default password, wherever it might appear as a value
    assert ">pass<" not in text
