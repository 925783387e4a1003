"""Start and stop pmemsim (``tests/pmemsim/run``) from tests and benchmarks.

Only the public interface of ``run`` is used: its flags, the SDK URL on the
first line of stdout, ``--cert-out`` and ``GET /pmemsim/stats``.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "tests" / "pmemsim" / "run"


@dataclass
class PmemSim:
    """A running pmemsim process."""

    url: str  # https://user:pass@127.0.0.1:PORT/sdk
    cert: Path
    proc: subprocess.Popen[str]
    _stderr: list[str] = field(default_factory=list)

    @property
    def parts(self) -> urllib.parse.SplitResult:
        """The URL split into its parts."""
        return urllib.parse.urlsplit(self.url)

    @property
    def host(self) -> str:
        """host:port of the SDK endpoint."""
        return f"{self.parts.hostname}:{self.parts.port}"

    @property
    def user(self) -> str:
        """The user name in the URL."""
        return urllib.parse.unquote(self.parts.username or "")

    @property
    def password(self) -> str:
        """The password in the URL."""
        return urllib.parse.unquote(self.parts.password or "")

    def _get(self, path: str) -> Any:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        with urllib.request.urlopen(f"https://{self.host}{path}", context=ctx, timeout=30) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, int]:
        """SOAP requests served per method since start."""
        data = self._get("/pmemsim/stats")
        assert isinstance(data, dict)
        return data

    def total_requests(self) -> int:
        """Sum of all SOAP requests served since start."""
        return sum(int(v) for v in self.stats().values())

    def restart(self, down_s: float = 0.0) -> dict[str, Any]:
        """Restart the simulated vCenter, keeping its estate (``POST /pmemsim/restart``).

        Every connection and session ends, task ids start again from task-1,
        queued tasks are lost, and for ``down_s`` seconds every vCenter request
        gets HTTP 503. Returns pmemsim's report (``restart``, ``down_s``,
        ``sessions_ended``, ``tasks_forgotten``, ``lost_queued``, ``completing``,
        ``conns_closed``).
        """
        ctx = ssl.create_default_context(cafile=str(self.cert))
        req = urllib.request.Request(f"https://{self.host}/pmemsim/restart?down={down_s:g}",
                                     method="POST", data=b"")
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            data = json.loads(r.read())
        assert isinstance(data, dict)
        return data

    def stderr(self) -> str:
        """What the simulator has written to stderr so far."""
        return "".join(self._stderr)

    def stop(self) -> None:
        """SIGTERM the simulator, wait for it, and remove its certificate file."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # One .pem per start in the temp directory: thousands after a few suites.
        self.cert.unlink(missing_ok=True)

    def __enter__(self) -> PmemSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(*args: str, inventory: str | Path | None = None, timeout: float = 300) -> PmemSim:
    """Start pmemsim with the given extra flags and wait for its URL line.

    The first start may build the binary, hence the generous timeout.
    """
    cert = Path(tempfile.mkstemp(prefix="pmemsim-", suffix=".pem")[1])
    cmd = [str(RUN), "--listen", "127.0.0.1:0", "--cert-out", str(cert)]
    if inventory is not None:
        cmd += ["--inventory", str(inventory)]
    cmd += list(args)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    errs: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            errs.append(line)

    threading.Thread(target=pump, daemon=True).start()
    assert proc.stdout is not None
    result: list[str] = []

    def read_first() -> None:
        assert proc.stdout is not None
        result.append(proc.stdout.readline())

    t = threading.Thread(target=read_first, daemon=True)
    t.start()
    t.join(timeout)
    line = result[0].strip() if result else ""
    if not line.startswith("https://"):
        proc.kill()
        proc.wait()
        cert.unlink(missing_ok=True)
        raise RuntimeError(f"pmemsim did not start: {line!r}\n{''.join(errs)}")
    # Keep draining stdout so the simulator never blocks on a full pipe.
    threading.Thread(target=lambda: proc.stdout and proc.stdout.read(), daemon=True).start()
    return PmemSim(url=line, cert=cert, proc=proc, _stderr=errs)
