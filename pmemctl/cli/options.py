"""Shared Click options.

Connection options are accepted both on the group (``pmemctl --url … plan``)
and on each command (``pmemctl plan --url …``): scripts write either, and
the command-level value wins. Values are stashed in ``ctx.meta`` because
that dict is shared by every context in one invocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
META_KEY = "pmemctl.connection"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # A flag left at its default must not undo a value given at group level.
    if value is not None and value is not False:
        ctx.meta.setdefault(META_KEY, {})[param.name] = value
    return value


def connection_options(f: F) -> F:
    """Add --context/--url/--server/--user/--password/--ca-file/--insecure/--timeout."""
    opts = [
        click.option(
            "--context",
            metavar="NAME",
            expose_value=False,
            callback=_store,
            shell_complete=_complete_context,
            help="A named vCenter of the config file (`pmemctl config list`) "
                 "[env PMEMCTL_CONTEXT].",
        ),
        click.option(
            "--url",
            metavar="URL",
            expose_value=False,
            callback=_store,
            help="vCenter SDK URL, e.g. https://user:pass@host:443/sdk [env PMEMCTL_URL].",
        ),
        click.option(
            "--server",
            metavar="HOST[:PORT]",
            expose_value=False,
            callback=_store,
            help="vCenter host name [env PMEMCTL_SERVER].",
        ),
        click.option(
            "--user",
            metavar="USER",
            expose_value=False,
            callback=_store,
            help="vCenter user [env PMEMCTL_USER].",
        ),
        click.option(
            "--password",
            metavar="PASSWORD",
            expose_value=False,
            callback=_store,
            help="vCenter password; prefer the PMEMCTL_PASSWORD environment variable.",
        ),
        click.option(
            "--ca-file",
            metavar="PEM",
            expose_value=False,
            callback=_store,
            help="CA bundle to verify vCenter's TLS certificate [env PMEMCTL_CA_FILE].",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            default=False,
            expose_value=False,
            callback=_store,
            help="Do not verify TLS (prints a warning) [env PMEMCTL_INSECURE=1].",
        ),
        click.option(
            "--timeout",
            metavar="SECONDS",
            expose_value=False,
            callback=_store,
            help="Give up on a vCenter that sends nothing for this long, per socket operation "
                 "(default 30) [env PMEMCTL_TIMEOUT].",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _complete_context(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    # Shell completion of --context: the config file's context names.
    from pmemctl.config import load_config

    try:
        names = load_config().contexts
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [n for n in sorted(names) if n.startswith(incomplete)]


def connection_values(ctx: click.Context) -> dict[str, Any]:
    """The connection options given anywhere on the command line."""
    return dict(ctx.meta.get(META_KEY, {}))


def _note_output(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # Errors follow --output: a script reading JSON gets its errors as JSON
    # too (App.json_errors; the App is the root context's obj).
    app = ctx.find_root().obj
    if value == "json" and hasattr(app, "json_errors"):
        app.json_errors = True
    return value


def output_option(f: F) -> F:
    """Add ``--output table|json`` (``-o``)."""
    return output_choice("table", "json")(f)


def output_choice(*choices: str) -> Callable[[F], F]:
    """``--output`` (``-o``) with these ``choices``, the first the default."""
    def decorate(f: F) -> F:
        return click.option(
            "--output",
            "-o",
            type=click.Choice(list(choices)),
            default=choices[0],
            show_default=True,
            callback=_note_output,
            help="Output format; with json, errors are one JSON object on stderr.",
        )(f)
    return decorate


def max_chars_option(f: F) -> F:
    """Add ``--max-chars N``: the size limit of ``--output markdown`` (0: none)."""
    return click.option(
        "--max-chars",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="With -o markdown: keep the document within N characters, saying what is left "
             "out (default 60000: GitHub comments hold 65536; 0: no limit).",
    )(f)
