"""The yes/no question at apply's and rollback's confirmation prompt.

``click.confirm`` reads the answer with ``input()``, which blocks in
``read()``: a Ctrl-C that lands after the prompt is written and before that
read starts sets Python's signal flag, but nothing interrupts the read, so
the interrupt is seen only after the next key (a CPython race; a test that
pressed Ctrl-C as soon as the prompt showed hung 2 times in 8 on a loaded
machine). Here the answer is awaited in short ``select()`` slices, so Python
handles a Ctrl-C within a fraction of a second whenever it comes.
"""

from __future__ import annotations

import select
import sys

import click

SLICE_S = 0.2
_YES = ("y", "yes")
_NO = ("", "n", "no")  # the default is no


def ask_yes_no(question: str) -> bool:
    """Ask ``question [y/N]`` on stderr and read the answer from stdin; no is the default.

    Raises:
        KeyboardInterrupt: Ctrl-C while asking.
        EOFError: stdin ended without an answer.
    """
    try:
        fd = sys.stdin.fileno()
        select.select([fd], [], [], 0)
    except (AttributeError, OSError, ValueError):  # no real descriptor (Windows, a test stream)
        return _click_confirm(question)
    while True:
        click.echo(f"{question} [y/N]: ", nl=False, err=True)
        while not select.select([fd], [], [], SLICE_S)[0]:
            pass  # between slices Python runs its signal handlers: Ctrl-C is never lost
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        answer = line.strip().lower()
        if answer in _YES or answer in _NO:
            return answer in _YES
        click.echo("Error: invalid input", err=True)


def _click_confirm(question: str) -> bool:
    try:
        return click.confirm(question, default=False, err=True)
    except click.exceptions.Abort as e:
        # click turns Ctrl-C and end of input alike into Abort; give back which.
        if isinstance(e.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise EOFError from None
