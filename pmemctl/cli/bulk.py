"""The ``--skip-blocked`` option, shared by ``plan`` and ``apply``, its JSON error, and the
exit code of a plan shown (``plan``, ``show``, ``apply``, ``drain``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pmemctl.cli.app import App
    from pmemctl.plan.model import Plan

F = TypeVar("F", bound=Callable[..., Any])
#: The error code (``--output json``) of a plan or apply that skipped blocked VMs.
SKIPPED = "skipped"


def skip_blocked_option(f: F) -> F:
    """Add ``--skip-blocked`` (the spec's ``options.skip_blocked``)."""
    return click.option(
        "--skip-blocked",
        is_flag=True,
        default=False,
        help="Plan and apply the VMs that have no problem; list the blocked ones with their "
             "reasons and leave them untouched (exit 1). Same as options.skip_blocked.",
    )(f)


def skipped_document(plan: Plan) -> dict[str, Any]:
    """The ``--output json`` error object of a run that skipped blocked VMs (exit 1).

    ``code`` is ``skipped``; ``skipped`` lists ``{"vm", "host", "reasons"}``.
    """
    from pmemctl.apply.bulk import skipped_json
    from pmemctl.cli.errjson import error_document
    from pmemctl.errors import ExitCode

    n = len(plan.skipped)
    return error_document(
        SKIPPED, f"{n} blocked VM{'s' if n != 1 else ''} skipped, left untouched: "
        + ", ".join(s.vm for s in plan.skipped), ExitCode.ERROR, skipped=skipped_json(plan))


def plan_exit(app: App, plan: Plan, *, detailed: bool = False) -> int:
    """The exit code of a plan that was shown, its ``--output json`` error object written.

    1 when it is blocked (``blocked``, every problem) or skipped blocked VMs
    (``skipped``: CI must notice work not done); with ``detailed``
    (``--detailed-exitcode``) 2 when it has changes; else 0.
    """
    from pmemctl.cli.errjson import blocked_document
    from pmemctl.errors import ExitCode

    if plan.blocked:
        app.error_json(blocked_document([(p.vm, p.message) for p in plan.problems],
                                        [p.vms for p in plan.problems]))
        return ExitCode.ERROR
    if plan.skipped:
        app.error_json(skipped_document(plan))
        return ExitCode.ERROR
    if detailed and not plan.empty:
        return ExitCode.CHANGES
    return ExitCode.OK
