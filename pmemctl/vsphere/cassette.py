"""vcrpy recordings of pyVmomi SOAP sessions: patches, matchers, scrubbing, anonymizing.

Used by ``pmemctl probe --record`` (so a user's recording can become a
replay test) and by the project's replay tier (``tests/replay``). vcrpy is
an optional dependency (``pip install 'pmemctl[record]'``); importing this
module without it raises ImportError, which callers turn into a clear
message.

pyVmomi binds ``HTTPSConnection``/``HTTPConnection`` into its own modules at
import time (``pyVmomi.SoapAdapter`` for SOAP, ``pyVim.connect`` for the
``/sdk/vimServiceVersions.xml`` probe), so vcrpy's default patching of
``http.client`` never sees those requests: :data:`CUSTOM_PATCHES` replaces
every such name.

Every SOAP request is ``POST /sdk`` (or ``/pbm/sdk``), so requests are
matched on the SOAP operation (the first element inside ``Body``) and on the
body with volatile parts normalised. Host and port are ignored: a recording
replays against any address.

What a saved cassette never holds: the password (``<password>`` in Login),
the ``vmware_soap_session`` cookie (request ``Cookie``, response
``Set-Cookie`` and any echo of its value in a body), PBM's
``vcSessionCookie`` header, credentials in a URL. With an
:class:`Anonymizer`, inventory names and the vCenter host are replaced
consistently as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyVim.connect
import pyVmomi.SoapAdapter
import vcr
from vcr.persisters.filesystem import FilesystemPersister
from vcr.stubs import VCRHTTPConnection, VCRHTTPSConnection

REDACTED = "REDACTED"

CUSTOM_PATCHES = (
    (pyVmomi.SoapAdapter, "HTTPSConnection", VCRHTTPSConnection),
    (pyVmomi.SoapAdapter, "HTTPConnection", VCRHTTPConnection),
    (pyVim.connect, "HTTPSConnection", VCRHTTPSConnection),
    (pyVim.connect, "HTTPConnection", VCRHTTPConnection),
)

_OPERATION_RE = re.compile(rb"<(?:[A-Za-z0-9_]+:)?Body[^>]*>\s*<(?:[A-Za-z0-9_]+:)?([A-Za-z0-9_]+)")
_PASSWORD_RE = re.compile(rb"(<password[^>]*>)[^<]*(</password>)")
_VC_COOKIE_RE = re.compile(rb"(<vcSessionCookie[^>]*>)[^<]*(</vcSessionCookie>)")
_COOKIE_VALUE_RE = re.compile(r'(vmware_soap_session=)("?)[^";]*("?)')
_URL_CREDS_RE = re.compile(r"(https?://)[^/@\s]+@")
# The user shows up in Login, in the UserSession it returns and in task reasons.
_USER_RE = re.compile(rb"(<(userName|fullName)\b[^>]*>)[^<]*(</\2>)")


def _body(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    return body if isinstance(body, bytes) else str(body).encode()


def soap_operation(request: Any) -> str:
    """The SOAP method of a request ("" for non-SOAP requests)."""
    m = _OPERATION_RE.search(_body(request))
    return m.group(1).decode() if m else ""


def normalized_body(body: bytes) -> bytes:
    """The body with secrets and session ids replaced: what recordings store."""
    body = _PASSWORD_RE.sub(rb"\1" + REDACTED.encode() + rb"\2", body)
    return _VC_COOKIE_RE.sub(rb"\1" + REDACTED.encode() + rb"\2", body)


def match_operation(r1: Any, r2: Any) -> None:
    """vcrpy matcher: same SOAP operation."""
    assert soap_operation(r1) == soap_operation(r2), (soap_operation(r1), soap_operation(r2))


def match_body(r1: Any, r2: Any) -> None:
    """vcrpy matcher: same body once passwords and session cookies are normalised."""
    assert normalized_body(_body(r1)) == normalized_body(_body(r2))


def _scrub_cookie(value: str) -> str:
    return _COOKIE_VALUE_RE.sub(rf"\g<1>\g<2>{REDACTED}\g<3>", value)


def scrub_request(request: Any) -> Any:
    """Before saving: no password, no session cookie, no credentials in the URL."""
    if request.body:
        request.body = normalized_body(_body(request))
    for name in list(request.headers):
        if name.lower() == "cookie":
            request.headers[name] = _scrub_cookie(str(request.headers[name]))
    request.uri = _URL_CREDS_RE.sub(r"\1", request.uri)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Before saving: Set-Cookie values and any echo of the session id in the body."""
    session_ids: list[str] = []
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() == "set-cookie":
            values = headers[name]
            for v in values:
                m = re.search(r'vmware_soap_session="?([^";]+)', v)
                if m:
                    session_ids.append(m.group(1))
            headers[name] = [_scrub_cookie(v) for v in values]
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes) and session_ids:
        for sid in session_ids:
            body = body.replace(sid.encode(), REDACTED.encode())
        _set_body(response, body)
    return response


