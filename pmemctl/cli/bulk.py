"""The ``--skip-blocked`` option, shared by ``plan`` and ``apply``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def skip_blocked_option(f: F) -> F:
    """Add ``--skip-blocked`` (the spec's ``options.skip_blocked``)."""
    return click.option(
        "--skip-blocked",
        is_flag=True,
        default=False,
        help="Plan and apply the VMs that have no problem; list the blocked ones with their "
             "reasons and leave them untouched (exit 1). Same as options.skip_blocked.",
    )(f)
