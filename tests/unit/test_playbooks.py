"""playbooks/: every ready-made spec loads cleanly and says what it is for."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmemctl.spec.load import load_spec, validate_paths
from pmemctl.spec.model import DiskTarget, Match

ROOT = Path(__file__).parents[2]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../pmemctl/spec/schema.json"


def test_the_common_jobs_have_playbooks() -> None:
    assert {path.name for path in PLAYBOOKS} >= {
        "redis-nvdimm.yaml", "legacy-to-pmem.yaml", "evacuate-pmem.yaml",
    }


def test_every_playbook_loads_without_problems() -> None:
    assert validate_paths(PLAYBOOKS) == []


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_starts_with_schema_line_and_a_comment_block(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == SCHEMA_LINE
    assert (path.parent / "../pmemctl/spec/schema.json").resolve().is_file()
    header = lines[: lines.index("apiVersion: pmemctl/v1")]
    assert all(line.startswith("#") for line in header)
    assert sum(1 for line in header if line.strip("# ")) >= 5  # says when and what, in prose


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_is_documented_in_readme(path: Path) -> None:
    assert f"`{path.name}`" in (ROOT / "playbooks" / "README.md").read_text(encoding="utf-8")


def test_redis_nvdimm() -> None:
    spec = load_spec(ROOT / "playbooks" / "redis-nvdimm.yaml")
    assert [(e.name, e.nvdimms) for e in spec.vms] == [("redis-01", (16384,)),
                                                       ("redis-02", (16384,))]
    assert spec.options.power_off and spec.options.upgrade_hardware
    assert not spec.options.allow_data_loss


def test_legacy_to_pmem() -> None:
    spec = load_spec(ROOT / "playbooks" / "legacy-to-pmem.yaml")
    [entry] = spec.vms
    assert entry.match == Match("legacy-sql-*", cluster="Prod", folder="Legacy")
    assert entry.disks == (("*", DiskTarget("pmem")),)
    assert entry.nvdimms is None
    assert not spec.options.power_off  # Storage vMotion runs with the VM on


def test_evacuate_pmem() -> None:
    spec = load_spec(ROOT / "playbooks" / "evacuate-pmem.yaml")
    [entry] = spec.vms
    assert entry.match == Match("*", host="esx-01")
    assert entry.disks == (("*", DiskTarget("san-01")),)
    assert entry.nvdimms is None  # NVDIMMs are left alone
    assert not spec.options.allow_data_loss


def test_vpmemdisk_new() -> None:
    spec = load_spec(ROOT / "playbooks" / "vpmemdisk-new.yaml")
    [entry] = spec.vms
    assert entry.name == "cache-01"
    assert entry.disks == (("Hard disk 3", DiskTarget("pmem", 32 * 1024)),)


def test_data_disks_to_pmem() -> None:
    spec = load_spec(ROOT / "playbooks" / "data-disks-to-pmem.yaml")
    [entry] = spec.vms
    assert entry.match == Match("legacy-sql-*", exclude=("*-test",))
    assert entry.disks == (("number:2-", DiskTarget("pmem")),)
    assert not spec.options.power_off  # Storage vMotion runs with the VM on


def test_evacuate_pmem_disks() -> None:
    spec = load_spec(ROOT / "playbooks" / "evacuate-pmem-disks.yaml")
    [entry] = spec.vms
    assert entry.match == Match("*", host="esx-01")
    assert entry.disks == (("on:pmem", DiskTarget("san-01")),)
    assert entry.nvdimms is None and not spec.options.allow_data_loss