def _set_body(response: dict[str, Any], body: bytes) -> None:
    response["body"]["string"] = body
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() == "content-length":
            headers[name] = [str(len(body))]


class Anonymizer:
    """Consistent renaming of inventory names, the vCenter host and the user in a cassette.

    Names are collected while the session runs (:meth:`add`) and applied
    when the cassette is saved, so names first seen in a late response are
    renamed in earlier interactions too. ``esx-01.corp`` always becomes the
    same alias (``anon-host-1``) everywhere, which keeps the recording replayable
    with the aliases as arguments. Only whole names are replaced (not inside
    longer words), longest first.
    """

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self.user_alias = "probe-user"

    def add(self, name: str, kind: str) -> str:
        """Register ``name`` of ``kind`` (``host``, ``datastore``…); returns its alias."""
        if not name:
            return name
        if name not in self.aliases:
            n = self._counts.get(kind, 0) + 1
            self._counts[kind] = n
            self.aliases[name] = f"anon-{kind}-{n}"
        return self.aliases[name]

    def add_all(self, names: Iterable[str], kind: str) -> None:
        """Register many names of one kind."""
        for n in names:
            self.add(n, kind)

    def _pattern(self) -> re.Pattern[bytes] | None:
        names = sorted(self.aliases, key=len, reverse=True)
        if not names:
            return None
        alt = b"|".join(re.escape(n.encode()) for n in names)
        # Whole names only: not a substring of a longer identifier or host name.
        return re.compile(rb"(?<![A-Za-z0-9_.-])(" + alt + rb")(?![A-Za-z0-9_-]|\.[A-Za-z0-9])")

    def apply_bytes(self, data: bytes) -> bytes:
        """``data`` with every registered name replaced by its alias."""
        pat = self._pattern()
        data = _USER_RE.sub(rb"\1" + self.user_alias.encode() + rb"\3", data)
        if pat is None:
            return data
        table = {k.encode(): v.encode() for k, v in self.aliases.items()}
        return pat.sub(lambda m: table[m.group(1)], data)

    def apply_text(self, text: str) -> str:
        """``text`` with every registered name replaced by its alias."""
        return self.apply_bytes(text.encode()).decode()

    def apply(self, cassette_dict: dict[str, Any]) -> None:
        """Rename in place, in every request (uri, body) and response (body, headers)."""
        for req in cassette_dict.get("requests", []):
            req.uri = self.apply_text(req.uri)
            if req.body:
                req.body = self.apply_bytes(_body(req))
        for resp in cassette_dict.get("responses", []):
            body = resp.get("body", {}).get("string")
            if isinstance(body, bytes):
                _set_body(resp, self.apply_bytes(body))
            elif isinstance(body, str):
                _set_body(resp, self.apply_bytes(body.encode()))


def _persister(anonymizer: Anonymizer | None) -> type:
    class Persister(FilesystemPersister):  # type: ignore[misc]
        """Saves like vcrpy, after renaming (the names are all known by then)."""

        @staticmethod
        def save_cassette(cassette_path: Any, cassette_dict: dict[str, Any],
                          serializer: Any) -> None:
            if anonymizer is not None:
                anonymizer.apply(cassette_dict)
            FilesystemPersister.save_cassette(cassette_path, cassette_dict, serializer)

    return Persister


def make_vcr(record_mode: str, library_dir: str | Path | None = None,
             anonymizer: Anonymizer | None = None) -> vcr.VCR:
    """A VCR for pyVmomi: custom patches, SOAP matchers, scrubbing, readable YAML.

    ``record_mode`` is vcrpy's (``all`` records, ``none`` only replays).
    ``anonymizer`` renames names in the saved cassette.
    """
    kwargs: dict[str, Any] = {}
    if library_dir is not None:
        kwargs["cassette_library_dir"] = str(library_dir)
    v = vcr.VCR(
        record_mode=record_mode,
        custom_patches=CUSTOM_PATCHES,
        match_on=["method", "path", "soap_operation", "soap_body"],
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
        **kwargs,
    )
    v.register_matcher("soap_operation", match_operation)
    v.register_matcher("soap_body", match_body)
    v.register_persister(_persister(anonymizer))
    return v
