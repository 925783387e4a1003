"""The journals on this machine: which one a spec uses, and what each holds.

``apply`` names its journal after the spec and the vCenter *host and port*
(:func:`~pmemctl.apply.journal.default_journal_path`), so two vCenters on
one address never share one. :func:`journal_for` is the one place that
picks it, and it still finds a journal an earlier pmemctl named by host
only (format 2 journals are read as they are).

:func:`list_journals` summarises every journal in the journal directory for
``pmemctl journals [SPEC]``; :func:`latest_journal` is ``rollback --last
SPEC``. Reading is all they do: no journal is created, locked or changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmemctl.apply.filelock import held_elsewhere
from pmemctl.apply.journal import (
    JournalError,
    JournalState,
    default_journal_dir,
    default_journal_path,
    read_journal,
)
from pmemctl.errors import UsageError


def journal_for(spec_path: str | Path, host: str, port: int | None) -> Path:
    """The journal ``apply SPEC`` uses against vCenter ``host:port``.

    The host-and-port name, unless only a journal under the old host-only
    name exists and every run in it talked to this port (or did not record
    one): resuming that journal is what its user expects.
    """
    path = default_journal_path(spec_path, host, port)
    if path.exists() or port is None:
        return path
    legacy = default_journal_path(spec_path, host)
    if not legacy.is_file():
        return path
    try:
        state = read_journal(legacy)
    except JournalError:
        return path  # apply would refuse it anyway: start the new one
    if all(r.vcenter_port in (None, port) for r in state.runs):
        return legacy
    return path


@dataclass(frozen=True)
class JournalInfo:
    """One journal, summarised for ``pmemctl journals``."""

    path: Path
    command: str  # apply | rollback (of the last run)
    spec: str | None  # apply: the spec's absolute path
    undoes: str | None  # rollback: the apply journal it undid
    vcenter: str | None
    vcenter_port: int | None
    instance_uuid: str | None
    runs: int
    last_run: str | None
    last_time: float | None  # Unix seconds of the last run's last record read
    status: str  # done | failed | interrupted | killed | running | empty | unreadable
    done: int  # steps done, over all runs
    failed: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``journals -o json`` shape (README "pmemctl journals")."""
        return {"path": str(self.path), "command": self.command, "spec": self.spec,
                "undoes": self.undoes, "vcenter": self.vcenter,
                "vcenter_port": self.vcenter_port, "instance_uuid": self.instance_uuid,
                "runs": self.runs, "last_run": self.last_run,
                "last_time": round(self.last_time, 3) if self.last_time is not None else None,
                "status": self.status, "steps_done": self.done, "steps_failed": self.failed,
                "error": self.error}


def summarise(path: Path) -> JournalInfo:
    """What ``path`` holds; an unreadable journal is listed with its error, not skipped."""
    try:
        state = read_journal(path)
    except JournalError as e:
        return JournalInfo(path=path, command="?", spec=None, undoes=None, vcenter=None,
                           vcenter_port=None, instance_uuid=None, runs=0, last_run=None,
                           last_time=None, status="unreadable", done=0, failed=0, error=str(e))
    return _info(path, state)


def _info(path: Path, state: JournalState) -> JournalInfo:
    if not state.runs:
        return JournalInfo(path=path, command="?", spec=None, undoes=None, vcenter=None,
                           vcenter_port=None, instance_uuid=None, runs=0, last_run=None,
                           last_time=None, status="empty", done=0, failed=0)
    last = state.runs[-1]
    spec = next((str(r.start["spec"]) for r in state.runs if r.start.get("spec")), None)
    undoes = next((str(r.start["journal"]) for r in state.runs if r.start.get("journal")), None)
    times = [float(t) for r in state.runs for t in (r.start.get("time"), (r.end or {}).get("time"))
             if isinstance(t, int | float)]
    if held_elsewhere(path):
        status = "running"
    elif last.interrupted:
        status = "interrupted"
    elif last.end is None:
        status = "killed"  # no run_end: the run died; apply again resumes it
    else:
        summary = last.end.get("summary") or {}
        status = "failed" if summary.get("failed") else "done"
    return JournalInfo(
        path=path, command=last.command, spec=spec, undoes=undoes, vcenter=last.vcenter,
        vcenter_port=last.vcenter_port, instance_uuid=last.instance_uuid, runs=len(state.runs),
        last_run=last.run, last_time=max(times) if times else None, status=status,
        done=sum(s.outcome == "done" for s in state.steps),
        failed=sum(s.outcome == "failed" for s in state.steps))


def list_journals(spec_path: str | Path | None = None,
                  directory: Path | None = None) -> list[JournalInfo]:
    """Every journal in ``directory`` (default: the journal directory), newest first.

    With ``spec_path``, only the apply journals of that spec and the
    rollback journals of those. ``--journal PATH`` files elsewhere are not
    seen (pmemctl keeps no index of them).
    """
    d = directory or default_journal_dir()
    if not d.is_dir():
        return []
    infos = [summarise(p) for p in sorted(d.glob("*.jsonl")) if p.is_file()]
    if spec_path is not None:
        want = str(Path(spec_path).resolve())
        mine = {str(i.path.resolve()) for i in infos if i.spec == want}
        infos = [i for i in infos if i.spec == want
                 or (i.undoes is not None and i.undoes in mine)]
    return sorted(infos, key=lambda i: (i.last_time or 0.0, str(i.path)), reverse=True)


def latest_journal(spec_path: str | Path, directory: Path | None = None, *,
                   host: str | None = None, port: int | None = None) -> Path:
    """The newest apply journal of ``spec_path`` (``rollback --last SPEC``).

    With ``host`` (and ``port``), the newest written against that vCenter:
    two vCenters applied the same spec, and the one connected to decides.

    Raises:
        UsageError: no such apply journal is in the journal directory.
    """
    found = [i for i in list_journals(spec_path, directory)
             if i.command == "apply" and i.spec is not None and i.runs]
    if host is not None:
        found = [i for i in found if (i.vcenter or "").lower() == host.lower()
                 and i.vcenter_port in (None, port)]
    if not found:
        d = directory or default_journal_dir()
        where = f" against {host}:{port}" if host is not None else ""
        raise UsageError(f"no apply journal of {spec_path}{where} in {d}; list them with "
                         "`pmemctl journals`, or give the JOURNAL path")
    return found[0].path
