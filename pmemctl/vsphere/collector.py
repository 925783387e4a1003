"""Paged PropertyCollector reads: the one place that follows continuation tokens."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pyVmomi import vmodl

# One page of RetrievePropertiesEx. vCenter caps pages on its own and hands
# back a token; asking for more just lets a server that can send more do so.
MAX_OBJECTS = 10_000

_PC: Any = vmodl.query.PropertyCollector  # pyVmomi's stubs leave its constructors untyped


def retrieve(
    property_collector: Any, specs: Sequence[Any], max_objects: int = MAX_OBJECTS
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield ``(object ref, {path: value})`` over every page of ``specs``.

    Side Effects:
        One RetrievePropertiesEx, plus one ContinueRetrievePropertiesEx per
        further page the server returns.
    """
    options = _PC.RetrieveOptions(maxObjects=max_objects)
    result = property_collector.RetrievePropertiesEx(specSet=list(specs), options=options)
    while result is not None:
        for oc in result.objects or ():
            yield oc.obj, {p.name: p.val for p in oc.propSet or ()}
        if not result.token:
            break
        result = property_collector.ContinueRetrievePropertiesEx(token=result.token)
