"""disks: keys (labels, globs, selectors, keep): the grammar, and what they pick on a VM (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pmemctl.inventory.model import Disk
from pmemctl.plan.disksel import choose_disks
from pmemctl.plan.planner import make_plan
from pmemctl.spec.disksel import DiskKeyError, KeyKind, parse_key
from pmemctl.spec.load import load_spec_text
from pmemctl.spec.model import DiskTarget
from tests.unit.builders import datastore, disk, entry, host, inventory, spec, vm

PMEM_DS = "PMemDS-esx-01"


def disks4() -> list[Disk]:
    """An OS disk at unit 0 on san-01, two data disks (one already on PMem), one on san-02."""
    return [
        replace(disk("Hard disk 1", 40, "san-01"), unit_number=0),
        replace(disk("Hard disk 2", 20, "san-01"), unit_number=1),
        replace(disk("Hard disk 3", 10, PMEM_DS), unit_number=2),
        replace(disk("Hard disk 10", 5, "san-02"), unit_number=3),
    ]


def picked(keys: dict[str, str], disks: list[Disk] | None = None) -> list[tuple[str, str]]:
    choice = choose_disks("db-01", disks4() if disks is None else disks,
                          {k: DiskTarget(v) for k, v in keys.items()}, ["san-01", "san-02"])
    assert choice.problems == []
    return [(d.label, t.storage) for d, t in choice.place]


# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(("text", "kind", "low", "high"), [
    ("Hard disk 2", KeyKind.EXACT, 0, None),
    ("*", KeyKind.ALL, 0, None),
    ("Hard disk [2-9]", KeyKind.GLOB, 0, None),
    ("Hard disk ?", KeyKind.GLOB, 0, None),
    ("number:2-", KeyKind.NUMBER, 2, None),
    ("number:2-4", KeyKind.NUMBER, 2, 4),
    ("number:3", KeyKind.NUMBER, 3, 3),
    ("unit:1-", KeyKind.UNIT, 1, None),
    ("unit:0", KeyKind.UNIT, 0, 0),
    ("on:pmem", KeyKind.ON, 0, None),
    ("on:san-*", KeyKind.ON, 0, None),
])
def test_keys_parse_to_one_kind(text: str, kind: KeyKind, low: int, high: int | None) -> None:
    key = parse_key(text)
    assert (key.kind, key.low, key.high) == (kind, low, high)


@pytest.mark.parametrize(("text", "message"), [
    ("", "a disk label must not be empty"),
    ("labl:x", "unknown disk selector 'labl:'"),
    ("number:0", "number: counts from 1"),
    ("number:4-2", "number:4-2 is an empty range (4 > 2)"),
    ("unit:one", "unit: takes N, N-M or N- (open-ended)"),
    ("on:", "on: needs 'pmem' or a datastore name"),
    ("Hard disk [2", "unclosed '[' in glob 'Hard disk [2'"),
])
def test_keys_that_mean_nothing_are_refused(text: str, message: str) -> None:
    with pytest.raises(DiskKeyError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        parse_key(text)


def test_the_loader_reports_a_bad_key_at_its_line_and_column() -> None:
    text = "apiVersion: pmemctl/v1\nvms:\n  - name: db-01\n    disks: {'unit:x': pmem}\n"
    with pytest.raises(Exception, match=r"<spec>:4:13: vms\[0\]\.disks\['unit:x'\]: unit:"):
        load_spec_text(text)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("Hard disk [2-9]", "{storage: pmem, size: 4GiB}", "a size creates one new disk"),
    ("on:pmem", "{storage: pmem, size: 4GiB}", "a size creates one new disk"),
    ("Hard disk 3", "{storage: keep, size: 4GiB}", "keep leaves a disk as it is"),
    ("Hard disk 3", "Keep", "write the keyword in lower case: 'keep'"),
])
def test_the_loader_refuses_sizes_it_could_not_create(key: str, value: str, message: str) -> None:
    text = f"apiVersion: pmemctl/v1\nvms:\n  - name: db-01\n    disks: {{'{key}': {value}}}\n"
    with pytest.raises(Exception, match=message):
        load_spec_text(text)


def test_the_loader_keeps_every_form() -> None:
    text = ("apiVersion: pmemctl/v1\nvms:\n  - match: {name: 'db-*'}\n    disks:\n"
            "      'Hard disk [2-9]': pmem\n      'Hard disk 3': keep\n      'on:san-02': san-01\n")
    s = load_spec_text(text)
    assert s.vms[0].disks == (("Hard disk [2-9]", DiskTarget("pmem")),
                              ("Hard disk 3", DiskTarget("keep")),
                              ("on:san-02", DiskTarget("san-01")))


# --------------------------------------------------------------------------- what keys pick


@pytest.mark.parametrize(("keys", "expected"), [
    # every disk but the OS disk, four ways
    ({"*": "pmem", "Hard disk 1": "keep"},
     [("Hard disk 2", "pmem"), ("Hard disk 3", "pmem"), ("Hard disk 10", "pmem")]),
    ({"number:2-": "pmem"},
     [("Hard disk 2", "pmem"), ("Hard disk 3", "pmem"), ("Hard disk 10", "pmem")]),
    ({"unit:1-": "pmem"},
     [("Hard disk 2", "pmem"), ("Hard disk 3", "pmem"), ("Hard disk 10", "pmem")]),
    # [2-9] is one character, as fnmatch reads it: Hard disk 10 is not in it
    ({"Hard disk [2-9]": "pmem"}, [("Hard disk 2", "pmem"), ("Hard disk 3", "pmem")]),
    # a glob with one disk left as is
    ({"Hard disk [2-9]": "pmem", "Hard disk 2": "keep"}, [("Hard disk 3", "pmem")]),
    # where the disks are now
    ({"on:pmem": "san-01"}, [("Hard disk 3", "san-01")]),
    ({"on:san-02": "san-01"}, [("Hard disk 10", "san-01")]),
    ({"on:san-*": "pmem"},
     [("Hard disk 1", "pmem"), ("Hard disk 2", "pmem"), ("Hard disk 10", "pmem")]),
    # an exact label beats a selector, a selector beats "*"
    ({"*": "san-02", "on:pmem": "san-01", "Hard disk 10": "keep"},
     [("Hard disk 1", "san-02"), ("Hard disk 2", "san-02"), ("Hard disk 3", "san-01")]),
])
def test_keys_pick_the_disks_they_say(keys: dict[str, str], expected: list[tuple[str, str]]) -> None:
    assert picked(keys) == expected


def test_two_selectors_that_disagree_about_a_disk_are_a_problem() -> None:
    choice = choose_disks("db-01", disks4(), {"on:pmem": DiskTarget("san-01"),
                                              "number:2-": DiskTarget("pmem")}, ["san-01"])
    assert choice.problems == [
        "VM db-01: Hard disk 3 is selected by 'on:pmem' (san-01), 'number:2-' (pmem), which "
        "disagree; name 'Hard disk 3' exactly to say which"
    ]
    assert [d.label for d, _ in choice.place] == ["Hard disk 2", "Hard disk 10"]


def test_a_glob_that_selects_nothing_is_a_note_and_an_exact_label_a_problem() -> None:
    one = [disk("Hard disk 1")]
    choice = choose_disks("db-01", one, {"Hard disk [2-9]": DiskTarget("pmem"),
                                         "unit:1-": DiskTarget("pmem"),
                                         "on:pmem": DiskTarget("san-01")}, ["san-01"])
    assert (choice.place, choice.problems) == ([], [])
    # on: selecting nothing is a finished evacuation: no note
    assert choice.notes == ["VM db-01: no disk matches 'Hard disk [2-9]'; skipped",
                            "VM db-01: no disk matches 'unit:1-'; skipped"]
    exact = choose_disks("db-01", one, {"Hard disk 2": DiskTarget("pmem")})
    assert len(exact.problems) == 1 and "has no disk 'Hard disk 2'" in exact.problems[0]


def test_on_a_datastore_that_does_not_exist_is_a_problem() -> None:
    choice = choose_disks("db-01", disks4(), {"on:san-O1": DiskTarget("pmem")},
                          ["san-01", "san-02"])
    assert choice.problems == [
        "VM db-01: disks key 'on:san-O1' names no datastore (none matches 'san-O1' in the "
        "VM's datacenter)"
    ]


def test_new_disks_take_the_lowest_free_numbers() -> None:
    gap = [disk("Hard disk 1"), disk("Hard disk 3")]
    ok = choose_disks("db-01", gap, {"Hard disk 2": DiskTarget("pmem", 1024),
                                     "Hard disk 4": DiskTarget("pmem", 1024)})
    assert (ok.problems, [label for label, _ in ok.create]) == ([], ["Hard disk 2", "Hard disk 4"])
    bad = choose_disks("db-01", gap, {"Hard disk 4": DiskTarget("pmem", 1024)})
    assert bad.create == [] and "will call a new disk 'Hard disk 2'" in bad.problems[0]


def test_a_created_disk_makes_the_next_plan_empty() -> None:
    want = entry(name="db-01", disks={"Hard disk 2": ("pmem", 10)})
    before = vm(disks=[disk("Hard disk 1")])
    first = make_plan(spec(want), inventory(vms=[before]))
    assert [c.action.value for c in first.changes] == ["create_disk"]
    after = vm(disks=[disk("Hard disk 1"), disk("Hard disk 2", 10, PMEM_DS)])
    second = make_plan(spec(want), inventory(vms=[after]))
    assert second.empty and not second.blocked


def test_evacuation_by_selector_is_empty_once_done() -> None:
    want = entry(match="*", on_host="esx-01", disks={"on:pmem": "san-01"})
    dss = [datastore("san-01"), datastore(PMEM_DS, type="PMEM")]
    busy = vm(disks=[disk("Hard disk 1"), disk("Hard disk 2", 10, PMEM_DS)])
    plan = make_plan(spec(want), inventory(hosts=[host()], vms=[busy], datastores=dss))
    assert [(c.action.value, c.target, c.after) for c in plan.changes] == [
        ("migrate_disk", "Hard disk 2", "san-01")]
    done = vm(disks=[disk("Hard disk 1"), disk("Hard disk 2", 10, "san-01")])
    again = make_plan(spec(want), inventory(hosts=[host()], vms=[done], datastores=dss))
    assert again.empty and not again.blocked and again.warnings == ()


def test_a_selector_that_selects_nothing_is_one_note_for_all_its_vms() -> None:
    # `number:2-` over one-disk VMs: one line naming them, not one line per VM.
    inv = inventory(hosts=[host()], vms=[vm(f"app-{i:02d}", disks=[disk()]) for i in range(25)])
    plan = make_plan(spec(entry(match="app-*", disks={"number:2-": "pmem"})), inv)
    notes = [w for w in plan.warnings if "no disk matches" in w]
    assert notes == ["VMs " + ", ".join(f"app-{i:02d}" for i in range(20))
                     + " and 5 more: no disk matches 'number:2-'; skipped"]
