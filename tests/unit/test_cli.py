"""The CLI shell: help, version, and exit codes that pipelines can trust."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pmemctl import __version__
from pmemctl.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out == f"pmemctl, version {__version__}\n"


def test_help_lists_every_command() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for name in ("validate", "status", "plan", "apply", "rollback"):
        assert f"  {name} " in out


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["plan"],  # missing SPEC
        ["plan", "x.yaml", "--output", "yaml"],
        ["status", "--bogus-flag"],
        ["apply", "x.yaml", "--parallel", "0"],
    ],
)
def test_usage_errors_exit_64_never_2(args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 64, (out, err)
    assert "Usage:" in err or "Error" in err


def test_plan_without_vcenter_is_a_usage_error(tmp_path: object) -> None:
    from pathlib import Path

    spec = Path(str(tmp_path)) / "s.yaml"
    spec.write_text("apiVersion: pmemctl/v1\nvms:\n  - name: redis-01\n    nvdimms: [16GiB]\n")
    code, out, err = run("plan", str(spec))
    assert code == 64
    assert out == ""
    assert "PMEMCTL_URL" in err


def test_rollback_refuses_a_file_that_is_not_a_journal(tmp_path: object) -> None:
    from pathlib import Path

    wrong = Path(str(tmp_path)) / "spec.yaml"
    wrong.write_text("apiVersion: pmemctl/v1\nvms: []\n")
    # Refused before any connection is attempted: no vCenter is configured here.
    code, out, err = run("rollback", str(wrong), "--yes")
    assert code == 1
    assert out == ""
    assert err == f"Error: {wrong} is not a pmemctl journal (line 1 is not a journal record)\n"
    # One line of garbage looks like a torn write: refused all the same.
    wrong.write_text("garbage\n")
    code, out, err = run("rollback", str(wrong), "--yes")
    assert (code, out) == (1, "")
    assert err == f"Error: {wrong} is not a pmemctl journal (it has no run_start record)\n"


def test_rollback_of_a_missing_journal_is_a_usage_error(tmp_path: object) -> None:
    code, out, err = run("rollback", f"{tmp_path}/none.jsonl")
    assert (code, out) == (64, "")
    assert err == f"Error: no journal at {tmp_path}/none.jsonl\n"
