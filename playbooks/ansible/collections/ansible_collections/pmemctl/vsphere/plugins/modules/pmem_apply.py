#!/usr/bin/python
# Copyright: pmemctl developers
# SPDX-License-Identifier: Apache-2.0
"""Ansible module: make a vCenter's PMem match a pmemctl spec (``pmemctl apply --yes``)."""

from __future__ import annotations

import hashlib
import json

DOCUMENTATION = r"""
---
module: pmem_apply
short_description: Make a vCenter's Persistent Memory match a pmemctl spec
description:
  - Plans the changes a pmemctl spec asks for (vNVDIMMs, new vPMemDisks, Storage vMotion of
    disks onto or off PMem, the power cycles and hardware upgrades they need) and makes them,
    as C(pmemctl apply --yes) does, in parallel within vCenter's migration limits.
  - In check mode the plan is made and nothing is changed; C(changed) says whether anything
    would change and, with C(--diff), the diff lists every change.
  - A plan with problems (not enough PMem on a host, an unknown VM, ...) fails the task with
    every problem listed, and nothing is changed.
  - Every step is journaled (one journal per spec and vCenter), so a run that was killed
    resumes when the task runs again.
version_added: "0.1.0"
author:
  - pmemctl developers
extends_documentation_fragment:
  - pmemctl.vsphere.connection
options:
  spec:
    description:
      - The spec, inline, as the YAML of a pmemctl spec file (C(apiVersion), C(vms), C(options)).
      - Exactly one of O(spec) and O(spec_file) is required.
    type: dict
  spec_file:
    description:
      - A pmemctl spec file on the host the module runs on.
    type: path
  spec_name:
    description:
      - The name an inline O(spec) is known by in messages and journal names.
      - Default C(inline-) and a hash of the spec's content, so that two different
        inline specs never share a journal.
    type: str
  journal:
    description:
      - The journal file. Default is pmemctl's, per spec and vCenter (host and port), under
        E(PMEMCTL_JOURNAL_DIR) or C(~/.local/state/pmemctl/journals).
      - Two vCenters behind one host name (different ports) need one each.
    type: path
  parallel:
    description: Tasks in flight in total (default the spec's, else 8).
    type: int
  per_host:
    description: Disk migrations per host at once (default 2, vCenter's own limit).
    type: int
  per_datastore:
    description: Disk migrations per datastore at once (default 8).
    type: int
  on_failure:
    description: After a failure, submit nothing new (V(stop)) or go on with the VMs that do not
      depend on it (V(continue)).
    type: str
    choices: [stop, continue]
attributes:
  check_mode:
    support: full
    description: Check mode is the plan; nothing is changed.
  diff_mode:
    support: full
    description: One line per change, before and after.
"""

EXAMPLES = r"""
- name: Give the redis VMs a 16 GiB vNVDIMM
  pmemctl.vsphere.pmem_apply:
    hostname: "{{ vcenter_hostname }}"
    username: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
    ca_file: /etc/pki/vcenter-ca.pem
    spec:
      apiVersion: pmemctl/v1
      vms:
        - name: redis-01
          nvdimms: [16GiB]
  delegate_to: localhost

- name: Run a spec file on a vCenter taken from VMWARE_HOST, VMWARE_USER, VMWARE_PASSWORD
  pmemctl.vsphere.pmem_apply:
    spec_file: "{{ playbook_dir }}/../legacy-to-pmem.yaml"
  delegate_to: localhost
"""

