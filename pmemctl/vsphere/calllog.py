"""``-v``/``--debug``: one log line per SOAP call, its method, object and time; never its body.

Calls are logged to the ``pmemctl.soap`` logger at DEBUG, from the one place
every call goes through (:meth:`pmemctl.vsphere.retry.Policy.call`). Only
the method name, the managed object's id and the outcome's exception type
are logged: arguments and answers may hold a password (``Login``) or a
session cookie, so they never reach a log.
"""

from __future__ import annotations

import logging

log = logging.getLogger("pmemctl.soap")


def call(method: str, what: str, elapsed_s: float, error: BaseException | None = None) -> None:
    """Log one SOAP call (one attempt: a retried call logs each try)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    on = f" {what}" if what else ""
    outcome = f" failed: {type(error).__name__}" if error is not None else ""
    log.debug("SOAP %s%s %.3f s%s", method, on, elapsed_s, outcome)
