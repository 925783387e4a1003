"""Errors raised by pmemctl, each with the process exit code it maps to.

::

    PmemctlError              exit 1
    ├─ UsageError             exit 64  bad flags or arguments (never 2: 2 means "changes pending")
    ├─ SpecError              exit 1   every problem in a spec, collected and raised once
    ├─ SessionError           exit 1   login, TLS, unreachable server, unsupported vCenter
    ├─ InventoryError         exit 1   object vanished or ambiguous between snapshot and apply
    ├─ StalePlanError         exit 1   a saved plan whose estate fingerprint no longer matches
    ├─ ApplyError             exit 1   one or more actions failed; the journal says what was done
    ├─ JournalError           exit 1   a journal unreadable, unwritable or locked by another run
    │  └─ JournalLocked       exit 1   the journal is held by another pmemctl run
    ├─ NotConfirmed           exit 1   nobody confirmed (no terminal and no --yes, or "no")
    └─ Interrupted            exit 130 Ctrl-C: no new work was submitted after it

Each class also has a ``code``: the stable name ``--output json`` puts in the
error object on stderr (``{"error": {"code", "message", ...}}``, README
"Error codes"), so a script can tell "blocked" from "unreachable" from
"bad_credentials" without reading prose. Codes are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExitCode:
    """Process exit codes shared by every command."""

    OK = 0
    ERROR = 1
    CHANGES = 2  # only with --detailed-exitcode
    USAGE = 64  # EX_USAGE from sysexits.h
    INTERRUPTED = 130


class PmemctlError(Exception):
    """Base class: anything pmemctl reports to the user without a traceback."""

    exit_code = ExitCode.ERROR
    code = "error"


class UsageError(PmemctlError):
    """Bad command-line usage (flags, arguments, environment)."""

    exit_code = ExitCode.USAGE
    code = "usage"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input file, located as ``FILE:LINE:COL``."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class SpecError(PmemctlError):
    """A spec (or saved plan) failed validation; carries every diagnostic at once."""

    code = "spec_invalid"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column, d.message))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class SessionError(PmemctlError):
    """Could not open a usable session to vCenter.

    ``code`` says why: ``unreachable``, ``tls``, ``bad_credentials``,
    ``unsupported_vcenter``, or ``session`` for anything else.
    """

    def __init__(self, message: str, code: str = "session") -> None:
        super().__init__(message)
        self.code = code


class InventoryError(PmemctlError):
    """The estate did not look the way the plan expected."""

    code = "inventory_changed"


class StalePlanError(PmemctlError):
    """A saved plan no longer matches the live estate."""

    code = "stale_plan"


class ApplyError(PmemctlError):
    """At least one action failed during apply."""

    code = "apply_failed"


class JournalError(PmemctlError):
    """A journal that cannot be read or written safely, or is in use by another run."""

    code = "journal"


class JournalLocked(JournalError):
    """The journal is locked by another pmemctl run (wait for it, then run again)."""

    code = "journal_locked"


class NotConfirmed(PmemctlError):
    """A change that needs confirmation was not confirmed; nothing was changed."""

    code = "not_confirmed"


class Interrupted(PmemctlError):
    """The user interrupted a run; running tasks were waited for or reported."""

    exit_code = ExitCode.INTERRUPTED
    code = "interrupted"
