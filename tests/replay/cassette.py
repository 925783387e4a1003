"""vcrpy set-up for pyVmomi SOAP sessions: patches, matchers, scrubbing.

pyVmomi binds ``HTTPSConnection``/``HTTPConnection`` into its own modules at
import time (``pyVmomi.SoapAdapter`` for SOAP, ``pyVim.connect`` for the
``/sdk/vimServiceVersions.xml`` probe), so vcrpy's default patching of
``http.client`` never sees those requests: :data:`CUSTOM_PATCHES` replaces
every such name.

Every SOAP request is ``POST /sdk`` (or ``/pbm/sdk``), so requests are
matched on the SOAP operation (the first element inside ``Body``) and on the
body with volatile parts normalised. Host and port are ignored: pmemsim
listens on a new port for each recording.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyVim.connect
import pyVmomi.SoapAdapter
import vcr
from vcr.stubs import VCRHTTPConnection, VCRHTTPSConnection

CASSETTES = Path(__file__).resolve().parent / "cassettes"
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
        response["body"]["string"] = body
        for name in list(headers):
            if name.lower() == "content-length":
                headers[name] = [str(len(body))]
    return response


def make_vcr(record_mode: str) -> vcr.VCR:
    """A VCR for pyVmomi: custom patches, SOAP matchers, scrubbing, readable YAML."""
    v = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=record_mode,
        custom_patches=CUSTOM_PATCHES,
        match_on=["method", "path", "soap_operation", "soap_body"],
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )
    v.register_matcher("soap_operation", match_operation)
    v.register_matcher("soap_body", match_body)
    return v


def cassette_path(module: str, test_name: str) -> Path:
    """``tests/replay/cassettes/<module>/<test_name>.yaml``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    return CASSETTES / module / f"{safe}.yaml"
