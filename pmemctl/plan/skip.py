"""``skip_blocked``: plan the VMs that have no problem, and list the others.

Pure, like the planner it drives: ``plan_of(excluded)`` is the planner run
with the VMs in ``excluded`` left out (their changes, their PMem, their
problems), so capacity is counted again without them. The loop:

1. plan with nothing left out;
2. every problem that names a VM to drop (``Problem.vm``; for a
   vCenter-wide problem with no ``vm``, every VM in ``Problem.vms``) drops
   that VM, with the problem's message as a reason;
3. plan again without the dropped VMs, until a plan has no such problem.

A pool that runs dry names the VM whose change first overran it as ``vm``,
so the VMs before it (in plan order: by name) keep their PMem and only the
overrunning VM is dropped; the next round decides whether a later VM now
fits. Pools are judged only in a round where no VM has a problem of its
own, so a pool's message counts only VMs that could otherwise run. That
is first-fit in plan order, not the largest set of VMs that fits: a guess
at what an admin expects (the order is the one the plan shows), and it
keeps the outcome easy to predict.

A problem about no VM at all (a ``match`` that selects nothing, a named VM
that does not exist) cannot be skipped: the plan stays blocked, because
skipping a typo would hide it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pmemctl.plan.model import Change, Plan, Problem, Skipped

__all__ = ["skip_blocked"]


def skip_blocked(plan_of: Callable[[frozenset[str]], Plan],
                 host_of: Callable[[str], str]) -> Plan:
    """The plan of the VMs without problems, with the others in ``Plan.skipped``.

    ``plan_of(excluded)`` plans without the VMs in ``excluded``; ``host_of``
    names a VM's host (for a skipped VM that had no change to name it).
    The result's ``problems`` are only those that no skipping clears.
    """
    reasons: dict[str, list[str]] = {}
    would: dict[str, tuple[Change, ...]] = {}
    while True:
        plan = plan_of(frozenset(reasons))
        # A VM's own problems first; a shared pool is judged once they are gone,
        # so its message counts only VMs that are otherwise fine.
        own = [p for p in plan.problems if p.vm is None or p.vms == (p.vm,)]
        shared = [p for p in plan.problems if p not in own]
        drop: dict[str, list[str]] = {}
        for problem in own if any(_to_drop(p, reasons) for p in own) else shared:
            for vm in _to_drop(problem, reasons):
                if problem.message not in drop.get(vm, []):
                    drop.setdefault(vm, []).append(problem.message)
        if not drop:
            break
        for vm, messages in drop.items():
            reasons[vm] = messages
            would[vm] = tuple(c for c in plan.changes if c.vm == vm)
    skipped = tuple(
        Skipped(vm=vm, reasons=tuple(reasons[vm]),
                host=next((c.host for c in would[vm] if c.host), "") or host_of(vm),
                changes=would[vm])
        for vm in sorted(reasons)
    )
    return replace(plan, skipped=skipped)


def _to_drop(problem: Problem, dropped: dict[str, list[str]]) -> tuple[str, ...]:
    """The VMs skipping would drop for ``problem`` (none already dropped)."""
    vms = (problem.vm,) if problem.vm is not None else problem.vms
    return tuple(vm for vm in vms if vm not in dropped)
