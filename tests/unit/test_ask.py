"""The confirmation prompt's reader (pmemctl/cli/ask.py), on a real pipe as stdin."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from pmemctl.cli import ask

pytestmark = pytest.mark.unit


def with_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes, close: bool = True) -> int:
    r, w = os.pipe()
    os.write(w, data)
    if close:
        os.close(w)
    monkeypatch.setattr("sys.stdin", os.fdopen(r))
    return w


@pytest.mark.parametrize(("typed", "answer"), [(b"y\n", True), (b"YES\n", True),
                                                (b"\n", False), (b"n\n", False)])
def test_answers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                 typed: bytes, answer: bool) -> None:
    with_stdin(monkeypatch, typed)
    assert ask.ask_yes_no("Apply?") is answer
    assert capsys.readouterr().err == "Apply? [y/N]: "


def test_an_invalid_answer_asks_again(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with_stdin(monkeypatch, b"maybe\ny\n")
    assert ask.ask_yes_no("Apply?") is True
    assert capsys.readouterr().err == "Apply? [y/N]: Error: invalid input\nApply? [y/N]: "


def test_end_of_input_is_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    with_stdin(monkeypatch, b"")
    with pytest.raises(EOFError):
        ask.ask_yes_no("Apply?")


def test_ctrl_c_while_waiting_for_an_answer_interrupts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing is ever typed: the SIGINT alone must end the wait.
    w = with_stdin(monkeypatch, b"", close=False)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ask.ask_yes_no("Apply?")
    finally:
        timer.cancel()
        os.close(w)
