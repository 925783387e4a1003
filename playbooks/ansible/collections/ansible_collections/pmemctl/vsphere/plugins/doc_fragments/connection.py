# Copyright: pmemctl developers
# SPDX-License-Identifier: Apache-2.0
"""Connection options shared by the pmemctl.vsphere modules (named as vmware.vmware names them)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - The vCenter's host name or address.
      - If not set, the environment variable E(VMWARE_HOST) is used.
    type: str
    required: false
  username:
    description:
      - The user to log in as.
      - If not set, the environment variable E(VMWARE_USER) is used.
    type: str
    required: false
    aliases: [user]
  password:
    description:
      - The user's password. Never logged, never in the journal.
      - If not set, the environment variable E(VMWARE_PASSWORD) is used.
    type: str
    required: false
    aliases: [pass, pwd]
  validate_certs:
    description:
      - Verify the vCenter's TLS certificate (with O(ca_file), or the system store).
      - If not set, the environment variable E(VMWARE_VALIDATE_CERTS) is used, else V(true).
    type: bool
    required: false
  port:
    description:
      - The vCenter's HTTPS port.
      - If not set, the environment variable E(VMWARE_PORT) is used, else V(443).
    type: int
    required: false
  ca_file:
    description:
      - A CA bundle (PEM) to verify the vCenter's certificate with.
      - If not set, the environment variable E(PMEMCTL_CA_FILE) is used.
    type: path
    required: false
  context:
    description:
      - A named vCenter of pmemctl's config file on the host the module runs on,
        used when O(hostname) is not given (see C(pmemctl config list)).
    type: str
    required: false
  timeout:
    description:
      - Seconds a silent vCenter is waited for, per socket operation.
    type: float
    default: 30
requirements:
  - pmemctl (the Python package, on the host the module runs on)
notes:
  - "The module runs where the vCenter API is reached from, usually the controller
    (C(connection: local) or C(delegate_to: localhost))."
"""
