"""Bad specs end in a located error, exit 1, within a second; validate and plan agree.

Plus a property-based fuzz of the loader (hypothesis, derandomized so CI is
stable): whatever the text, the loader returns a spec or FILE:LINE:COL
diagnostics, never an exception, and ``load_spec_text`` agrees with
``validate_paths``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmemctl.errors import Diagnostic, SpecError
from pmemctl.spec.load import MAX_DEPTH, MAX_SPEC_BYTES, load_spec, load_spec_text, validate_paths

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)
HEAD = "apiVersion: pmemctl/v1\nvms:\n"
ENTRY = "  - name: {name}\n    nvdimms: [16GiB]\n"

CASES = {
    "deep-flow": (HEAD.replace("vms:\n", "vms: ") + "[" * 500 + "]" * 500 + "\n",
                  f"2:37: nested more than {MAX_DEPTH} levels deep; a spec needs at most 5 "
                  "(vms[].disks.<label>.storage)"),
    "deep-block": (HEAD + "".join("  " * i + "- \n" for i in range(500)),
                   f"34:63: nested more than {MAX_DEPTH} levels deep; a spec needs at most 5 "
                   "(vms[].disks.<label>.storage)"),
    "lone-surrogate": (HEAD + ENTRY.format(name='"\\ud800"'),
                       "3:11: vms[0].name: the value contains U+D800, a lone surrogate (an escape "
                       "such as \\ud800 that is half of a character); write the whole character"),
    "escape-sequence": (HEAD + ENTRY.format(name='"red\\e[31m"'),
                        "3:11: vms[0].name: the value contains the control character U+001B; "
                        "names and values must be plain text"),
    "surrogate-key": (HEAD + '  - name: a\n    disks: {"\\udc80": pmem}\n',
                      "4:13: a key in vms[0].disks contains U+DC80, a lone surrogate (an escape "
                      "such as \\ud800 that is half of a character); write the whole character"),
    "huge-number": (HEAD + "  - name: a\n    nvdimms: [" + "9" * 400 + "GiB]\n",
                    "4:15: vms[0].nvdimms[0]: bad size: the number has 400 digits; write at most "
                    "15"),
    "huge-limit": ("apiVersion: pmemctl/v1\noptions: {shutdown_timeout_s: " + "9" * 5000 + "}\n"
                   + HEAD[23:] + ENTRY.format(name="a"),
                   "2:31: options.shutdown_timeout_s: expected a whole number of at least 1, got "
                   + "9" * 5000),
    "recursive-alias": (HEAD + "  - &a {name: a, nvdimms: [16GiB], disks: {x: *a}}\n",
                        "3:5: vms[0].disks['x']: missing required key 'storage' ('pmem' or a "
                        "datastore name)"),
    "too-big": (HEAD + ENTRY.format(name="a") + "#" * MAX_SPEC_BYTES + "\n",
                "1:1: cannot read: it is larger than the 1 MiB limit; a spec is a few KiB"),
}


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "spec.yaml"
    os.mkfifo(path)
    yield path
    path.unlink()


def pmemctl(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "pmemctl", *args], input=stdin,
                          capture_output=True, timeout=20, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_spec_is_a_located_error_within_a_second(tmp_path: Path, name: str) -> None:
    text, expected = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    start = time.monotonic()
    found = validate_paths([str(path)])
    assert time.monotonic() - start < 1
    assert str(found[0]) == f"{path}:{expected}"  # the first (or only) one
    # plan and apply read specs through load_spec: the same verdict.
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.diagnostics == found


@pytest.mark.parametrize("name", ["deep-flow", "lone-surrogate", "huge-number"])
def test_validate_and_plan_exit_1_with_the_same_message(tmp_path: Path, name: str) -> None:
    text, expected = CASES[name]
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = pmemctl("validate", str(path))
    assert (code, out, err) == (1, f"{path}:{expected}\n", "1 problem in 1 of 1 spec file(s).\n")
    # plan refuses the spec before it would connect anywhere.
    code, _, err = pmemctl("plan", str(path), "--server", "127.0.0.1:1")
    assert (code, err) == (1, f"{path}:{expected}\n")
    assert "Traceback" not in err and "Internal error" not in err


def test_devices_fifos_and_directories_are_not_read(tmp_path: Path, fifo: Path) -> None:
    start = time.monotonic()
    found = validate_paths(["/dev/zero", str(fifo), str(tmp_path)])
    assert time.monotonic() - start < 1  # a FIFO used to block, /dev/zero to fill memory
    hint = "not a regular file; give a spec file, or - to read standard input"
    assert [str(d) for d in found] == [
        f"/dev/zero:1:1: cannot read: it is a character device, {hint}",
        f"{fifo}:1:1: cannot read: it is a FIFO (named pipe), {hint}",
        f"{tmp_path}:1:1: cannot read: it is a directory, {hint}",
    ]


def test_standard_input_is_bounded_too() -> None:
    code, out, _ = pmemctl("validate", "-", stdin=b"#" * (MAX_SPEC_BYTES + 10))
    assert (code, out.splitlines()[0]) == (
        1, "<stdin>:1:1: cannot read: it is larger than the 1 MiB limit; a spec is a few KiB")


def test_a_spec_at_the_limits_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # MAX_DEPTH levels are accepted (here under an unknown key, which is reported as such).
    deep = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    found = validate_paths_text(HEAD + ENTRY.format(name="a") + f"extra: {deep}\n")
    assert [d.message for d in found] == [
        "unknown key 'extra' at top level; expected one of: apiVersion, options, vcenter, vms"]
    monkeypatch.setattr("sys.stdin", io.StringIO(HEAD + ENTRY.format(name="b")))
    assert load_spec("-").vms[0].name == "b"


def validate_paths_text(text: str) -> list[Diagnostic]:
    try:
        load_spec_text(text, "s.yaml")
    except SpecError as exc:
        return exc.diagnostics
    return []


# -- fuzz --------------------------------------------------------------------------

_WORDS = ["apiVersion", "pmemctl/v1", "vms", "name", "match", "nvdimms", "disks", "storage",
          "size", "pmem", "options", "parallel", "total", "power_off", "true", "16GiB", "*",
          "Hard disk 1", "vcenter", "password", "&a", "*a", "<<", "!!str", "~", "null", "0x10"]
_PUNCT = [*":-[]{},#'\"\\|>&*!%@`?\n\n\n    \t", "\\ud800", "\\e", "\\x00", "\\U0010ffff"]
_TOKENS = st.sampled_from(_WORDS + _PUNCT) | st.text(max_size=4)

# Structured documents: random trees through yaml.dump, so the fuzz reaches
# the reader's checks and not only the YAML syntax errors.
_SCALARS = (st.sampled_from(_WORDS) | st.text(max_size=8) | st.integers() | st.booleans()
            | st.none())
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(_WORDS) | st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def _check(text: str, tmp_path: Path) -> None:
    """The property: a spec or located diagnostics, never an exception; both roads agree."""
    try:
        load_spec_text(text, "fuzz.yaml")
        via_text: list[Diagnostic] = []
    except SpecError as exc:
        via_text = exc.diagnostics
        assert via_text, "a SpecError with no diagnostic"
    for d in via_text:
        assert d.file == "fuzz.yaml" and d.line >= 1 and d.column >= 1 and d.message.strip()
        str(d).encode("utf-8")  # printable: no lone surrogate reaches the message
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    via_file = validate_paths([str(path)])
    relocated = [Diagnostic("fuzz.yaml", d.line, d.column, d.message) for d in via_file]
    if "\ufeff" in text[:1] or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return  # a file adds its own checks (BOM, UTF-8) that text input has not
    assert sorted(relocated, key=str) == sorted(via_text, key=str)


_FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@_FUZZ
@given(st.lists(_TOKENS, max_size=60).map("".join))
def test_fuzz_token_soup(tmp_path: Path, text: str) -> None:
    _check(text, tmp_path)


@_FUZZ
@given(_TREES, st.sampled_from(["block", "flow", "canonical"]))
def test_fuzz_structured(tmp_path: Path, tree: object, style: str) -> None:
    doc = {"apiVersion": "pmemctl/v1", "vms": [tree]} if isinstance(tree, dict) else tree
    text = yaml.safe_dump(doc, default_flow_style=style == "flow", canonical=style == "canonical",
                          allow_unicode=True)
    _check(text, tmp_path)


@settings(_FUZZ, max_examples=25)  # each example is a whole deep document: keep it short
@given(st.integers(min_value=0, max_value=600), st.sampled_from(["[", "{a: ", "- ", "&x ["]))
def test_fuzz_nesting(tmp_path: Path, depth: int, opener: str) -> None:
    text = HEAD.replace("vms:\n", "vms: ") + opener * depth
    _check(text, tmp_path)
