"""Paged PropertyCollector reads: the one place that follows continuation tokens."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from pyVmomi import vim, vmodl

# One page of RetrievePropertiesEx. vCenter caps pages on its own and hands
# back a token; asking for more just lets a server that can send more do so.
MAX_OBJECTS = 10_000

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
    result = property_collector.RetrievePropertiesEx(specSet=list(specs), options=options)
    token = None
    try:
        while result is not None:
            token = result.token
            for oc in result.objects or ():
                _raise_unauthenticated(oc)
                yield oc.obj, {p.name: p.val for p in oc.propSet or ()}
            if not token:
                break
            result = property_collector.ContinueRetrievePropertiesEx(token=token)
            token = None
    except GeneratorExit:
        if token:
            with contextlib.suppress(Exception):  # best effort: the result expires anyway
                property_collector.CancelRetrievePropertiesEx(token=token)
        raise


def _raise_unauthenticated(oc: Any) -> None:
    for missing in oc.missingSet or ():
        fault = getattr(missing, "fault", None)
        inner = getattr(fault, "fault", fault)  # LocalizedMethodFault wraps the fault
        if isinstance(inner, vim.fault.NotAuthenticated):
            raise inner
