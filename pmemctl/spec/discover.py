"""Which files ``validate DIR`` checks: every ``*.yaml`` below a directory.

Only ``*.yaml``, not ``*.yml``: a repository of specs usually holds CI
files too (``.gitlab-ci.yml``, ``.github/workflows/*.yml``, and
``playbooks/ci/*.yml`` here), which are YAML but no spec. Directories whose
name starts with a dot (``.git``, ``.github``) are not entered, and symbolic
links to directories are not followed (a link loop must not hang CI); a
symbolic link to a file is checked as the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pmemctl.errors import Diagnostic

SPEC_SUFFIX = ".yaml"


def expand_spec_paths(args: Iterable[str | Path]) -> tuple[list[str], list[Diagnostic]]:
    """The spec files ``args`` name, directories expanded; and a problem per empty directory.

    Files and ``-`` (stdin) are kept as given, in order; a directory becomes
    the ``*.yaml`` files below it, sorted by path, so the output is the same
    on every machine. A directory with none is a problem, never a silent
    "valid".

    Side Effects:
        Lists directories.
    """
    files: list[str] = []
    problems: list[Diagnostic] = []
    for arg in args:
        path = str(arg)
        if path != "-" and Path(path).is_dir():
            found = _below(path)
            if not found:
                problems.append(Diagnostic(path, 1, 1, f"no *{SPEC_SUFFIX} file below this "
                                           "directory (validate checks *.yaml, not *.yml)"))
            files.extend(found)
        else:
            files.append(path)
    return files, problems


def _below(top: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(top, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [str(Path(root, n)) for n in names
                  if n.endswith(SPEC_SUFFIX) and not n.startswith(".")]
    return sorted(found, key=lambda p: Path(p).parts)
