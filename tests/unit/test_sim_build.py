"""pmemctl sim's build: which files, the cache key, and the Debian packages it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmemctl.sim import build


def _tree(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    for name in ("main.go", "vm.go", "vm_test.go", "demo.yaml", "client.py"):
        (d / name).write_text(f"// {name}\n")
    return d


def test_the_source_is_the_go_files_without_tests_and_the_demo(tmp_path: Path) -> None:
    src = build.find_source((tmp_path / "nothing", _tree(tmp_path)))
    assert [f.name for f in src.files] == ["main.go", "vm.go", "demo.yaml"]


def test_the_cache_key_follows_the_build_inputs_only(tmp_path: Path) -> None:
    d = _tree(tmp_path)
    first = build.find_source((d,)).digest
    (d / "vm_test.go").write_text("// changed\n")
    (d / "client.py").write_text("# changed\n")
    assert build.find_source((d,)).digest == first
    (d / "demo.yaml").write_text("# changed\n")
    assert build.find_source((d,)).digest != first


def test_no_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(build.SimBuildError, match="reinstall pmemctl"):
        build.find_source((tmp_path,))


def test_a_cached_binary_is_used_without_go(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src = build.find_source((_tree(tmp_path),))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "nobin"))
    exe = tmp_path / "cache" / "pmemctl" / f"pmemsim-{src.digest}" / "pmemsim"
    with pytest.raises(build.SimBuildError, match="missing the Debian package"):
        build.binary(src)
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert build.binary(src) == exe


def test_missing_packages_are_named_one_by_one(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gopath = tmp_path / "gocode"
    (gopath / "src" / "gopkg.in" / "yaml.v3").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "nobin"))
    assert build.missing_packages(str(gopath)) == ["golang-go",
                                                   "golang-github-vmware-govmomi-dev"]
