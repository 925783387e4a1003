#!/usr/bin/python
# Copyright: pmemctl developers
# SPDX-License-Identifier: Apache-2.0
"""Ansible module: a vCenter's Persistent Memory, as ``pmemctl status`` reports it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pmem_info
short_description: Report a vCenter's Persistent Memory (what pmemctl status shows)
description:
  - Reads every host's PMem capacity, use and PMem datastore, and every VM that uses PMem
    (its vNVDIMMs and its disks on PMem), in one read whatever the estate's size.
  - Changes nothing; runs in check mode too.
version_added: "0.1.0"
author:
  - pmemctl developers
extends_documentation_fragment:
  - pmemctl.vsphere.connection
attributes:
  check_mode:
    support: full
    description: Reads only.
"""

EXAMPLES = r"""
- name: Read PMem on a vCenter
  pmemctl.vsphere.pmem_info:
    hostname: vc01.example.com
    username: administrator@vsphere.local
    password: "{{ vault_vc01_password }}"
    ca_file: /etc/pki/vc01-ca.pem
  delegate_to: localhost
  register: pmem

- name: Hosts with less than 64 GiB of PMem free
  ansible.builtin.debug:
    msg: "{{ pmem.pmem_status.hosts | selectattr('pmem_free_mb', 'lt', 65536) | map(attribute='name') }}"
"""

RETURN = r"""
pmem_status:
  description: The C(pmemctl status -o json) document.
  returned: success
  type: dict
  contains:
    hosts:
      description: Each host's name, cluster, pmem_capacity_mb, pmem_free_mb and pmem_datastore.
      type: list
      elements: dict
    vms:
      description: >-
        Each PMem VM's name, host, hardware_version, power_state, nvdimms (label, size_mb)
        and disks (label, size_mb, datastore, pmem).
      type: list
      elements: dict
vcenter:
  description: The vCenter read (host, port, API version, instance UUID).
  returned: success
  type: dict
  sample: {"host": "vc01.example.com", "port": 443, "api_version": "8.0.3.0",
           "instance_uuid": "2f6d…"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pmemctl.vsphere.plugins.module_utils.pmem import (
    connect,
    connection_argument_spec,
    fail_on_error,
    require_pmemctl,
)


def main() -> None:
    module = AnsibleModule(argument_spec=connection_argument_spec(), supports_check_mode=True)
    require_pmemctl(module)
    try:
        with connect(module) as session:
            status = session.status()
            vcenter = {"host": session.settings.host, "port": session.settings.port,
                       "api_version": session.about.api_version,
                       "instance_uuid": session.about.instance_uuid}
            warnings = list(session.warnings)
    except Exception as exc:  # pmemctl's errors carry a message fit for the task
        fail_on_error(module, exc)
        return
    for w in warnings:
        module.warn(w)
    module.exit_json(changed=False, pmem_status=status, vcenter=vcenter,
                     ansible_facts={"pmem_status": status})


if __name__ == "__main__":
    main()
