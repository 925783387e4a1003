"""The retry policy: which faults are retried, for which calls, how far, and what is raised."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from http.client import HTTPException, RemoteDisconnected

import pytest

from pmemctl.vsphere import retry

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def policy(**kw: float) -> tuple[retry.Policy, list[str]]:
    said: list[str] = []
    p = retry.Policy(where="https://vc:443/sdk", timeout_s=5, notify=said.append, **kw)  # type: ignore[arg-type]
    clock = Clock()
    p.clock, p.sleep = clock, clock.sleep
    return p, said


def failing(*excs: BaseException, result: str = "ok") -> Callable[[], str]:
    left = list(excs)

    def call() -> str:
        if left:
            raise left.pop(0)
        return result
    return call


@pytest.mark.parametrize("exc", [ConnectionResetError(104, "reset"), ConnectionRefusedError(),
                                 ssl.SSLEOFError(), RemoteDisconnected("closed"),
                                 HTTPException("503 Service Unavailable")])
def test_a_read_is_retried_through_a_transient_fault(exc: BaseException) -> None:
    p, said = policy()
    assert p.call("RetrievePropertiesEx", failing(exc, exc)) == "ok"
    assert p.retries == 2
    assert len(said) == 2 and "retry 1 of 4" in said[0] and "RetrievePropertiesEx" in said[0]


def test_retries_are_bounded_in_count() -> None:
    p, said = policy()
    with pytest.raises(retry.NetworkError, match="after 5 tries") as e:
        p.call("WaitForUpdatesEx", failing(*[ConnectionResetError()] * 9))
    assert len(said) == 4 and e.value.cause == "connection reset"


def test_retries_are_bounded_in_time() -> None:
    p, _ = policy(budget_s=0.0)
    with pytest.raises(retry.NetworkError):
        p.call("RetrievePropertiesEx", failing(ConnectionResetError()))
    assert p.retries == 0


def test_a_submit_is_never_sent_twice_after_a_lost_reply() -> None:
    p, said = policy()
    calls = failing(ConnectionResetError(104, "reset"))
    with pytest.raises(retry.LostReply, match="the reply to RelocateVM_Task for vm-7 was lost"):
        p.call("RelocateVM_Task", calls, what="vm-7")
    assert said == [] and p.retries == 0
    assert calls() == "ok"  # the call was made once only


def test_a_refused_submit_is_not_a_lost_reply() -> None:
    p, _ = policy()
    with pytest.raises(retry.NetworkError) as e:
        p.call("PowerOnVM_Task", failing(ConnectionRefusedError()))
    assert not isinstance(e.value, retry.LostReply)


def test_a_timeout_is_reported_at_once_and_names_the_flag() -> None:
    p, said = policy()
    with pytest.raises(retry.NetworkError, match=r"no answer within 5 s \(--timeout\)"):
        p.call("RetrievePropertiesEx", failing(TimeoutError()))
    assert said == []


def test_other_errors_pass_through() -> None:
    p, _ = policy()
    with pytest.raises(ValueError):
        p.call("RetrievePropertiesEx", failing(ValueError("not the network")))


def test_ctrl_c_ends_the_wait_before_a_retry() -> None:
    p, _ = policy()
    p.sleep = lambda s: setattr(retry.SIGNALS, "cancel", True)
    try:
        with pytest.raises(retry.Cancelled):
            p.call("RetrievePropertiesEx", failing(ConnectionResetError(), ConnectionResetError()))
    finally:
        retry.SIGNALS.cancel = False


def test_cleanup_is_not_sent_to_a_vcenter_known_gone() -> None:
    p, _ = policy()
    with pytest.raises(retry.NetworkError):
        p.call("RetrievePropertiesEx", failing(TimeoutError()))
    sent: list[int] = []
    with pytest.raises(retry.NetworkError, match="not sent"):
        p.call("DestroyPropertyCollector", lambda: sent.append(1))
    assert sent == []
