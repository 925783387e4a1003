"""Named vCenters: the config file, contexts, and govc's and Ansible's variables as fallbacks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmemctl.cli import cli
from pmemctl.config import ambient_fallbacks, config_path, fallbacks, load_config, pick_context
from pmemctl.errors import UsageError
from pmemctl.vsphere.session import resolve_settings

CONFIG = """\
# my vCenters
current-context: vc01
contexts:
  vc01:
    server: vc01.example.com
    user: ops@vsphere.local
    password-env: VC01_PASSWORD
  lab:
    url: https://lab.example:8443/sdk
    user: root
    insecure: true
    password-command: {python} -c "print('lab-secret'); print('second line')"
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(python=sys.executable))
    return path


def settings(env: dict[str, str], context: str | None = None, **flags: object):  # type: ignore[no-untyped-def]
    ctx, ambient = fallbacks(context, env)
    return resolve_settings(env=env, context=ctx, ambient=ambient, **flags)  # type: ignore[arg-type]


def test_config_path_default_and_override(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "pmemctl/config.yaml"
    assert config_path({"PMEMCTL_CONFIG": str(tmp_path / "x.yaml")}) == tmp_path / "x.yaml"


def test_the_current_context_is_used_with_its_password_variable(cfg: Path) -> None:
    s = settings({"PMEMCTL_CONFIG": str(cfg), "VC01_PASSWORD": "pw1"})
    assert (s.host, s.port, s.user, s.password, s.insecure) == (
        "vc01.example.com", 443, "ops@vsphere.local", "pw1", False)


def test_context_flag_beats_env_beats_current(cfg: Path) -> None:
    env = {"PMEMCTL_CONFIG": str(cfg), "PMEMCTL_CONTEXT": "lab", "VC01_PASSWORD": "pw1"}
    assert settings(env).host == "lab.example"
    assert settings(env, context="vc01").host == "vc01.example.com"


def test_a_password_command_gives_its_first_line(cfg: Path) -> None:
    s = settings({"PMEMCTL_CONFIG": str(cfg)}, context="lab")
    assert (s.host, s.port, s.user, s.password, s.insecure) == (
        "lab.example", 8443, "root", "lab-secret", True)


def test_pmemctl_variables_beat_the_context_field_by_field(cfg: Path) -> None:
    env = {"PMEMCTL_CONFIG": str(cfg), "PMEMCTL_USER": "other", "PMEMCTL_PASSWORD": "envpw"}
    s = settings(env)
    assert (s.host, s.user, s.password) == ("vc01.example.com", "other", "envpw")
    # A flag's server wins the location; the context's password does not follow it.
    with pytest.raises(UsageError, match="no password for other@vc9"):
        settings({"PMEMCTL_CONFIG": str(cfg), "VC01_PASSWORD": "pw1",
                  "PMEMCTL_USER": "other"}, server="vc9")


def test_the_password_command_does_not_run_when_a_password_is_given(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "c.yaml"
    path.write_text(f"contexts:\n  a:\n    server: vc1\n    user: u\n    password-command: "
                    f"{sys.executable} -c \"open('{marker}', 'w').write('x'); print('p')\"\n")
    s = settings({"PMEMCTL_CONFIG": str(path), "PMEMCTL_PASSWORD": "given"}, context="a")
    assert s.password == "given"
    assert not marker.exists()


def test_a_missing_password_variable_says_which(cfg: Path) -> None:
    with pytest.raises(UsageError, match=r"context vc01 reads its password from \$VC01_PASSWORD"):
        settings({"PMEMCTL_CONFIG": str(cfg)})


def test_a_failing_password_command_never_shows_its_output(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"contexts:\n  a:\n    server: vc1\n    user: u\n    password-command: "
                    f"{sys.executable} -c \"import sys; print('leak', file=sys.stderr); sys.exit(3)\"\n")
    with pytest.raises(UsageError) as info:
        settings({"PMEMCTL_CONFIG": str(path)}, context="a")
    assert str(info.value) == "context a: password-command exited 3"


@pytest.mark.parametrize("text, message", [
    ("contexts:\n  a:\n    server: vc1\n    password: hunter2\n",
     ":4:5: context 'a' has a password; pmemctl never reads passwords from its config file"),
    ("contexts:\n  a:\n    sever: vc1\n", ":3:5: unknown key 'sever' in context 'a'"),
    ("contexts:\n  a:\n    user: u\n", ":3:5: context 'a' names no vCenter"),
    ("contexts:\n  a:\n    server: vc1\n    insecure: maybe\n", ":4:15: insecure must be true or false"),
    ("current-context: b\ncontexts:\n  a:\n    server: vc1\n", "current-context 'b' is not among"),
    ("contexts: [\n", "not valid YAML"),
    ("context:\n  a: {}\n", ":1:1: unknown key 'context'"),
])
def test_bad_config_files_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)


def test_an_unknown_context_lists_the_known_ones(cfg: Path) -> None:
    with pytest.raises(UsageError, match=r"no context 'vc02' \(--context\) in .* \(known: lab, vc01\)"):
        pick_context(load_config(cfg), "vc02", {})


def test_govc_variables_are_a_fallback() -> None:
    env = {"GOVC_URL": "root@vc-govc", "GOVC_PASSWORD": "gp", "GOVC_INSECURE": "1"}
    s = resolve_settings(env=env, ambient=ambient_fallbacks(env))
    assert (s.host, s.port, s.path, s.user, s.password, s.insecure) == (
        "vc-govc", 443, "/sdk", "root", "gp", True)
    env["GOVC_USERNAME"] = "admin"
    assert resolve_settings(env=env, ambient=ambient_fallbacks(env)).user == "admin"


def test_ansible_variables_are_the_last_fallback() -> None:
    env = {"VMWARE_HOST": "vc-ans", "VMWARE_USER": "au", "VMWARE_PASSWORD": "ap",
           "VMWARE_VALIDATE_CERTS": "false", "VMWARE_PORT": "8443"}
    s = resolve_settings(env=env, ambient=ambient_fallbacks(env))
    assert (s.host, s.port, s.user, s.password, s.insecure) == ("vc-ans", 8443, "au", "ap", True)
    env.update({"GOVC_URL": "u:p@vc-govc"})
    s = resolve_settings(env=env, ambient=ambient_fallbacks(env))
    # govc's variables come first, whole: Ansible's password does not go to govc's host.
    assert (s.host, s.user, s.password, s.insecure) == ("vc-govc", "u", "p", False)


def test_the_order_flags_env_context_spec_govc_vmware(cfg: Path) -> None:
    env = {"PMEMCTL_CONFIG": str(cfg), "VC01_PASSWORD": "pw1", "GOVC_URL": "u:p@vc-govc",
           "VMWARE_HOST": "vc-ans", "VMWARE_USER": "a", "VMWARE_PASSWORD": "b",
           "PMEMCTL_USER": "u", "PMEMCTL_PASSWORD": "p"}
    assert settings(env, url="https://u:p@vc-flag").host == "vc-flag"
    assert settings({**env, "PMEMCTL_SERVER": "vc-env"}).host == "vc-env"
    assert settings(env, spec_vcenter="vc-spec").host == "vc01.example.com"
    no_ctx = {**env, "PMEMCTL_CONFIG": str(cfg.with_name("none.yaml"))}
    assert settings(no_ctx, spec_vcenter="vc-spec").host == "vc-spec"
    assert settings(no_ctx).host == "vc-govc"
    del no_ctx["GOVC_URL"]
    assert settings(no_ctx).host == "vc-ans"


def test_bad_ambient_values_are_named() -> None:
    with pytest.raises(UsageError, match="GOVC_INSECURE='sure' is not a boolean"):
        ambient_fallbacks({"GOVC_URL": "vc1", "GOVC_INSECURE": "sure"})
    with pytest.raises(UsageError, match="bad port 'x' in VMWARE_PORT"):
        ambient_fallbacks({"VMWARE_HOST": "vc1", "VMWARE_PORT": "x"})
    with pytest.raises(UsageError, match="URL in GOVC_URL must start with https://"):
        env = {"GOVC_URL": "http://u:p@vc1"}
        resolve_settings(env=env, ambient=ambient_fallbacks(env))


def test_config_list_current_use(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_CONFIG", str(cfg))
    r = CliRunner().invoke(cli, ["config", "list", "-o", "json"])
    assert r.exit_code == 0, r.output
    assert '"current": "vc01"' in r.output and "lab-secret" not in r.output
    assert '"password_from": "env:VC01_PASSWORD"' in r.output
    r = CliRunner().invoke(cli, ["config", "current"])
    assert (r.exit_code, r.output) == (0, "vc01\n")
    r = CliRunner().invoke(cli, ["config", "use", "lab"])
    assert r.exit_code == 0, r.output
    assert CliRunner().invoke(cli, ["config", "current"]).output == "lab\n"
    text = cfg.read_text()
    assert text.startswith("# my vCenters\ncurrent-context: lab\n")  # comments kept
    r = CliRunner().invoke(cli, ["config", "use", "nope"])
    assert r.exit_code == 64
    assert "no context 'nope'" in r.output
    assert cfg.read_text() == text


def test_context_flag_reaches_the_connection(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An unknown --context is a usage error before any connection is tried.
    monkeypatch.setenv("PMEMCTL_CONFIG", str(cfg))
    r = CliRunner().invoke(cli, ["status", "--context", "nope"])
    assert r.exit_code == 64
    assert "no context 'nope' (--context)" in r.output


def test_shell_completion_offers_the_context_names(cfg: Path, monkeypatch: pytest.MonkeyPatch,
                                                   ) -> None:
    monkeypatch.setenv("PMEMCTL_CONFIG", str(cfg))
    monkeypatch.setenv("COMP_WORDS", "pmemctl status --context ")
    monkeypatch.setenv("COMP_CWORD", "3")
    monkeypatch.setenv("_PMEMCTL_COMPLETE", "bash_complete")
    r = CliRunner().invoke(cli, [], prog_name="pmemctl")
    assert r.output.split() == ["plain,lab", "plain,vc01"]
    monkeypatch.setenv("_PMEMCTL_COMPLETE", "bash_source")
    assert "_pmemctl_completion()" in CliRunner().invoke(cli, [], prog_name="pmemctl").output
