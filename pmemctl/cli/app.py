"""The CLI's view of the world: consoles, output mode and the vCenter session.

Commands receive an :class:`App` via ``@click.pass_obj`` and never print with
``print``: data goes to :attr:`App.console` (stdout) and everything a person
reads while waiting (status, warnings) goes to :attr:`App.err` (stderr), so
``pmemctl plan -o json | jq`` always works.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console

from pmemctl.cli.options import connection_values
from pmemctl.errors import PmemctlError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pmemctl.vsphere.session import Connection


# Width for output that is not a terminal (CI logs, files, pipes): rich would
# use 80 and fold plan reasons and datastore names mid-word.
PIPE_WIDTH = 120


def _console(stderr: bool) -> Console:
    # markup/highlight off: inventory names may contain "[" and must print verbatim.
    columns = os.environ.get("COLUMNS")
    width = int(columns) if columns and columns.isdigit() else None
    stream = sys.stderr if stderr else sys.stdout
    if width is None and not stream.isatty():
        width = PIPE_WIDTH
    return Console(stderr=stderr, markup=False, highlight=False, soft_wrap=False, width=width)


class App:
    """Per-invocation state shared by every command."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.console = _console(stderr=False)
        self.err = _console(stderr=True)
        self.quiet = quiet

    @property
    def interactive(self) -> bool:
        """True when stdin is a terminal a person can answer on."""
        return sys.stdin.isatty()

    def emit_json(self, data: object) -> None:
        """Write a JSON document to stdout, unwrapped (rich would wrap long lines)."""
        click.echo(json.dumps(data, indent=2))

    def warn(self, message: str) -> None:
        """Print a warning to stderr (always, even with --quiet)."""
        self.err.print(f"Warning: {message}", soft_wrap=True)

    def info(self, message: str) -> None:
        """Print a progress note to stderr unless --quiet."""
        if not self.quiet:
            self.err.print(message, soft_wrap=True)

    def abort(self, message: str, code: int = 1) -> NoReturn:
        """Print an error and leave with ``code``."""
        self.err.print(f"Error: {message}", soft_wrap=True)
        raise SystemExit(code)

    def status(self, message: str) -> AbstractContextManager[Any]:
        """A spinner on a terminal; nothing otherwise (CI logs stay clean)."""
        if self.quiet or not self.err.is_terminal:
            return nullcontext()
        return self.err.status(message)

    @contextmanager
    def connect(self, spec_vcenter: str | None = None) -> Iterator[Connection]:
        """Open a vCenter session from flags, environment and the spec's ``vcenter``.

        Side Effects:
            Logs in to vCenter; logs out on exit. Prints the --insecure and
            version warnings to stderr.
        """
        from pmemctl.vsphere.session import connect, resolve_settings

        ctx = click.get_current_context()
        values = connection_values(ctx)
        settings = resolve_settings(
            url=values.get("url"),
            server=values.get("server"),
            user=values.get("user"),
            password=values.get("password"),
            ca_file=values.get("ca_file"),
            insecure=values.get("insecure"),
            spec_vcenter=spec_vcenter,
        )
        if settings.insecure:
            self.warn(
                f"TLS certificate verification is disabled for {settings.host}; "
                "use --ca-file in production"
            )
        with self.status(f"Connecting to {settings.display}"):
            conn = connect(settings)
        try:
            for w in conn.warnings:
                self.warn(w)
            yield conn
        finally:
            conn.close()


def fail(error: PmemctlError, app: App) -> NoReturn:
    """Report a pmemctl error and exit with its code."""
    app.abort(str(error), error.exit_code)
