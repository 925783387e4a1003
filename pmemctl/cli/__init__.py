"""The ``pmemctl`` command line: a thin Click shell over the library.

Exit codes: 0 ok / no changes, 1 error, 2 changes pending (``plan
--detailed-exitcode`` only), 64 usage error, 130 interrupted. Commands return
their code or raise; :meth:`App.run <pmemctl.cli.app.App.run>` exits. Click's
own usage errors exit 2 by default; they are remapped to 64 so that a typo
can never read as "changes pending" in a pipeline.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from pmemctl import __version__
from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options
from pmemctl.cli.quiet import HELP as QUIET_HELP
from pmemctl.cli.quiet import add_quiet


class PmemctlGroup(click.Group):
    """A group whose ``main`` hands the run to :meth:`App.run` for pmemctl's exit codes."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; never returns (the App exits with the command's code)."""
        # The App exists before Click parses anything, so that usage errors and
        # --help go through the same exit path as the commands.
        app = extra.pop("obj", None) or App()
        # Before parsing: Click's own parse errors come before any option callback.
        from pmemctl.cli.errjson import wants_json

        app.json_errors = app.json_errors or wants_json(sys.argv[1:] if args is None else args)
        app.run(lambda: super(PmemctlGroup, self).main(
            args, prog_name, complete_var, standalone_mode=False, obj=app, **extra))


@click.group(cls=PmemctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="pmemctl")
@click.option("--quiet", "-q", is_flag=True, help=QUIET_HELP)
@click.option("--debug", "-v", "debug", is_flag=True,
              help="Log each SOAP call (method, object, seconds; never its body) to stderr.")
@connection_options
@click.pass_context
def cli(ctx: click.Context, quiet: bool, debug: bool) -> None:
    """Declarative vSphere Persistent Memory: vNVDIMMs, vPMemDisks and Storage vMotion.

    Describe the PMem you want in a YAML spec, check it with `validate`, see
    the estate with `status`, the changes with `plan`, and make them with
    `apply`. Connection flags work here or on each command; the environment
    variables PMEMCTL_URL, PMEMCTL_SERVER, PMEMCTL_USER, PMEMCTL_PASSWORD,
    PMEMCTL_CA_FILE and PMEMCTL_INSECURE are read too, then the config file's
    context (--context, PMEMCTL_CONTEXT, `pmemctl config use`), then govc's
    GOVC_* and Ansible's VMWARE_* variables.
    """
    if quiet:
        ctx.ensure_object(App).quiet = True
    if debug:
        from pmemctl.cli.logs import enable_debug

        enable_debug()


def _register() -> None:
    # Each command lives in its own module; import them here so that
    # `pmemctl --help` lists them all.
    from pmemctl.cli import (
        cmd_apply,
        cmd_config,
        cmd_drain,
        cmd_export,
        cmd_journals,
        cmd_plan,
        cmd_probe,
        cmd_rehearse,
        cmd_rollback,
        cmd_show,
        cmd_sim,
        cmd_status,
        cmd_validate,
    )

    commands = [mod.command for mod in (
        cmd_validate, cmd_status, cmd_plan, cmd_show, cmd_apply, cmd_rollback, cmd_probe,
        cmd_export, cmd_sim, cmd_rehearse, cmd_journals, cmd_config, cmd_drain)]
    for command in (*commands, cmd_drain.return_command):
        if command.name != "sim":  # sim hands its arguments to pmemsim untouched
            add_quiet(command)  # -q after the command name too
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="pmemctl")
