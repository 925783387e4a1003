"""The ``pmemctl`` command line: a thin Click shell over the library.

Exit codes: 0 ok / no changes, 1 error, 2 changes pending (``plan
--detailed-exitcode`` only), 64 usage error, 130 interrupted. Click's own
usage errors exit 2 by default; they are remapped to 64 so that a typo can
never read as "changes pending" in a pipeline.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from pmemctl import __version__
from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options
from pmemctl.errors import ExitCode, PmemctlError, SpecError


class PmemctlGroup(click.Group):
    """A group whose ``main`` maps every failure to pmemctl's exit codes."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI, translating errors into messages and exit codes."""
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(ExitCode.USAGE)
        except click.UsageError as e:
            e.show()
            sys.exit(ExitCode.USAGE)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(ExitCode.ERROR)
        except click.ClickException as e:
            e.show()
            sys.exit(ExitCode.ERROR)
        except SpecError as e:
            # One diagnostic per line, FILE:LINE:COL first, so editors can jump to it.
            for d in e.diagnostics:
                click.echo(str(d), err=True)
            sys.exit(e.exit_code)
        except PmemctlError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except Exception:
            if os.environ.get("PMEMCTL_DEBUG"):
                raise
            import traceback

            click.echo(
                "Internal error (a bug in pmemctl; set PMEMCTL_DEBUG=1 for the traceback):\n"
                + traceback.format_exc().splitlines()[-1],
                err=True,
            )
            sys.exit(ExitCode.ERROR)
        # With standalone_mode=False Click returns the exit code of ctx.exit(n).
        sys.exit(rv if isinstance(rv, int) else ExitCode.OK)


@click.group(cls=PmemctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="pmemctl")
@click.option("--quiet", "-q", is_flag=True, help="Print only results and errors.")
@connection_options
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """Declarative vSphere Persistent Memory: vNVDIMMs, vPMemDisks and Storage vMotion.

    Describe the PMem you want in a YAML spec, check it with `validate`, see
    the estate with `status`, the changes with `plan`, and make them with
    `apply`. Connection flags work here or on each command; the environment
    variables PMEMCTL_URL, PMEMCTL_SERVER, PMEMCTL_USER, PMEMCTL_PASSWORD,
    PMEMCTL_CA_FILE and PMEMCTL_INSECURE are read too.
    """
    ctx.obj = App(quiet=quiet)


def _register() -> None:
    # Each command lives in its own module; import them here so that
    # `pmemctl --help` lists them all.
    from pmemctl.cli import (
        cmd_apply,
        cmd_plan,
        cmd_probe,
        cmd_rollback,
        cmd_status,
        cmd_validate,
    )

    for mod in (cmd_validate, cmd_status, cmd_plan, cmd_apply, cmd_rollback, cmd_probe):
        cli.add_command(mod.command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="pmemctl")
