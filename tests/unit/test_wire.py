"""The streaming reader and pyVmomi's deserializer give the same inventory and the same faults.

The answers are recorded from pmemsim (``python -m tests.unit.wire_record``):
the demo estate and a small generated one, with small pages so that every
read has continuation pages. They are replayed through pyVmomi's own stub
(only its HTTP connection is replaced), once with the wire reader and once
with pyVmomi reading every page.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim, vmodl
from pyVmomi.SoapAdapter import SoapStubAdapter

from pmemctl.inventory.model import Inventory
from pmemctl.vsphere import collector, wire
from pmemctl.vsphere.collector import retrieve
from pmemctl.vsphere.session import Connection, ConnectionSettings
from pmemctl.vsphere.snapshot import take_snapshot
from tests.unit.wire_record import HERE, Response, method_of

PC: Any = vmodl.query.PropertyCollector
ESTATES = ["demo", "small"]


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())
    return doc


class Replay:
    """Answers a stub's requests from recorded exchanges, in order."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.exchanges = list(exchanges)
        self.sent: list[str] = []
        self.sock = object()

    def request(self, verb: str, path: str, body: Any, headers: Any) -> None:
        self.sent.append(method_of(body))

    def getresponse(self) -> Response:
        ex = self.exchanges.pop(0)
        assert ex["method"] == self.sent[-1], "requests differ from the recording"
        return Response(ex["status"], ex["reason"], {"Content-Type": "text/xml"},
                        ex["body"].encode())

    def close(self) -> None:
        pass


def stub_for(version: str, exchanges: list[dict[str, Any]]) -> Any:
    stub: Any = SoapStubAdapter(host="replay.invalid", version=version)  # type: ignore[no-untyped-call]
    replay = Replay(exchanges)
    stub.GetConnection = lambda: replay
    stub.replay = replay
    return stub


def snapshot_of(name: str, streaming: bool, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    doc = load(name)
    monkeypatch.setattr(collector, "STREAMING", streaming)
    stub = stub_for(doc["version"], doc["snapshot"])
    si: Any = vim.ServiceInstance("ServiceInstance", stub)  # type: ignore[no-untyped-call]
    settings = ConnectionSettings(host="replay.invalid", user="u", password="p", insecure=True)
    conn = Connection(si, si.RetrieveContent(), settings, ssl.create_default_context())
    inv = take_snapshot(conn, lambda inv: sorted(inv.vms)[::2])
    assert stub.replay.exchanges == [], "every recorded answer was asked for"
    return inv


@pytest.mark.parametrize("name", ESTATES)
def test_both_readers_make_the_same_inventory(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fallbacks: list[bytes] = []
    real = wire.pyvmomi_result
    monkeypatch.setattr(wire, "pyvmomi_result", lambda b, s, t: fallbacks.append(b) or real(b, s, t))
    streamed = snapshot_of(name, True, monkeypatch)
    assert fallbacks == [], "the wire reader read every page itself"
    by_pyvmomi = snapshot_of(name, False, monkeypatch)
    assert streamed == by_pyvmomi
    assert any(vm.devices_loaded and vm.disks for vm in streamed.vms.values())
    assert streamed.hosts and streamed.datastores


def fault_cases() -> list[tuple[str, dict[str, Any], str]]:
    cases = []
    for name in ESTATES:
        doc = load(name)
        for case in doc["faults"]:
            cases.append((f"{name}: {case['label']}", case["exchange"], doc["version"]))
        # vCenter's answer for an ended session (collector.retrieve): the
        # recorded missingSet with the fault vCenter puts there instead.
        missing = next(c["exchange"] for c in doc["faults"] if "missingSet" in c["label"])
        body = missing["body"].replace(
            'type="InvalidProperty"><name>nope</name>',
            'type="NotAuthenticated"><object type="Folder">group-d1</object>'
            "<privilegeId>System.View</privilegeId>")
        assert body != missing["body"]
        cases.append((f"{name}: NotAuthenticated in missingSet", {**missing, "body": body},
                      doc["version"]))
    return cases


def outcome(exchange: dict[str, Any], version: str, streaming: bool,
            monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setattr(collector, "STREAMING", streaming)
    stub = stub_for(version, [exchange])
    pc: Any = vim.PropertyCollector("propertyCollector", stub)  # type: ignore[no-untyped-call]
    root: Any = vim.Folder("group-d1", stub)  # type: ignore[no-untyped-call]
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=root)],
                         propSet=[PC.PropertySpec(type=vim.Folder, pathSet=["name"])])
    try:
        got = list(retrieve(pc, [spec]))
    except Exception as exc:  # the point: which exception, with which content
        return type(exc).__name__, str(exc)
    return "ok", repr(got)


