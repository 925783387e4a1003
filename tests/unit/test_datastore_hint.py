"""An unknown datastore name in a spec gets a did-you-mean from the estate."""

from __future__ import annotations

import pytest

from pmemctl.plan.planner import make_plan
from tests.unit import builders as b

pytestmark = pytest.mark.unit


def _messages(storage: str, datastores: list[tuple[str, str]], dc: str = "DC0") -> list[str]:
    inv = b.inventory(
        hosts=[b.host("esx-01", datastores=[n for n, d in datastores if d == dc],
                      datacenter=dc)],
        datastores=[b.datastore(n, datacenter=d) for n, d in datastores],
        vms=[b.vm("db-01", disks=[b.disk(datastore="san-01")], datacenter=dc)])
    plan = make_plan(b.spec(b.entry(name="db-01", disks={"Hard disk 1": storage})), inv)
    return [p.message for p in plan.problems]


@pytest.mark.parametrize(("typed", "meant"), [
    ("NFS gold", "NFS Gold"),   # case
    ("nfs-gold", "NFS Gold"),   # case and punctuation
    ("NFS Gld", "NFS Gold"),    # a typo
])
def test_a_close_name_is_offered(typed: str, meant: str) -> None:
    [msg] = _messages(typed, [("san-01", "DC0"), ("NFS Gold", "DC0"), ("NFS Silver", "DC0")])
    assert msg.endswith(f"; did you mean {meant}?"), msg
    assert msg.startswith(f"datastore {typed} does not exist in datacenter DC0")


def test_nothing_close_offers_nothing() -> None:
    [msg] = _messages("tape-07", [("san-01", "DC0"), ("NFS Gold", "DC0")])
    assert "did you mean" not in msg


def test_a_name_that_only_another_datacenter_has_says_where_it_is() -> None:
    [msg] = _messages("archive-01", [("san-01", "DC0"), ("archive-01", "DC1")])
    assert msg.endswith("; a datastore of that name is in datacenter DC1"), msg
