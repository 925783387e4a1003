"""``-q/--quiet`` on the group and on every command: only errors and the final summary.

Scripts write ``pmemctl -q apply …`` and ``pmemctl apply … -q`` alike; both
set :attr:`App.quiet <pmemctl.cli.app.App.quiet>`. What quiet leaves:

* stdout: the final summary only (``apply``/``rollback``: the report lines;
  ``plan``: the summary line and the problems); tables and per-step lines
  are left out. JSON output (``-o json``) is a contract and is unchanged.
* stderr: errors, and warnings (a retry or a fallback must still say why a
  run stalls or what it assumed); progress notes, spinners and the live
  display are left out.
"""

from __future__ import annotations

from typing import Any

import click

HELP = "Print only errors and the final summary (here or before the command name)."


def _set(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # A flag left at its default must not undo -q given before the command name.
    if value:
        from pmemctl.cli.app import App

        app = ctx.find_object(App)
        if app is not None:
            app.quiet = True
    return value


def add_quiet(command: click.Command) -> None:
    """Give ``command`` its own ``-q/--quiet`` (unless it has one)."""
    if any("--quiet" in getattr(p, "opts", ()) for p in command.params):
        return
    command.params.append(click.Option(["--quiet", "-q"], is_flag=True, default=False,
                                       expose_value=False, callback=_set, help=HELP))
