"""The journal and claim lock: exclusive across processes, and a clear refusal without locks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmemctl.apply import filelock
from pmemctl.apply.journal import Journal
from pmemctl.errors import ExitCode


def test_a_second_process_cannot_take_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "j.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        assert filelock.try_lock(fd) is True
        other = subprocess.run(
            [sys.executable, "-c", "import os, sys; from pmemctl.apply.filelock import try_lock;"
             f"sys.exit(0 if try_lock(os.open({str(path)!r}, os.O_RDWR)) else 3)"],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}, check=False)
        assert other.returncode == 3
    finally:
        os.close(fd)


def test_without_fcntl_or_msvcrt_apply_says_it_needs_them(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filelock, "_fcntl", None)
    monkeypatch.setattr(filelock, "_msvcrt", None)
    with pytest.raises(filelock.LockingUnsupported) as info:
        Journal(tmp_path / "j.jsonl")
    assert "need file locks (POSIX fcntl or Windows msvcrt)" in str(info.value)
    assert "nothing was changed" in str(info.value)
    assert info.value.exit_code == ExitCode.ERROR


class _FakeMsvcrt:
    LK_NBLCK = 2

    def __init__(self) -> None:
        self.held: set[tuple[int, int]] = set()

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        key = (os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        if key in self.held:
            raise OSError(36, "Resource deadlock avoided")
        self.held.add(key)


def test_the_windows_path_locks_byte_zero_and_keeps_the_position(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeMsvcrt()
    monkeypatch.setattr(filelock, "_fcntl", None)
    monkeypatch.setattr(filelock, "_msvcrt", fake)
    path = tmp_path / "j"
    path.write_bytes(b"0123456789")
    a, b = os.open(path, os.O_RDWR), os.open(path, os.O_RDWR)
    try:
        os.lseek(a, 7, os.SEEK_SET)
        assert filelock.try_lock(a) is True
        assert os.lseek(a, 0, os.SEEK_CUR) == 7
        os.lseek(b, 4, os.SEEK_SET)
        assert filelock.try_lock(b) is False  # byte 0 again, from wherever b stood
    finally:
        os.close(a)
        os.close(b)
