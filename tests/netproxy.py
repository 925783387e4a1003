"""A TCP proxy on 127.0.0.1 between pmemctl and pmemsim that can reset connections or go silent.

Threads in the test process; nothing leaves the loopback. Every connection
is bounded (``lifetime_s``) and :meth:`Proxy.close` (or leaving the ``with``)
stops it all, so a failing test cannot leave it running.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType


class Proxy:
    """Forward ``127.0.0.1:<port>`` to ``target``; :meth:`reset` and :meth:`silent` break it."""

    def __init__(self, target: tuple[str, int], lifetime_s: float = 120.0) -> None:
        self.target = target
        self.deadline = time.monotonic() + lifetime_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._silent = False
        self._refuse = False
        self._stop = threading.Event()
        self.accepted = 0
        self.resets = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # -- faults -------------------------------------------------------------

    def reset(self) -> int:
        """Reset (RST) every open connection now; new ones work. Returns how many."""
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close() sends RST, as a load balancer or a crash does.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
        self.resets += len(conns)
        return len(conns)

    def refuse(self, on: bool = True) -> None:
        """New connections are reset at once (a vCenter restarting)."""
        self._refuse = on

    def silent(self, on: bool = True) -> None:
        """Accept and read, but forward nothing either way (a hung vCenter)."""
        self._silent = on

    # -- plumbing -----------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue  # e.g. ECONNABORTED: a client gave up before accept
            self.accepted += 1
            if self._refuse:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
        self.close()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.2)
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if self._silent:
                continue  # swallowed: the other side waits for an answer that never comes
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        self._thread.join(timeout=2)
