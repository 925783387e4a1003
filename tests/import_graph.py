#!/usr/bin/env python3
"""Draw pmemctl's import graph between its subpackages, from the source (no imports run).

    .venv/bin/python tests/import_graph.py            # "a -> b" edges, one per line
    .venv/bin/python tests/import_graph.py --modules  # module level instead of package level
    .venv/bin/python tests/import_graph.py --dot      # Graphviz, for `dot -Tsvg`

Imports inside functions count too (the CLI defers its imports for start-up
time; they are still dependencies). ``tests/unit/test_layers.py`` checks the
layering rules on the same graph.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pmemctl"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def module_edges() -> set[tuple[str, str]]:
    """Every (importer, imported) pair of pmemctl modules."""
    edges: set[tuple[str, str]] = set()
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node, path.name == "__init__.py")
                if base:
                    targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if t == PACKAGE or t.startswith(PACKAGE + "."):
                    known = _known(t)
                    if known and known != module:
                        edges.add((module, known))
    return edges


def _known(name: str) -> str | None:
    """``name`` if it is a pmemctl module, else its longest module prefix."""
    parts = name.split(".")
    while parts:
        candidate = ROOT.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    return None


def package_of(module: str) -> str:
    """``pmemctl.apply.executor`` → ``apply``; top-level modules keep their name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_edges() -> set[tuple[str, str]]:
    """Edges between subpackages (``apply -> plan``), self-edges dropped."""
    return {(package_of(a), package_of(b)) for a, b in module_edges()
            if package_of(a) != package_of(b)}


def main(argv: list[str] | None = None) -> int:
    """Print the graph."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", action="store_true", help="module level")
    ap.add_argument("--dot", action="store_true", help="Graphviz output")
    args = ap.parse_args(argv)
    edges = sorted(module_edges() if args.modules else package_edges())
    if args.dot:
        print("digraph pmemctl {")
        for a, b in edges:
            print(f'  "{a}" -> "{b}";')
        print("}")
    else:
        for a, b in edges:
            print(f"{a} -> {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
