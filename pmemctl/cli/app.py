"""The CLI's view of the world: consoles, output, exit codes and the vCenter session.

Commands receive an :class:`App` via ``@click.pass_obj`` and never print
themselves: they call a view (:mod:`pmemctl.cli.views`), which writes
through the App. Data goes to :attr:`App.console` (stdout) and everything a
person reads while waiting (status, warnings, errors) to :attr:`App.err`
(stderr), so ``pmemctl plan -o json | jq`` always works.

A command returns its exit code (or raises); :meth:`App.run` is the one
place that turns a return value or an exception into a message and
``sys.exit``.
"""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console

from pmemctl.cli import jsonout
from pmemctl.cli.options import connection_values
from pmemctl.errors import ExitCode, Interrupted, NotConfirmed, PmemctlError, SpecError
from pmemctl.vsphere.retry import NetworkError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pmemctl.vsphere.api import VSphere
    from pmemctl.vsphere.session import Connection

    #: Opens the VSphere the planning commands use, given the spec's ``vcenter``.
    VSphereFactory = Callable[[str | None], AbstractContextManager[VSphere]]


# Width for output that is not a terminal (CI logs, files, pipes): rich would
# use 80 and fold plan reasons and datastore names mid-word.
PIPE_WIDTH = 120


def _console(stderr: bool) -> Console:
    # markup/highlight/emoji off: inventory names may contain "[" or ":smile:"
    # and must print verbatim.
    columns = os.environ.get("COLUMNS")
    width = int(columns) if columns and columns.isdigit() else None
    stream = sys.stderr if stderr else sys.stdout
    if width is None and not stream.isatty():
        width = PIPE_WIDTH
    return Console(stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=False,
                   width=width)


def _unencodable(e: UnicodeError) -> tuple[str | bytes, int]:
    # Surrogates U+DC80..U+DCFF are bytes a file name had that were not UTF-8
    # (surrogateescape): write those bytes back, so the name prints as `ls`
    # shows it. Anything else (a spec's lone "\ud800", a character the
    # locale cannot encode) is written as a visible backslash escape.
    if not isinstance(e, UnicodeEncodeError):
        raise e
    chunk = e.object[e.start:e.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in chunk):
        return bytes(ord(c) - 0xDC00 for c in chunk), e.end
    return codecs.backslashreplace_errors(e)


codecs.register_error("pmemctl.unencodable", _unencodable)


def _safe_text_streams() -> None:
    # Text that cannot be encoded must not turn a table or an error message
    # into a traceback. JSON does not take this path (App.emit_json writes
    # bytes from the encoder, which escapes surrogates itself).
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="pmemctl.unencodable")


