"""Connecting to vCenter: settings, TLS, login, logout. The only code that touches credentials.

Two steps, kept apart so that the first can be tested without a network:

* :func:`resolve_settings` merges flags, environment and the spec's
  ``vcenter:`` into a :class:`ConnectionSettings` (precedence: flags >
  ``PMEMCTL_*`` environment > spec), raising :class:`~pmemctl.errors.UsageError`
  for anything a user can fix on the command line.
* :func:`connect` logs in and returns a :class:`Connection`, mapping every
  failure to a :class:`~pmemctl.errors.SessionError` whose message names the
  server and never the password.

Round trips: pyVim's ``SmartStubAdapter`` costs one plain ``GET
/sdk/vimServiceVersions.xml`` (not SOAP; it picks the wire version), then
two SOAP calls, ``RetrieveServiceContent`` and ``Login``. The ServiceContent
is kept on the connection, so reading ``about`` or the manager references
later costs nothing (``si.content`` would cost a ``Fetch`` each time), and
:meth:`Connection.close` logs out with that same content instead of pyVim's
``Disconnect`` (which fetches it again).
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import re
import socket
import ssl
import urllib.parse
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from types import TracebackType
from typing import Any

from pyVim.connect import SmartStubAdapter
from pyVmomi import pbm, vim, vmodl
from pyVmomi.SoapAdapter import SoapStubAdapter

from pmemctl.errors import SessionError, UsageError
from pmemctl.inventory.model import About, version_tuple
from pmemctl.vsphere import retry

DEFAULT_PORT = 443
SDK_PATH = "/sdk"
PBM_PATH = "/pbm/sdk"
# pbm.version.version12 is the PBM API of vSphere 6.7, the oldest vCenter
# pmemctl accepts; it already has every PBM method pmemctl calls.
PBM_VERSION = "pbm.version.version12"
MIN_API = (6, 7)
DEPRECATED_API = (9, 0)
# Every socket operation (connect, TLS handshake, each send and receive) gets
# the --timeout, DEFAULT_TIMEOUT_S unless given: a silent vCenter must be
# reported in seconds, not after minutes. It bounds the wait for the first
# byte of an answer, so a slow RetrievePropertiesEx over a big estate needs
# a larger one (vCenter computes the page before it sends it).
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 3600.0
_URL_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to log in. ``repr`` never shows the password."""

    host: str
    port: int = DEFAULT_PORT
    user: str = ""
    password: str = field(repr=False, default="")
    ca_file: str | None = None
    insecure: bool = False
    path: str = SDK_PATH
    timeout_s: float = DEFAULT_TIMEOUT_S  # every socket operation (--timeout)

    @property
    def display(self) -> str:
        """The endpoint as users recognise it, e.g. ``https://admin@vc1:443/sdk`` (no password)."""
        user = f"{urllib.parse.quote(self.user, safe='@')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{user}{host}:{self.port}{self.path}"

    @property
    def endpoint(self) -> str:
        """The endpoint without the user, e.g. ``https://vc1:443/sdk``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{self.path}"


def parse_port(text: str, origin: str) -> int:
    """A TCP port (1-65535) given as text, or a UsageError naming ``origin``."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port {text!r} in {origin}: use a number from 1 to 65535")
    return int(text)


