"""RetrievePropertiesEx and RetrieveProperties answers read off the wire with ``iterparse``.

pyVmomi's deserializer runs Python callbacks for every XML start tag, end
tag and text chunk and looks up type information for each; on a 5,000-VM
light pass that is most of ``plan``'s CPU time. Here the stdlib's
``xml.etree.ElementTree.iterparse`` (C expat building C elements) reads one
``objects`` element at a time and only its values are turned into Python
objects. lxml was not measured: it is not installed, and the stdlib meets
the target.

The values are the same pyVmomi objects the deserializer makes (managed
object references bound to the same stub, data objects of the same classes),
so the snapshot code cannot tell the two paths apart. Anything this reader
does not handle falls back to pyVmomi's deserializer on the same bytes, so
faults come out exactly as pyVmomi raises them:

* an HTTP 500 answer (a SOAP fault) is raised by pyVmomi's own code;
* a page with any ``missingSet`` (a property vCenter could not read: an
  ended session's ``NotAuthenticated``, a deleted object) is deserialized by
  pyVmomi, and the collector applies its rules to it as before;
* a type this reader does not know (a new API version, an enum) makes the
  page go through pyVmomi.

The request, the session cookie and TLS are pyVmomi's: see
:func:`pmemctl.vsphere.session.raw_call`.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pyVmomi import SoapAdapter as _soap
from pyVmomi import VmomiSupport as _vmomi
from pyVmomi import vmodl

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSD = "http://www.w3.org/2001/XMLSchema"
# pyVmomi's modules are untyped; their functions are used through Any.
VmomiSupport: Any = _vmomi
SoapAdapter: Any = _soap

# Either a RetrieveResult-like object from pyVmomi or ours: .objects, .token.
Page = tuple[list[tuple[Any, dict[str, Any]]], str | None]


class Unsupported(Exception):
    """Something this reader does not handle; pyVmomi deserializes the page instead."""


def parse_retrieve_result(body: bytes, stub: Any) -> Page:
    """``(objects, token)`` of a RetrievePropertiesEx/ContinueRetrievePropertiesEx answer.

    ``objects`` is ``[(ref, {path: value})]`` in document order; ``token`` is
    the continuation token or None.

    Raises:
        Unsupported: the page has a ``missingSet`` or a type not handled here.
        xml.etree.ElementTree.ParseError: the body is not XML.
    """
    # …Response(3) returnval(4) objects|token(5): the objects are at depth 5.
    return _parse(body, stub, depth_of_objects=5, object_tag="objects")


def parse_retrieve_contents(body: bytes, stub: Any) -> list[tuple[Any, dict[str, Any]]]:
    """``[(ref, {path: value})]`` of a RetrieveProperties answer (no paging, no token).

    Raises:
        Unsupported, xml.etree.ElementTree.ParseError: as :func:`parse_retrieve_result`.
    """
    # …Response(3) returnval(4): each returnval is one ObjectContent.
    objects, _ = _parse(body, stub, depth_of_objects=4, object_tag="returnval")
    return objects


def _parse(body: bytes, stub: Any, *, depth_of_objects: int, object_tag: str) -> Page:
    reader = _Reader(stub)
    objects: list[tuple[Any, dict[str, Any]]] = []
    token: str | None = None
    depth = 0
    # Depth, not tag names, finds the elements (Envelope is 1, Body 2). Only
    # whole object elements are read, then dropped from their parent, so
    # memory stays one answer's text at most.
    events = ET.iterparse(io.BytesIO(body), events=("start", "end", "start-ns"))
    parent: ET.Element | None = None
    for event, item in events:
        if event == "start-ns":
            prefix, uri = item
            reader.prefixes[prefix] = uri
            continue
        elem: ET.Element = item
        if event == "start":
            depth += 1
            if depth == depth_of_objects - 1:
                parent = elem
            continue
        depth -= 1
        if depth != depth_of_objects - 1:
            continue
        name = elem.tag.rpartition("}")[2]
        if name == object_tag:
            objects.append(reader.object_content(elem))
        elif name == "token":
            token = elem.text or None
        if parent is not None:
            parent.remove(elem)
    return objects, token


class _Reader:
    """Element → pyVmomi value, with the type look-ups cached per answer."""

    def __init__(self, stub: Any) -> None:
        self.stub = stub
        self.prefixes: dict[str, str] = {}
        self.ns = VmomiSupport.GetWsdlNamespace(stub.version) if stub is not None else ""
        self._types: dict[str, Any] = {}
        self._kinds: dict[Any, str] = {}  # type -> how value() reads it (see _kind)
        self._local: dict[str, str] = {}  # "{ns}tag" -> "tag"
        self._by_xsi: dict[str, tuple[str, Any]] = {}  # xsi:type -> (_kind, type)
        self._refs: dict[tuple[str, str], Any] = {}  # (type, moid) -> the reference

    def _tag(self, elem: ET.Element) -> str:
        tag = elem.tag
        local = self._local.get(tag)
        if local is None:
            local = self._local[tag] = tag.rpartition("}")[2]
        return local

    def _kind(self, typ: Any) -> str:
        """What ``typ`` is, asked once per type per answer (issubclass chains are slow)."""
        kind = self._kinds.get(typ)
        if kind is None:
            if issubclass(typ, VmomiSupport.ManagedObject):
                kind = "moref"
            elif issubclass(typ, list):
                kind = "list"
            elif issubclass(typ, Exception) or issubclass(typ, vmodl.LocalizedMethodFault):
                kind = "fault"
            elif issubclass(typ, VmomiSupport.DataObject):
                kind = "data"
            else:
                kind = "primitive"
            self._kinds[typ] = kind
        return kind

    def object_content(self, elem: ET.Element) -> tuple[Any, dict[str, Any]]:
        ref: Any = None
        props: dict[str, Any] = {}
        for child in elem:
            tag = self._tag(child)
            if tag == "obj":
                ref = self.moref(child)
            elif tag == "propSet":
                path = None
                val: Any = None
                for part in child:
                    ptag = self._tag(part)
                    if ptag == "name":
                        path = part.text or ""
                    elif ptag == "val":
                        val = self._property_value(part)
                if path is None:
                    raise Unsupported("propSet without a name")
                props[path] = val
            elif tag == "missingSet":
                # pyVmomi reads the fault; the collector decides what it means.
                raise Unsupported("missingSet")
            else:
                raise Unsupported(tag)
        if ref is None:
            raise Unsupported("objects without obj")
        return ref, props

    def _property_value(self, elem: ET.Element) -> Any:
        """``value(elem, object)``, with the common cases (a string, a number, a
        reference) decided once per ``xsi:type`` per answer: most of a light
        pass is one such value per property."""
        xsi = elem.get(XSI_TYPE) or ""
        fast = self._by_xsi.get(xsi)
        if fast is None:
            typ = self.lookup(xsi) if xsi else object
            fast = self._by_xsi[xsi] = (self._kind(typ) if typ is not object else "", typ)
        kind, typ = fast
        if kind == "primitive":
            return self.primitive(elem.text or "", typ)
        if kind == "moref":
            return self.moref(elem)  # its class from its own type attribute
        return self.value(elem, object)

    def lookup(self, qname: str) -> Any:
        """The pyVmomi type of an ``xsi:type`` value such as ``xsd:string`` or ``ArrayOfX``."""
        typ = self._types.get(qname)
        if typ is None:
            prefix, _, name = qname.rpartition(":")
            ns = self.prefixes.get(prefix, self.ns) if prefix else self.ns
            if ns.startswith("urn:"):
                ns = self.ns  # pyVmomi files every vim type under the stub's namespace
            try:
                typ = VmomiSupport.GetWsdlType(ns, name)
            except KeyError:
                # As pyVmomi's LookupWsdlType: (ArrayOf)ManagedObjectReference
                # is vmodl's (ArrayOf)ManagedObject; anything else is guessed.
                try:
                    if name.endswith("ManagedObjectReference"):
                        typ = VmomiSupport.GetWsdlType(VmomiSupport.XMLNS_VMODL_BASE,
                                                       name[:-len("Reference")])
                    else:
                        typ = VmomiSupport.GuessWsdlType(name)
                except KeyError:
                    raise Unsupported(qname) from None
            self._types[qname] = typ
        return typ

    def moref(self, elem: ET.Element) -> Any:
        kind = elem.get("type") or ""
        moid = elem.text or ""
        # One object per reference per answer: 5,000 VMs name a few hundred
        # parents and hosts, and a reference is a value (equal by type and moid).
        if elem.get("serverGuid") is not None:
            raise Unsupported("serverGuid")  # pyVmomi's rules for it are subtle
        ref = self._refs.get((kind, moid))
        if ref is None:
            ref = self._refs[kind, moid] = self.lookup(kind)(moid, self.stub)
        return ref

    def value(self, elem: ET.Element, declared: Any) -> Any:
        xsi = elem.get(XSI_TYPE)
        typ: Any = declared
        if xsi:
            dyn = self.lookup(xsi)
            # As pyVmomi: the dynamic type wins unless both are arrays.
            if not (issubclass(dyn, list) and isinstance(declared, type)
                    and issubclass(declared, list)):
                typ = dyn
        elif isinstance(declared, type) and issubclass(declared, list):
            array: Any = declared  # pyVmomi's array types carry their Item type
            typ = array.Item
        if typ is object:
            raise Unsupported("untyped value")
        kind = self._kind(typ)
        if kind == "primitive":
            return self.primitive(elem.text or "", typ)
        if kind == "moref":
            return self.moref(elem)
        if kind == "list":
            out = typ()
            for child in elem:
                out.append(self.value(child, typ.Item))
            return out
        if kind == "fault":
            raise Unsupported("fault value")
        return self.data_object(elem, typ)

    def data_object(self, elem: ET.Element, typ: Any) -> Any:
        obj = typ()
        for child in elem:
            name = self._tag(child)
            try:
                info = typ._GetPropertyInfo(name)
            except AttributeError:
                raise Unsupported(f"{typ.__name__}.{name}") from None
            val = self.value(child, info.type)
            if not isinstance(val, list) and issubclass(info.type, list):
                getattr(obj, info.name).append(val)
            else:
                setattr(obj, info.name, val)
        return obj

    def primitive(self, data: str, typ: Any) -> Any:
        # The same conversions as pyVmomi's SoapDeserializer.EndElementHandler.
        if typ is str:
            return data
        if typ is bool:
            if data == "0" or data.lower() == "false":
                return False
            if data == "1" or data.lower() == "true":
                return True
            raise Unsupported(f"boolean {data!r}")
        if typ is datetime:
            parsed = VmomiSupport.Iso8601.ParseISO8601(data)
            if not parsed:
                raise Unsupported(f"datetime {data!r}")
            return parsed
        if issubclass(typ, VmomiSupport.Enum):
            return getattr(typ, data)
        if typ in (type, VmomiSupport.ManagedMethod, VmomiSupport.binary):
            raise Unsupported(typ.__name__)
        return typ(data)


def pyvmomi_result(body: bytes, stub: Any, result_type: Any) -> Any:
    """The same answer deserialized by pyVmomi, as its InvokeMethod does."""
    deser: Any = SoapAdapter.SoapResponseDeserializer(stub)
    return deser.Deserialize(io.BytesIO(body), result_type)


def pages_of(result: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(ref, {path: value})`` of a pyVmomi RetrieveResult's objects."""
    for oc in getattr(result, "objects", None) or ():
        yield oc.obj, {p.name: p.val for p in oc.propSet or ()}


__all__ = ["Unsupported", "pages_of", "parse_retrieve_contents", "parse_retrieve_result",
           "pyvmomi_result"]
