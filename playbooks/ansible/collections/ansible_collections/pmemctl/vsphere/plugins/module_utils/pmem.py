# Copyright: pmemctl developers
# SPDX-License-Identifier: Apache-2.0
"""What the pmemctl.vsphere modules share: connection options and logging in through pmemctl's API."""

from __future__ import annotations

import os
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

try:
    import pmemctl
except ImportError:
    pmemctl = None  # type: ignore[assignment]
    PMEMCTL_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    PMEMCTL_IMPORT_ERROR = None


def connection_argument_spec() -> dict[str, Any]:
    """The options of doc_fragments/connection.py, with vmware.vmware's environment fallbacks."""
    return {
        "hostname": {"type": "str", "fallback": (env_fallback, ["VMWARE_HOST"])},
        "username": {"type": "str", "aliases": ["user"],
                     "fallback": (env_fallback, ["VMWARE_USER"])},
        "password": {"type": "str", "aliases": ["pass", "pwd"], "no_log": True,
                     "fallback": (env_fallback, ["VMWARE_PASSWORD"])},
        "validate_certs": {"type": "bool", "fallback": (env_fallback, ["VMWARE_VALIDATE_CERTS"])},
        "port": {"type": "int", "fallback": (env_fallback, ["VMWARE_PORT"])},
        "ca_file": {"type": "path", "fallback": (env_fallback, ["PMEMCTL_CA_FILE"])},
        "context": {"type": "str"},
        "timeout": {"type": "float", "default": 30.0},
    }


def require_pmemctl(module: AnsibleModule) -> None:
    """Fail the task, saying what to install, when pmemctl cannot be imported."""
    if pmemctl is None:
        module.fail_json(msg=missing_required_lib("pmemctl"), exception=PMEMCTL_IMPORT_ERROR)


def connect(module: AnsibleModule) -> Any:
    """A pmemctl Session for the module's connection options (pmemctl.connect).

    The options take the place of pmemctl's flags, so ``PMEMCTL_*``, the
    named context and ``GOVC_*`` still fill in what they leave out.
    """
    p = module.params
    server = None
    if p["hostname"]:
        host = p["hostname"]
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        server = f"{host}:{p['port']}" if p["port"] else host
    insecure = None if p["validate_certs"] is None else not p["validate_certs"]
    # validate_certs: false skips verification, so a CA file has nothing to do.
    ca_file = None if insecure else p["ca_file"]
    return pmemctl.connect(server=server, user=p["username"], password=p["password"],
                           ca_file=ca_file, insecure=insecure, timeout=p["timeout"],
                           context=p["context"], env=os.environ)


def fail_on_error(module: AnsibleModule, exc: Exception, **extra: Any) -> None:
    """Fail the task with pmemctl's message (which never holds a password)."""
    module.fail_json(msg=f"{type(exc).__name__}: {exc}", **extra)
