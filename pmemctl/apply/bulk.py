"""``--skip-blocked`` for apply: which source to plan, and how a run with skipped VMs ends.

The planner decides which VMs are skipped (:mod:`pmemctl.plan.skip`); here
the flag is put into the source apply plans from, and the skipped VMs are
turned into the lines and JSON the end of a run shows. A run that skipped
a VM exits 1 even when every change it ran is done, so CI notices.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pmemctl.apply.run import ApplySource
from pmemctl.errors import UsageError
from pmemctl.plan.model import Plan

__all__ = ["skip_blocked_source", "skipped_json", "skipped_lines"]


def skip_blocked_source(source: ApplySource) -> ApplySource:
    """``source`` planned with ``skip_blocked`` on (the ``--skip-blocked`` flag).

    A saved plan was planned when it was saved: it keeps its own skipped
    VMs. One saved blocked without the option cannot be skipped now.

    Raises:
        UsageError: ``source`` is a saved plan that is blocked and was not
            made with skip_blocked (nothing is read from vCenter).
    """
    if source.saved is not None:
        saved = source.saved
        if saved.plan.blocked and not saved.options.skip_blocked:
            raise UsageError(
                f"{source.path} is a saved plan made without --skip-blocked and it is blocked; "
                "a saved plan cannot skip VMs afterwards: run `pmemctl plan "
                f"{saved.spec_path} --skip-blocked --out {source.path}` and apply that")
        return source
    assert source.spec is not None
    options = replace(source.spec.options, skip_blocked=True)
    return replace(source, options=options, spec=replace(source.spec, options=options))


def skipped_lines(plan: Plan) -> list[str]:
    """The end of a run's report: every skipped VM and why (nothing when none was)."""
    if not plan.skipped:
        return []
    n = len(plan.skipped)
    lines = [f"Skipped {n} blocked VM{'s' if n > 1 else ''}, left untouched: "
             + ", ".join(s.vm for s in plan.skipped) + " (exit 1)."]
    lines += [f"  {s.vm}: {reason}" for s in plan.skipped for reason in s.reasons]
    return lines


def skipped_json(plan: Plan) -> list[dict[str, Any]]:
    """The summary's ``skipped`` key: ``[{"vm", "host", "reasons"}]``."""
    return [{"vm": s.vm, "host": s.host, "reasons": list(s.reasons)} for s in plan.skipped]
