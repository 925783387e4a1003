"""``pmemctl sim [FLAGS]``: serve pmemsim, built from the Go source pmemctl ships."""

from __future__ import annotations

import os
import sys

import click

from pmemctl.cli.app import App
from pmemctl.errors import ExitCode


@click.command("sim", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.argument("flags", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def command(app: App, flags: tuple[str, ...]) -> int:
    """Serve pmemsim with the flags of tests/pmemsim/run (--inventory FILE, --listen ADDR, ...).

    Prints https://USER:PASS@127.0.0.1:PORT/sdk as its first line and runs
    until Ctrl-C or SIGTERM. The simulator is built on first use from the Go
    source inside the package, with the Debian packages golang-go,
    golang-github-vmware-govmomi-dev and golang-gopkg-yaml.v3-dev, and kept
    in ~/.cache/pmemctl. `pmemctl sim --build-only` builds it and exits.
    Flags are pmemsim's, see its README (tests/pmemsim/README.md).
    """
    from pmemctl.sim.build import binary

    exe = binary()
    if flags[:1] == ("--build-only",):
        app.info(f"pmemsim: {exe}")
        return ExitCode.OK
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, as tests/pmemsim/run does: pmemsim's own stdout, exit code and signals.
    os.execv(exe, [str(exe), *flags])
    return ExitCode.ERROR  # pragma: no cover (execv does not return)
