"""Replay tier: pyVmomi sessions recorded from pmemsim and replayed by vcrpy.

Re-record every cassette (needs Go; starts a fresh pmemsim with the demo
estate for each test, so tests that change the estate never affect others)::

    PMEMCTL_RECORD=1 .venv/bin/python -m pytest tests/replay

Without ``PMEMCTL_RECORD`` nothing touches the network and pmemsim is never
started: a request with no recorded answer fails the test
(``CannotOverwriteExistingCassetteException``). Cassettes live in
``tests/replay/cassettes/<module>/<test name>.yaml`` and are scrubbed of the
password and session cookies before they are written
(``test_cassettes_hold_no_secrets`` checks).

Fixtures for replay tests:

* ``replay_settings`` – :class:`ConnectionSettings` for the recorded server
  (in replay: a fake ``127.0.0.1`` with ``insecure=True``; TLS never happens).
* ``replay_conn`` – a logged-in :class:`Connection`, logged out afterwards.
* ``replay_sim`` – the live pmemsim while recording, ``None`` in replay.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmemctl.vsphere.session import Connection, ConnectionSettings, connect
from tests import simproc
from tests.replay.cassette import cassette_path, make_vcr

RECORDING = os.environ.get("PMEMCTL_RECORD", "") not in ("", "0")
# In replay the address does not matter (host and port are not matched), but
# the user and password must look like pmemsim's defaults: the Login body is
# matched with the password normalised and the user name kept.
REPLAY_SETTINGS = ConnectionSettings(host="127.0.0.1", port=8989, user="user", password="pass",
                                     insecure=True)


@pytest.fixture
def replay_sim() -> Iterator[simproc.PmemSim | None]:
    """A private pmemsim (demo estate) while recording; None in replay."""
    if not RECORDING:
        yield None
        return
    with simproc.start() as sim:
        yield sim


@pytest.fixture
def cassette(request: pytest.FixtureRequest, replay_sim: simproc.PmemSim | None) -> Iterator[Path]:
    """Record or replay this test's cassette around the test (and its fixtures below)."""
    module = Path(str(request.node.fspath)).stem
    path = cassette_path(module, request.node.name)
    if not RECORDING and not path.exists():
        pytest.fail(f"no cassette {path}; record it with: PMEMCTL_RECORD=1 .venv/bin/python "
                    "-m pytest tests/replay")
    path.parent.mkdir(parents=True, exist_ok=True)
    if RECORDING:
        # vcrpy's "all" mode keeps the old interactions beside the new ones;
        # a re-recording must replace the cassette, not grow it.
        path.unlink(missing_ok=True)
    v = make_vcr("all" if RECORDING else "none")
    with v.use_cassette(str(path)):
        yield path


@pytest.fixture
def replay_settings(replay_sim: simproc.PmemSim | None) -> ConnectionSettings:
    """Settings for the recorded server: the live sim while recording, a fake one in replay."""
    if replay_sim is None:
        return REPLAY_SETTINGS
    p = replay_sim.parts
    assert p.hostname and p.port
    return ConnectionSettings(host=p.hostname, port=p.port, user=replay_sim.user,
                              password=replay_sim.password, ca_file=str(replay_sim.cert))


@pytest.fixture
def replay_conn(cassette: Path, replay_settings: ConnectionSettings) -> Iterator[Connection]:
    """A logged-in Connection inside this test's cassette; logs out at teardown."""
    conn = connect(replay_settings)
    try:
        yield conn
    finally:
        conn.close()
