"""PBM look-ups through the recorded session (the /pbm/sdk endpoint and its session cookie)."""

from __future__ import annotations

from pmemctl.inventory.model import PMEM_POLICY_ID
from pmemctl.vsphere.pbm import default_policy_ids, find_pmem_policy_id
from pmemctl.vsphere.session import Connection


def test_find_pmem_policy_id(replay_conn: Connection) -> None:
    assert find_pmem_policy_id(replay_conn) == PMEM_POLICY_ID


def test_default_policy_ids_degrade_to_none(replay_conn: Connection) -> None:
    # pmemsim (like vcsim) has no PbmQueryDefaultRequirementProfiles: every
    # datastore then answers None, "the datastore's own default".
    assert default_policy_ids(replay_conn, ["datastore-1"]) == {"datastore-1": None}
