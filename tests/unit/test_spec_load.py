"""pmemctl.spec.load: every problem, with its exact FILE:LINE:COL message, and exact models."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pmemctl.errors import Diagnostic, SpecError
from pmemctl.spec.load import load_spec, load_spec_text, validate_paths
from pmemctl.spec.model import DiskTarget, Location, Match, Options, Parallel, Spec, VmEntry

# A minimal valid tail, for cases about the head of the file (lines 2-4).
VMS = "vms:\n  - name: a\n    nvdimms: []\n"


def problems(text: str) -> list[str]:
    """The rendered diagnostics of a spec that must fail."""
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "spec.yaml")
    return [str(d) for d in info.value.diagnostics]


# -- bad specs: (text, exact diagnostics) ------------------------------------------

BAD: list[tuple[str, str, list[str]]] = [
    # The file as a whole
    ("empty", "", [
        "spec.yaml:1:1: the spec is empty; expected a mapping with apiVersion: pmemctl/v1 and vms",
    ]),
    ("only-comments", "# nothing yet\n", [
        "spec.yaml:1:1: the spec is empty; expected a mapping with apiVersion: pmemctl/v1 and vms",
    ]),
    ("top-level-list", "- name: a\n", [
        "spec.yaml:1:1: spec: expected a mapping (apiVersion, vms, ...), got a list",
    ]),
    ("top-level-scalar", "hello\n", [
        "spec.yaml:1:1: spec: expected a mapping (apiVersion, vms, ...), got 'hello'",
    ]),
    # YAML syntax
    ("yaml-bad-indent", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n   disks: x\n", [
        "spec.yaml:4:4: invalid YAML: expected <block end>, but found '<block mapping start>'"
        " (while parsing a block collection at 3:3)",
    ]),
    ("yaml-unclosed-flow", "apiVersion: [pmemctl/v1\n", [
        "spec.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence at 1:13)",
    ]),
    ("yaml-tab-indent", "apiVersion: pmemctl/v1\nvms:\n\t- name: a\n", [
        "spec.yaml:3:1: invalid YAML: found character '\\t' that cannot start any token",
    ]),
    ("yaml-two-documents", "apiVersion: pmemctl/v1\n---\nvms: []\n", [
        "spec.yaml:2:1: invalid YAML: expected a single document in the stream,"
        " but found another document",
    ]),
    ("yaml-control-character", "apiVersion: pmemctl/v1\nvcenter: a\x07\n", [
        "spec.yaml:2:11: invalid YAML: unacceptable character #x0007:"
        " special characters are not allowed",
    ]),
    ("yaml-merge-key", "apiVersion: pmemctl/v1\nvms:\n  - <<: {name: a}\n    nvdimms: []\n", [
        "spec.yaml:3:5: merge keys ('<<') are not supported in vms[0]; write the keys out",
        "spec.yaml:3:5: vms[0]: needs a name (one VM) or a match (a selection of VMs)",
    ]),
    # apiVersion
    ("api-missing", VMS, [
        "spec.yaml:1:1: missing required key 'apiVersion'; add apiVersion: pmemctl/v1",
    ]),
    ("api-wrong", "apiVersion: pmemctl/v2\n" + VMS, [
        "spec.yaml:1:13: apiVersion: expected 'pmemctl/v1', got 'pmemctl/v2'",
    ]),
    ("api-not-string", "apiVersion: 1\n" + VMS, [
        "spec.yaml:1:13: apiVersion: expected a string, got 1",
    ]),
    # Unknown and duplicate keys
    ("unknown-top-close", "apiVersion: pmemctl/v1\nvm: []\n" + VMS, [
        "spec.yaml:2:1: unknown key 'vm' at top level; did you mean 'vms'?",
    ]),
    ("unknown-top-far", "apiVersion: pmemctl/v1\nkind: Spec\n" + VMS, [
        "spec.yaml:2:1: unknown key 'kind' at top level;"
        " expected one of: apiVersion, options, vcenter, vms",
    ]),
    ("unknown-option", "apiVersion: pmemctl/v1\noptions:\n  powr_off: true\n" + VMS, [
        "spec.yaml:3:3: unknown key 'powr_off' in options; did you mean 'power_off'?",
    ]),
    ("unknown-parallel", "apiVersion: pmemctl/v1\noptions:\n  parallel: {per_hosts: 2}\n" + VMS, [
        "spec.yaml:3:14: unknown key 'per_hosts' in options.parallel; did you mean 'per_host'?",
    ]),
    ("duplicate-key", "apiVersion: pmemctl/v1\noptions:\n  power_off: true\n  power_off: false\n"
     + VMS, [
        "spec.yaml:4:3: duplicate key 'power_off' in options; first defined at 3:3",
    ]),
    ("duplicate-top-key", "apiVersion: pmemctl/v1\napiVersion: pmemctl/v1\n" + VMS, [
        "spec.yaml:2:1: duplicate key 'apiVersion' at top level; first defined at 1:1",
    ]),
    ("duplicate-disk-label", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks:\n"
     "      Hard disk 1: pmem\n      Hard disk 1: san-01\n", [
        "spec.yaml:6:7: duplicate key 'Hard disk 1' in vms[0].disks; first defined at 5:7",
    ]),
    ("non-string-key", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks: {1: pmem}\n", [
        "spec.yaml:4:13: a key in vms[0].disks is not a string (got 1); quote it",
    ]),
    # Booleans: true/false only
    ("bool-text", "apiVersion: pmemctl/v1\noptions:\n  power_off: yes please\n" + VMS, [
        "spec.yaml:3:14: options.power_off: expected true or false, got 'yes please'",
    ]),
    ("bool-yaml11-yes", "apiVersion: pmemctl/v1\noptions:\n  upgrade_hardware: yes\n" + VMS, [
        "spec.yaml:3:21: options.upgrade_hardware: expected true or false, got 'yes';"
        " write true or false (YAML 1.2 tools read it as a string)",
    ]),
    ("bool-yaml11-off", "apiVersion: pmemctl/v1\noptions:\n  allow_data_loss: Off\n" + VMS, [
        "spec.yaml:3:20: options.allow_data_loss: expected true or false, got 'Off';"
        " write true or false (YAML 1.2 tools read it as a string)",
    ]),
    ("bool-quoted", "apiVersion: pmemctl/v1\noptions:\n  power_off: \"true\"\n" + VMS, [
        "spec.yaml:3:14: options.power_off: expected true or false,"
        " got the quoted string 'true'",
    ]),
    ("bool-empty", "apiVersion: pmemctl/v1\noptions:\n  power_off:\n" + VMS, [
        "spec.yaml:3:13: options.power_off: expected true or false, got nothing",
    ]),
    # Other options
    ("options-not-mapping", "apiVersion: pmemctl/v1\noptions: [power_off]\n" + VMS, [
        "spec.yaml:2:10: options: expected a mapping, got a list",
    ]),
    ("on-failure", "apiVersion: pmemctl/v1\noptions:\n  on_failure: abort\n" + VMS, [
        "spec.yaml:3:15: options.on_failure: expected 'stop' or 'continue', got 'abort'",
    ]),
    ("parallel-values", "apiVersion: pmemctl/v1\noptions:\n"
     "  parallel: {total: 0, per_host: -1, per_datastore: 010}\n" + VMS, [
        "spec.yaml:3:21: options.parallel.total: expected a whole number of at least 1, got 0",
        "spec.yaml:3:34: options.parallel.per_host: expected a whole number of at least 1,"
        " got -1",
        "spec.yaml:3:53: options.parallel.per_datastore: expected a whole number of at least 1,"
        " got 010",
    ]),
    ("parallel-types", "apiVersion: pmemctl/v1\noptions:\n"
     "  parallel: {total: '8', per_host: 2.5}\n" + VMS, [
        "spec.yaml:3:21: options.parallel.total: expected a whole number of at least 1,"
        " got the quoted string '8'",
        "spec.yaml:3:36: options.parallel.per_host: expected a whole number of at least 1,"
        " got 2.5",
    ]),
    ("parallel-not-mapping", "apiVersion: pmemctl/v1\noptions:\n  parallel: 4\n" + VMS, [
        "spec.yaml:3:13: options.parallel: expected a mapping, got 4",
    ]),
    ("shutdown-timeout", "apiVersion: pmemctl/v1\noptions:\n  shutdown_timeout_s: 5m\n" + VMS, [
        "spec.yaml:3:23: options.shutdown_timeout_s: expected a whole number of at least 1,"
        " got '5m'",
    ]),
    # Credentials
    ("password-key", "apiVersion: pmemctl/v1\noptions:\n  password: hunter2\n" + VMS, [
        "spec.yaml:3:3: options.password: a password does not belong in a spec;"
        " set the environment variable PMEMCTL_PASSWORD",
    ]),
    ("password-key-top", "apiVersion: pmemctl/v1\nvcenter_password: x\n" + VMS, [
        "spec.yaml:2:1: vcenter_password: a password does not belong in a spec;"
        " set the environment variable PMEMCTL_PASSWORD",
    ]),
    ("secret-under-unknown", "apiVersion: pmemctl/v1\nauth: {user: root, pwd: x}\n" + VMS, [
        "spec.yaml:2:1: unknown key 'auth' at top level;"
        " expected one of: apiVersion, options, vcenter, vms",
        "spec.yaml:2:20: auth.pwd: a password does not belong in a spec;"
        " set the environment variable PMEMCTL_PASSWORD",
    ]),
    ("secret-in-entry", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    secret: x\n"
     "    nvdimms: []\n", [
        "spec.yaml:4:5: vms[0].secret: a password does not belong in a spec;"
        " set the environment variable PMEMCTL_PASSWORD",
    ]),
    ("vcenter-userinfo", "apiVersion: pmemctl/v1\nvcenter: https://root:hunter2@vc01/sdk\n"
     + VMS, [
        "spec.yaml:2:10: vcenter: a password does not belong in a spec; remove 'user:...@'"
        " and set the environment variable PMEMCTL_PASSWORD",
    ]),
    ("vcenter-userinfo-no-scheme", "apiVersion: pmemctl/v1\nvcenter: root:x@vc01\n" + VMS, [
        "spec.yaml:2:10: vcenter: a password does not belong in a spec; remove 'user:...@'"
        " and set the environment variable PMEMCTL_PASSWORD",
    ]),
    ("vcenter-empty", "apiVersion: pmemctl/v1\nvcenter: ''\n" + VMS, [
        "spec.yaml:2:10: vcenter: must not be empty",
    ]),
    ("vcenter-not-string", "apiVersion: pmemctl/v1\nvcenter: {host: vc01}\n" + VMS, [
        "spec.yaml:2:10: vcenter: expected a host name or URL, got a mapping",
    ]),
    # vms
    ("vms-missing", "apiVersion: pmemctl/v1\n", [
        "spec.yaml:1:1: missing required key 'vms'",
    ]),
    ("vms-empty", "apiVersion: pmemctl/v1\nvms: []\n", [
        "spec.yaml:2:6: vms: the list is empty; add at least one entry",
    ]),
    ("vms-mapping", "apiVersion: pmemctl/v1\nvms: {name: a}\n", [
        "spec.yaml:2:6: vms: expected a list of entries, got a mapping",
    ]),
    ("entry-scalar", "apiVersion: pmemctl/v1\nvms:\n  - redis-01\n", [
        "spec.yaml:3:5: vms[0]: expected a mapping with name or match, got 'redis-01'",
    ]),
    ("entry-neither", "apiVersion: pmemctl/v1\nvms:\n  - nvdimms: []\n", [
        "spec.yaml:3:5: vms[0]: needs a name (one VM) or a match (a selection of VMs)",
    ]),
    ("entry-both", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    match: {name: a*}\n"
     "    nvdimms: []\n", [
        "spec.yaml:4:5: vms[0]: give either name or match, not both",
    ]),
    ("entry-nothing-to-do", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n  - name: b\n"
     "    disks: {}\n", [
        "spec.yaml:3:5: vms[0]: nothing to do; give nvdimms, disks or both",
        "spec.yaml:4:5: vms[1]: nothing to do; give nvdimms, disks or both",
    ]),
    ("entry-typo-is-one-problem", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n"
     "    nvdimm: [16GiB]\n", [
        "spec.yaml:4:5: unknown key 'nvdimm' in vms[0]; did you mean 'nvdimms'?",
    ]),
    ("name-empty", "apiVersion: pmemctl/v1\nvms:\n  - name: ''\n    nvdimms: []\n", [
        "spec.yaml:3:11: vms[0].name: must not be empty",
    ]),
    ("name-not-string", "apiVersion: pmemctl/v1\nvms:\n  - name: [a]\n    nvdimms: []\n", [
        "spec.yaml:3:11: vms[0].name: expected a VM name, got a list",
    ]),
    ("name-is-glob", "apiVersion: pmemctl/v1\nvms:\n  - name: legacy-*\n    nvdimms: []\n", [
        "spec.yaml:3:11: vms[0].name: 'legacy-*' looks like a glob; name is one exact VM name,"
        " use match: {name: 'legacy-*'} to select several",
    ]),
    ("duplicate-name", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    nvdimms: []\n"
     "  - name: a\n    nvdimms: [16GiB]\n", [
        "spec.yaml:5:5: vms[1]: duplicate entry for name 'a'; first defined at 3:5",
    ]),
    ("duplicate-match", "apiVersion: pmemctl/v1\nvms:\n"
     "  - match: {name: 'sql-*', cluster: Prod}\n    disks: {'*': pmem}\n"
     "  - match: {cluster: Prod, name: 'sql-*'}\n    nvdimms: [bad]\n", [
        "spec.yaml:5:5: vms[1]: duplicate entry for match(name=sql-*, cluster=Prod);"
        " first defined at 3:5",
        "spec.yaml:6:15: vms[1].nvdimms[0]: bad size 'bad': write a number and a unit,"
        " e.g. 16GiB (MiB, GiB, TiB)",
    ]),
    # match
    ("match-not-mapping", "apiVersion: pmemctl/v1\nvms:\n  - match: 'sql-*'\n    nvdimms: []\n", [
        "spec.yaml:3:12: vms[0].match: expected a mapping with name and optionally cluster,"
        " folder, host, got 'sql-*'",
    ]),
    ("match-no-name", "apiVersion: pmemctl/v1\nvms:\n  - match: {cluster: Prod}\n"
     "    nvdimms: []\n", [
        "spec.yaml:3:12: vms[0].match: missing required key 'name' (a glob; '*' selects every VM)",
    ]),
    ("match-empty-name", "apiVersion: pmemctl/v1\nvms:\n  - match: {name: ''}\n"
     "    nvdimms: []\n", [
        "spec.yaml:3:19: vms[0].match.name: must not be empty; use '*' to select every VM",
    ]),
    ("match-bad-glob", "apiVersion: pmemctl/v1\nvms:\n  - match: {name: 'sql-[12'}\n"
     "    nvdimms: []\n", [
        "spec.yaml:3:19: vms[0].match.name: unclosed '[' in glob 'sql-[12';"
        " write [[] for a literal '['",
    ]),
    ("match-unknown-key", "apiVersion: pmemctl/v1\nvms:\n  - match: {name: a, clster: Prod}\n"
     "    nvdimms: []\n", [
        "spec.yaml:3:22: unknown key 'clster' in vms[0].match; did you mean 'cluster'?",
    ]),
    ("match-narrowing-globs", "apiVersion: pmemctl/v1\nvms:\n"
     "  - match: {name: a, cluster: '', host: 'esx-[01', folder: 5}\n    nvdimms: []\n", [
        "spec.yaml:3:31: vms[0].match.cluster: must not be empty",
        "spec.yaml:3:41: vms[0].match.host: unclosed '[' in glob 'esx-[01';"
        " write [[] for a literal '['",
        "spec.yaml:3:60: vms[0].match.folder: expected a glob such as 'legacy-sql-*', got 5",
    ]),
    # nvdimms
    ("nvdimms-bad-sizes", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n"
     "    nvdimms: [16G, 0GiB, 16, 1.5MiB, {size: 1GiB}, ~]\n", [
        "spec.yaml:4:15: vms[0].nvdimms[0]: bad size '16G': unknown unit 'G'; use MiB, GiB or TiB",
        "spec.yaml:4:20: vms[0].nvdimms[1]: bad size '0GiB': must be greater than zero",
        "spec.yaml:4:26: vms[0].nvdimms[2]: bad size '16': write a number and a unit,"
        " e.g. 16GiB (MiB, GiB, TiB)",
        "spec.yaml:4:30: vms[0].nvdimms[3]: bad size '1.5MiB': must be a whole number of MiB",
        "spec.yaml:4:38: vms[0].nvdimms[4]: expected a size such as 16GiB, got a mapping",
        "spec.yaml:4:52: vms[0].nvdimms[5]: expected a size such as 16GiB, got ~",
    ]),
    ("nvdimms-null", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    nvdimms:\n", [
        "spec.yaml:4:13: vms[0].nvdimms: expected a list of sizes ([] for no NVDIMMs), got nothing",
    ]),
    ("nvdimms-too-many", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    nvdimms: ["
     + ", ".join(["1GiB"] * 65) + "]\n", [
        "spec.yaml:4:14: vms[0].nvdimms: 65 NVDIMMs; a VM can have at most 64",
    ]),
    # disks
    ("disks-not-mapping", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks: [pmem]\n", [
        "spec.yaml:4:12: vms[0].disks: expected a mapping of disk label to target, got a list",
    ]),
    ("disk-target-types", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks:\n"
     "      Hard disk 1: [pmem]\n      Hard disk 2: 5\n      Hard disk 3: ''\n"
     "      Hard disk 4:\n", [
        "spec.yaml:5:20: vms[0].disks['Hard disk 1']: expected 'pmem', a datastore name,"
        " or {storage, size}, got a list",
        "spec.yaml:6:20: vms[0].disks['Hard disk 2']: expected 'pmem', a datastore name,"
        " or {storage, size}, got 5",
        "spec.yaml:7:20: vms[0].disks['Hard disk 3']: must not be empty",
        "spec.yaml:8:19: vms[0].disks['Hard disk 4']: expected 'pmem', a datastore name,"
        " or {storage, size}, got nothing",
    ]),
    ("disk-pmem-case", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n"
     "    disks: {Hard disk 1: PMem}\n", [
        "spec.yaml:4:26: vms[0].disks['Hard disk 1']: write the keyword in lower case:"
        " 'pmem' (got 'PMem')",
    ]),
    ("disk-empty-label", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks: {'': pmem}\n", [
        "spec.yaml:4:13: vms[0].disks['']: a disk label must not be empty",
    ]),
    ("disk-mapping-problems", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks:\n"
     "      Hard disk 1: {size: 1GiB}\n      Hard disk 2: {storage: pmem, sise: 1GiB}\n", [
        "spec.yaml:5:20: vms[0].disks['Hard disk 1']: missing required key 'storage'"
        " ('pmem' or a datastore name)",
        "spec.yaml:6:36: unknown key 'sise' in vms[0].disks['Hard disk 2']; did you mean 'size'?",
    ]),
    ("disk-size-every-disk", "apiVersion: pmemctl/v1\nvms:\n  - match: {name: '*'}\n"
     "    disks: {'*': {storage: pmem, size: 40GiB}}\n", [
        "spec.yaml:4:34: vms[0].disks['*'].size: cannot create '*' (every disk);"
        " give the new disk's label, e.g. 'Hard disk 2'",
    ]),
    ("disk-size-not-pmem", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks:\n"
     "      Hard disk 2: {storage: san-01, size: 40GiB}\n", [
        "spec.yaml:5:38: vms[0].disks['Hard disk 2'].size: only a new vPMemDisk can be"
        " created; a size needs storage: pmem",
    ]),
    ("disk-size-label", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks:\n"
     "      data: {storage: pmem, size: 40GiB}\n", [
        "spec.yaml:5:29: vms[0].disks['data'].size: vSphere labels a new disk 'Hard disk N';"
        " use such a label to create one (got 'data')",
    ]),
    ("disk-size-bad", "apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks:\n"
     "      Hard disk 2: {storage: pmem, size: 40GB}\n", [
        "spec.yaml:5:42: vms[0].disks['Hard disk 2'].size: bad size '40GB': unknown unit 'GB';"
        " use MiB, GiB or TiB",
    ]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD],
                         ids=[case_id for case_id, _, _ in BAD])
def test_bad_spec_reports_exact_diagnostics(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_is_reported_at_once_and_sorted() -> None:
    text = (
        "apiVersion: pmemctl/v2\n"
        "options:\n"
        "  powr_off: true\n"
        "  on_failure: abort\n"
        "vms:\n"
        "  - name: a\n"
        "    nvdimms: [16G]\n"
        "  - match: {name: ''}\n"
        "    disks: {'*': pmem}\n"
    )
    assert problems(text) == [
        "spec.yaml:1:13: apiVersion: expected 'pmemctl/v1', got 'pmemctl/v2'",
        "spec.yaml:3:3: unknown key 'powr_off' in options; did you mean 'power_off'?",
        "spec.yaml:4:15: options.on_failure: expected 'stop' or 'continue', got 'abort'",
        "spec.yaml:7:15: vms[0].nvdimms[0]: bad size '16G': unknown unit 'G'; use MiB, GiB or TiB",
        "spec.yaml:8:19: vms[1].match.name: must not be empty; use '*' to select every VM",
    ]


def test_error_message_never_echoes_a_password() -> None:
    with pytest.raises(SpecError) as info:
        load_spec_text("apiVersion: pmemctl/v1\nvcenter: root:hunter2@vc01\n" + VMS, "s.yaml")
    assert "hunter2" not in str(info.value)


def test_an_alias_repeating_a_secret_is_reported_once() -> None:
    text = ("apiVersion: pmemctl/v1\nx: &creds {password: p}\ny: *creds\n" + VMS)
    assert problems(text) == [
        "spec.yaml:2:1: unknown key 'x' at top level;"
        " expected one of: apiVersion, options, vcenter, vms",
        "spec.yaml:2:12: x.password: a password does not belong in a spec;"
        " set the environment variable PMEMCTL_PASSWORD",
        "spec.yaml:3:1: unknown key 'y' at top level;"
        " expected one of: apiVersion, options, vcenter, vms",
    ]


# -- valid specs: exact models ------------------------------------------------------

FULL = """\
apiVersion: pmemctl/v1
vcenter: vc01.example.com
options:
  power_off: true
  upgrade_hardware: True
  allow_data_loss: false
  parallel: {total: 4, per_host: 8}
  on_failure: continue
  shutdown_timeout_s: 60
