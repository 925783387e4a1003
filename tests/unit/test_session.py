"""resolve_settings: precedence of flags, environment and spec; every UsageError; no secrets."""

from __future__ import annotations

import ssl
import urllib.parse
from pathlib import Path

import pytest

from pmemctl.errors import ExitCode, SpecError, UsageError
from pmemctl.spec.load import load_spec_text
from pmemctl.vsphere.session import (
    ConnectionSettings,
    _describe,
    _scrub,
    _session_id,
    resolve_settings,
    ssl_context,
)

SECRET = "s3cr:t/p@ss"


def test_url_with_encoded_credentials() -> None:
    s = resolve_settings(url="https://adm%40vsphere.local:s3cr%3At%2Fp%40ss@vc1.example:8443/sdk",
                         env={})
    assert s == ConnectionSettings(host="vc1.example", port=8443, user="adm@vsphere.local",
                                   password=SECRET)
    assert s.display == "https://adm@vsphere.local@vc1.example:8443/sdk"
    assert s.endpoint == "https://vc1.example:8443/sdk"


def test_url_defaults_port_and_path() -> None:
    s = resolve_settings(url="https://u:p@vc1", env={})
    assert (s.host, s.port, s.path) == ("vc1", 443, "/sdk")


def test_password_never_in_repr_or_display() -> None:
    s = resolve_settings(url="https://u:hunter2@vc1/sdk", env={})
    assert "hunter2" not in repr(s)
    assert "hunter2" not in s.display
    assert "hunter2" not in str(s)


def test_server_with_port_and_ipv6() -> None:
    assert resolve_settings(server="vc1:444", user="u", password="p", env={}).port == 444
    s = resolve_settings(server="[::1]:8989", user="u", password="p", env={})
    assert (s.host, s.port) == ("::1", 8989)
    assert s.display == "https://u@[::1]:8989/sdk"


def test_flag_credentials_override_url() -> None:
    s = resolve_settings(url="https://u:p@vc1/sdk", user="admin", password="other", env={})
    assert (s.user, s.password) == ("admin", "other")


def test_flags_beat_environment() -> None:
    env = {"PMEMCTL_URL": "https://eu:ep@vc-env/sdk", "PMEMCTL_USER": "envuser",
           "PMEMCTL_PASSWORD": "envpw"}
    s = resolve_settings(url="https://fu:fp@vc-flag/sdk", env=env)
    assert (s.host, s.user, s.password) == ("vc-flag", "fu", "fp")


def test_environment_credentials_beat_environment_url() -> None:
    env = {"PMEMCTL_URL": "https://eu:ep@vc-env/sdk", "PMEMCTL_USER": "envuser",
           "PMEMCTL_PASSWORD": "envpw"}
    s = resolve_settings(env=env)
    assert (s.host, s.user, s.password) == ("vc-env", "envuser", "envpw")


def test_lower_level_url_credentials_never_reach_another_server() -> None:
    env = {"PMEMCTL_URL": "https://eu:ep@vc-env/sdk"}
    with pytest.raises(UsageError, match="no user for vc-flag"):
        resolve_settings(server="vc-flag", env=env)


def test_environment_beats_spec() -> None:
    env = {"PMEMCTL_SERVER": "vc-env", "PMEMCTL_USER": "u", "PMEMCTL_PASSWORD": "p"}
    assert resolve_settings(spec_vcenter="vc-spec", env=env).host == "vc-env"


def test_spec_names_the_host_only() -> None:
    env = {"PMEMCTL_USER": "u", "PMEMCTL_PASSWORD": "p"}
    s = resolve_settings(spec_vcenter="vc-spec:9443", env=env)
    assert (s.host, s.port, s.user) == ("vc-spec", 9443, "u")


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True),
                                             ("0", False), ("no", False), ("", False)])
def test_env_insecure(value: str, expected: bool) -> None:
    env = {"PMEMCTL_URL": "https://u:p@vc1/sdk", "PMEMCTL_INSECURE": value}
    assert resolve_settings(env=env).insecure is expected


