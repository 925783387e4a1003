"""Paged PropertyCollector reads: the one place that follows continuation tokens."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from pyVmomi import vim, vmodl

from pmemctl.vsphere import wire
from pmemctl.vsphere.session import raw_call, stub_of

# One page of RetrievePropertiesEx. vCenter caps pages on its own and hands
# back a token; asking for more just lets a server that can send more do so.
MAX_OBJECTS = 10_000
# Pages are read by pmemctl.vsphere.wire; False sends every page through
# pyVmomi's deserializer instead (the equivalence tests compare the two).
STREAMING = True

_PC: Any = vmodl.query.PropertyCollector  # pyVmomi's stubs leave its constructors untyped


def retrieve(
    property_collector: Any, specs: Sequence[Any], max_objects: int = MAX_OBJECTS
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield ``(object ref, {path: value})`` over every page of ``specs``.

    vCenter answers a RetrievePropertiesEx from an ended session with no
    SOAP fault: each property comes back in ``missingSet`` with a
    ``NotAuthenticated`` fault (govmomi's vcsim does the same,
    ``simulator/property_collector.go``). Such an answer is raised as that
    fault, never read as objects without properties. Other missing
    properties (an object deleted meanwhile) are left out, as before.

    Side Effects:
        One RetrievePropertiesEx, plus one ContinueRetrievePropertiesEx per
        further page the server returns; a CancelRetrievePropertiesEx when
        the caller stops early, so vCenter can drop the rest of the result.

    Raises:
        vim.fault.NotAuthenticated: the session has ended.
    """
    options = _PC.RetrieveOptions(maxObjects=max_objects)
    objects, token = _page(property_collector, "RetrievePropertiesEx",
                           specSet=list(specs), options=options)
    try:
        while True:
            yield from objects
            if not token:
                break
            current, token = token, None
            objects, token = _page(property_collector, "ContinueRetrievePropertiesEx",
                                   token=current)
    except GeneratorExit:
        if token:
            with contextlib.suppress(Exception):  # best effort: the result expires anyway
                property_collector.CancelRetrievePropertiesEx(token=token)
        raise


def _page(pc: Any, method: str, **kwargs: Any) -> wire.Page:
    """One page, read by the streaming reader when it can, else by pyVmomi."""
    body = raw_call(pc, method, **kwargs) if STREAMING else None
    if body is None:
        result = getattr(pc, method)(**kwargs)
        return _checked(result)
    try:
        return wire.parse_retrieve_result(body, stub_of(pc))
    except wire.Unsupported:
        # missingSet, or a type the reader does not know: pyVmomi reads the
        # same bytes, so the page (and any fault in it) is exactly pyVmomi's.
        info = type(pc)._GetMethodInfo(method)
        return _checked(wire.pyvmomi_result(body, stub_of(pc), info.result))


def _checked(result: Any) -> wire.Page:
    if result is None:
        return [], None
    for oc in result.objects or ():
        _raise_unauthenticated(oc)
    return list(wire.pages_of(result)), result.token or None


def _raise_unauthenticated(oc: Any) -> None:
    for missing in oc.missingSet or ():
        fault = getattr(missing, "fault", None)
        inner = getattr(fault, "fault", fault)  # LocalizedMethodFault wraps the fault
        if isinstance(inner, vim.fault.NotAuthenticated):
            raise inner
