"""Network faults: retry what is safe to retry, and turn the rest into a clear error.

vCenter restarts (``vmware-vpxd`` alone takes minutes), load balancers reset
idle connections, and rhttpproxy answers ``503`` while vpxd is not up yet.
The rule here is the one the README's "Reliability" table states:

* **Idempotent calls** (reads, waits, and the session plumbing whose repeat
  only leaks a collector to the session: see :data:`IDEMPOTENT`) are tried
  again on a *transient* fault (connection reset, refused connection, TLS
  EOF, HTTP 502/503/504, an answer cut off), with exponential backoff and
  full jitter, at most :data:`ATTEMPTS` tries and :data:`BUDGET_S` seconds,
  with one message per retry.
* **Everything else** (task submissions above all) is sent once: a lost
  reply to ``RelocateVM_Task`` may mean the task runs, and sending it again
  would start a second one. The caller finds out from the VM's
  ``recentTask`` instead (:mod:`pmemctl.apply.resume`).
* A **timeout** is never retried: a vCenter that accepts connections and
  says nothing would otherwise hold the run for attempts × timeout.

Every network failure leaves as :class:`NetworkError`, a
:class:`~pmemctl.errors.PmemctlError` (exit 1) whose message says what
happened; :class:`LostReply` when a non-idempotent call may have been done.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import ssl
import time
from collections.abc import Callable
from http.client import HTTPException, IncompleteRead, RemoteDisconnected
from typing import Any, TypeVar

from pmemctl.errors import PmemctlError
from pmemctl.vsphere import calllog

T = TypeVar("T")

ATTEMPTS = 5  # tries in all, the first included
BUDGET_S = 60.0  # no retry starts later than this after the first try
BACKOFF_BASE_S = 0.5  # the first delay is drawn from [0, base]; doubles each time
BACKOFF_CAP_S = 8.0

#: SOAP methods (wsdl names) that may be sent again after a lost reply.
#: Reads and waits change nothing; a repeated ``Login`` or ``Create*`` leaves
#: at most an unused session or collector, which vCenter ends with the session.
#: ``ContinueRetrievePropertiesEx`` is not here: a server that handled the
#: lost call has moved its token on, and a repeat would skip a page.
IDEMPOTENT = frozenset({
    "RetrieveServiceContent", "RetrievePropertiesEx", "RetrieveProperties", "Fetch",
    "WaitForUpdatesEx", "CreatePropertyCollector", "CreateListView", "CreateFilter",
    "ModifyListView", "Login", "CurrentTime",
    "PbmRetrieveServiceContent", "PbmQueryAssociatedProfiles", "PbmQueryProfile",
    "PbmRetrieveContent",
})

#: Calls that only clean up; once vCenter is known to be gone they are not
#: sent (each would wait a full timeout for nothing).
CLEANUP = frozenset({
    "DestroyPropertyCollector", "DestroyView", "DestroyPropertyFilter", "Logout",
    "CancelRetrievePropertiesEx",
})

_RETRY_STATUS = ("502", "503", "504")


class _Signals:
    """Process-wide, as SIGINT is: set by the executor's Ctrl-C handler, read here."""

    cancel = False  # Ctrl-C was pressed: a retry's wait ends, no new retry starts
    reading = False  # an idempotent call is on the wire: the handler may abandon it


SIGNALS = _Signals()


class NetworkError(PmemctlError):
    """vCenter could not be reached, or stopped answering, during a call."""

    code = "unreachable"

    def __init__(self, message: str, *, cause: str, method: str,
                 original: BaseException | None = None, attempts: int = 1,
                 elapsed_s: float = 0.0) -> None:
        super().__init__(message)
        self.cause = cause  # what happened, e.g. "connection reset"
        self.method = method  # the SOAP method that hit it
        self.original = original  # the socket/TLS/HTTP exception of the last try
        self.attempts = attempts
        self.elapsed_s = elapsed_s
        self.complete = False  # True once the message says what is done and what to do


class LostReply(NetworkError):
    """A call that changes things was sent and its reply was lost: it may have been done."""


class Cancelled(PmemctlError):
    """Ctrl-C during a retry's wait."""

    code = "interrupted"


def transient(exc: BaseException) -> str | None:
    """What went wrong, when it is worth trying again; None for anything else."""
    if isinstance(exc, RemoteDisconnected):  # before ConnectionResetError: it is one
        return "vCenter closed the connection without answering"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "connection reset"
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "TLS connection closed (EOF)"
    if isinstance(exc, IncompleteRead):
        return "the answer was cut off"
    if isinstance(exc, HTTPException) and str(exc)[:3] in _RETRY_STATUS:
        return f"HTTP {exc}"
    return None


def describe(exc: BaseException, timeout_s: float) -> str:
    """Any network failure in a few words (a timeout names ``--timeout``)."""
    reason = transient(exc)
    if reason is not None:
        return reason
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout_s:g} s (--timeout)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {getattr(exc, 'reason', None) or exc}"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, OSError):
        return str(exc.strerror or exc or type(exc).__name__)
    if isinstance(exc, HTTPException):
        return f"HTTP error: {exc or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


def is_network(exc: BaseException) -> bool:
    """True for the exceptions a socket, TLS or HTTP failure raises."""
    return isinstance(exc, OSError | HTTPException)


Notify = Callable[[str], None]