@pytest.mark.parametrize(("label", "exchange", "version"), fault_cases(),
                         ids=[c[0] for c in fault_cases()])
def test_faults_come_out_as_pyvmomi_raises_them(
        label: str, exchange: dict[str, Any], version: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    streamed = outcome(exchange, version, True, monkeypatch)
    assert streamed == outcome(exchange, version, False, monkeypatch)
    if "SOAP fault" in label or "NotAuthenticated" in label:
        assert streamed[0].rpartition(".")[2] in ("NotAuthenticated", "ManagedObjectNotFound")
    else:  # a missing property is left out, as before
        assert streamed[0] == "ok"


def test_recordings_hold_no_session_cookie() -> None:
    for path in HERE.glob("*.json"):
        assert "vmware_soap_session" not in path.read_text()


def test_wire_reader_values_are_pyvmomi_objects() -> None:
    doc = load("demo")
    stub = stub_for(doc["version"], [])
    page = next(e for e in doc["snapshot"] if e["method"] == "RetrievePropertiesEx")
    body = page["body"].encode()
    objects, token = wire.parse_retrieve_result(body, stub)
    info = vim.PropertyCollector._GetMethodInfo("RetrievePropertiesEx")
    reference = wire.pyvmomi_result(body, stub, info.result)
    assert token == reference.token
    assert [(repr(r), repr(p)) for r, p in objects] == [
        (repr(r), repr(p)) for r, p in wire.pages_of(reference)]


def test_fixture_files_are_small() -> None:
    assert sum(p.stat().st_size for p in Path(HERE).glob("*")) < 400_000


def test_wire_reader_reads_a_retrieve_properties_answer_as_pyvmomi_does() -> None:
    # The light pass's one RetrieveProperties (no paging): every ObjectContent
    # is a returnval of its own.
    for name in ESTATES:
        doc = load(name)
        stub = stub_for(doc["version"], [])
        answer = next(e for e in doc["snapshot"] if e["method"] == "RetrieveProperties")
        body = answer["body"].encode()
        objects = wire.parse_retrieve_contents(body, stub)
        info = vim.PropertyCollector._GetMethodInfo("RetrieveContents")
        reference = wire.pyvmomi_result(body, stub, info.result)
        assert len(objects) == len(reference) > 10
        assert [(repr(r), repr(p)) for r, p in objects] == [
            (repr(oc.obj), repr({p.name: p.val for p in oc.propSet or ()})) for oc in reference]


class RefusingCollector:
    """A PropertyCollector double whose vCenter no longer serves RetrieveProperties."""

    def __init__(self, fault: Exception) -> None:
        self.fault = fault
        self.sent: list[str] = []

    def RetrieveContents(self, specSet: Any) -> Any:
        self.sent.append("RetrieveProperties")
        raise self.fault

    def RetrievePropertiesEx(self, specSet: Any, options: Any) -> Any:
        self.sent.append("RetrievePropertiesEx")
        folder: Any = vim.Folder("group-d1")  # type: ignore[no-untyped-call]
        oc = PC.ObjectContent(obj=folder, propSet=[vmodl.DynamicProperty(name="name",
                                                                         val="Datacenters")])
        return PC.RetrieveResult(objects=[oc])


@pytest.mark.parametrize("fault", [vmodl.fault.MethodNotFound(), vmodl.fault.NotSupported(),
                                   vmodl.fault.NotImplemented()])
def test_a_vcenter_that_refuses_retrieve_properties_gets_the_paged_read(fault: Exception) -> None:
    pc = RefusingCollector(fault)
    got = list(collector.retrieve_unpaged(pc, []))
    assert pc.sent == ["RetrieveProperties", "RetrievePropertiesEx"]
    assert [(r._moId, p) for r, p in got] == [("group-d1", {"name": "Datacenters"})]


def test_other_faults_of_retrieve_properties_are_raised() -> None:
    pc = RefusingCollector(vim.fault.NotAuthenticated())
    with pytest.raises(vim.fault.NotAuthenticated):
        list(collector.retrieve_unpaged(pc, []))
    assert pc.sent == ["RetrieveProperties"]


def test_paged_reads_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_PAGED_READS", "1")
    pc = RefusingCollector(AssertionError("not sent"))
    list(collector.retrieve_unpaged(pc, []))
    assert pc.sent == ["RetrievePropertiesEx"]
