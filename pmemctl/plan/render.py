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
# Above this many VMs the plan is one folded table (see the module docstring).
FOLD_VMS = 20


def render_plan(plan: Plan, console: Console) -> None:
    """Print ``plan`` to ``console``: changes per VM, PMem per host, summary, problems.

    Side Effects:
        Writes to ``console``.
    """
    groups = _by_vm(plan.changes)
    if len(groups) > FOLD_VMS:
        console.print(Text(summary_line(plan), style="bold"), soft_wrap=True)
        console.print()
        console.print(_folded_table(groups))
        console.print()
    else:
        for vm, changes in groups:
            heading = f"VM {vm} (host {changes[0].host or '?'})"
            console.print(Text(heading, style="bold"), soft_wrap=True)
            console.print(_changes_table(changes))
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


def summary_line(plan: Plan) -> str:
    """The terraform-style one-liner: ``Plan: 3 changes for 2 VMs (1 disruptive). PMem: …``."""
    if plan.empty:
        if plan.blocked:
            return "No changes planned."
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
    return line


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


def _changes_table(changes: list[Change]) -> Table:
    table = _table("", "Action", "Target", "Before → After", DISRUPTIVE_MARK, "Reason")
    for c in changes:
        table.add_row(*_cells(c))
    return table


def _folded_table(groups: list[tuple[str, list[Change]]]) -> Grid:
    """Every VM's changes in one table; the VM (and host) on the first row of each."""
    # A Grid, not a rich Table: one pass over the cells (see pmemctl.plan.grid).
    table = Grid("VM (host)", "", "Action", "Target", "Before → After", DISRUPTIVE_MARK, "Reason")
    for vm, changes in groups:
        for i, c in enumerate(changes):
            table.add_row(f"{vm} ({c.host or '?'})" if i == 0 else "", *_cells(c),
                          end_section=i == len(changes) - 1)
    return table


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
