"""The apply journal: append-only JSON Lines, fsynced after every record.

Location (first that applies):

1. ``--journal PATH``;
2. ``$PMEMCTL_JOURNAL_DIR/<spec-stem>-<sha8>.jsonl``;
3. ``$XDG_STATE_HOME/pmemctl/journals/<spec-stem>-<sha8>.jsonl``, where
   ``XDG_STATE_HOME`` defaults to ``~/.local/state``.

``sha8`` is the first 8 hex digits of SHA-256 over the absolute spec path and
the vCenter host and port, so re-running the same spec against the same
vCenter appends to the same journal, and that is what lets ``apply`` resume
(journals named by host only, before the port counted, are still found:
:mod:`pmemctl.apply.journals`).

Every record is one line with ``v`` (format version), ``type``, ``time``
(Unix seconds) and ``run`` (the run id). Types::

    run_start    command, version, spec, spec_sha256, vcenter (host), vcenter_port,
                 instance_uuid (the vCenter's ``about.instanceUuid``), options
    plan         plan_fingerprint, changes, vms
    intent       step, vm, kind, changes (Change JSON), undo (state to undo it)
    submitted    step, task ("task-123"), vm_moid, description_id ("VirtualMachine.relocate")
    task_seen    step, task, queue_time (ISO 8601, the server's ``info.queueTime``)
    shutdown_requested  step, timeout_s   (a guest shutdown has no task)
    powered_on   step, task, tools_timeout_s   (a power-on that now waits for VMware
                 Tools; its ``done`` follows once they run, with tools_s; a run-level
                 note to readers, so a resumed run counts the step done by its task)
    done         step, task, elapsed_s, created (devices a reconfigure added: kind, key,
                 label, size_mb; format 2)
    failed       step, task, fault (vim fault class), message, fault_keys
    relogin      (the vCenter session had ended and was renewed)
    unknown      step, task, message   (the task vanished from vCenter)
    run_end      summary {done, failed, skipped, not_started}
    interrupted  running (task ids left running on vCenter)

A journal never holds secrets: it stores the vCenter host, never a user,
password, session cookie or URL with credentials; :meth:`Journal.write`
refuses any record with a key that looks like one.

Durability: the file is opened with ``O_APPEND``; each record is written
with one ``write`` of one line and ``os.fsync``-ed before the caller goes
on, and the directory is fsynced when the file is created. A SIGKILL can
therefore leave at most a torn *last* line, which :func:`read_journal`
ignores; damage anywhere else is refused.

Files: a journal is a regular file. ``--journal /dev/full``, a FIFO or a
directory is refused when opened or read, and reading stops at
:data:`MAX_JOURNAL_BYTES`. A write that fails (``ENOSPC``, ``EIO``, a quota)
raises :class:`JournalWriteError` after cutting the file back to its last
whole record, so the journal stays readable and the failed record simply
never happened; the caller (the executor) must stop submitting new work.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmemctl.apply.filelock import try_lock_patiently
from pmemctl.apply.records import (
    ChangeRef,
    CreatedDevice,
    Undo,
    created_from_json,
    undo_from_json,
)
from pmemctl.apply.scheduler import StepKind
from pmemctl.errors import JournalError, JournalLocked
from pmemctl.fileio import FileProblem, open_regular, read_bounded

__all__ = ["FORMAT_VERSION", "MAX_JOURNAL_BYTES", "Journal", "JournalError", "JournalState",
           "JournalWriteError", "RunRecord", "StepRecord", "default_journal_dir",
           "default_journal_path", "new_run_id", "read_journal"]

# 2: done records of reconfigures list the devices they created. Format 1
# journals (the previous pmemctl) read the same, with those lists unknown.
FORMAT_VERSION = 2
_STEP_TYPES = ("intent", "submitted", "task_seen", "shutdown_requested", "done", "failed",
               "unknown")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "cookie", "credential")
# A record is a few hundred bytes; a journal of thousands of runs of thousands
# of steps stays far below this. The limit exists so that a wrong --journal
# (a device, /proc/kcore) is refused instead of read into memory.
MAX_JOURNAL_BYTES = 256 << 20


class JournalWriteError(JournalError):
    """A record could not be written (disk full, I/O error); the journal is left readable.

    The file ends with the last record written before this one (or, if even
    cutting it back failed, with a torn last line, which :func:`read_journal`
    ignores). The executor catches this to stop submitting new work.

    Attributes:
        path: the journal.
        record_type: the ``type`` of the record that was not written.
        errno: the OS error number (``errno.ENOSPC``, ``errno.EIO``, ...).
    """

    def __init__(self, message: str, *, path: Path, record_type: str, errno_: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.record_type = record_type
        # Set by the executor when it stopped a run over this error.
        self.powered_on: tuple[str, ...] = ()
        self.still_off: tuple[str, ...] = ()
        self.errno = errno_


def default_journal_dir() -> Path:
    """Where journals live unless ``--journal`` says otherwise (see module docstring)."""
    explicit = os.environ.get("PMEMCTL_JOURNAL_DIR")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pmemctl" / "journals"


def default_journal_path(spec_path: str | Path, vcenter_host: str,
                         vcenter_port: int | None = None) -> Path:
    """The journal for one spec against one vCenter: ``<stem>-<sha8>.jsonl``.

    With ``vcenter_port`` the hash covers host and port, so two vCenters on
    one address (two pmemsims, a port forward) never share a journal.
    Without it, the host-only name earlier pmemctl used
    (:func:`pmemctl.apply.journals.journal_for` still finds those).
    """
    absolute = str(Path(spec_path).resolve())
    where = vcenter_host if vcenter_port is None else f"{vcenter_host}:{vcenter_port}"
    digest = hashlib.sha256(f"{absolute}\n{where}".encode()).hexdigest()[:8]
    return default_journal_dir() / f"{Path(spec_path).stem}-{digest}.jsonl"


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus 4 random hex digits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


def _check_no_secrets(obj: Any, path: str = "") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            low = str(k).lower()
            if any(w in low for w in _SECRET_WORDS):
                raise JournalError(f"refusing to journal secret-looking key {path}{k!r}")
            _check_no_secrets(v, f"{path}{k}.")
    elif isinstance(obj, list | tuple):
        for v in obj:
            _check_no_secrets(v, path)
    elif isinstance(obj, str) and "://" in obj and "@" in obj.split("://", 1)[1].split("/", 1)[0]:
        raise JournalError(f"refusing to journal a URL with credentials at {path or 'value'}")


class Journal:
    """An open journal for one run. Use as a context manager.

    Side Effects:
        Creates the file (and its directory) if needed; every :meth:`write`
        appends one line and fsyncs it.
    """

    def __init__(self, path: str | Path, run_id: str | None = None) -> None:
        self.path = Path(path)
        self.run_id = run_id or new_run_id()
        self._seq = 0
        self._fd = -1
        # Set when a failed write could not be undone: later records would
        # follow a torn line, which read_journal refuses in mid-file.
        self._broken: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise JournalError(f"cannot create the journal directory {self.path.parent}: "
                               f"{e.strerror or e}") from e
        created = not self.path.exists()
        #: This open created the file (a run that writes nothing removes it again).
        self.created = created
        try:
            # Only a regular file: --journal /dev/full would fail every write (and,
            # read, never end); a FIFO would block the open forever. Read-write so
            # _repair_tail can look at the last byte; O_APPEND still puts every
            # write at the end.
            self._fd = open_regular(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        except FileProblem as e:
            raise JournalError(f"cannot open journal {self.path}: {e}") from e
        except FileNotFoundError as e:  # the directory vanished after mkdir
            raise JournalError(f"cannot open journal {self.path}: {e.strerror}") from e
        # Two applies of one spec at once would race on the same VMs: refuse the
        # second. The kernel drops the lock when the holder dies, even by SIGKILL.
        try:
            taken = try_lock_patiently(self._fd)
        except BaseException:
            self.close()
            raise
        if not taken:
            self.close()
            raise JournalLocked(f"journal {self.path} is in use by another pmemctl run; "
                               "wait for it to finish")
        try:
            if created:
                # The new directory entry must survive a crash too, or the file may vanish.
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            self._repair_tail()
        except OSError as e:
            self.close()
            raise JournalWriteError(
                f"cannot write to journal {self.path}: {e.strerror or e}; nothing was started",
                path=self.path, record_type="open", errno_=e.errno) from e

    def _repair_tail(self) -> None:
        """Terminate a torn last line left by a kill, so the next record starts clean."""
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            self._append(b"\n")

    def next_step_id(self) -> str:
        """A step id unique within the journal: ``<run>/<n>``."""
        self._seq += 1
        return f"{self.run_id}/{self._seq}"

    def write(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Append one record and fsync it before returning it.

        Raises:
            JournalError: the record holds a secret-looking key or URL.
            JournalWriteError: the disk is full or failing; the record was not
                written and the file ends with the previous one.
        """
        record: dict[str, Any] = {"v": FORMAT_VERSION, "type": type_, "time": round(time.time(), 3),
                                  "run": self.run_id, **fields}
        _check_no_secrets(record)
        line = (json.dumps(record, sort_keys=False, default=str) + "\n").encode()
        if self._broken is not None:
            raise JournalWriteError(
                f"journal {self.path} is not writable since an earlier write failed "
                f"({self._broken}); the {type_!r} record was not written",
                path=self.path, record_type=type_, errno_=None)
        try:
            self._append(line)
        except OSError as e:
            raise self._write_failed(type_, e) from e
        return record

    def _append(self, data: bytes) -> None:
        """Write ``data`` at the end and fsync; on any error cut the file back first.

        O_APPEND and the exclusive lock mean nobody else writes here, so the
        size before the write is where the previous whole record ends. A full
        disk can take part of a line (a short write) before failing: without
        the cut, that torn line would sit in mid-file once the next run
        appends, and read_journal would refuse the whole journal.
        """
        before = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)  # one write normally; loop over a short one
                if n <= 0:
                    raise OSError(errno.EIO, os.strerror(errno.EIO))
                view = view[n:]
            os.fsync(self._fd)
        except OSError as e:
            try:
                os.ftruncate(self._fd, before)
                os.fsync(self._fd)
            except OSError as cut:
                self._broken = cut.strerror or str(cut)
            raise e

    def _write_failed(self, type_: str, e: OSError) -> JournalWriteError:
        reason = e.strerror or str(e)
        if self._broken is None:
            state = "the journal is intact up to the previous record"
        else:
            state = "the journal may end with a torn line, which pmemctl ignores when reading it"
        return JournalWriteError(
            f"cannot write to journal {self.path}: {reason}; the {type_!r} record was not "
            f"written ({state}); free space on that file system, then run again to resume",
            path=self.path, record_type=type_, errno_=e.errno)

    def discard_if_unused(self) -> None:
        """Remove the file if this open created it and nothing was written to it.

        A refused or cancelled apply must not leave an empty journal behind
        (``pmemctl journals`` would list a run that never was). The lock is
        still held here, so no other run is writing to it.
        """
        if self._fd < 0 or not self.created:
            return
        try:
            if os.fstat(self._fd).st_size == 0:
                self.path.unlink()
        except OSError:
            pass  # an empty file left behind is harmless; never fail a run over it

    def close(self) -> None:
        """Close the file (every record is already on disk)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class StepRecord:
    """One step as the journal tells it, across all its records."""

    step: str
    run: str
    vm: str
    kind: StepKind
    changes: tuple[ChangeRef, ...]
    undo: Undo | None
    vm_moid: str | None = None
    task: str | None = None
    outcome: str | None = None  # done | failed | unknown; None = no outcome recorded
    fault: str | None = None
    message: str | None = None
    fault_keys: tuple[str, ...] = ()
    # Devices the step created (a reconfigure), read back from vCenter once it
    # succeeded; None when not recorded (format 1 journals, a failed read).
    created: tuple[CreatedDevice, ...] | None = None
    # What identifies the task besides its id (a restarted vCenter reuses ids):
    # the descriptionId pmemctl expected and the server's queueTime once seen.
    # None in journals written before pmemctl recorded them.
    description_id: str | None = None
    queue_time: str | None = None

    @property
    def pending(self) -> bool:
        """Submitted to vCenter, outcome never recorded (the run was killed)."""
        return self.task is not None and self.outcome is None

    @property
    def unsubmitted(self) -> bool:
        """Intent recorded but no task id: killed between intent and journaling the task."""
        return self.task is None and self.outcome is None


@dataclass
class RunRecord:
    """One run (apply or rollback) in a journal."""

    run: str
    start: dict[str, Any]  # the raw run_start record, for display
    end: dict[str, Any] | None = None
    interrupted: bool = False

    @property
    def command(self) -> str:
        """``apply`` or ``rollback`` (format 1 journals of apply may omit it)."""
        return str(self.start.get("command") or "apply")

    @property
    def vcenter(self) -> str | None:
        """The vCenter host the run talked to."""
        value = self.start.get("vcenter")
        return str(value) if value else None

    @property
    def vcenter_port(self) -> int | None:
        """The vCenter port (None in journals written before it was recorded)."""
        value = self.start.get("vcenter_port")
        return int(value) if isinstance(value, int) else None

    @property
    def instance_uuid(self) -> str | None:
        """The vCenter's ``instanceUuid`` (None before it was recorded)."""
        value = self.start.get("instance_uuid")
        return str(value) if value else None


