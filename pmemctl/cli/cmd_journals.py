"""``pmemctl journals [SPEC]``: the apply and rollback journals on this machine.

Offline: reads the journal directory, changes nothing. ``rollback --last
SPEC`` picks the newest apply journal of SPEC from the same list.
"""

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import output_option
from pmemctl.errors import ExitCode


@click.command("journals")
@click.argument("spec_path", metavar="[SPEC]", required=False,
                type=click.Path(path_type=Path))
@output_option
@click.pass_obj
def command(app: App, spec_path: Path | None, output: str) -> int:
    """List the journals in the journal directory, newest first.

    With SPEC, only the journals of applies of SPEC (against any vCenter)
    and the rollbacks of those. The directory is $PMEMCTL_JOURNAL_DIR, else
    ~/.local/state/pmemctl/journals; journals written with --journal
    elsewhere are not listed. Status: done, failed, interrupted, killed (the
    run died: apply again resumes it), running, empty or unreadable.
    """
    from pmemctl.apply.journals import list_journals
    from pmemctl.cli.views.journals import journals_view

    journals_view(app, output).journals(list_journals(spec_path))
    return ExitCode.OK
