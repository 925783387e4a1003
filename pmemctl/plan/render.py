"""A plan for humans (rich tables) and for machines (stable JSON).

The caller passes the console: ``Console(markup=False, highlight=False)``,
because VM and datastore names may contain ``[``. Styles only add colour;
with ``NO_COLOR`` and a fixed width the text is stable enough for tests to
compare exactly. Layout, top to bottom: one table per VM, the PMem per host,
warnings, the summary line, then the problems, last so they stay in view.

A plan over more than :data:`FOLD_VMS` VMs is folded into one table: the
summary line first (the changes scroll past), then every change in one
table whose first column names the VM on its first row, with a blank line
between VMs. A rich Table per VM costs a layout pass each, and even one rich
Table of 2,000 rows took twice as long as ``--output json``; the folded table
is a :class:`~pmemctl.plan.grid.Grid`, one pass over its cells.
"""

from __future__ import annotations

import json

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pmemctl.plan.grid import Grid
from pmemctl.plan.model import Change, HostPmem, Plan
from pmemctl.units import format_mb

DISRUPTIVE_MARK = "!"
BLOCKED = "BLOCKED"  # the status a blocked VM shows in its rows, greppable in a log
BLOCKED_MARK = "✗"
# Above this many VMs the plan is one folded table (see the module docstring).
FOLD_VMS = 20


def render_plan(plan: Plan, console: Console) -> None:
    """Print ``plan`` to ``console``: changes per VM, PMem per host, summary, problems.

    Side Effects:
        Writes to ``console``.
    """
    groups = _by_vm(plan.changes)
    blocked = blocked_vms(plan)
    groups = _with_blocked(groups, plan)
    if len(groups) > FOLD_VMS:
        console.print(Text(summary_line(plan), style="bold"), soft_wrap=True)
        console.print()
        console.print(_folded_table(groups, blocked, plan))
        console.print()
    else:
        for vm, changes in groups:
            heading = f"VM {vm}{_host_of(vm, changes, plan)}{_status(vm, plan, blocked)}"
            console.print(Text(heading, style="bold red" if vm in blocked else "bold"),
                          soft_wrap=True)
            console.print(_changes_table(changes, blocked.get(vm, ()), _runs(plan)))
            console.print()
    if plan.hosts and plan.changes:  # "No changes" needs no PMem table
        console.print(Text("PMem per host", style="bold"))
        console.print(_hosts_table(plan.hosts))
        console.print()
    for warning in plan.warnings:
        console.print(Text(f"Warning: {warning}", style="yellow"), soft_wrap=True)
    if plan.warnings:
        console.print()
    if len(groups) <= FOLD_VMS:  # a folded plan had its summary first
        console.print(Text(summary_line(plan), style="bold"), soft_wrap=True)
    if plan.problems:
        count = _count(len(plan.problems), "problem")
        console.print(
            Text(f"Blocked by {count}; apply will refuse this plan:", style="red"), soft_wrap=True
        )
        for problem in plan.problems:
            # One logical line per problem: easy to grep, and the terminal wraps it.
            console.print(Text(f"Error: {problem.message}", style="red"), soft_wrap=True)
        free = sorted({c.vm for c in plan.changes} - set(blocked))
        if free and all(p.vms for p in plan.problems):
            console.print(f"Hint: --skip-blocked (options.skip_blocked) applies the "
                          f"{_count(len(free), 'VM')} without problems and lists the blocked.",
                          soft_wrap=True)
    if plan.skipped:
        count = _count(len(plan.skipped), "blocked VM")
        console.print(Text(f"Skipped {count}; apply leaves them untouched and exits 1:",
                           style="red"), soft_wrap=True)
        for skip in plan.skipped:
            for reason in skip.reasons:
                console.print(Text(f"Skipped: {skip.vm}: {reason}", style="red"), soft_wrap=True)


def summary_line(plan: Plan) -> str:
    """The terraform-style one-liner: ``Plan: 3 changes for 2 VMs (1 disruptive). PMem: …``."""
    if plan.empty:
        if plan.blocked:
            return "No changes planned."
        if plan.skipped:
            return "No changes planned." + _skipped_note(plan)
        return "No changes. The estate matches the spec."
    vms = len({c.vm for c in plan.changes})
    disruptive = sum(c.disruptive for c in plan.changes)
    line = f"Plan: {_count(len(plan.changes), 'change')} for {_count(vms, 'VM')}"
    line += f" ({disruptive} disruptive)." if disruptive else "."
    moved = [h for h in plan.hosts if h.free_mb_before != h.free_mb_after]
    if moved:
        line += (
            " PMem: "
            + ", ".join(
                f"{h.name} {format_mb(h.free_mb_before)} → {format_mb(h.free_mb_after)} free"
                for h in moved
            )
            + "."
        )
    return line + _skipped_note(plan)


def plan_to_json(plan: Plan) -> str:
    """``plan`` as pretty JSON with sorted keys (the ``--output json`` contract)."""
    return json.dumps(plan.to_json(), indent=2, sort_keys=True, ensure_ascii=False)


# --------------------------------------------------------------------------- helpers


def _by_vm(changes: tuple[Change, ...]) -> list[tuple[str, list[Change]]]:
    """Changes grouped by VM, in plan order (the planner sorts VMs by name)."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.vm, []).append(change)
    return list(groups.items())


def _table(*headers: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        # fold, never "…": datastore names in before/after are copied into specs.
        table.add_column(header, overflow="fold")
    return table


def _cells(c: Change) -> tuple[str, ...]:
    """One change's cells, the same in the per-VM and the folded table."""
    return (c.action.symbol, c.action.value, c.target, f"{_side(c.before)} → {_side(c.after)}",
            DISRUPTIVE_MARK if c.disruptive else "", c.reason)


