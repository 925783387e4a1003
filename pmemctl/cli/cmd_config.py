"""``pmemctl config list|current|use NAME``: the named vCenters of the config file."""

from __future__ import annotations

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import output_option
from pmemctl.errors import ExitCode, PmemctlError


@click.group("config")
def command() -> None:
    """Named vCenters: list the config file's contexts, show or switch the current one.

    The file is $PMEMCTL_CONFIG, else ~/.config/pmemctl/config.yaml; pick a
    context for one command with --context NAME or PMEMCTL_CONTEXT.
    """


@command.command("list")
@output_option
@click.pass_obj
def list_contexts(app: App, output: str) -> int:
    """List the contexts; the current one is marked *."""
    from pmemctl.cli.views.config import ConfigView
    from pmemctl.config import load_config

    ConfigView(app, output).contexts(load_config())
    return ExitCode.OK


@command.command("current")
@click.pass_obj
def current(app: App) -> int:
    """Print the context in use (PMEMCTL_CONTEXT, else the file's current-context)."""
    from pmemctl.cli.views.config import ConfigView
    from pmemctl.config import load_config, pick_context

    config = load_config()
    ctx = pick_context(config)
    if ctx is None:
        raise PmemctlError(f"no current context: {config.path} sets none "
                           "(`pmemctl config use NAME`)")
    ConfigView(app, "table").current(ctx.name)
    return ExitCode.OK


@command.command("use")
@click.argument("name", metavar="NAME")
@click.pass_obj
def use(app: App, name: str) -> int:
    """Make NAME the current context (rewrites only the file's current-context line)."""
    from pmemctl.cli.views.config import ConfigView
    from pmemctl.config import load_config, use_context

    config = load_config()
    use_context(config, name)
    ConfigView(app, "table").used(name, config)
    return ExitCode.OK