vms:
  - name: redis-01
    nvdimms: [16GiB, 512MiB, 1.5TiB]
    disks:
      "Hard disk 1": pmem
      "Hard disk 2": {storage: pmem, size: 40GiB}
      "Hard disk 3": {storage: san-01}
  - match: {name: "legacy-sql-*", cluster: Prod, folder: Legacy}
    disks: {"*": pmem}
  - match: {name: "*", host: esx-01}
    disks: {"*": san-01}
  - name: cache-01
    nvdimms: []
  - match: {name: "web-*", cluster: "Prod*", folder: "*/Apps", host: "esx-0[12]"}
    disks: {"*": pmem, "Hard disk 1": san-01}
  - match: {name: "*", folder: ""}
    nvdimms: []
"""


def test_full_spec_gives_exact_model() -> None:
    assert load_spec_text(FULL, "full.yaml") == Spec(
        path="full.yaml",
        vcenter="vc01.example.com",
        options=Options(
            power_off=True, upgrade_hardware=True, allow_data_loss=False,
            parallel=Parallel(total=4, per_host=8, per_datastore=8),
            on_failure="continue", shutdown_timeout_s=60,
        ),
        vms=(
            VmEntry(
                name="redis-01",
                nvdimms=(16384, 512, 1572864),
                disks=(
                    ("Hard disk 1", DiskTarget("pmem")),
                    ("Hard disk 2", DiskTarget("pmem", 40960)),
                    ("Hard disk 3", DiskTarget("san-01")),
                ),
                location=Location("full.yaml", 11, 5),
            ),
            VmEntry(
                match=Match("legacy-sql-*", cluster="Prod", folder="Legacy"),
                disks=(("*", DiskTarget("pmem")),),
                location=Location("full.yaml", 17, 5),
            ),
            VmEntry(
                match=Match("*", host="esx-01"),
                disks=(("*", DiskTarget("san-01")),),
                location=Location("full.yaml", 19, 5),
            ),
            VmEntry(name="cache-01", nvdimms=(), location=Location("full.yaml", 21, 5)),
            VmEntry(
                match=Match("web-*", cluster="Prod*", folder="*/Apps", host="esx-0[12]"),
                disks=(("*", DiskTarget("pmem")), ("Hard disk 1", DiskTarget("san-01"))),
                location=Location("full.yaml", 23, 5),
            ),
            VmEntry(match=Match("*", folder=""), nvdimms=(),
                    location=Location("full.yaml", 25, 5)),
        ),
    )


def test_minimal_spec_gets_safe_defaults() -> None:
    spec = load_spec_text("apiVersion: pmemctl/v1\nvms:\n  - name: a\n    disks: {d: pmem}\n",
                          "min.yaml")
    assert spec == Spec(
        path="min.yaml",
        vms=(VmEntry(name="a", disks=(("d", DiskTarget("pmem")),),
                     location=Location("min.yaml", 3, 5)),),
    )
    assert spec.options == Options(power_off=False, upgrade_hardware=False,
                                   allow_data_loss=False, on_failure="stop",
                                   shutdown_timeout_s=300)
    assert spec.vms[0].nvdimms is None  # absent: leave NVDIMMs alone


def test_same_vm_name_and_match_are_not_duplicates() -> None:
    # A name and a match that may select the same VM are checked by the
    # planner against the inventory, not here.
    spec = load_spec_text("apiVersion: pmemctl/v1\nvms:\n  - name: a\n    nvdimms: []\n"
                          "  - match: {name: a}\n    nvdimms: []\n"
                          "  - match: {name: a, host: esx-01}\n    nvdimms: []\n", "s.yaml")
    assert [e.selector for e in spec.vms] == ["a", "match(name=a)", "match(name=a)"]


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "win.yaml"
    path.write_bytes(b"\xef\xbb\xbfapiVersion: pmemctl/v1\r\nvms:\r\n  - name: a\r\n"
                     b"    nvdimms: []\r\n")
    assert load_spec(path).vms[0].location == Location(str(path), 3, 5)


# -- files, stdin, validate_paths ---------------------------------------------------


def test_load_spec_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("apiVersion: pmemctl/v1\n" + VMS, encoding="utf-8")
    spec = load_spec(str(path))
    assert spec.path == str(path)
    assert spec.vms == (VmEntry(name="a", nvdimms=(), location=Location(str(path), 3, 5)),)


def test_load_spec_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value) == f"{path}:1:1: cannot read: No such file or directory"


def test_load_spec_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"apiVersion: pmemctl/v1\nvcenter: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    # Located at the byte that is not UTF-8, counted in characters.
    assert str(info.value) == f"{path}:2:13: cannot read: not UTF-8 text (invalid continuation byte)"


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("apiVersion: pmemctl/v1\n" + VMS))
    spec = load_spec("-")
    assert spec.path == "<stdin>"
    assert spec.vms[0].location == Location("<stdin>", 3, 5)


def test_validate_paths_lists_problems_of_every_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: pmemctl/v1\n" + VMS, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: pmemctl/v1\noptions: {on_failure: x}\nvms: []\n",
                   encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    assert validate_paths([bad, good, str(missing)]) == [
        Diagnostic(str(bad), 2, 23, "options.on_failure: expected 'stop' or 'continue', got 'x'"),
        Diagnostic(str(bad), 3, 6, "vms: the list is empty; add at least one entry"),
        Diagnostic(str(missing), 1, 1, "cannot read: No such file or directory"),
    ]
    assert validate_paths([good]) == []


def test_spec_error_renders_file_line_col() -> None:
    with pytest.raises(SpecError) as info:
        load_spec_text("apiVersion: pmemctl/v1\nvms: []\n", "dir/spec.yaml")
    assert str(info.value) == "dir/spec.yaml:2:6: vms: the list is empty; add at least one entry"
    assert info.value.exit_code == 1


@pytest.mark.parametrize("pattern", ["*", "sql-0?", "sql-[12]", "sql-[!3]*", "a[]]b", "[[]x]"])
def test_globs_fnmatch_reads_as_written_are_accepted(pattern: str) -> None:
    spec = load_spec_text(f"apiVersion: pmemctl/v1\nvms:\n  - match: {{name: '{pattern}'}}\n"
                          "    nvdimms: []\n", "s.yaml")
    assert spec.vms[0].match == Match(pattern)


@pytest.mark.parametrize("vcenter", [
    "vc01.example.com", "https://vc01.example.com:8443/sdk", "administrator@vsphere.local@vc01",
    "https://vc01/sdk?x=a:b@c",
])
def test_vcenter_without_password_is_accepted(vcenter: str) -> None:
    spec = load_spec_text(f"apiVersion: pmemctl/v1\nvcenter: '{vcenter}'\n" + VMS, "s.yaml")
    assert spec.vcenter == vcenter


def test_snapshot_mode_and_migration_shape_options() -> None:
    text = ("apiVersion: pmemctl/v1\noptions:\n  nvdimm_snapshot_mode: independent_persistent\n"
            "  pmem_migration_shape: locator\nvms:\n  - name: a\n    nvdimms: [4GiB]\n")
    options = load_spec_text(text, "s.yaml").options
    assert (options.nvdimm_snapshot_mode, options.pmem_migration_shape) == (
        "independent_persistent", "locator")
    default = load_spec_text("apiVersion: pmemctl/v1\nvms:\n  - name: a\n    nvdimms: []\n",
                             "s.yaml").options
    assert (default.nvdimm_snapshot_mode, default.pmem_migration_shape) == (None, "auto")


@pytest.mark.parametrize(("line", "message"), [
    ("nvdimm_snapshot_mode: persistent",
     "s.yaml:3:25: options.nvdimm_snapshot_mode: expected 'independent_persistent' or "
     "'independent_eraseonrevert', got 'persistent'"),
    ("pmem_migration_shape: relocate",
     "s.yaml:3:25: options.pmem_migration_shape: expected 'auto' or 'device_change' or "
     "'locator', got 'relocate'"),
])
def test_bad_snapshot_mode_or_shape(line: str, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_spec_text(f"apiVersion: pmemctl/v1\noptions:\n  {line}\n{VMS}",
                       "s.yaml")
    assert message in str(exc.value)
