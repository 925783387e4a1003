"""Files production points pmemctl at: devices, FIFOs, directories, huge files, a full disk.

Journals and saved plans are written only to regular files; reads are
bounded; a failed journal write leaves the journal readable. The full disk
is real: a child process with RLIMIT_FSIZE gets EFBIG (and a short write
first) from the kernel, the way ENOSPC arrives on a full file system.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmemctl.apply import journal as jmod
from pmemctl.apply.journal import Journal, JournalError, JournalWriteError, read_journal
from pmemctl.errors import SpecError
from pmemctl.plan.savefile import PlanFileError, check_plan_target, is_plan_file, load_plan

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(30)  # a regression here is a hang: fail, don't wait


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path
    path.unlink()


def pmemctl(*args: str, stdin: bytes | None = None) -> tuple[int, str, float]:
    """The real CLI in a child process: exit code, stderr, seconds."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pmemctl", *args], input=stdin,
                          capture_output=True, timeout=20, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    return done.returncode, done.stderr.decode(), time.monotonic() - start


# -- journals ----------------------------------------------------------------------


def test_journal_on_a_device_is_refused_for_writing_and_reading() -> None:
    with pytest.raises(JournalError) as info:
        Journal("/dev/full")
    assert str(info.value) == ("cannot open journal /dev/full: it is a character device, "
                               "not a regular file")
    start = time.monotonic()
    with pytest.raises(JournalError) as info:
        read_journal("/dev/zero")  # used to read until the OOM killer came
    assert str(info.value) == ("cannot read journal /dev/zero: it is a character device, "
                               "not a regular file")
    assert time.monotonic() - start < 1


def test_journal_on_a_fifo_or_directory_is_refused(tmp_path: Path, fifo: Path) -> None:
    for path, kind in ((fifo, "a FIFO (named pipe)"), (tmp_path, "a directory")):
        with pytest.raises(JournalError) as info:
            Journal(path)  # a FIFO used to block the open forever
        assert str(info.value) == f"cannot open journal {path}: it is {kind}, not a regular file"
        with pytest.raises(JournalError) as info:
            read_journal(path)
        assert str(info.value) == f"cannot read journal {path}: it is {kind}, not a regular file"


def test_journal_under_a_file_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(JournalError) as info:
        Journal(tmp_path / "f" / "j.jsonl")
    assert str(info.value).startswith(f"cannot create the journal directory {tmp_path / 'f'}: ")


def test_journal_reading_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.write("run_start", command="apply")
    monkeypatch.setattr(jmod, "MAX_JOURNAL_BYTES", 10)
    with pytest.raises(JournalError) as info:
        read_journal(p)
    assert str(info.value) == (f"cannot read journal {p}: it is larger than the 10 bytes limit; "
                               "move it aside and run again (pmemctl starts a new journal)")


