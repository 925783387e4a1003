"""One view per command, each with a ``table`` and a ``json`` rendering.

As in Terraform's ``internal/command/views``: a command computes, then
tells its view what happened (``view.plan(plan)``, ``view.summary(...)``);
the view decides how it looks. A command never prints, and never encodes
JSON: views write through the :class:`~pmemctl.cli.app.App` (stdout console,
stderr console, :meth:`~pmemctl.cli.app.App.emit_json`), which owns the
streams and the one JSON encoder (:mod:`pmemctl.cli.jsonout`).

Rules every view keeps:

* Results go to stdout; warnings, notes for the person waiting, and errors
  to stderr. Each warning is shown once (:meth:`App.warn` drops repeats),
  in both renderings; JSON documents keep their ``warnings`` keys too.
* ``json`` output is exactly the README's contracts: one document
  (validate, status, plan, probe) or JSON Lines (apply, rollback).

Modules: :mod:`.validate`, :mod:`.status`, :mod:`.plan`, :mod:`.apply`
(apply and rollback), :mod:`.probe`. Each has a ``*_view(app, output)``
factory returning the rendering for ``--output``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pmemctl.cli.app import App


class View:
    """The base of every view: the App to write through, and warnings."""

    #: The ``--output`` value this rendering answers to.
    output = "table"

    def __init__(self, app: App) -> None:
        self.app = app

    def warnings(self, warnings: Iterable[str]) -> None:
        """Show each warning once on stderr, whatever the rendering."""
        for w in warnings:
            self.app.warn(w)