def test_ca_file_flag_overrides_env_insecure(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env = {"PMEMCTL_URL": "https://u:p@vc1/sdk", "PMEMCTL_INSECURE": "1"}
    s = resolve_settings(ca_file=str(ca), env=env)
    assert (s.ca_file, s.insecure) == (str(ca), False)


def test_insecure_flag_overrides_env_ca_file() -> None:
    env = {"PMEMCTL_URL": "https://u:p@vc1/sdk", "PMEMCTL_CA_FILE": "/nonexistent.pem"}
    s = resolve_settings(insecure=True, env=env)
    assert (s.ca_file, s.insecure) == (None, True)


@pytest.mark.parametrize(
    "kwargs, env, message",
    [
        ({}, {}, "no vCenter given: use --url, --server or PMEMCTL_URL (or set vcenter: in the "
                 "spec)"),
        ({"url": "http://u:p@vc1/sdk"}, {},
         "URL in --url must start with https:// (got http): vCenter serves its SDK only over TLS"),
        ({"url": "https://u:p@vc1:99999/sdk"}, {},
         "bad port '99999' in --url: use a number from 1 to 65535"),
        ({"url": "https://u:p@vc1:abc/sdk"}, {},
         "bad port 'abc' in --url: use a number from 1 to 65535"),
        ({"url": "u:p@vc1:0"}, {}, "bad port '0' in --url: use a number from 1 to 65535"),
        ({"url": "https://u:p@[::1/sdk"}, {},
         "malformed URL in --url: an unclosed '[' or a bad IPv6 address; expected "
         "https://[user[:password]@]host[:port]/sdk"),
        ({"url": "https://u:p@vc1/sdk?debug=1"}, {},
         "malformed URL in --url: it has a '?' or '#' part; expected "
         "https://[user[:password]@]host[:port]/sdk"),
        ({"url": "u:p@"}, {}, "malformed URL in --url: no host name"),
        ({"url": "https:///sdk"}, {}, "malformed URL in --url: no host name"),
        ({}, {"PMEMCTL_URL": "ftp://vc1"},
         "URL in PMEMCTL_URL must start with https:// (got ftp): vCenter serves its SDK only "
         "over TLS"),
        ({"server": "vc1:0", "user": "u", "password": "p"}, {},
         "bad port '0' in --server: use a number from 1 to 65535"),
        ({"server": "vc1:x", "user": "u", "password": "p"}, {},
         "bad port 'x' in --server: use a number from 1 to 65535"),
        ({"server": "https://vc1", "user": "u", "password": "p"}, {},
         "bad server 'https://vc1' in --server: give HOST or HOST:PORT "
         "(use --url for https://user@host:port/sdk)"),
        ({"url": "https://u:p@vc1", "server": "vc2"}, {},
         "give either --url or --server, not both"),
        ({"server": "vc1"}, {}, "no user for vc1: pass --user, set PMEMCTL_USER, or put it in the "
                                "URL"),
        ({"server": "vc1", "user": "u"}, {},
         "no password for u@vc1: set PMEMCTL_PASSWORD (or pass --password, which other users can "
         "see in the process list)"),
        ({"url": "https://u@vc1/sdk"}, {},
         "no password for u@vc1: set PMEMCTL_PASSWORD (or pass --password, which other users can "
         "see in the process list)"),
        ({"url": "https://u:p@vc1", "ca_file": "/nonexistent/ca.pem"}, {},
         "CA file '/nonexistent/ca.pem' does not exist or is not a file"),
        ({"url": "https://u:p@vc1", "ca_file": "/nonexistent/ca.pem", "insecure": True}, {},
         "--insecure and --ca-file contradict each other: verify with the CA file, or skip "
         "verification, not both"),
        ({"url": "https://u:p@vc1"}, {"PMEMCTL_INSECURE": "maybe"},
         "PMEMCTL_INSECURE='maybe' is not a boolean: use 1/true/yes or 0/false/no"),
        ({"url": "https://u:p@vc1"}, {"PMEMCTL_INSECURE": "1", "PMEMCTL_CA_FILE": "/x.pem"},
         "PMEMCTL_INSECURE and PMEMCTL_CA_FILE contradict each other: set only one"),
    ],
)
def test_usage_errors(kwargs: dict[str, object], env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_settings(env=env, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert info.value.exit_code == ExitCode.USAGE


def test_url_errors_never_echo_the_password() -> None:
    with pytest.raises(UsageError) as info:
        resolve_settings(url=f"https://u:{SECRET}@vc1:99999/sdk", env={})
    assert SECRET not in str(info.value)
    assert "s3cr" not in str(info.value)


def test_scrub_removes_raw_and_encoded_password() -> None:
    s = ConnectionSettings(host="vc1", user="u", password=SECRET)
    text = f"failed with {SECRET} and s3cr%3At%2Fp%40ss"
    assert _scrub(text, s) == "failed with *** and ***"


def test_tls_message() -> None:
    s = ConnectionSettings(host="127.0.0.1", port=1, user="u", password="p")
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "self-signed certificate"
    assert _describe(exc, s) == (
        "TLS certificate of https://127.0.0.1:1/sdk is not trusted: self-signed certificate "
        "(it is not signed by a CA in the system trust store) — pass --ca-file with the vCenter "
        "CA, or --insecure"
    )


def test_refused_message() -> None:
    s = ConnectionSettings(host="127.0.0.1", port=1, user="u", password="p")
    assert _describe(ConnectionRefusedError(111, "Connection refused"), s) == (
        "cannot reach vCenter at https://127.0.0.1:1/sdk: connection refused"
    )


def test_ssl_context_verifies_by_default() -> None:
    ctx = ssl_context(ConnectionSettings(host="vc1"))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    insecure = ssl_context(ConnectionSettings(host="vc1", insecure=True))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname


def test_session_id_from_set_cookie() -> None:
    assert _session_id('vmware_soap_session="abc-123"; Path=/; HttpOnly') == "abc-123"
    assert _session_id("") == ""


# -- passwords of any characters never reach a message -----------------------------

NASTY = ["p/w", "p@w", "p%w", "p:w", "p#w", "p?w", "p w", "pässwörd€😀", "a/b@c:d#e%f g",
         "s3cr:t/p@ss", "50%2F", 'q"uo\\te<&>']


def _spellings(pw: str) -> list[str]:
    # What must never appear: the password, encoded, and its longest telling fragment.
    forms = {pw, urllib.parse.quote(pw, safe=""), urllib.parse.quote(pw)}
    return sorted(forms)


@pytest.mark.parametrize("pw", NASTY)
def test_a_raw_or_encoded_password_in_a_url_is_read_whole(pw: str) -> None:
    for written in (pw.replace("%", "%25"), urllib.parse.quote(pw, safe="")):
        s = resolve_settings(url=f"https://admin:{written}@vc1.example:8443/sdk", env={})
        assert (s.user, s.password, s.host, s.port, s.path) == (
            "admin", pw, "vc1.example", 8443, "/sdk")
        for text in (repr(s), s.display, s.endpoint):
            assert all(form not in text for form in _spellings(pw))
    if "%" not in pw:  # written raw, unencoded, as people paste it
        s = resolve_settings(url=f"https://admin:{pw}@vc1.example/sdk", env={})
        assert (s.password, s.host, s.path) == (pw, "vc1.example", "/sdk")


@pytest.mark.parametrize("url, host, port, path", [
    ("vc1", "vc1", 443, "/sdk"),
    ("user@vc01", "vc01", 443, "/sdk"),
    ("u:p@vc1.example:8443", "vc1.example", 8443, "/sdk"),
    ("u:p@[::1]:9443/sdk", "::1", 9443, "/sdk"),
    ("HTTPS://u:p@vc1/custom", "vc1", 443, "/custom"),
])
def test_a_url_without_a_scheme_means_https_as_in_govc(url: str, host: str, port: int,
                                                        path: str) -> None:
    s = resolve_settings(url=url, user="u", password="p", env={})
    assert (s.host, s.port, s.path) == (host, port, path)
    assert s.endpoint.startswith("https://")


@pytest.mark.parametrize("pw", NASTY)
def test_no_usage_error_ever_shows_the_password(pw: str) -> None:
    attempts: list[dict[str, object]] = [
        {"url": f"https://admin:{pw}@vc1:99999/sdk"},
        {"url": f"https://admin:{pw}@vc1:abc/sdk"},
        {"url": f"http://admin:{pw}@vc1/sdk"},
        {"url": f"admin:{pw}@vc1:0"},  # no scheme (https), a bad port
        {"url": f"https://admin:{pw}@/sdk"},
        {"server": f"admin:{pw}@vc1"},
        {"spec_vcenter": f"admin:{pw}@vc1"},
        {"url": f"https://admin:{pw}@vc1/sdk", "server": "vc2"},
    ]
    for kwargs in attempts:
        with pytest.raises(UsageError) as info:
            resolve_settings(env={}, **kwargs)  # type: ignore[arg-type]
        assert all(form not in str(info.value) for form in _spellings(pw)), str(info.value)


@pytest.mark.parametrize("pw", NASTY)
def test_no_login_failure_message_shows_the_password(pw: str) -> None:
    s = ConnectionSettings(host="vc1", user="admin", password=pw)
    spelt = [pw, urllib.parse.quote(pw, safe=""), urllib.parse.quote(pw, safe="").lower(),
             urllib.parse.quote_plus(pw, safe=""), repr(pw), ascii(pw), repr(pw.encode())]
    for text in spelt:
        for exc in (OSError(5, f"I/O error near {text}"), ssl.SSLError(1, f"bad {text}"),
                    RuntimeError(f"https://admin:{text}@vc1/sdk failed"), ValueError(text)):
            message = _describe(exc, s)
            assert all(form not in message for form in _spellings(pw)), message
            assert repr(pw)[1:-1] not in message


@pytest.mark.parametrize("pw", ["p/w", "a/b@c", "x#y", "u?v"])
def test_a_password_with_slash_in_the_specs_vcenter_is_refused_unshown(pw: str) -> None:
    for vcenter in (f"admin:{pw}@vc01", f"https://admin:{pw}@vc01/sdk"):
        with pytest.raises(SpecError) as info:
            load_spec_text(f'apiVersion: pmemctl/v1\nvcenter: "{vcenter}"\n'
                           "vms: [{name: a, nvdimms: [16GiB]}]\n", "s.yaml")
        assert str(info.value) == (
            "s.yaml:2:10: vcenter: a password does not belong in a spec; remove 'user:...@' and "
            "set the environment variable PMEMCTL_PASSWORD")