def test_a_deeply_nested_line_is_a_corrupt_record_not_a_recursion_error(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        j.write("run_start", command="apply")
    with p.open("a") as f:
        f.write("[" * 100_000 + "\n")
        f.write(json.dumps({"type": "run_end", "run": "x"}) + "\n")
    with pytest.raises(JournalError) as info:
        read_journal(p)
    assert str(info.value).startswith(f"{p}:2: corrupt journal record (maximum recursion depth")


_FULL_DISK = textwrap.dedent("""
    import errno, json, resource, signal, sys
    from pmemctl.apply.journal import Journal, JournalWriteError, read_journal
    path = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    j = Journal(path, run_id="r1")
    j.write("run_start", command="apply")
    size = j.path.stat().st_size
    # Room for half a record more: the next write is short, the one after fails.
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, resource.RLIM_INFINITY))
    try:
        j.write("intent", step="r1/1", vm="redis-01", kind="reconfigure", changes=[],
                undo={"note": "x" * 200})
    except JournalWriteError as e:
        print(json.dumps({"message": str(e), "errno": e.errno, "type": e.record_type,
                          "size": j.path.stat().st_size, "before": size}))
    try:
        j.write("run_end", summary={})
    except JournalWriteError as e:
        print(json.dumps({"message": str(e)}))
    j.close()
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    state = read_journal(path)
    print(json.dumps({"runs": [r.run for r in state.runs], "steps": len(state.steps),
                      "torn": state.torn_tail}))
    with Journal(path, run_id="r2") as again:  # space is back: the next run appends cleanly
        again.write("run_start", command="apply")
    print(json.dumps({"runs": [r.run for r in read_journal(path).runs]}))
""")


def test_a_full_disk_raises_journal_write_error_and_keeps_the_journal_readable(
        tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, str(p)], capture_output=True,
                          text=True, timeout=20, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    first, second, state, after = (json.loads(line) for line in done.stdout.splitlines())
    assert first["message"] == (
        f"cannot write to journal {p}: File too large; the 'intent' record was not written "
        "(the journal is intact up to the previous record); free space on that file system, "
        "then run again to resume")
    assert first["errno"] == 27 and first["type"] == "intent"  # EFBIG
    assert first["size"] == first["before"]  # the half-written line was cut off
    assert second["message"].startswith(f"cannot write to journal {p}: File too large; "
                                        "the 'run_end' record was not written")
    assert state == {"runs": ["r1"], "steps": 0, "torn": False}
    assert after == {"runs": ["r1", "r2"]}
    assert all(json.loads(line) for line in p.read_text().splitlines())


def test_journal_write_error_is_a_journal_error() -> None:
    # The executor catches JournalWriteError; older callers catching JournalError still do.
    assert issubclass(JournalWriteError, JournalError)


# -- saved plans -------------------------------------------------------------------


def test_plan_out_refuses_devices_fifos_and_directories(tmp_path: Path, fifo: Path) -> None:
    for path, kind in ((Path("/dev/full"), "a character device"), (fifo, "a FIFO (named pipe)"),
                       (tmp_path, "a directory")):
        with pytest.raises(PlanFileError) as info:
            check_plan_target(path)
        assert str(info.value) == (f"cannot save the plan to {path}: it is {kind}, "
                                   "not a regular file; give a file name")
    with pytest.raises(PlanFileError) as info:
        check_plan_target(tmp_path / "no" / "plan.json")
    assert str(info.value) == (f"cannot save the plan to {tmp_path / 'no' / 'plan.json'}: "
                               f"the directory {tmp_path / 'no'} does not exist")
    check_plan_target(tmp_path / "plan.json")  # a new file is fine


@pytest.mark.parametrize("out", ["/dev/full", "."])
def test_plan_out_is_refused_before_connecting(tmp_path: Path, out: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("apiVersion: pmemctl/v1\nvms:\n  - name: a\n    nvdimms: [16GiB]\n")
    code, err, _ = pmemctl("plan", str(spec), "--out", out, "--server", "127.0.0.1:1")
    assert (code, err) == (1, f"Error: cannot save the plan to {out}: it is "
                              f"{'a character device' if out != '.' else 'a directory'}, "
                              "not a regular file; give a file name\n")
    assert Path("/dev/full").is_char_device()  # the device node is still a device


def test_reading_a_plan_from_a_device_or_fifo_is_refused(fifo: Path) -> None:
    start = time.monotonic()
    assert not is_plan_file("/dev/zero")
    assert not is_plan_file(fifo)
    for path, kind in (("/dev/zero", "a character device"), (str(fifo), "a FIFO (named pipe)")):
        with pytest.raises(SpecError) as info:
            load_plan(path)
        assert str(info.value) == (f"{path}:1:1: cannot read the plan file: it is {kind}, "
                                   "not a regular file")
    assert time.monotonic() - start < 1


def test_apply_of_a_device_is_a_located_error() -> None:
    code, err, _ = pmemctl("apply", "/dev/zero", "--server", "127.0.0.1:1")
    assert (code, err) == (1, "/dev/zero:1:1: cannot read: it is a character device, not a "
                              "regular file; give a spec file, or - to read standard input\n")
