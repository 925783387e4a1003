"""Errors as JSON for ``--output json``: one object on stderr with a stable ``code``.

::

    {"error": {"code": "unreachable", "message": "cannot reach vCenter at …", "exit_code": 1}}

``code`` comes from the exception class (:mod:`pmemctl.errors`, where every
class names its own); the README's "Error codes" table lists them. A script
branches on ``code`` and shows ``message``; the other keys depend on the code
(``problems`` for ``spec_invalid`` and ``blocked``, ``method`` and ``cause``
for ``unreachable`` during a call, ``type`` for ``internal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from pmemctl.errors import Diagnostic, ExitCode, PmemctlError, SpecError

#: Codes for what is not a PmemctlError.
USAGE = "usage"
INTERRUPTED = "interrupted"
INTERNAL = "internal"
BLOCKED = "blocked"


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """One located problem: ``col`` as the issue asked, ``column`` as ``validate`` always had."""
    return {"file": d.file, "line": d.line, "col": d.column, "column": d.column,
            "message": d.message}


def error_document(code: str, message: str, exit_code: int, **extra: Any) -> dict[str, Any]:
    """The ``{"error": {...}}`` object; ``extra`` keys follow the three fixed ones."""
    return {"error": {"code": code, "message": message, "exit_code": exit_code, **extra}}


def exception_document(e: BaseException, exit_code: int) -> dict[str, Any]:
    """The error object for an exception that ends a command with ``exit_code``."""
    if isinstance(e, click.exceptions.NoArgsIsHelpError):
        return error_document(USAGE, "missing command or arguments; see --help", exit_code)
    if isinstance(e, click.ClickException):
        # click.UsageError and friends; an Abort is not a ClickException.
        return error_document(USAGE if isinstance(e, click.UsageError) else "error",
                              e.format_message(), exit_code)
    if isinstance(e, click.exceptions.Abort):
        return error_document(INTERRUPTED, "Aborted.", exit_code)
    if isinstance(e, SpecError):
        files = len({d.file for d in e.diagnostics})
        n = len(e.diagnostics)
        return error_document(
            e.code, f"{n} {'problem' if n == 1 else 'problems'} in {files} file(s)", exit_code,
            problems=[diagnostic_json(d) for d in e.diagnostics])
    if isinstance(e, PmemctlError):
        extra = {}
        for key in ("method", "cause"):  # a NetworkError's: which call, what happened
            value = getattr(e, key, None)
            if isinstance(value, str):
                extra[key] = value
        message = str(e)
        if getattr(e, "complete", True) is False:
            # As the text road says it (App._report): a NetworkError outside the executor.
            message += ("; no change was submitted after it: run the command again when "
                        "vCenter answers (apply resumes from its journal)")
        return error_document(e.code, message, exit_code, **extra)
    if isinstance(e, KeyboardInterrupt):
        return error_document(INTERRUPTED, "Interrupted.", ExitCode.INTERRUPTED)
    return error_document(INTERNAL, f"Internal error (a bug in pmemctl; set PMEMCTL_DEBUG=1 "
                          f"for the traceback): {type(e).__name__}: {e}", exit_code,
                          type=type(e).__name__)


def blocked_document(problems: Sequence[tuple[str | None, str]],
                     vms: Sequence[Sequence[str]] | None = None) -> dict[str, Any]:
    """The error object of a blocked plan (exit 1): every problem, with its VM.

    ``vms`` (one list per problem) adds each problem's ``vms``, as the plan has it.
    """
    n = len(problems)
    items: list[dict[str, Any]] = [{"vm": vm, "message": m} for vm, m in problems]
    for item, names in zip(items, vms or (), strict=False):
        item["vms"] = list(names)
    return error_document(
        BLOCKED, f"the plan is blocked by {n} {'problem' if n == 1 else 'problems'}",
        ExitCode.ERROR, problems=items)


def wants_json(args: Sequence[str]) -> bool:
    """True when the command line asks for ``--output json`` (before Click parses it).

    Click's own parse errors (an unknown flag) happen before any option
    callback runs, so they are told from the raw arguments: ``-o json``,
    ``-ojson``, ``--output json``, ``--output=json``; nothing after ``--``.
    """
    prev = ""
    for arg in args:
        if arg == "--":
            break
        if arg in ("-ojson", "--output=json") or (prev in ("-o", "--output") and arg == "json"):
            return True
        prev = arg
    return False
