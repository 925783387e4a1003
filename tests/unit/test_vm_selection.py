"""match: exclude, custom attributes, escaped names, case-insensitive listing (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pmemctl.errors import SpecError
from pmemctl.inventory.model import Scope
from pmemctl.plan.select import select_vms, spec_scope
from pmemctl.spec.load import load_spec_text
from pmemctl.spec.model import Match
from pmemctl.status import build_status
from pmemctl.vsphere.snapshot import custom_attributes
from tests.unit.builders import disk, host, inventory, spec, vm


def _inv():  # type: ignore[no-untyped-def]
    return inventory(vms=[
        replace(vm("db-01", devices_loaded=False), attributes=(("team", "db"),)),
        replace(vm("DB-02", devices_loaded=False), attributes=(("team", "db"), ("tier", "gold"))),
        replace(vm("db-03-test", devices_loaded=False), attributes=(("team", "db"),)),
        replace(vm("web/01", devices_loaded=False), attributes=(("team", "web"),)),
        replace(vm("web%01", devices_loaded=False), attributes=(("team", ""),)),
        vm("cache-01", devices_loaded=False),
    ])


def names(text: str) -> list[str]:
    s = load_spec_text("apiVersion: pmemctl/v1\nvms:\n" + text)
    return select_vms(s, _inv()).names


@pytest.mark.parametrize(("text", "expected"), [
    # case-insensitive listing: DB-02 sits between db-01 and db-03
    ("  - match: {name: '*', attributes: {team: db}}\n    nvdimms: []\n",
     ["db-01", "DB-02", "db-03-test"]),
    ("  - match: {name: '*', attributes: {team: db}, exclude: '*-test'}\n    nvdimms: []\n",
     ["db-01", "DB-02"]),
    ("  - match: {name: '*', exclude: ['*-test', 'web*', 'cache-*']}\n    nvdimms: []\n",
     ["db-01", "DB-02"]),
    ("  - match: {name: '*', attributes: {team: db, tier: g*}}\n    nvdimms: []\n", ["DB-02"]),
    # '*' is "set to anything": an empty value is not set
    ("  - match: {name: 'web*', attributes: {team: '*'}}\n    nvdimms: []\n", ["web/01"]),
    # names as vSphere escapes them, or as typed
    ("  - name: web%2f01\n    nvdimms: []\n", ["web/01"]),
    ("  - name: web/01\n    nvdimms: []\n", ["web/01"]),
    ("  - match: {name: 'web%2f*'}\n    nvdimms: []\n", ["web/01"]),
    ("  - match: {name: 'web%2501'}\n    nvdimms: []\n", ["web%01"]),
])
def test_match_selects_what_it_says(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_a_match_that_attributes_narrow_to_nothing_is_a_problem() -> None:
    s = load_spec_text("apiVersion: pmemctl/v1\nvms:\n"
                       "  - match: {name: '*', attributes: {team: dba}}\n    nvdimms: []\n",
                       "s.yaml")
    assert [p.message for p in select_vms(s, _inv()).problems] == [
        "s.yaml:3:5: match(name=*, team=dba) selects no VM"]


@pytest.mark.parametrize(("match", "message"), [
    ("{name: '*', exclude: []}", "exclude: the list is empty"),
    ("{name: '*', exclude: ''}", "exclude: must not be empty"),
    ("{name: '*', attributes: {}}", "attributes: the mapping is empty"),
    ("{name: '*', attributes: [team]}", "attributes: expected a mapping"),
    ("{name: '*', attributes: {team: 3}}", "attributes.team: expected a glob"),
    ("{name: '*', exclud: x}", "did you mean 'exclude'?"),
])
def test_bad_exclude_or_attributes_are_located_errors(match: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec_text(f"apiVersion: pmemctl/v1\nvms:\n  - match: {match}\n    nvdimms: []\n")


def test_attributes_are_read_only_when_a_spec_selects_by_them() -> None:
    plain = spec(*[])
    assert spec_scope(plain) is None
    by_name = load_spec_text("apiVersion: pmemctl/v1\nvms:\n"
                             "  - match: {name: '*', attributes: {team: db}}\n    nvdimms: []\n")
    assert spec_scope(by_name) == Scope(attributes=True)
    scoped = load_spec_text("apiVersion: pmemctl/v1\nvms:\n"
                            "  - match: {name: '*', host: esx-01, attributes: {team: db}}\n"
                            "    nvdimms: []\n")
    assert spec_scope(scoped) == Scope(hosts=("esx-01",), attributes=True)
    assert by_name.vms[0].match == Match(name="*", attributes=(("team", "db"),))


class _V:
    def __init__(self, key: int, value: str) -> None:
        self.key, self.value = key, value


def test_custom_attributes_last_value_wins_and_unknown_keys_are_dropped() -> None:
    values = [_V(1, "db"), _V(2, "x"), _V(1, "web"), _V(9, "?")]
    assert custom_attributes({1: "team", 2: "tier"}, values) == (("team", "web"), ("tier", "x"))


def test_status_lists_vms_and_hosts_case_insensitively() -> None:
    on_pmem = [disk("Hard disk 1", 8, "PMemDS-esx-01")]
    inv = inventory(hosts=[host("esx-01"), host("ESX-02", pmem_gb=0)],
                    vms=[vm("db-03", disks=on_pmem), vm("DB-02", disks=on_pmem),
                         vm("db-01", disks=on_pmem)])
    doc = build_status(inv)
    assert [v["name"] for v in doc["vms"]] == ["db-01", "DB-02", "db-03"]
    assert [h["name"] for h in doc["hosts"]] == ["esx-01", "ESX-02"]
    assert doc["hosts"][0]["vms"] == ["db-01", "DB-02", "db-03"]
