"""A plan as Markdown for a pull-request (or merge-request) comment.

Top to bottom: the summary line, the count of changes per action, the
problems that block the plan, the warnings, then one collapsed
``<details>`` section per VM with its changes, then PMem per host. The
summary and the blockers are what a reviewer needs first; the changes
are there for whoever opens them.

Big plans stay readable and never lose anything silently:

* every VM's section is folded; above :data:`FOLD_VMS` VMs all of them are
  folded once more into one section that says how many VMs and changes
  it holds;
* PMem per host lists the hosts whose free PMem changes; the others are
  counted in one line;
* a comment has a size limit (GitHub refuses bodies over 65,536
  characters: "Body is too long (maximum is 65536 characters)",
  google/go-github PR #440, telia-oss/github-pr-resource #259), so the
  text is kept within ``max_chars``: VM sections that do not fit are left
  out and a line says how many VMs and changes are not shown and where the
  whole plan is. The summary and the per-action counts always cover the
  whole plan.

Names come from the estate and may hold anything: they are escaped so
that ``|`` cannot break a table, ``<`` cannot open a tag, ``*`` or ``_``
cannot turn on emphasis, and ``@team`` or ``#12`` cannot mention a team or
link an issue (written as HTML entities; a guess that GitHub and GitLab do
not resolve mentions inside entities, not verified on either).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pmemctl.plan.model import ACTION_ORDER, Change, HostPmem, Plan
from pmemctl.plan.render import summary_line
from pmemctl.units import format_mb

#: GitHub's limit on a comment body, less room for what a workflow puts around it.
DEFAULT_MAX_CHARS = 60_000
#: Above this many VMs their sections are folded into one more section.
FOLD_VMS = 20
#: Marks the comment, so a workflow can find its earlier comment and update it.
MARKER = "<!-- pmemctl-plan -->"

# Markdown's inline punctuation that changes how text renders; "\" first.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# "#" first: the entity for "@" holds a "#".
_ENTITIES = {"#": "&#35;", "@": "&#64;"}


def md(text: str) -> str:
    """``text`` safe inside Markdown, on one line (a table cell, a list item)."""
    text = html.escape(text, quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    for char, entity in _ENTITIES.items():
        text = text.replace(char, entity)
    return " ".join(text.splitlines()) or " "


def _html(text: str) -> str:
    """``text`` inside an HTML tag (a ``<summary>``), where Markdown is not rendered."""
    text = html.escape(text, quote=True)
    for char, entity in _ENTITIES.items():
        text = text.replace(char, entity)
    return " ".join(text.splitlines())


@dataclass(frozen=True)
class Source:
    """Where the plan came from, for the heading (a saved plan's file, spec and date)."""

    title: str = "pmemctl plan"
    detail: str = ""
    #: What the reader runs to see the whole plan when some VMs are not shown.
    whole_plan: str = "the job's log (`pmemctl plan -o table`), or `pmemctl show PLANFILE`"


def plan_markdown(plan: Plan, *, max_chars: int = DEFAULT_MAX_CHARS,
                  source: Source | None = None) -> str:
    """``plan`` as one Markdown document of at most ``max_chars`` characters (0: no limit).

    The part that never shrinks (heading, summary, counts, the host table)
    is written first; problems, skipped VMs, warnings and VM sections fill
    what is left, in that order, and what does not fit is counted in the
    text. A limit below the part that never shrinks cannot be kept.
    """
    src = source or Source()
    groups = _by_vm(plan.changes)
    head = [MARKER, f"### {md(src.title)}", ""]
    if src.detail:
        head += [src.detail, ""]
    head += [f"**{md(summary_line(plan))}**", ""]
    if plan.changes:
        head += [_counts(plan.changes), ""]
    tail = _hosts(plan.hosts) if plan.changes else []
    fixed = _size(head) + _size(tail)
    limit = max_chars if max_chars > 0 else None
    # Room for the "not shown" lines; never below 0 (then only those lines and
    # the part that never shrinks are written).
    budget = None if limit is None else max(limit - fixed - 400, 0)

    problems, used = _problems(plan, None if budget is None else budget // 2)
    if budget is not None:
        budget -= used
    skipped, used = _skipped(plan, None if budget is None else budget // 2)
    if budget is not None:
        budget -= used
    warnings: list[str] = []
    if plan.warnings:
        warnings, used = _budgeted(f"**{_n(len(plan.warnings), 'warning')}:**",
                                   [f"- ⚠️ {md(w)}" for w in plan.warnings], "more warning",
                                   None if budget is None else budget // 2)
        if budget is not None:
            budget = max(budget - used, 0)
    vm_part = _vm_sections(groups, budget, src)
    return ("\n".join([*head, *problems, *skipped, *warnings, *vm_part, *tail]).rstrip("\n")
            + "\n")


# --------------------------------------------------------------------------- sections


def _skipped(plan: Plan, budget: int | None) -> tuple[list[str], int]:
    """The VMs ``--skip-blocked`` left out, each with its reasons; counted past ``budget``."""
    if not plan.skipped:
        return [], 0
    n = len(plan.skipped)
    head = f"⏭️ **Skipped {_n(n, 'blocked VM')}; apply leaves them untouched and exits 1:**"
    items = [f"- <code>{_html(skip.vm)}</code>: " + "; ".join(md(r) for r in skip.reasons)
             for skip in plan.skipped]
    return _budgeted(head, items, "more skipped VM", budget)


def _budgeted(head: str, items: list[str], more: str, budget: int | None,
              ) -> tuple[list[str], int]:
    """``head`` and as many ``items`` as fit in ``budget`` characters; the rest counted."""
    lines = [head, ""]
    used = _size(lines)
    shown = 0
    for line in items:
        if budget is not None and used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    if shown < len(items):
        lines.append(f"- … and {_n(len(items) - shown, more)} not shown here (comment size "
                     "limit): see the job's log or `pmemctl show PLANFILE`")
    lines.append("")
    return lines, _size(lines)


def _problems(plan: Plan, budget: int | None) -> tuple[list[str], int]:
    """The blockers as a list; those past ``budget`` characters counted, not dropped silently."""
    if not plan.problems:
        return [], 0
    n = len(plan.problems)
    head = f"⛔ **Blocked by {_n(n, 'problem')}; apply will refuse this plan:**"
    items = [f"- <code>{_html(p.vm)}</code>: {md(p.message)}" if p.vm else f"- {md(p.message)}"
             for p in plan.problems]
    return _budgeted(head, items, "more problem", budget)


def _vm_sections(groups: list[tuple[str, list[Change]]], budget: int | None,
                 src: Source) -> list[str]:
    if not groups:
        return []
    total_changes = sum(len(c) for _, c in groups)
    folded = len(groups) > FOLD_VMS
    out: list[str] = []
    if folded:
        out += [f"<details><summary><b>Changes for {_n(len(groups), 'VM')} "
                f"({_n(total_changes, 'change')})</b></summary>", ""]
    else:
        out += ["#### Changes per VM", ""]
    closing = ["</details>", ""] if folded else []
    used = _size(out) + _size(closing)
    shown_vms = shown_changes = 0
    for vm, changes in groups:
        section = _vm_section(vm, changes)
        size = _size(section)
        if budget is not None and used + size > budget:
            break
        out += section
        used += size
        shown_vms += 1
        shown_changes += len(changes)
    if shown_vms < len(groups):
        out += [f"**{_n(len(groups) - shown_vms, 'VM')} "
                f"({_n(total_changes - shown_changes, 'change')}) not shown here** "
                f"(a comment holds at most so much text; `--max-chars`): the whole plan is in "
                f"{src.whole_plan}.", ""]
    return out + closing


def _vm_section(vm: str, changes: list[Change]) -> list[str]:
    disruptive = sum(c.disruptive for c in changes)
    what = _n(len(changes), "change") + (f", {disruptive} disruptive" if disruptive else "")
    host = changes[0].host or "?"
    lines = [f"<details><summary><code>{_html(vm)}</code> (host {_html(host)}): "
             f"{what}</summary>", "",
             "| | Action | Target | Before → After | Disruptive | Reason |",
             "|---|---|---|---|---|---|"]
    for c in changes:
        lines.append(
            f"| {c.action.symbol} | {c.action.value} | {md(c.target)} | "
            f"{md(_side(c.before))} → {md(_side(c.after))} | {'yes' if c.disruptive else ''} | "
            f"{md(c.reason)} |")
    return [*lines, "", "</details>", ""]


def _hosts(hosts: Sequence[HostPmem]) -> list[str]:
    moved = [h for h in hosts if h.free_mb_before != h.free_mb_after]
    if not hosts:
        return []
    lines = ["#### PMem per host", ""]
    if moved:
        lines += ["| Host | Capacity | Free before | Free after |", "|---|---|---|---|"]
        lines += [f"| {md(h.name)} | {format_mb(h.capacity_mb)} | {_mib(h.free_mb_before)} | "
                  f"{_mib(h.free_mb_after)} |" for h in moved]
        lines.append("")
    rest = len(hosts) - len(moved)
    if rest:
        lines += [f"{_n(rest, 'other host')} in the plan: PMem free unchanged.", ""]
    return lines


def _counts(changes: Sequence[Change]) -> str:
    """``add_nvdimm × 3 · migrate_disk × 40``: the whole plan at a glance, in apply order."""
    counts = Counter(c.action for c in changes)
    order = sorted(counts, key=lambda a: (ACTION_ORDER[a], a.value))
    return " · ".join(f"`{a.value}` × {counts[a]}" for a in order)


# --------------------------------------------------------------------------- helpers


def _by_vm(changes: Sequence[Change]) -> list[tuple[str, list[Change]]]:
    groups: dict[str, list[Change]] = {}
    for c in changes:
        groups.setdefault(c.vm, []).append(c)
    return list(groups.items())


def _size(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _side(value: str | None) -> str:
    return "none" if value is None else value


def _mib(mb: int) -> str:
    return f"{format_mb(mb)} ({mb} MiB)"


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