@dataclass
class JournalState:
    """Everything :func:`read_journal` found."""

    path: Path
    runs: list[RunRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    torn_tail: bool = False

    def step(self, step_id: str) -> StepRecord | None:
        """The step with that id, if journaled."""
        for s in self.steps:
            if s.step == step_id:
                return s
        return None

    @property
    def pending(self) -> list[StepRecord]:
        """Steps submitted whose outcome is unknown."""
        return [s for s in self.steps if s.pending]

    @property
    def unsubmitted(self) -> list[StepRecord]:
        """Steps with intent only."""
        return [s for s in self.steps if s.unsubmitted]

    @property
    def done(self) -> list[StepRecord]:
        """Steps that completed successfully, oldest first."""
        return [s for s in self.steps if s.outcome == "done"]


def read_journal(path: str | Path) -> JournalState:
    """Parse a journal, tolerating a torn final line only.

    Raises:
        JournalError: the path is not a regular file or is over
            :data:`MAX_JOURNAL_BYTES`, a line other than the last is not a
            JSON object, or a record names a step that was never announced.
    """
    p = Path(path)
    state = JournalState(path=p)
    try:
        raw = read_bounded(p, MAX_JOURNAL_BYTES)
    except FileNotFoundError:
        return state
    except FileProblem as e:
        hint = "; move it aside and run again (pmemctl starts a new journal)" if e.too_large else ""
        raise JournalError(f"cannot read journal {p}: {e}{hint}") from e
    lines = raw.split(b"\n")
    ends_clean = raw.endswith(b"\n") or not raw
    runs: dict[str, RunRecord] = {}
    steps: dict[str, StepRecord] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_last = n == len(lines) or (n == len(lines) - 1 and not lines[-1])
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "type" not in rec:
                raise ValueError("not a record")
        except (ValueError, RecursionError) as e:  # json recurses per nesting level
            if (is_last and not ends_clean) or _is_tail(lines, n):
                state.torn_tail = True  # a kill mid-write: the record never happened
                break
            if _is_repaired_tear(lines, n):
                continue
            if not runs and not steps:
                # Nothing valid before it: the wrong file, not a damaged journal.
                raise JournalError(f"{p} is not a pmemctl journal (line {n} is not a "
                                   "journal record)") from e
            raise JournalError(f"{p}:{n}: corrupt journal record ({e}); refusing to go on") from e
        _apply(rec, runs, steps, state=state, p=p, n=n)
    state.runs = list(runs.values())
    return state


def _is_tail(lines: list[bytes], n: int) -> bool:
    # Line n (1-based) is the last non-empty one; Journal.__init__ may have
    # ended a torn tail with "\n" already.
    return not any(later.strip() for later in lines[n:])


def _is_repaired_tear(lines: list[bytes], n: int) -> bool:
    # Journal.__init__ ends a torn tail with "\n" before appending, so an old
    # tear sits in the middle followed by a run_start. Accept exactly that.
    for later in lines[n:]:
        if later.strip():
            try:
                rec = json.loads(later)
            except (ValueError, RecursionError):
                return False
            return isinstance(rec, dict) and rec.get("type") == "run_start"
    return False


def _apply(rec: dict[str, Any], runs: dict[str, RunRecord], steps: dict[str, StepRecord], *,
           state: JournalState, p: Path, n: int) -> None:
    kind = rec["type"]
    run = str(rec.get("run", ""))
    if kind == "run_start":
        runs[run] = RunRecord(run=run, start=rec)
        return
    if kind == "run_end":
        if run in runs:
            runs[run].end = rec
        return
    if kind == "interrupted":
        if run in runs:
            runs[run].interrupted = True
        return
    if kind not in _STEP_TYPES:
        return  # run-level notes (plan, resumed, ...): nothing to track
    step_id = str(rec.get("step", ""))
    if kind == "intent":
        try:
            kind_ = StepKind(rec.get("kind"))
        except ValueError:
            raise JournalError(f"{p}:{n}: step of unknown kind {rec.get('kind')!r}; refusing "
                               "to go on") from None
        got = rec.get("undo")
        raw_undo: dict[str, Any] = got if isinstance(got, dict) else {}
        s = StepRecord(step=step_id, run=run, vm=str(rec.get("vm", "")), kind=kind_,
                       changes=tuple(c for c in (ChangeRef.from_json(x)
                                                 for x in rec.get("changes", []) or [])
                                     if c is not None),
                       undo=undo_from_json(kind_, raw_undo),
                       vm_moid=str(raw_undo["vm_moid"]) if raw_undo.get("vm_moid") else None)
        steps[step_id] = s
        state.steps.append(s)
        return
    known = steps.get(step_id)
    if known is None:
        raise JournalError(f"{p}:{n}: record for unknown step {step_id!r}; refusing to go on")
    s = known
    if kind == "submitted":
        s.task = rec.get("task")
        s.description_id = _opt(rec.get("description_id"))
        s.vm_moid = _opt(rec.get("vm_moid")) or s.vm_moid
    elif kind == "task_seen":
        if rec.get("task") == s.task:
            s.queue_time = _opt(rec.get("queue_time"))
    elif kind in ("done", "failed", "unknown"):
        s.outcome = kind
        s.task = rec.get("task") or s.task
        s.fault = rec.get("fault")
        s.message = rec.get("message")
        s.fault_keys = tuple(str(k) for k in rec.get("fault_keys", ()) or ())
        s.created = created_from_json(rec.get("created"))


def _opt(value: Any) -> str | None:
    return str(value) if value else None
