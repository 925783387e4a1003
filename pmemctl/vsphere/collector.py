"""PropertyCollector reads: the one place that follows continuation tokens.

Two kinds of read:

* :func:`retrieve`, paged: RetrievePropertiesEx and a
  ContinueRetrievePropertiesEx per further page. vCenter caps a page at 100
  objects when ``maxObjects`` is unset (four public reports up to vSphere
  8.0, ../shared/reference/real-vcenter.md row 10), so 5,000 VMs are 50 round
  trips.
* :func:`retrieve_unpaged`: one RetrieveProperties, which has no paging in
  its API and answers with every object. It is deprecated since vSphere 4.1
  but still served, and it is what real clients send over whole estates:
  govmomi's ``property.Collector.Retrieve`` (so every ``govc find``/``ls``)
  until 2024 (govmomi PR #3408), pyVmomi's ``RetrieveContents`` as the
  pyvmomi-community-samples ``tools/pchelper.py`` and Apache libcloud's
  vSphere driver (``libcloud/compute/drivers/vsphere.py``, ``list_nodes``)
  use it. pmemctl uses it only for the light pass (a few small properties
  per object), where paging cost ~50 round trips for nothing, and falls back
  to the paged read when a vCenter does not serve it
  (``MethodNotFound``/``NotSupported``/``NotImplemented``), or when
  ``PMEMCTL_PAGED_READS=1`` asks for paged reads only.
"""

from __future__ import annotations

import contextlib
import os
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


def paged_only() -> bool:
    """True when ``PMEMCTL_PAGED_READS`` asks for RetrievePropertiesEx only."""
    return os.environ.get("PMEMCTL_PAGED_READS", "").strip().lower() in ("1", "true", "yes")


# The faults a vCenter that no longer serves RetrieveProperties would answer with.
_NOT_SERVED = (vmodl.fault.MethodNotFound, vmodl.fault.NotSupported, vmodl.fault.NotImplemented)


def retrieve_unpaged(
    property_collector: Any, specs: Sequence[Any]
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield ``(object ref, {path: value})`` of ``specs`` from ONE RetrieveProperties.

    The same values and the same ended-session rule as :func:`retrieve`; a
    vCenter that does not serve the call (or ``PMEMCTL_PAGED_READS=1``) gets
    the paged read instead.

    Side Effects:
        One RetrieveProperties; or, when refused, what :func:`retrieve` sends.

    Raises:
        vim.fault.NotAuthenticated: the session has ended.
    """
    if paged_only():
        yield from retrieve(property_collector, specs)
        return
    try:
        objects = _contents(property_collector, list(specs))
    except _NOT_SERVED:
        yield from retrieve(property_collector, specs)
        return
    yield from objects


def _contents(pc: Any, specs: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    # pyVmomi names RetrieveProperties "RetrieveContents".
    body = raw_call(pc, "RetrieveContents", specSet=specs) if STREAMING else None
    if body is None:
        return _checked_contents(pc.RetrieveContents(specSet=specs))
    try:
        return wire.parse_retrieve_contents(body, stub_of(pc))
    except wire.Unsupported:
        info = type(pc)._GetMethodInfo("RetrieveContents")
        return _checked_contents(wire.pyvmomi_result(body, stub_of(pc), info.result))


def _checked_contents(result: Any) -> list[tuple[Any, dict[str, Any]]]:
    contents = list(result or ())
    for oc in contents:
        _raise_unauthenticated(oc)
    return [(oc.obj, {p.name: p.val for p in oc.propSet or ()}) for oc in contents]


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