RETURN = r"""
plan:
  description: The plan (pmemctl's plan JSON, format_version 1) made before anything ran.
  returned: always, when the spec loaded and the vCenter answered
  type: dict
  contains:
    changes:
      description: Each change's vm, action, target, before, after, disruptive and reason.
      type: list
      elements: dict
    problems:
      description: Each problem's vm and message; any problem blocks the plan.
      type: list
      elements: dict
problems:
  description: "Every problem that blocked the plan, as C(VM: message)."
  returned: failed, when the plan was blocked
  type: list
  elements: str
summary:
  description: Changes per outcome (done, failed, skipped, pending, ...).
  returned: when changes were applied
  type: dict
  sample: {"done": 3, "failed": 0, "skipped": 0, "pending": 0}
results:
  description: Each change's vm, action, target, outcome, task, fault and message.
  returned: when changes were applied
  type: list
  elements: dict
journal:
  description: The journal file of this spec and vCenter.
  returned: always, when the vCenter answered
  type: str
vcenter:
  description: The vCenter's host and port.
  returned: always, when the vCenter answered
  type: str
  sample: vc01.example.com:443
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pmemctl.vsphere.plugins.module_utils.pmem import (
    connect,
    connection_argument_spec,
    fail_on_error,
    require_pmemctl,
)


def _diff(plan):
    """Before and after, one line per change, for Ansible's --diff."""
    before, after = [], []
    for c in plan.changes:
        where = f"{c.vm}: {c.action.value} {c.target}"
        before.append(f"{where}: {c.before if c.before is not None else '-'}\n")
        after.append(f"{where}: {c.after if c.after is not None else '-'}\n")
    return {"before": "".join(before), "after": "".join(after),
            "before_header": "vCenter now", "after_header": "after pmem_apply"}


def _inline_name(spec):
    """``inline-<hash of the content>``: the journal is per spec, and an inline spec's name
    is all pmemctl names it by."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    return f"inline-{digest[:8]}"


def _problems(plan):
    return [f"{p.vm}: {p.message}" if p.vm else p.message for p in plan.problems]


def _fail_blocked(module, plan, out):
    out["plan"] = plan.to_json()
    problems = _problems(plan)
    module.fail_json(msg=f"{len(problems)} problem(s) block the plan; nothing was changed: "
                     + "; ".join(problems), problems=problems, **out)


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        spec={"type": "dict"},
        spec_file={"type": "path"},
        spec_name={"type": "str"},
        journal={"type": "path"},
        parallel={"type": "int"},
        per_host={"type": "int"},
        per_datastore={"type": "int"},
        on_failure={"type": "str", "choices": ["stop", "continue"]},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[("spec", "spec_file")],
                           mutually_exclusive=[("spec", "spec_file")])
    require_pmemctl(module)
    import pmemctl

    p = module.params
    try:
        spec = (pmemctl.load_spec(p["spec_file"]) if p["spec_file"]
                else pmemctl.load_spec(p["spec"], name=p["spec_name"] or _inline_name(p["spec"])))
    except pmemctl.SpecError as exc:
        module.fail_json(msg="the spec has problems; nothing was changed",
                         problems=[str(d) for d in exc.diagnostics])
        return
    out = {}
    try:
        with connect(module) as session:
            journal = p["journal"] or str(session.default_journal(spec))
            out.update(journal=journal,
                       vcenter=f"{session.settings.host}:{session.settings.port}")
            for w in session.warnings:
                module.warn(w)
            if module.check_mode:
                plan = session.plan(spec, journal=journal)
                if plan.blocked:
                    _fail_blocked(module, plan, out)
                    return
                out["plan"] = plan.to_json()
                changed = not plan.empty
                module.exit_json(changed=changed, diff=_diff(plan) if module._diff and changed
                                 else None, **out)
                return
            # One read of the estate: apply plans, and hands the plan to confirm
            # before it runs anything (an empty plan returns without asking).
            seen = []
            try:
                result = session.apply(spec, journal=journal, parallel=p["parallel"],
                                       per_host=p["per_host"], per_datastore=p["per_datastore"],
                                       on_failure=p["on_failure"],
                                       confirm=lambda shown: seen.append(shown) or True)
            except pmemctl.PlanBlocked as exc:
                _fail_blocked(module, exc.plan, out)
                return
            plan = seen[0] if seen else pmemctl.Plan()
            out["plan"] = plan.to_json()
            diff = _diff(plan) if module._diff and seen else None
    except Exception as exc:  # pmemctl's errors carry a message fit for the task
        fail_on_error(module, exc, **out)
        return
    out.update(summary=result.summary(), results=[r.to_json() for r in result.results])
    done = out["summary"].get("done", 0)
    if not result.ok:
        failed = [f"{r.change.vm} {r.change.action.value} {r.change.target}: "
                  f"{r.fault or r.message or r.outcome.value}" for r in result.results
                  if r.outcome.value != "done"]
        module.fail_json(msg=f"{len(failed)} change(s) not done: " + "; ".join(failed),
                         changed=done > 0, diff=diff, **out)
        return
    module.exit_json(changed=done > 0, diff=diff, **out)


if __name__ == "__main__":
    main()