class App:
    """Per-invocation state shared by every command: output, exit codes, session."""

    def __init__(self, *, quiet: bool = False, vsphere: VSphereFactory | None = None) -> None:
        """``vsphere`` replaces vCenter for plan, apply and rollback (tests: a FakeVSphere)."""
        self.console = _console(stderr=False)
        self.err = _console(stderr=True)
        self.quiet = quiet
        self._warned: set[str] = set()
        self._vsphere = vsphere
        #: Errors as one JSON object on stderr (``--output json``; cli/errjson.py).
        self.json_errors = False

    @property
    def interactive(self) -> bool:
        """True when stdin is a terminal a person can answer on."""
        return sys.stdin.isatty()

    # -- output ---------------------------------------------------------------

    def emit_json(self, data: object) -> None:
        """Write ``data`` to stdout as one indented JSON document."""
        self._write_stdout(jsonout.document(data))

    def emit_json_line(self, data: object) -> None:
        """Write ``data`` to stdout as one JSON Lines record, flushed at once."""
        self._write_stdout(jsonout.line(data))

    def emit_text(self, text: str) -> None:
        """Write ``text`` to stdout as it is: no wrapping, no markup (Markdown documents)."""
        self._write_stdout(text)

    def _write_stdout(self, text: str) -> None:
        # Bytes, not text: the encoder's output is valid UTF-8 by construction,
        # and the locale's encoding (LANG=C, a latin-1 terminal) must not decide
        # whether a VM name can be printed. click flushes the text layer first,
        # so lines written by the console before stay in order.
        click.echo(text.encode("utf-8"), nl=False)

    def warn(self, message: str) -> None:
        """Print a warning to stderr (always, even with --quiet), once per message.

        The same warning reaches a command by more than one road (the
        connection's warnings are shown on connect and come back inside the
        plan), so repeats are dropped here rather than at every road.
        """
        if message in self._warned:
            return
        self._warned.add(message)
        self.err.print(f"Warning: {message}", soft_wrap=True)

    def retrying(self, message: str) -> None:
        """A transient network fault is being retried: say so, always (a run that stalls
        for a minute must say why)."""
        self.err.print(f"Warning: {message}", soft_wrap=True)

    def info(self, message: str) -> None:
        """Print a progress note to stderr unless --quiet."""
        if not self.quiet:
            self.err.print(message, soft_wrap=True)

    def status(self, message: str) -> AbstractContextManager[Any]:
        """A spinner on a terminal; nothing otherwise (CI logs stay clean)."""
        if self.quiet or not self.err.is_terminal:
            return nullcontext()
        return self.err.status(message)

    def confirm(self, yes: bool, *, question: str, refusal: str, cancelled: str) -> None:
        """Ask ``question`` on a terminal; without one, refuse unless ``--yes``.

        Side Effects:
            Reads the answer from stdin.

        Raises:
            PmemctlError: with ``refusal`` (no terminal) or ``cancelled`` (the
                answer was no, or stdin ended); exit 1.
            Interrupted: Ctrl-C at the prompt; exit 130.
        """
        if yes:
            return
        if not self.interactive:
            raise NotConfirmed(refusal)
        from pmemctl.cli.ask import ask_yes_no

        what = cancelled.rstrip(".")
        try:
            answer = ask_yes_no(question)
        except KeyboardInterrupt:
            # Ctrl-C is an interrupt and exits 130, as documented (click's
            # own confirm would say "Aborted." and exit 1).
            click.echo(err=True)  # end the prompt's line before the message
            raise Interrupted(f"{what} (Ctrl-C); nothing was changed.") from None
        except EOFError:
            click.echo(err=True)
            raise NotConfirmed(f"{what} (no answer); nothing was changed.") from None
        if not answer:
            raise NotConfirmed(cancelled)

    # -- exit codes -----------------------------------------------------------

    def run(self, invoke: Callable[[], object]) -> NoReturn:
        """Call ``invoke`` (Click, not standalone) and exit with pmemctl's code.

        The one place the process exits: an int returned by the command is
        the exit code (``None`` is 0); every exception is turned into its
        message on stderr and its code (README "Exit codes").

        Side Effects:
            Writes errors to stderr; calls ``sys.exit``.
        """
        _safe_text_streams()
        try:
            code = self._exit_code(invoke())
        except BaseException as e:
            code = self._report_json(e) if self.json_errors else self._report(e)
        sys.exit(code)

    def error_json(self, document: dict[str, Any]) -> None:
        """With ``--output json``, write an error object (cli/errjson.py) to stderr.

        For exits that are no exception (a blocked plan); the table
        rendering has said it already, so without JSON this does nothing.
        """
        if self.json_errors:
            click.echo(jsonout.line(document).encode("utf-8"), nl=False, err=True)

    def _report_json(self, e: BaseException) -> int:
        from pmemctl.cli import errjson

        ours = isinstance(e, PmemctlError | click.ClickException | click.exceptions.Abort
                          | KeyboardInterrupt)
        if not ours and (not isinstance(e, Exception) or os.environ.get("PMEMCTL_DEBUG")):
            return self._report(e)  # the same road as text: pass through, or the traceback
        code = self._exit_code_of(e)
        self.error_json(errjson.exception_document(e, code))
        return code

    @staticmethod
    def _exit_code_of(e: BaseException) -> int:
        # The codes _report gives, without printing.
        if isinstance(e, click.UsageError):
            return ExitCode.USAGE
        if isinstance(e, PmemctlError):
            return e.exit_code
        if isinstance(e, KeyboardInterrupt):
            return ExitCode.INTERRUPTED
        return ExitCode.ERROR

    @staticmethod
    def _exit_code(rv: object) -> int:
        # With standalone_mode=False Click returns the command's return value,
        # or the code of ctx.exit(n) (--help, --version).
        if rv is None:
            return ExitCode.OK
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
        raise TypeError(f"a command returned {rv!r}, not an exit code")

    def _report(self, e: BaseException) -> int:
        if isinstance(e, click.exceptions.NoArgsIsHelpError):
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            return ExitCode.USAGE
        if isinstance(e, click.UsageError):
            e.show()
            return ExitCode.USAGE
        if isinstance(e, click.exceptions.Abort):
            click.echo("Aborted.", err=True)
            return ExitCode.ERROR
        if isinstance(e, click.ClickException):
            e.show()
            return ExitCode.ERROR
        if isinstance(e, SpecError):
            # One diagnostic per line, FILE:LINE:COL first, so editors can jump to it.
            for d in e.diagnostics:
                click.echo(str(d), err=True)
            return e.exit_code
        if isinstance(e, NetworkError) and not e.complete:
            # Outside apply's executor nothing was submitted after the fault.
            click.echo(f"Error: {e}; no change was submitted after it: run the command again "
                       "when vCenter answers (apply resumes from its journal)", err=True)
            return e.exit_code
        if isinstance(e, PmemctlError):
            click.echo(f"Error: {e}", err=True)
            return e.exit_code
        if isinstance(e, KeyboardInterrupt):
            click.echo("Interrupted.", err=True)
            return ExitCode.INTERRUPTED
        if isinstance(e, SystemExit):
            # Only third-party code exits by itself; pass its code through.
            return e.code if isinstance(e.code, int) else ExitCode.ERROR
        if os.environ.get("PMEMCTL_DEBUG") or not isinstance(e, Exception):
            raise e
        import traceback

        click.echo(
            "Internal error (a bug in pmemctl; set PMEMCTL_DEBUG=1 for the traceback):\n"
            + traceback.format_exception_only(e)[-1].rstrip("\n"),
            err=True,
        )
        return ExitCode.ERROR

    # -- session --------------------------------------------------------------

    @contextmanager
    def connect(self, spec_vcenter: str | None = None) -> Iterator[Connection]:
        """Open a vCenter session from flags, environment and the spec's ``vcenter``.

        Side Effects:
            Logs in to vCenter; logs out on exit. Prints the --insecure and
            version warnings to stderr.
        """
        from pmemctl.api import resolve
        from pmemctl.vsphere.session import connect

        values = connection_values(click.get_current_context())
        # The API's resolution, so that a script and the CLI connect alike.
        settings = resolve(
            url=values.get("url"),
            server=values.get("server"),
            user=values.get("user"),
            password=values.get("password"),
            ca_file=values.get("ca_file"),
            insecure=values.get("insecure"),
            spec_vcenter=spec_vcenter,
            timeout=values.get("timeout"),
            context=values.get("context"),
        )
        if settings.insecure:
            self.warn(
                f"TLS certificate verification is disabled for {settings.host}; "
                "use --ca-file in production"
            )
        with self.status(f"Connecting to {settings.display}"):
            conn = connect(settings, notify=self.retrying)
        try:
            for w in conn.warnings:
                self.warn(w)
            yield conn
        finally:
            conn.close()

    @contextmanager
    def vsphere(self, spec_vcenter: str | None = None) -> Iterator[VSphere]:
        """The :class:`~pmemctl.vsphere.api.VSphere` plan, apply and rollback work through.

        :class:`~pmemctl.vsphere.vcenter.VCenter` over :meth:`connect`, unless
        the App was given a ``vsphere`` factory (a test's FakeVSphere).
        """
        if self._vsphere is not None:
            with self._vsphere(spec_vcenter) as vs:
                for w in vs.warnings:
                    self.warn(w)
                yield vs
            return
        from pmemctl.vsphere.vcenter import VCenter

        with self.connect(spec_vcenter) as conn:
            yield VCenter(conn)
