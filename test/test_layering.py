"""Package layering (issue 15): tasks <- sim, perception <- learning <- nodes. A package may
import only from layers below it (lazy imports inside functions count too), and the pure layers
never import rclpy (hard rule 4)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ftrl_ros"

# package -> subpackages of ftrl_ros it must never import
FORBIDDEN = {
    "perception": {"sim", "scripted", "learning", "control", "nodes", "perception_training", "tools"},
    "sim": {"learning", "control", "nodes", "tools", "perception_training"},
    "tasks": {"sim", "perception", "learning", "control", "nodes", "tools", "scripted", "failurebench"},
    "failurebench": {"learning", "control", "nodes", "tools", "scripted", "perception", "perception_training"},
    "learning": {"nodes", "tools", "perception_training"},
    "control": {"nodes", "tools"},
    "robot": {"nodes", "tools", "learning"},
    "interop": {"nodes", "tools"},
}
PURE = ("perception", "sim", "tasks", "learning", "control", "scripted", "robot", "failurebench", "utils", "interop")


def _imports(package: str) -> dict[str, set[str]]:
    """file -> the ftrl_ros subpackages and top-level modules it imports."""
    out = {}
    for path in (PKG / package).rglob("*.py"):
        depth = len(path.relative_to(PKG).parts) - 1  # folders below ftrl_ros/
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    parts = node.module.split(".")
                    names.add(parts[1] if parts[0] == "ftrl_ros" and len(parts) > 1 else parts[0])
                elif node.level > depth and node.module:  # ..x from a subpackage: a sibling package
                    names.add(node.module.split(".")[0])
                elif node.level > depth:
                    names |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
        out[str(path.relative_to(PKG))] = names
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_from_a_higher_layer(package):
    bad = {f: sorted(names & FORBIDDEN[package]) for f, names in _imports(package).items() if names & FORBIDDEN[package]}
    assert not bad, bad


@pytest.mark.parametrize("package", PURE)
def test_pure_layers_never_import_rclpy(package):
    bad = [f for f, names in _imports(package).items() if names & {"rclpy", "launch", "launch_ros"}]
    assert not bad, bad


def test_no_import_cycles_between_packages():
    """The subpackages' import graph (lazy imports included) has no cycle: each one can be read,
    tested and reused with only the ones below it."""
    packages = sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    graph = {pkg: {n for names in _imports(pkg).values() for n in names if n in packages and n != pkg} for pkg in packages}
    cycles = []

    def visit(pkg: str, path: list[str]) -> None:
        for dep in sorted(graph[pkg]):
            if dep in path:
                cycles.append(path[path.index(dep) :] + [dep])
            elif len(path) < len(packages):
                visit(dep, path + [dep])

    for pkg in packages:
        visit(pkg, [pkg])
    assert not cycles, sorted({" -> ".join(c) for c in cycles})[:10]