def _parse_server(server: str, origin: str) -> tuple[str, int | None]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    server = server.strip()
    if "@" in server:
        # Not echoed: "user:password@host" is the likely mistake, and the
        # password may hold anything ("/" included), so no part of it is shown.
        raise UsageError(
            f"bad server in {origin}: it contains '@' (a user or password?); give HOST or "
            "HOST:PORT, and the user and password through --user and PMEMCTL_PASSWORD"
        )
    if not server or "/" in server:
        raise UsageError(
            f"bad server {server!r} in {origin}: give HOST or HOST:PORT "
            "(use --url for https://user@host:port/sdk)"
        )
    if server.startswith("["):
        end = server.find("]")
        if end < 0:
            raise UsageError(f"bad server {server!r} in {origin}: unclosed '['")
        host, rest = server[1:end], server[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UsageError(f"bad server {server!r} in {origin}")
        return host, parse_port(rest[1:], origin)
    if server.count(":") == 1:
        host, port = server.split(":")
        if not host:
            raise UsageError(f"bad server {server!r} in {origin}: no host name")
        return host, parse_port(port, origin)
    return server, None  # a bare host (or an unbracketed IPv6 address)


@dataclass(frozen=True)
class _UrlParts:
    host: str
    port: int | None
    user: str | None
    password: str | None
    path: str


def _split_userinfo(rest: str) -> tuple[str | None, str]:
    """Split ``user:password@host:port/path`` (no scheme) at the last ``@``.

    urllib ends the authority at the first ``/``, ``?`` or ``#``, so a
    password written unencoded with one of those ("pa/ss") would land in the
    path, and from there in every message that shows the endpoint. vCenter
    SDK paths hold no ``@``, so the last one ends the user info; only when
    the user name itself (before the first ``:``) holds ``/``, ``?`` or
    ``#`` is the ``@`` in a path or query instead. pmemctl.spec.load's
    ``_has_password`` reads the spec's ``vcenter:`` by the same rule.
    """
    if "@" not in rest:
        return None, rest
    userinfo, hostpart = rest.rsplit("@", 1)
    if any(c in userinfo.split(":", 1)[0] for c in "/?#"):
        return None, rest
    return userinfo, hostpart


def _parse_url(url: str, origin: str) -> _UrlParts:
    """Parse ``[https://][user[:password]@]host[:port][/path]``, e.g. pmemsim's URL.

    A URL without a scheme means https, and one without a path means
    ``/sdk``, as in govc (govmomi ``vim25/soap/client.go`` ``ParseURL``), so
    ``GOVC_URL=user@vc01`` works here too. User and password are
    percent-decoded, and may also be written raw (``/``, ``@``, ``:``, ``#``,
    spaces, any Unicode); see :func:`_split_userinfo`. Each error names what
    is wrong and never echoes the URL (it may carry the password).
    """
    text = url.strip()
    scheme_match = _URL_SCHEME_RE.match(text)
    scheme = scheme_match.group(1) if scheme_match else "https"
    if scheme.lower() != "https":
        # vCenter only serves its SDK over TLS; a plain-http URL would send the
        # password in clear, so refuse it rather than "upgrade" silently.
        raise UsageError(
            f"URL in {origin} must start with https:// (got {scheme}): vCenter serves its SDK "
            "only over TLS"
        )
    userinfo, hostpart = _split_userinfo(text[scheme_match.end():] if scheme_match else text)
    if not hostpart or hostpart[0] in "/?#":
        raise UsageError(f"malformed URL in {origin}: no host name")
    try:
        parts = urllib.parse.urlsplit("https://" + hostpart)
    except ValueError:
        raise UsageError(
            f"malformed URL in {origin}: an unclosed '[' or a bad IPv6 address; expected "
            "https://[user[:password]@]host[:port]/sdk"
        ) from None
    if not parts.hostname:
        raise UsageError(f"malformed URL in {origin}: no host name")
    _, port = _parse_server(parts.netloc, origin)
    if parts.query or parts.fragment:
        raise UsageError(f"malformed URL in {origin}: it has a '?' or '#' part; expected "
                         "https://[user[:password]@]host[:port]/sdk")
    path = parts.path.rstrip("/") or SDK_PATH
    user: str | None = None
    password: str | None = None
    if userinfo is not None:
        raw_user, has_password, raw_password = userinfo.partition(":")
        user = urllib.parse.unquote(raw_user)
        password = urllib.parse.unquote(raw_password) if has_password else None
    return _UrlParts(host=parts.hostname, port=port, user=user, password=password, path=path)


def parse_timeout(value: str | float, origin: str) -> float:
    """A ``--timeout`` in seconds: a number above 0 and at most an hour."""
    try:
        t = float(value)
    except ValueError:
        raise UsageError(f"bad timeout {value!r} in {origin}: give seconds, e.g. 10") from None
    if not 0 < t <= MAX_TIMEOUT_S:
        raise UsageError(f"bad timeout {value!r} in {origin}: give seconds from 0.1 to "
                         f"{MAX_TIMEOUT_S:.0f}")
    return t


def flag_bool(value: str, name: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (or empty), else a UsageError naming ``name``."""
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise UsageError(f"{name}={value!r} is not a boolean: use 1/true/yes or 0/false/no")



@dataclass(frozen=True)
class Fallback:
    """A lower level of connection settings: a named context, govc's or Ansible's variables.

    Used only when no higher level names a vCenter, and then whole: its
    user, password and TLS settings never go to a vCenter another level
    named. ``password`` is a callable so that a ``password-command`` runs only
    when this level is the one used and no higher level gave a password.
    """

    origin: str  # how messages name it: "context vc01", "GOVC_URL", "VMWARE_HOST"
    url: str | None = None
    server: str | None = None
    port: int | None = None  # when the server names none (VMWARE_PORT)
    user: str | None = None
    password: Callable[[], str] | None = field(default=None, repr=False)
    ca_file: str | None = None
    insecure: bool | None = None
    timeout: float | str | None = None


def resolve_settings(
    *,
    url: str | None = None,
    server: str | None = None,
    user: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    insecure: bool | None = None,
    spec_vcenter: str | None = None,
    timeout: float | str | None = None,
    env: Mapping[str, str] = os.environ,
    context: Fallback | None = None,
    ambient: Sequence[Fallback] = (),
) -> ConnectionSettings:
    """Merge flags, ``PMEMCTL_*`` environment and the spec's ``vcenter:`` into settings.

    Precedence is flags > environment > spec, field by field: ``--url`` (or
    ``PMEMCTL_URL``) gives host, port, path and optionally user and password;
    ``--server`` (or ``PMEMCTL_SERVER``) gives host and optionally port; a
    user or password flag overrides the one in a URL. The spec can only name
    the host. The location comes whole from the highest level that has one; a
    lower level's URL is then ignored, credentials included.

    Below the environment come ``context`` (a named context of the config
    file, :mod:`pmemctl.config`), then the spec's ``vcenter:``, then
    ``ambient`` (``GOVC_*``, then Ansible's ``VMWARE_*``): README
    "Named vCenters" argues for this order. Flags and ``PMEMCTL_*`` still
    override a context's user, password, TLS and timeout field by field.

    Raises:
        UsageError: no server at all, a non-https or malformed URL, a bad port,
            no user or password, a missing CA file, both ``--insecure`` and
            ``--ca-file``, or a bad ``--timeout``/``PMEMCTL_TIMEOUT``.
    """
    env_url = env.get("PMEMCTL_URL") or None
    env_server = env.get("PMEMCTL_SERVER") or None

    host: str | None = None
    port: int | None = None
    path = SDK_PATH
    url_user: str | None = None
    url_password: str | None = None
    level = "spec"

    # Location: the highest level that names a server wins as a whole. A URL
    # from a lower level is ignored entirely, credentials included, so that
    # the password meant for one vCenter is never sent to another.
    chosen: Fallback | None = None
    for level_url, level_server, level_name, url_name, server_name in (
        (url, server, "flags", "--url", "--server"),
        (env_url, env_server, "environment", "PMEMCTL_URL", "PMEMCTL_SERVER"),
    ):
        if level_url is None and level_server is None:
            continue
        if level_url is not None and level_server is not None:
            raise UsageError(f"give either {url_name} or {server_name}, not both")
        if level_url is not None:
            u = _parse_url(level_url, url_name)
            host, port, path, url_user, url_password = u.host, u.port, u.path, u.user, u.password
        else:
            assert level_server is not None
            host, port = _parse_server(level_server, server_name)
        level = level_name
        break
    else:
        # The spec's vcenter: sits between a context (chosen by the user, for
        # pmemctl) and the ambient variables other tools read.
        for fb in (*([context] if context else []), None, *ambient):
            if fb is None:
                if spec_vcenter:
                    host, port = _parse_server(spec_vcenter, "the spec's vcenter:")
                    break
                continue
            if fb.url is None and fb.server is None:
                continue
            if fb.url is not None:
                u = _parse_url(fb.url, fb.origin)
                host, port, path = u.host, u.port, u.path
                url_user, url_password = u.user, u.password
            else:
                assert fb.server is not None
                host, port = _parse_server(fb.server, fb.origin)
            if port is None:
                port = fb.port
            chosen, level = fb, "fallback"
            break

    if host is None:
        raise UsageError(
            "no vCenter given: use --url, --server or PMEMCTL_URL "
            "(or set vcenter: in the spec)"
        )

    # Field by field, flags beat the environment: a flag URL's user beats
    # PMEMCTL_USER, but PMEMCTL_USER beats the user inside PMEMCTL_URL.
    env_user = env.get("PMEMCTL_USER") or None
    env_password = env.get("PMEMCTL_PASSWORD") or None
    fb_user = chosen.user if chosen else None
    fb_password = chosen.password if chosen else None
    user_order: tuple[str | None, ...]
    if level == "flags":
        user_order = (user, url_user, env_user)
        password_order: tuple[str | Callable[[], str] | None, ...] = (
            password, url_password, env_password)
    else:
        user_order = (user, env_user, fb_user, url_user)
        password_order = (password, env_password, fb_password, url_password)
    final_user = next((v for v in user_order if v), "")
    final_password = ""
    if final_user:
        for v in password_order:
            # A password command runs only when nothing above gave a password.
            final_password = (v() if callable(v) else v) or ""
            if final_password:
                break
    where = f" (from {chosen.origin})" if chosen else ""
    if not final_user:
        raise UsageError(
            f"no user for {host}{where}: pass --user, set PMEMCTL_USER, or put it in the URL"
        )
    if not final_password:
        raise UsageError(
            f"no password for {final_user}@{host}{where}: set PMEMCTL_PASSWORD "
            "(or pass --password, which other users can see in the process list)"
        )

    env_ca = env.get("PMEMCTL_CA_FILE") or None
    env_insecure = (
        flag_bool(env["PMEMCTL_INSECURE"], "PMEMCTL_INSECURE")
        if "PMEMCTL_INSECURE" in env else False
    )
    flag_insecure = bool(insecure)
    if flag_insecure and ca_file:
        raise UsageError(
            "--insecure and --ca-file contradict each other: verify with the CA file, "
            "or skip verification, not both"
        )
    # A flag beats the environment here too: --ca-file overrides
    # PMEMCTL_INSECURE=1, and --insecure overrides PMEMCTL_CA_FILE.
    if ca_file:
        final_ca, final_insecure = ca_file, False
    elif flag_insecure:
        final_ca, final_insecure = None, True
    elif env_insecure and env_ca:
        raise UsageError(
            "PMEMCTL_INSECURE and PMEMCTL_CA_FILE contradict each other: set only one"
        )
    elif env_ca is None and "PMEMCTL_INSECURE" not in env and chosen is not None:
        if chosen.insecure and chosen.ca_file:
            raise UsageError(f"{chosen.origin} gives both a CA file and insecure: set only one")
        final_ca, final_insecure = chosen.ca_file, bool(chosen.insecure)
    else:
        final_ca, final_insecure = env_ca, env_insecure
    if final_ca is not None and not Path(final_ca).is_file():
        raise UsageError(f"CA file {final_ca!r} does not exist or is not a file")

    if timeout is not None:
        timeout_s = parse_timeout(timeout, "--timeout")
    elif env.get("PMEMCTL_TIMEOUT"):
        timeout_s = parse_timeout(env["PMEMCTL_TIMEOUT"], "PMEMCTL_TIMEOUT")
    elif chosen is not None and chosen.timeout is not None:
        timeout_s = parse_timeout(chosen.timeout, chosen.origin)
    else:
        timeout_s = DEFAULT_TIMEOUT_S

    return ConnectionSettings(
        host=host,
        port=port if port is not None else DEFAULT_PORT,
        user=final_user,
        password=final_password,
        ca_file=final_ca,
        insecure=final_insecure,
        path=path,
        timeout_s=timeout_s,
    )


def ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """The TLS context for ``settings``: verified (system store or CA file) unless insecure.

    pyVim would silently skip verification for ``localhost``/``127.0.0.1`` when
    given no context, so pmemctl always passes one.
    """
    if settings.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=settings.ca_file)




def stub_of(mo: Any) -> Any:
    """The SOAP stub a pyVmomi managed object is bound to (to bind new morefs to it).

    pyVmomi keeps it in the private ``_stub``; this is the one place that reads it.
    """
    return mo._stub


class Connection:
    """A logged-in vCenter session. Use as a context manager; :meth:`close` logs out.

    Attributes:
        si: the ``vim.ServiceInstance``.
        content: its ServiceContent, fetched once at login.
        about: what we talk to, as a pyVmomi-free :class:`~pmemctl.inventory.model.About`.
        settings: the settings used (password included: do not print them raw).
        warnings: things the user should know (e.g. a vSphere 9 deprecation).
    """

    def __init__(
        self, si: Any, content: Any, settings: ConnectionSettings, context: ssl.SSLContext,
        policy: retry.Policy | None = None,
    ) -> None:
        self.si = si
        # How calls on this session retry (installed on its stubs by connect()).
        self.policy = policy or retry.Policy(where=settings.endpoint,
                                             timeout_s=settings.timeout_s)
        self.content: Any = content  # fetched once at login; si.content would be a round trip
        ab = self.content.about
        self.about = About(
            name=str(ab.fullName or ab.name or ""),
            api_version=str(ab.apiVersion or ""),
            version=str(ab.version or ""),
            instance_uuid=str(ab.instanceUuid or ""),
            api_type=str(ab.apiType or ""),
        )
        self.settings = settings
        self.warnings: list[str] = []
        self._ssl_context = context
        self._pbm: Any = None
        self._closed = False
        self.relogins = 0  # how often the session had ended and was renewed

    @property
    def stub(self) -> Any:
        """The vim SOAP stub, to bind morefs (``vim.VirtualMachine(moid, conn.stub)``)."""
        return self.si._stub

    def pbm(self) -> Any:
        """The PBM (storage policy) ``ProfileManager``, created on first use.

        Side Effects:
            The first call costs one ``PbmRetrieveServiceContent`` round trip on
            ``/pbm/sdk``; the vim session cookie authenticates it.
        """
        if self._pbm is None:
            cookie = str(getattr(self.si._stub, "cookie", "") or "")
            session = _session_id(cookie)
            stub = SoapStubAdapter(  # type: ignore[no-untyped-call]
                host=self.settings.host,
                port=self.settings.port,
                path=PBM_PATH,
                version=PBM_VERSION,
                sslContext=self._ssl_context,
                httpConnectionTimeout=self.settings.timeout_s,
                # vCenter's PBM reads the session from the vcSessionCookie SOAP
                # header; vcsim reads the HTTP cookie. Send both.
                requestContext={"vcSessionCookie": session},
            )
            stub.cookie = cookie
            retry.install(stub, self.policy)
            instance = pbm.ServiceInstance("ServiceInstance", stub)  # type: ignore[no-untyped-call]
            self._pbm = instance.RetrieveContent().profileManager
        return self._pbm

    def relogin(self) -> None:
        """Log in again on the same stub after the session ended.

        vCenter ends API sessions idle for 30 minutes (KB 1031039), and an
        admin may terminate one. Morefs bound to the stub stay valid; the
        stub takes the new session cookie from the Login answer. The PBM
        stub, which copied the old cookie, is dropped and made anew on use.

        Side Effects:
            One ``Login``.

        Raises:
            SessionError: the login failed (the message has no password).
        """
        try:
            self.content.sessionManager.Login(self.settings.user, self.settings.password, None)
        except retry.NetworkError:
            raise  # already says what happened, and is no login refusal
        except Exception as exc:  # every failure becomes a SessionError
            raise SessionError("the vCenter session ended and logging in again failed: "
                               + _describe(exc, self.settings), _failure_code(exc)) from None
        if self._pbm is not None:
            with contextlib.suppress(Exception):
                self._pbm._stub.DropConnections()
            self._pbm = None
        self.relogins += 1

    def ensure_session(self) -> bool:
        """Log in again when the session has ended; True when it had to.

        For after a long pause with no calls (the confirmation prompt).

        Side Effects:
            One read of ``SessionManager.currentSession``; a ``Login`` when
            it is unset (the session expired or was terminated).
        """
        try:
            current = self.content.sessionManager.currentSession
        except vim.fault.NotAuthenticated:
            current = None
        if current is not None:
            return False
        self.relogin()
        return True

    def close(self) -> None:
        """Log out and drop pooled connections; errors are ignored (the session may be gone)."""
        if self._closed:
            return
        self._closed = True
        # Best effort: the session may already be gone (expired, server down).
        with contextlib.suppress(Exception):
            self.content.sessionManager.Logout()
        with contextlib.suppress(Exception):
            self.si._stub.DropConnections()
        if self._pbm is not None:
            with contextlib.suppress(Exception):
                self._pbm._stub.DropConnections()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Connection({self.settings.display}, api={self.about.api_version})"


def _session_id(cookie: str) -> str:
    """The value of ``vmware_soap_session`` in a ``Set-Cookie`` string."""
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "vmware_soap_session":
            return value.strip('"')
    return ""


def _password_forms(pw: str) -> list[str]:
    """Every way a password may be spelt inside an exception's text, longest first.

    Raw; percent-encoded (upper and lower case hex, ``/`` kept or not, ``+``
    for spaces) as in a URL; escaped as ``repr``, ``ascii`` and JSON write it
    (quotes, backslashes, non-printable and non-ASCII characters); as UTF-8
    bytes' ``repr``; and XML-escaped, as in a SOAP body.
    """
    forms = {pw, html.escape(pw, quote=False), html.escape(pw, quote=True),
             repr(pw)[1:-1], ascii(pw)[1:-1], json.dumps(pw)[1:-1],
             json.dumps(pw, ensure_ascii=False)[1:-1], repr(pw.encode("utf-8", "replace"))[2:-1]}
    for encoded in (urllib.parse.quote(pw, errors="replace"),
                    urllib.parse.quote(pw, safe="", errors="replace"),
                    urllib.parse.quote_plus(pw, safe="", errors="replace")):
        forms.add(encoded)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded))
    return sorted((f for f in forms if f), key=len, reverse=True)


def _scrub(text: str, settings: ConnectionSettings) -> str:
    """Remove the password, in any spelling :func:`_password_forms` knows, from a message."""
    pw = settings.password
    if pw:
        for form in _password_forms(pw):
            text = text.replace(form, "***")
    return text


def _root_cause(exc: BaseException) -> BaseException:
    """pyVim wraps socket errors of RetrieveServiceContent in HostConnectFault."""
    seen = 0
    while isinstance(exc, vim.fault.HostConnectFault) and exc.__context__ is not None and seen < 5:
        exc = exc.__context__
        seen += 1
    return exc


def _describe(exc: BaseException, settings: ConnectionSettings) -> str:
    """A one-line, password-free explanation of a login failure.

    Only the fragments that come from the exception are scrubbed: the rest
    is our own text, and scrubbing it would mangle it for short passwords.
    """
    where = settings.endpoint
    exc = _root_cause(exc)

    def clean(text: object) -> str:
        return _scrub(str(text), settings)

    if isinstance(exc, ssl.SSLCertVerificationError):
        # getattr: the attributes exist only when the ssl module raised it itself.
        reason = clean(getattr(exc, "verify_message", None) or getattr(exc, "reason", None)
                       or exc)
        how = (
            f"the CA file {settings.ca_file} does not vouch for it"
            if settings.ca_file else "it is not signed by a CA in the system trust store"
        )
        return (
            f"TLS certificate of {where} is not trusted: {reason} ({how}) — pass --ca-file "
            "with the vCenter CA, or --insecure"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {clean(getattr(exc, 'reason', None) or exc)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach vCenter at {where}: connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot reach vCenter at {where}: host name {settings.host!r} does not resolve"
    if isinstance(exc, TimeoutError | socket.timeout):
        return (f"cannot reach vCenter at {where}: no answer within {settings.timeout_s:g} s "
                "(--timeout)")
    if isinstance(exc, OSError):
        reason = clean(exc.strerror or exc or type(exc).__name__)
        return f"cannot reach vCenter at {where}: {reason}"
    if isinstance(exc, HTTPException):
        return f"vCenter at {where} answered with an HTTP error: {clean(exc)}"
    if isinstance(exc, vim.fault.InvalidLogin):
        return f"login failed for user {settings.user!r} at {where}: wrong user name or password"
    if isinstance(exc, vim.fault.NoPermission | vim.fault.NotAuthenticated):
        return f"login failed for user {settings.user!r} at {where}: not allowed"
    if isinstance(exc, vmodl.MethodFault):
        msg = clean(getattr(exc, "msg", "") or type(exc).__name__)
        return f"vCenter at {where} refused the login: {msg}"
    text = clean(exc)
    if "is not a VIM server" in text or "is down" in text:
        return (
            f"{where} does not look like a vCenter SDK endpoint "
            "(no vimServiceVersions.xml there): check the host, port and path"
        )
    return f"cannot log in to {where}: {type(exc).__name__}: {text}"


def _failure_code(exc: BaseException) -> str:
    """The stable error code (README "Error codes") of a login failure, as :func:`_describe`."""
    exc = _root_cause(exc)
    # An EOF mid-handshake is a server going away (a restart), not a trust problem.
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "unreachable"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if isinstance(exc, OSError | HTTPException | retry.NetworkError):
        return "unreachable"
    if isinstance(exc, vim.fault.InvalidLogin | vim.fault.NoPermission
                  | vim.fault.NotAuthenticated):
        return "bad_credentials"
    text = str(exc)
    if "is not a VIM server" in text or "is down" in text:
        return "unreachable"  # something answers there, but not a vCenter SDK
    return "session"


def _login(settings: ConnectionSettings, context: ssl.SSLContext) -> tuple[Any, Any]:
    """The three round trips of a login, on a new stub: ``(si, content)``."""
    # pyVim's version probe opens its own HTTPSConnection without a timeout;
    # bound it (and the handshakes) through the socket default for the
    # duration of the login only.
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(settings.timeout_s)
    stub: Any = None
    try:
        # SmartStubAdapter, not SmartConnect: SmartConnect throws away the
        # ServiceContent it fetched, and reading si.content afterwards costs
        # a Fetch round trip. Doing the two calls here keeps it.
        stub = SmartStubAdapter(  # type: ignore[no-untyped-call]
            host=settings.host,
            port=settings.port,
            path=settings.path,
            sslContext=context,
            httpConnectionTimeout=settings.timeout_s,
        )
        si = vim.ServiceInstance("ServiceInstance", stub)  # type: ignore[no-untyped-call]
        content: Any = si.RetrieveContent()
        content.sessionManager.Login(settings.user, settings.password, None)
    except BaseException:
        if stub is not None:  # a retry makes a new stub: close this one's sockets
            with contextlib.suppress(Exception):
                stub.DropConnections()
        raise
    finally:
        socket.setdefaulttimeout(old_timeout)
    return si, content


def connect(settings: ConnectionSettings, notify: retry.Notify | None = None) -> Connection:
    """Log in to vCenter and check that its API has the PMem features (6.7+).

    A transient fault (reset, refused, TLS EOF, HTTP 503: a vCenter
    restarting) makes the whole login start over, as :mod:`.retry` bounds
    it, with a message to ``notify`` per retry. Every later call on the
    connection goes through the same :class:`~pmemctl.vsphere.retry.Policy`.

    Side Effects:
        One ``GET /sdk/vimServiceVersions.xml``, ``RetrieveServiceContent`` and
        ``Login`` (again per retry). On a too-old vCenter also ``Logout``
        before raising.

    Raises:
        SessionError: unreachable, TLS not trusted, login refused, or an API
            older than 6.7. The message never contains the password.
    """
    context = ssl_context(settings)
    policy = retry.Policy(where=settings.endpoint, timeout_s=settings.timeout_s, notify=notify)

    def login() -> tuple[Any, Any]:
        try:
            return _login(settings, context)
        except Exception as exc:
            # pyVim wraps socket errors in HostConnectFault: retry on the cause.
            root = _root_cause(exc)
            if retry.is_network(root) and root is not exc:
                raise root from None
            raise

    try:
        si, content = policy.call("Login", login)
    except retry.NetworkError as exc:
        # "from None": the original exception may carry request details; the
        # message is complete and scrubbed.
        tries = f" ({exc.attempts} tries in {exc.elapsed_s:.0f} s)" if exc.attempts > 1 else ""
        raise SessionError(_describe(exc.original or exc, settings) + tries,
                           _failure_code(exc.original or exc)) from None
    except Exception as exc:  # every failure becomes a SessionError
        raise SessionError(_describe(exc, settings), _failure_code(exc)) from None
    retry.install(si._stub, policy)

    conn = Connection(si, content, settings, context, policy)
    api = version_tuple(conn.about.api_version)
    if api and api < MIN_API:
        conn.close()
        raise SessionError(
            f"vCenter at {settings.endpoint}: API {conn.about.api_version} is older than 6.7, "
            "which introduced the PMem API; pmemctl needs 6.7 or later",
            "unsupported_vcenter",
        )
    if api >= DEPRECATED_API:
        conn.warnings.append(
            f"vCenter API {conn.about.api_version}: VMware deprecated every PMem API in "
            'vSphere 9.0 "with no replacement"; pmemctl still works but plan a move off vPMem'
        )
    return conn


def raw_call(mo: Any, method: str, **kwargs: Any) -> bytes | None:
    """Send ``mo.<method>(**kwargs)`` on ``mo``'s own pyVmomi stub; the 200 answer's bytes.

    The request is pyVmomi's: its serializer, the stub's session cookie,
    headers, pooled TLS connections and version, and the stub takes a new
    cookie from the answer as pyVmomi does. Only the decoding of a 200
    answer is left to the caller (:mod:`pmemctl.vsphere.wire`). Any other
    answer is handled by pyVmomi's code, so a SOAP fault is raised exactly
    as ``mo.<method>(...)`` raises it.

    Returns None, having sent nothing, when ``mo`` is not bound to a plain
    ``SoapStubAdapter`` (a test double): the caller then calls the method.

    Raises:
        vmodl.MethodFault: the server answered with a SOAP fault.
        OSError, http.client.HTTPException: as pyVmomi's InvokeMethod.
    """
    bound = getattr(mo, "_stub", None)
    if type(bound) is not SoapStubAdapter:
        return None
    policy = retry.policy_of(bound)
    if policy is None:
        return _raw_call(bound, mo, method, **kwargs)
    # The policy knows methods by their wsdl names (RetrieveContents is RetrieveProperties).
    wsdl = str(type(mo)._GetMethodInfo(method).wsdlName)
    return policy.call(wsdl, lambda: _raw_call(bound, mo, method, **kwargs),
                       what=str(getattr(mo, "_moId", "")))


def _raw_call(bound: Any, mo: Any, method: str, **kwargs: Any) -> bytes:
    stub: Any = bound  # pyVmomi's stub methods are untyped
    from pyVmomi import SoapAdapter as _soap

    sa: Any = _soap  # pyVmomi's module is untyped
    info = type(mo)._GetMethodInfo(method)
    args = [kwargs.get(p.name) for p in info.params]
    # The same headers as SoapStubAdapter.InvokeMethod (pyVmomi 8/9).
    headers = {
        "Cookie": stub.cookie,
        "SOAPAction": stub.versionId,
        "Content-Type": f"text/xml; charset={sa.XML_ENCODING}",
        "User-Agent": f"pyvmomi {sa.version_info_str} {sa.kind} Python/{sa.PYTHON_VERSION} "
                      f"({sa.OS_NAME}; {sa.OS_VERSION}; {sa.OS_ARCH})",
    }
    if stub._customHeaders:
        headers.update(stub._customHeaders)
    req = stub.SerializeRequest(mo, info, args)
    for modifier in stub.requestModifierList:
        req = modifier(req)
    conn = stub.GetConnection()
    try:
        conn.request("POST", stub.path, req, headers)
        resp = conn.getresponse()
    except (OSError, HTTPException):
        conn.close()
        stub.DropConnections()
        raise
    cookie = resp.getheader("Set-Cookie") or resp.getheader("set-cookie")
    if cookie:
        stub.cookie = cookie
        morsel = sa.SimpleCookie(cookie).get(sa.COOKIE_NAME)
        if morsel:
            sa.StubAdapterBase.SetSessionId(stub, morsel.value)
    try:
        body = resp.read()
        if (resp.getheader("Content-Encoding") or "").lower() in ("gzip", "deflate"):
            # A server may compress unasked; wbits 47 reads gzip and zlib streams.
            body = zlib.decompress(body, 47)
    except (OSError, HTTPException, zlib.error):
        conn.close()
        stub.DropConnections()
        raise
    stub.ReturnConnection(conn)
    if resp.status == 200:
        return bytes(body)
    if resp.status != 500:
        raise HTTPException(f"{resp.status} {resp.reason}")
    # A SOAP fault: pyVmomi's deserializer makes the exception pyVmomi raises.
    fault = sa.SoapResponseDeserializer(stub).Deserialize(io.BytesIO(body), info.result)
    raise fault