def _changes_table(changes: list[Change], reasons: tuple[str, ...] = (),
                   runs: frozenset[int] = frozenset()) -> Table:
    table = _table("", "Action", "Target", "Before → After", DISRUPTIVE_MARK, "Reason")
    for cells, style in _rows(changes, reasons, runs):
        table.add_row(*cells, style=style)
    return table


def _folded_table(groups: list[tuple[str, list[Change]]],
                  blocked: dict[str, tuple[str, ...]], plan: Plan) -> Grid:
    """Every VM's changes in one table; the VM (and host) on the first row of each."""
    # A Grid, not a rich Table: one pass over the cells (see pmemctl.plan.grid).
    # It has no row styles: a blocked VM is told by its BLOCKED rows alone.
    table = Grid("VM (host)", "", "Action", "Target", "Before → After", DISRUPTIVE_MARK, "Reason")
    runs = _runs(plan)
    for vm, changes in groups:
        rows = _rows(changes, blocked.get(vm, ()), runs)
        host = _host_name(vm, changes, plan) or "?"
        for i, (cells, _style) in enumerate(rows):
            table.add_row(f"{vm} ({host})" if i == 0 else "", *cells,
                          end_section=i == len(rows) - 1)
    return table


# --------------------------------------------------------------------------- blocked VMs


def blocked_vms(plan: Plan) -> dict[str, tuple[str, ...]]:
    """The reasons each blocked VM is blocked: its problems, or why it was skipped.

    A problem counts for every VM it involves (``Problem.vms``: all the
    takers of a pool that runs dry), so no VM in a blocked plan looks healthy.
    """
    reasons: dict[str, list[str]] = {}
    for problem in plan.problems:
        for vm in problem.vms:
            reasons.setdefault(vm, []).append(problem.message)
    for skip in plan.skipped:
        reasons.setdefault(skip.vm, []).extend(skip.reasons)
    return {vm: tuple(dict.fromkeys(rs)) for vm, rs in reasons.items()}


def _with_blocked(groups: list[tuple[str, list[Change]]],
                  plan: Plan) -> list[tuple[str, list[Change]]]:
    """Groups for every blocked VM too: a skipped VM with what it would have had,
    a VM with problems and no change with no rows but its reasons; sorted by VM."""
    if not groups and not plan.skipped:
        return groups  # no table at all: the problems below say it all
    have = {vm for vm, _ in groups}
    # A skipped VM may still have a change that runs (a power-on a killed run owes it):
    # what it would have had comes first, shown as not run.
    would = {s.vm: s.changes for s in plan.skipped}
    groups = [(vm, [*would.get(vm, ()), *changes]) for vm, changes in groups]
    extra = [(s.vm, list(s.changes)) for s in plan.skipped if s.vm not in have]
    extra += [(vm, []) for vm in blocked_vms(plan)
              if vm not in have and vm not in {s.vm for s in plan.skipped}]
    if not extra:
        return groups
    return sorted(groups + extra, key=lambda g: g[0])


def _rows(changes: list[Change], reasons: tuple[str, ...],
          runs: frozenset[int] = frozenset()) -> list[tuple[tuple[str, ...], str | None]]:
    """A VM's rows: its changes, then one BLOCKED row per reason.

    A blocked VM's changes are dimmed, except those in ``runs`` (ids of
    changes apply still runs).
    """
    rows: list[tuple[tuple[str, ...], str | None]] = [
        (_cells(c), "dim" if reasons and id(c) not in runs else None) for c in changes]
    rows += [((BLOCKED_MARK, BLOCKED, "", "", "", reason), "red") for reason in reasons]
    return rows


def _runs(plan: Plan) -> frozenset[int]:
    """Ids of the changes apply runs: none of a blocked plan, all of any other."""
    return frozenset() if plan.blocked else frozenset(id(c) for c in plan.changes)


def _status(vm: str, plan: Plan, blocked: dict[str, tuple[str, ...]]) -> str:
    if any(s.vm == vm for s in plan.skipped):
        runs = [f"{c.action.value} {c.target}" for c in plan.changes if c.vm == vm]
        if runs:
            return f": {BLOCKED}, skipped (apply runs only: {', '.join(runs)})"
        return f": {BLOCKED}, skipped (apply leaves it untouched)"
    if vm in blocked:
        return f": {BLOCKED}"
    return ""


def _host_name(vm: str, changes: list[Change], plan: Plan) -> str:
    """The VM's host from its changes, or from its skipped entry; "" when unknown."""
    host = next((c.host for c in changes if c.host), "")
    return host or next((s.host for s in plan.skipped if s.vm == vm and s.host), "")


def _host_of(vm: str, changes: list[Change], plan: Plan) -> str:
    """`` (host NAME)``; `` (host ?)`` for changes without one; "" for a VM with no rows."""
    host = _host_name(vm, changes, plan)
    if not host and not changes:
        return ""  # a VM blocked before it had any change: the problem says where
    return f" (host {host or '?'})"


def _skipped_note(plan: Plan) -> str:
    if not plan.skipped:
        return ""
    return (f" Skipped {_count(len(plan.skipped), 'blocked VM')}: "
            + ", ".join(s.vm for s in plan.skipped) + ".")


def _hosts_table(hosts: tuple[HostPmem, ...]) -> Table:
    table = _table("Host", "Capacity", "Free before", "Free after")
    for h in hosts:
        table.add_row(
            h.name, format_mb(h.capacity_mb), _mib(h.free_mb_before), _mib(h.free_mb_after)
        )
    return table


def _side(value: str | None) -> str:
    return "none" if value is None else value


def _mib(mb: int) -> str:
    return f"{format_mb(mb)} ({mb} MiB)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
