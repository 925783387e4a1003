"""The layering the architecture promises, checked on the import graph (tests/import_graph.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import import_graph as g

# No vSphere, no I/O layers. fileio is stdlib-only: the regular-file and size
# checks that spec/load and plan/savefile already did their reads with.
PURE = {"plan", "spec", "inventory", "units", "errors", "fileio"}


def test_the_pure_core_imports_no_outer_layer() -> None:
    bad = {(a, b) for a, b in g.package_edges() if a in PURE and b not in PURE}
    assert bad == set()


def test_only_the_cli_imports_the_cli() -> None:
    # __main__ is `python -m pmemctl`: the CLI's other entry point.
    assert {a for a, b in g.package_edges() if b == "cli"} <= {"cli", "__main__"}


def test_the_pure_core_never_imports_pyvmomi() -> None:
    offenders = []
    for pkg in sorted(PURE):
        base = g.ROOT / g.PACKAGE
        paths = [base / f"{pkg}.py"] if (base / f"{pkg}.py").exists() else \
            sorted((base / pkg).rglob("*.py"))
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n.split(".")[0] in ("pyVmomi", "pyVim") for n in names):
                    offenders.append(str(path.relative_to(g.ROOT)))
    assert offenders == []


def test_the_graph_tool_sees_the_executor_using_the_plan() -> None:
    # Guards the tool itself: a graph without this edge is a broken parser.
    assert ("pmemctl.apply.executor", "pmemctl.plan.payloads") in g.module_edges()
    assert Path(g.__file__).name == "import_graph.py"


def test_only_the_session_module_reaches_into_pyvmomis_stub() -> None:
    offenders = []
    for path in sorted((g.ROOT / g.PACKAGE).rglob("*.py")):
        if path.name == "session.py" and path.parent.name == "vsphere":
            continue
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if "._stub" in line:
                offenders.append(f"{path.relative_to(g.ROOT)}:{n}")
    assert offenders == []
