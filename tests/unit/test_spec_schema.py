"""pmemctl/spec/schema.json: a valid draft 2020-12 schema that agrees with the loader."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pmemctl.errors import SpecError
from pmemctl.spec.load import load_spec_text
from pmemctl.spec.model import Match, Options, Parallel, VmEntry

PLAYBOOKS = sorted((Path(__file__).parents[2] / "playbooks").glob("*.yaml"))


def schema() -> dict[str, Any]:
    """The schema as shipped in the package."""
    text = resources.files("pmemctl.spec").joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema_errors(text: str) -> list[str]:
    """Schema violations of a spec, as an editor would show them."""
    validator = jsonschema.Draft202012Validator(schema())
    return [error.message for error in validator.iter_errors(yaml.safe_load(text))]


def loader_accepts(text: str) -> bool:
    try:
        load_spec_text(text, "spec.yaml")
    except SpecError:
        return False
    return True


HEAD = "apiVersion: pmemctl/v1\n"
A = HEAD + "vms:\n  - name: a\n"  # the start of a one-entry spec
NONE = "vms:\n  - name: a\n    nvdimms: []\n"  # a valid tail after options

VALID = {
    "minimal": A + "    nvdimms: []\n",
    "everything": HEAD + (
        "vcenter: https://vc01.example.com/sdk\n"
        "options:\n"
        "  power_off: true\n  upgrade_hardware: false\n  allow_data_loss: false\n"
        "  parallel: {total: 8, per_host: 2, per_datastore: 8}\n"
        "  on_failure: continue\n  shutdown_timeout_s: 300\n"
        "vms:\n"
        "  - name: redis-01\n    nvdimms: [16GiB, 512MiB, 1.5TiB]\n"
        "    disks:\n"
        "      Hard disk 1: pmem\n"
        "      Hard disk 2: {storage: pmem, size: 40GiB}\n"
        "      Hard disk 3: {storage: san-01}\n"
        "      data: nfs-01\n"
        "  - match: {name: 'legacy-sql-[0-9]*', cluster: Prod, folder: Legacy, host: esx-01}\n"
        "    disks: {'*': pmem}\n"
    ),
    "match-every-vm": HEAD + "vms:\n  - match: {name: '*'}\n    disks: {'*': san-01}\n",
    "every-disk-but-one": A + "    disks: {'*': pmem, Hard disk 1: san-01}\n",
    "disk-globs-and-selectors": A + ("    disks: {'Hard disk [2-9]': pmem, Hard disk 3: keep, "
                                     "'number:2-': pmem, 'unit:1-4': pmem, 'on:pmem': san-01, "
                                     "'on:san-*': pmem}\n"),
    "match-exclude-attributes": HEAD + ("vms:\n  - match: {name: '*', exclude: ['*-test', 'x?'], "
                                        "attributes: {team: db, tier: '*'}}\n    nvdimms: []\n"),
    "match-exclude-one": HEAD + "vms:\n  - match: {name: '*', exclude: '*-test'}\n    nvdimms: []\n",
    "match-globs": HEAD + "vms:\n  - match: {name: '*', cluster: P*, folder: '', host: 'esx-?1'}\n"
                   "    nvdimms: []\n",
    **{f"playbook:{path.name}": path.read_text(encoding="utf-8") for path in PLAYBOOKS},
}

# Each of these is refused by the loader AND by the schema.
INVALID = {
    "no-api-version": "vms:\n  - name: a\n    nvdimms: []\n",
    "wrong-api-version": "apiVersion: pmemctl/v2\n" + NONE,
    "no-vms": HEAD,
    "empty-vms": HEAD + "vms: []\n",
    "unknown-top-key": HEAD + "vm: []\n" + NONE,
    "unknown-option": HEAD + "options: {powr_off: true}\n" + NONE,
    "bool-as-text": HEAD + "options: {power_off: 'yes please'}\n" + NONE,
    "parallel-zero": HEAD + "options: {parallel: {total: 0}}\n" + NONE,
    "on-failure": HEAD + "options: {on_failure: abort}\n" + NONE,
    "password": HEAD + "options: {password: x}\n" + NONE,
    "vcenter-password": HEAD + "vcenter: root:x@vc01\n" + NONE,
    "name-and-match": HEAD + "vms:\n  - {name: a, match: {name: a}, nvdimms: []}\n",
    "neither-name-nor-match": HEAD + "vms:\n  - nvdimms: []\n",
    "nothing-to-do": HEAD + "vms:\n  - name: a\n",
    "empty-disks": A + "    disks: {}\n",
    "name-glob": HEAD + "vms:\n  - name: 'a*'\n    nvdimms: []\n",
    "match-empty-name": HEAD + "vms:\n  - match: {name: ''}\n    nvdimms: []\n",
    "match-empty-host": HEAD + "vms:\n  - match: {name: a, host: ''}\n    nvdimms: []\n",
    "match-no-name": HEAD + "vms:\n  - match: {cluster: Prod}\n    nvdimms: []\n",
    "bad-size-unit": A + "    nvdimms: [16GB]\n",
    "size-without-unit": A + "    nvdimms: [16]\n",
    "too-many-nvdimms": A + "    nvdimms: [" + ", ".join(["1GiB"] * 65) + "]\n",
    "storage-empty": A + "    disks: {Hard disk 1: ''}\n",
    "storage-case": A + "    disks: {Hard disk 1: PMEM}\n",
    "storage-list": A + "    disks: {Hard disk 1: [pmem]}\n",
    "storage-missing": A + "    disks: {Hard disk 1: {size: 1GiB}}\n",
    "every-disk-with-size": A + "    disks: {'*': {storage: pmem, size: 1GiB}}\n",
    "size-not-pmem": A + "    disks: {Hard disk 2: {storage: san-01, size: 1GiB}}\n",
    "size-odd-label": A + "    disks: {data: {storage: pmem, size: 1GiB}}\n",
    "exclude-empty-list": HEAD + "vms:\n  - match: {name: '*', exclude: []}\n    nvdimms: []\n",
    "exclude-empty": HEAD + "vms:\n  - match: {name: '*', exclude: ''}\n    nvdimms: []\n",
    "attributes-empty": HEAD + "vms:\n  - match: {name: '*', attributes: {}}\n    nvdimms: []\n",
    "attributes-list": HEAD + "vms:\n  - match: {name: '*', attributes: [team]}\n    nvdimms: []\n",
    "attribute-number": HEAD + "vms:\n  - match: {name: '*', attributes: {tier: 1}}\n    nvdimms: []\n",
    "disk-selector-unknown": A + "    disks: {'label:2': pmem}\n",
    "disk-selector-bad-range": A + "    disks: {'unit:one': pmem}\n",
    "disk-selector-on-empty": A + "    disks: {'on:': pmem}\n",
    "keep-case": A + "    disks: {Hard disk 1: Keep}\n",
    "keep-with-size": A + "    disks: {Hard disk 2: {storage: keep, size: 1GiB}}\n",
    "size-glob": A + "    disks: {'Hard disk [2-9]': {storage: pmem, size: 1GiB}}\n",
}


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    document = schema()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_specs_pass_schema_and_loader(name: str) -> None:
    assert schema_errors(VALID[name]) == []
    assert loader_accepts(VALID[name])


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_specs_fail_schema_and_loader(name: str) -> None:
    assert schema_errors(INVALID[name]) != []
    assert not loader_accepts(INVALID[name])


def test_schema_keys_match_the_model() -> None:
    # additionalProperties: false makes the schema refuse any key it does not
    # list, so a key added to the model must be added to the schema too.
    document = schema()
    options = document["properties"]["options"]["properties"]
    entry = document["$defs"]["entry"]["properties"]

    def fields(model: type[Any]) -> set[str]:
        return {f.name for f in dataclasses.fields(model)}

    assert set(document["properties"]) == {"apiVersion", "vcenter", "options", "vms"}
    # upgrade_hardware_to is what upgrade_hardware: vmx-N sets, not a key of its own.
    assert set(options) == fields(Options) - {"upgrade_hardware_to"}
    assert set(options["parallel"]["properties"]) == fields(Parallel)
    assert set(document["$defs"]["match"]["properties"]) == fields(Match)
    assert set(entry) == fields(VmEntry) - {"location"}


def test_every_key_has_a_description() -> None:
    # Editors show these on hover; an undocumented key is a gap in the docs.
    missing: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            # Only object schemas define keys; bare constraint subschemas
            # ({"required": [...]}, dependentSchemas) have nothing to describe.
            declared = node.get("properties", {}) if node.get("type") == "object" else {}
            for key, value in declared.items():
                if not (isinstance(value, dict) and ("description" in value or "$ref" in value)):
                    missing.append(f"{path}.{key}")
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(schema(), "$")
    assert missing == []
