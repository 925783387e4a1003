"""Start pmemsim on a free port for ``pmemctl rehearse``, read what it measured, stop it.

Only pmemsim's public interface is used (tests/pmemsim/README.md): its
flags, the SDK URL on the first line of stdout, ``--cert-out``, exit 2 with
a message on stderr for a bad inventory, and ``GET /pmemsim/stats``.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pmemctl.errors import PmemctlError, UsageError
from pmemctl.sim.build import binary

START_TIMEOUT_S = 120.0


class SimStartError(PmemctlError):
    """pmemsim did not start."""


class SimInputError(UsageError):
    """pmemsim refused its inventory or flags (it exits 2 for those); exit 64."""


@dataclass
class Sim:
    """A running pmemsim; stop it with :meth:`stop` (or use it as a context manager)."""

    url: str  # https://user:pass@127.0.0.1:PORT/sdk
    cert: Path
    proc: subprocess.Popen[str]
    workdir: tempfile.TemporaryDirectory[str]
    stderr_lines: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, int]:
        """SOAP requests pmemsim served per method since it started."""
        parts = urllib.parse.urlsplit(self.url)
        ctx = ssl.create_default_context(cafile=str(self.cert))
        with urllib.request.urlopen(f"https://{parts.hostname}:{parts.port}/pmemsim/stats",
                                    context=ctx, timeout=30) as r:
            data = json.loads(r.read())
        return {str(k): int(v) for k, v in dict(data).items()}

    def stop(self) -> None:
        """SIGTERM pmemsim, wait for it, remove its certificate."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.workdir.cleanup()

    def __enter__(self) -> Sim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(*args: str, inventory: Path | None = None,
          timeout: float = START_TIMEOUT_S) -> Sim:
    """Build pmemsim if needed and start it on 127.0.0.1, a free port, with ``args``.

    Raises:
        SimBuildError: see :func:`pmemctl.sim.build.binary`.
        SimInputError: pmemsim refused the inventory (its FILE:LINE message)
            or a flag.
        SimStartError: pmemsim exited otherwise or printed no URL within ``timeout``.
    """
    exe = binary()
    workdir = tempfile.TemporaryDirectory(prefix="pmemctl-sim-")
    cert = Path(workdir.name) / "ca.pem"
    cmd = [str(exe), "--listen", "127.0.0.1:0", "--cert-out", str(cert)]
    if inventory is not None:
        cmd += ["--inventory", str(inventory)]
    proc = subprocess.Popen([*cmd, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    errs: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        errs.extend(proc.stderr)

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()
                                                         if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    line = first[0].strip() if first else ""
    if not line.startswith("https://"):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        pumper.join(2)
        workdir.cleanup()
        why = "".join(errs).strip().removeprefix("pmemsim: ") or f"no URL within {timeout:.0f} s"
        if proc.returncode == 2:
            raise SimInputError(f"pmemsim refused its input: {why}; nothing was started")
        raise SimStartError(f"pmemsim did not start: {why}")
    # Keep draining stdout so the simulator never blocks on a full pipe.
    threading.Thread(target=lambda: proc.stdout and proc.stdout.read(), daemon=True).start()
    return Sim(url=line, cert=cert, proc=proc, workdir=workdir, stderr_lines=errs)