class Policy:
    """How one connection retries: bounds, the --timeout, who hears about retries.

    ``cancelled`` is asked between tries (the executor's Ctrl-C counter);
    ``sleep`` and ``clock`` are there for tests.
    """

    def __init__(self, *, where: str, timeout_s: float, notify: Notify | None = None,
                 attempts: int | None = None, budget_s: float | None = None) -> None:
        self.where = where
        self.timeout_s = timeout_s
        self.notify: Notify = notify or (lambda _m: None)
        self.attempts = ATTEMPTS if attempts is None else attempts
        self.budget_s = BUDGET_S if budget_s is None else budget_s
        self.cancelled: Callable[[], bool] = lambda: SIGNALS.cancel
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic
        self.dead = False  # a call failed for good: cleanup calls are not sent
        self.retries = 0  # retries made, for tests and the round-trip budget

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base·2^attempt)] (AWS's advice)."""
        return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))

    def call(self, method: str, fn: Callable[[], T], *, what: str = "") -> T:
        """``fn()``, retried on transient faults when ``method`` is idempotent.

        Raises:
            LostReply: ``method`` is not idempotent and the connection failed
                after it was sent (it may have been done).
            NetworkError: any other network failure, after the retries.
            Cancelled: Ctrl-C while waiting to retry.
        """
        if self.dead and method in CLEANUP:
            raise NetworkError(f"{method} not sent: vCenter is unreachable",
                               cause="unreachable", method=method)
        retry = method in IDEMPOTENT
        start = self.clock()
        attempt = 0
        while True:
            outer, SIGNALS.reading = SIGNALS.reading, retry
            began = time.perf_counter()
            try:
                result = fn()
                calllog.call(method, what, time.perf_counter() - began)
            except Exception as exc:
                calllog.call(method, what, time.perf_counter() - began, exc)
                if not is_network(exc):
                    raise
                reason = transient(exc)
                attempt += 1
                elapsed = self.clock() - start
                if (retry and reason is not None and attempt < self.attempts
                        and elapsed < self.budget_s and not self.cancelled()):
                    wait = self.delay(attempt - 1)
                    self.notify(f"{reason} during {method} at {self.where}; "
                                f"retry {attempt} of {self.attempts - 1} in {wait:.1f} s")
                    self._sleep(wait)
                    self.retries += 1
                    continue
                raise self._final(method, exc, attempt=attempt, elapsed=elapsed, retried=retry,
                                  what=what) from None
            finally:
                SIGNALS.reading = outer
            self.dead = False
            return result

    def _sleep(self, seconds: float) -> None:
        # In slices, so that a Ctrl-C the executor turned into a counter ends the wait.
        end = self.clock() + seconds
        while (left := end - self.clock()) > 0:
            if self.cancelled():
                raise Cancelled("interrupted while waiting to retry; nothing was submitted "
                                "during the wait")
            self.sleep(min(left, 0.1))

    def _final(self, method: str, exc: BaseException, *, attempt: int, elapsed: float,
               retried: bool, what: str) -> NetworkError:
        self.dead = True
        cause = describe(exc, self.timeout_s)
        if not retried and not isinstance(exc, ConnectionRefusedError):
            # Sent (a refused connection never sent anything): it may have been done.
            subject = f"{method} for {what}" if what else method
            return LostReply(f"the reply to {subject} was lost ({cause}) at {self.where}",
                             cause=cause, method=method, original=exc)
        tries = f" after {attempt} tries in {elapsed:.0f} s" if attempt > 1 else ""
        return NetworkError(f"vCenter at {self.where} did not answer {method}: {cause}{tries}",
                            cause=cause, method=method, original=exc, attempts=attempt,
                            elapsed_s=elapsed)


def install(stub: Any, policy: Policy) -> None:
    """Route every SOAP call of a pyVmomi ``SoapStubAdapter`` through ``policy``.

    pyVmomi sends methods and property reads (``Fetch``) through the stub's
    ``InvokeMethod``; it is replaced on this instance only, so the stub's
    type (which :func:`~pmemctl.vsphere.session.raw_call` checks) is kept.
    """
    invoke = stub.InvokeMethod

    def invoke_with_policy(mo: Any, info: Any, args: Any, outerStub: Any = None) -> Any:
        if str(info.wsdlName) not in IDEMPOTENT:
            drop_dead_connections(stub)
        return policy.call(str(info.wsdlName), lambda: invoke(mo, info, args, outerStub),
                           what=str(getattr(mo, "_moId", "")))

    stub.InvokeMethod = invoke_with_policy
    stub.pmemctl_policy = policy


def drop_dead_connections(stub: Any) -> None:
    """Close the pooled connections the server has already closed or reset.

    A submit sent on such a socket fails with a reset that looks exactly
    like a lost reply, and a lost reply cannot be retried; a socket found
    dead *before* sending is safe to drop. An idle HTTP connection has
    nothing to read, so one that is readable has been closed by the peer.
    """
    pool = getattr(stub, "pool", None)
    lock = getattr(stub, "lock", None)
    if not isinstance(pool, list) or lock is None:
        return
    with lock:
        alive = []
        for conn, stamp in pool:
            sock: Any = getattr(conn, "sock", None)
            dead = sock is None
            if not dead:
                with contextlib.suppress(OSError, ValueError):
                    dead = bool(select.select([sock], [], [], 0)[0])
            if dead:
                with contextlib.suppress(Exception):
                    conn.close()
            else:
                alive.append((conn, stamp))
        pool[:] = alive


def policy_of(stub: Any) -> Policy | None:
    """The policy :func:`install` gave ``stub``, if any."""
    p = getattr(stub, "pmemctl_policy", None)
    return p if isinstance(p, Policy) else None
