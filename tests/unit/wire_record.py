"""Record the SOAP exchanges behind the wire-reader equivalence tests (needs Go).

    .venv/bin/python -m tests.unit.wire_record

Writes ``tests/unit/wire/<estate>.json``: every request and answer of
``RetrieveServiceContent`` then ``take_snapshot`` on a pmemsim estate (the
demo estate and a small generated one, with small pages so that continuation
pages are in them), and then three faulty reads: a RetrievePropertiesEx after
the session ended (``missingSet`` of ``NotAuthenticated``), one naming a
property that does not exist (a SOAP fault) and one over a VM that does not
exist (an error inside the page). The login is not recorded, so no cookie or
password is in the files.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

from pyVmomi import vim, vmodl

from pmemctl.vsphere import snapshot
from pmemctl.vsphere.session import ConnectionSettings, connect
from tests import simproc

HERE = Path(__file__).resolve().parent / "wire"
SMALL = """\
datacenter: DC0
generate:
  clusters: 1
  hosts_per_cluster: 2
  vms_per_host: 3
  pmem_per_host: 512GiB
  disks_per_vm: 2
  disk_size: 10GiB
"""
PC = vmodl.query.PropertyCollector


class Response:
    """Enough of ``http.client.HTTPResponse`` for pyVmomi and ``raw_call``."""

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self._headers = {k.lower(): v for k, v in headers.items()}
        self._body = io.BytesIO(body)

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name.lower(), default)

    def read(self, n: int = -1) -> bytes:
        return self._body.read(n)


def method_of(request: bytes | str) -> str:
    """The SOAP method a request body calls."""
    text = request.decode() if isinstance(request, bytes) else request
    m = re.search(r"<soapenv:Body><(\w+)", text)
    return m.group(1) if m else "?"


class Recorder:
    """Wraps a stub's connections; keeps every exchange."""

    def __init__(self, stub: Any) -> None:
        self.stub = stub
        self.real = stub.GetConnection
        self.exchanges: list[dict[str, Any]] = []
        stub.GetConnection = self.connection

    def connection(self) -> Any:
        real = self.real()
        # pyVmomi pools the connection it is handed: wrap each one once.
        return real if isinstance(real, Conn) else Conn(real, self.exchanges)


class Conn:
    """A pooled connection that keeps each request's method and answer."""

    def __init__(self, real: Any, exchanges: list[dict[str, Any]]) -> None:
        self.real = real
        self.exchanges = exchanges
        self.method = "?"

    def request(self, verb: str, path: str, body: Any, headers: Any) -> None:
        self.method = method_of(body)
        self.real.request(verb, path, body, headers)

    def getresponse(self) -> Response:
        resp = self.real.getresponse()
        body = resp.read()
        # The caller gets the new session cookie; the file keeps no cookie.
        headers = {"Content-Type": resp.getheader("Content-Type") or "",
                   "Set-Cookie": resp.getheader("Set-Cookie") or ""}
        self.exchanges.append({"method": self.method, "status": resp.status,
                               "reason": resp.reason, "body": body.decode()})
        return Response(resp.status, resp.reason, headers, body)

    def close(self) -> None:
        self.real.close()

    @property
    def sock(self) -> Any:
        return self.real.sock


def record(name: str, *flags: str, inventory: Path | None = None) -> None:
    """Record one estate into ``wire/<name>.json``."""
    with simproc.start(*flags, inventory=inventory) as sim:
        p = sim.parts
        settings = ConnectionSettings(host=p.hostname or "", port=p.port, user=sim.user,
                                      password=sim.password, ca_file=str(sim.cert))
        conn = connect(settings)
        stub = conn.si._stub
        rec = Recorder(stub)
        conn.si.RetrieveContent()
        snapshot.take_snapshot(conn, lambda inv: sorted(inv.vms)[::2])
        exchanges = list(rec.exchanges)
        pc = conn.content.propertyCollector
        cases: list[dict[str, Any]] = []
        # A SOAP fault: a property path VirtualMachine does not have.
        bad_path = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=conn.content.rootFolder)],
                                 propSet=[PC.PropertySpec(type=vim.Folder, pathSet=["nope"])])
        # An error inside a page: a VM that does not exist beside the root folder.
        gone = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=conn.content.rootFolder),
                       PC.ObjectSpec(obj=vim.VirtualMachine("vm-999999", stub))],
            propSet=[PC.PropertySpec(type=vim.Folder, pathSet=["name"]),
                     PC.PropertySpec(type=vim.VirtualMachine, pathSet=["name"])])
        for label, spec in (("invalid property in missingSet", bad_path),
                            ("object gone: SOAP fault", gone)):
            with contextlib.suppress(Exception):
                pc.RetrievePropertiesEx([spec], PC.RetrieveOptions())
            cases.append({"label": label, "exchange": rec.exchanges.pop()})
        name_spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=conn.content.rootFolder)],
                                  propSet=[PC.PropertySpec(type=vim.Folder, pathSet=["name"])])
        # Terminated by an admin. vCenter answers with a missingSet of NotAuthenticated
        # (collector.retrieve); pmemsim with a SOAP fault. test_wire derives the former.
        key = conn.content.sessionManager.currentSession.key
        with connect(settings) as admin:
            admin.content.sessionManager.TerminateSession(sessionId=[key])
        with contextlib.suppress(Exception):
            pc.RetrievePropertiesEx([name_spec], PC.RetrieveOptions())
        cases.append({"label": "session terminated: SOAP fault (pmemsim)", "exchange": rec.exchanges.pop()})
        # Logged out: pmemsim answers with a NotAuthenticated SOAP fault.
        conn.relogin()
        conn.content.sessionManager.Logout()
        with contextlib.suppress(Exception):
            pc.RetrievePropertiesEx([name_spec], PC.RetrieveOptions())
        cases.append({"label": "logged out: SOAP fault", "exchange": rec.exchanges.pop()})
        conn._closed = True
        doc = {"version": stub.version, "snapshot": exchanges, "faults": cases}
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")


def main() -> None:
    """Record the demo estate and the small one."""
    HERE.mkdir(exist_ok=True)
    record("demo", "--max-page", "3")
    small = HERE / "small-estate.yaml"
    small.write_text(SMALL)
    record("small", "--max-page", "2", inventory=small)


if __name__ == "__main__":
    main()
