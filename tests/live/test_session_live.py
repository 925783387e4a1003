"""connect() against pmemsim: TLS verification, login failures, API version gate."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import replace

import pytest

from pmemctl.errors import SessionError
from pmemctl.vsphere.session import ConnectionSettings, connect
from tests import simproc


def settings_for(sim: simproc.PmemSim, **kw: object) -> ConnectionSettings:
    p = sim.parts
    assert p.hostname and p.port
    base = ConnectionSettings(host=p.hostname, port=p.port, user=sim.user,
                              password=sim.password, ca_file=str(sim.cert))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_tls_verified_with_sim_cert(demo_sim: simproc.PmemSim) -> None:
    with connect(settings_for(demo_sim)) as conn:
        assert conn.about.api_version == "7.0.3.0"
        assert conn.warnings == []


def test_untrusted_cert_is_refused_clearly(demo_sim: simproc.PmemSim) -> None:
    s = settings_for(demo_sim, ca_file=None)
    with pytest.raises(SessionError) as info:
        connect(s)
    msg = str(info.value)
    assert msg.startswith(f"TLS certificate of https://127.0.0.1:{s.port}/sdk is not trusted: ")
    assert msg.endswith("— pass --ca-file with the vCenter CA, or --insecure")
    assert info.value.code == "tls"


def test_insecure_works(demo_sim: simproc.PmemSim) -> None:
    with connect(settings_for(demo_sim, ca_file=None, insecure=True)) as conn:
        assert conn.about.api_version


def test_wrong_password(demo_sim: simproc.PmemSim) -> None:
    s = settings_for(demo_sim, password="Wr0ng-Secret")
    with pytest.raises(SessionError) as info:
        connect(s)
    assert str(info.value) == (
        f"login failed for user {s.user!r} at https://127.0.0.1:{s.port}/sdk: "
        "wrong user name or password"
    )
    assert "Wr0ng-Secret" not in str(info.value)
    assert info.value.code == "bad_credentials"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_port() -> None:
    port = free_port()
    s = ConnectionSettings(host="127.0.0.1", port=port, user="u", password="p", insecure=True)
    with pytest.raises(SessionError) as info:
        connect(s)
    # Refused is what a restarting vCenter says: login is tried again, boundedly.
    assert re.fullmatch(rf"cannot reach vCenter at https://127\.0\.0\.1:{port}/sdk: "
                        r"connection refused \(5 tries in \d+ s\)", str(info.value))
    assert info.value.code == "unreachable"


def test_unresolvable_host() -> None:
    s = ConnectionSettings(host="no-such-host.invalid", user="u", password="p", insecure=True)
    with pytest.raises(SessionError) as info:
        connect(s)
    assert str(info.value) == (
        "cannot reach vCenter at https://no-such-host.invalid:443/sdk: host name "
        "'no-such-host.invalid' does not resolve"
    )
    assert info.value.code == "unreachable"


def test_api_65_refused_after_logout(make_sim: Callable[..., simproc.PmemSim]) -> None:
    sim = make_sim("--api-version", "6.5")
    s = settings_for(sim)
    with pytest.raises(SessionError) as info:
        connect(s)
    assert str(info.value) == (
        f"vCenter at https://127.0.0.1:{s.port}/sdk: API 6.5 is older than 6.7, which "
        "introduced the PMem API; pmemctl needs 6.7 or later"
    )
    assert info.value.code == "unsupported_vcenter"
    stats = sim.stats()
    assert stats.get("Logout") == 1


def test_api_90_warns(make_sim: Callable[..., simproc.PmemSim]) -> None:
    sim = make_sim("--api-version", "9.0")
    with connect(settings_for(sim)) as conn:
        assert conn.warnings == [
            f"vCenter API {conn.about.api_version}: VMware deprecated every PMem API in "
            'vSphere 9.0 "with no replacement"; pmemctl still works but plan a move off vPMem'
        ]


def test_api_80_fine(make_sim: Callable[..., simproc.PmemSim]) -> None:
    sim = make_sim("--api-version", "8.0")
    with connect(settings_for(sim)) as conn:
        assert conn.about.api_version.startswith("8.0")
        assert conn.warnings == []
