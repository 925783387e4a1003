"""``validate`` for pipelines: directories, GitHub annotations, JSON objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmemctl.cli import cli
from pmemctl.cli.views.validate import escape_data, escape_property
from pmemctl.spec.discover import expand_spec_paths

pytestmark = pytest.mark.unit

GOOD = "apiVersion: pmemctl/v1\nvms:\n  - name: redis-01\n    nvdimms: [16GiB]\n"
BAD = "apiVersion: pmemctl/v1\nvms:\n  - nmae: redis-01\n"


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def tree(tmp_path: Path) -> Path:
    """specs/ with specs two levels deep, and files validate must leave alone."""
    top = tmp_path / "specs"
    (top / "prod" / "redis").mkdir(parents=True)
    (top / "prod" / "redis" / "a.yaml").write_text(GOOD)
    (top / "prod" / "b.yaml").write_text(GOOD)
    (top / "z.yaml").write_text(GOOD)
    (top / "ci.yml").write_text("stages: [x]\n")  # a CI file, not a spec
    (top / ".git").mkdir()
    (top / ".git" / "junk.yaml").write_text("not: a spec\n")
    (top / "README.md").write_text("# specs\n")
    return top


def test_a_directory_means_every_yaml_below_it_in_path_order(tmp_path: Path) -> None:
    top = tree(tmp_path)
    code, out, _ = run("validate", str(top))
    assert code == 0
    assert out.splitlines() == [f"{top}/prod/b.yaml: valid", f"{top}/prod/redis/a.yaml: valid",
                                f"{top}/z.yaml: valid"]


def test_one_bad_file_below_fails_the_directory(tmp_path: Path) -> None:
    top = tree(tmp_path)
    (top / "prod" / "redis" / "bad.yaml").write_text(BAD)
    code, out, err = run("validate", str(top), str(top / "z.yaml"))
    assert code == 1
    assert out.startswith(f"{top}/prod/redis/bad.yaml:3:5: unknown key 'nmae'")
    assert err.endswith("in 1 of 5 spec file(s).\n")


def test_a_directory_without_specs_is_a_problem_not_valid(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "x.yml").write_text(GOOD)
    code, out, _ = run("validate", str(tmp_path / "empty"))
    assert code == 1
    assert out.startswith(f"{tmp_path}/empty:1:1: no *.yaml file below this directory")


def test_a_link_loop_is_not_followed(tmp_path: Path) -> None:
    top = tmp_path / "loop"
    top.mkdir()
    (top / "s.yaml").write_text(GOOD)
    (top / "again").symlink_to(top)
    files, problems = expand_spec_paths([top])
    assert (files, problems) == ([f"{top}/s.yaml"], [])


def test_github_annotations_locate_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD + "options: {power_of: true}\n")
    code, out, err = run("validate", "--output", "github", str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"::error file={bad},line=3,col=5::unknown key 'nmae' in vms[0]; did you mean 'name'?",
        f"::error file={bad},line=3,col=5::vms[0]: needs a name (one VM) or a match "
        "(a selection of VMs)",
        f"::error file={bad},line=4,col=11::unknown key 'power_of' in options; "
        "did you mean 'power_off'?",
    ]
    assert err == "3 problems in 1 of 1 spec file(s).\n"


def test_github_annotations_escape_what_would_end_the_command() -> None:
    # actions/toolkit packages/core/src/command.ts: escapeData and escapeProperty.
    assert escape_data("50% of a\r\nb::c") == "50%25 of a%0D%0Ab::c"
    assert escape_property("dir,x/a:b.yaml") == "dir%2Cx/a%3Ab.yaml"


def test_github_output_of_valid_specs_is_plain(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert run("validate", "-o", "github", str(good)) == (0, f"{good}: valid\n", "")


def test_json_gives_file_line_col_message_objects(tmp_path: Path) -> None:
    top = tree(tmp_path)
    (top / "bad.yaml").write_text(BAD)
    code, out, err = run("validate", "-o", "json", str(top))
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert doc["valid"] is False
    p = doc["problems"][0]
    assert {k: p[k] for k in ("file", "line", "col", "message")} == {
        "file": f"{top}/bad.yaml", "line": 3, "col": 5,
        "message": "unknown key 'nmae' in vms[0]; did you mean 'name'?"}
    assert {q["file"] for q in doc["problems"]} == {f"{top}/bad.yaml"}
    assert doc["files"] == [f"{top}/bad.yaml", f"{top}/prod/b.yaml", f"{top}/prod/redis/a.yaml",
                            f"{top}/z.yaml"]
