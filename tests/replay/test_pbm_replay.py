"""PBM look-ups through the recorded session (the /pbm/sdk endpoint and its session cookie)."""

from __future__ import annotations

from pmemctl.inventory.model import PMEM_POLICY_ID
from pmemctl.vsphere.pbm import find_pmem_policy_id
from pmemctl.vsphere.session import Connection


def test_find_pmem_policy_id(replay_conn: Connection) -> None:
    assert find_pmem_policy_id(replay_conn) == PMEM_POLICY_ID
