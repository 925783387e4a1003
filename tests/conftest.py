"""Shared test setup: tier markers by directory, a quiet fixed-width terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "replay", "live")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tier of the directory it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact-output tests need no colour and a fixed width."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERM", "dumb")
    for var in ("PMEMCTL_URL", "PMEMCTL_SERVER", "PMEMCTL_USER", "PMEMCTL_PASSWORD",
                "PMEMCTL_CA_FILE", "PMEMCTL_INSECURE", "PMEMCTL_CONTEXT", "GOVC_URL",
                "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_INSECURE", "GOVC_TLS_CA_CERTS",
                "VMWARE_HOST", "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_VALIDATE_CERTS",
                "VMWARE_PORT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _private_state(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory,
                   ) -> None:
    """Each test its own ``XDG_STATE_HOME``: VM claims (and probe results) of parallel
    tests against the same fake vCenter must not see each other's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    # Nor may the engineer's own named vCenters (~/.config/pmemctl) reach a test.
    monkeypatch.setenv("PMEMCTL_CONFIG", str(tmp_path_factory.mktemp("config") / "none.yaml"))
