"""pmemctl: declarative vSphere Persistent Memory management.

The package is a library first; :mod:`pmemctl.cli` is a thin Click shell over it.
The public API is what :mod:`pmemctl.api` exports, re-exported here::

    import pmemctl

    with pmemctl.connect(context="vc01") as session:
        plan = session.plan(pmemctl.load_spec("spec.yaml"))

Its stability promise is in :mod:`pmemctl.api`; everything else is internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pmemctl.api import (
        ApplyResult,
        Event,
        Inventory,
        Plan,
        PlanBlocked,
        PmemctlError,
        Session,
        Spec,
        SpecError,
        StalePlanError,
        UsageError,
        connect,
        load_spec,
        make_plan,
        resolve,
    )

__all__ = [
    "ApplyResult",
    "Event",
    "Inventory",
    "Plan",
    "PlanBlocked",
    "PmemctlError",
    "Session",
    "Spec",
    "SpecError",
    "StalePlanError",
    "UsageError",
    "__version__",
    "connect",
    "load_spec",
    "make_plan",
    "resolve",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use (PEP 562): `pmemctl --help` and every module that
    # reads __version__ must not pay for the API's imports.
    if name in __all__:
        from pmemctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'pmemctl' has no attribute {name!r}")
