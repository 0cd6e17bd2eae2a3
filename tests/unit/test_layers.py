"""The architecture, checked: every import points down a layer, and no module imports itself round a circle.

The layers are written down once, in docs/architecture.md (the block after "```layers");
this test reads them from there. Every import counts, those inside functions too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layers() -> list[list[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block is not None, "docs/architecture.md has no ```layers block"
    # bottom first in the file's order reversed: the block lists the top layer first, as a drawing would
    rows = [line.split("#")[0].split() for line in block.group(1).splitlines()]
    return [row for row in rows if row][::-1]


def modules() -> dict[str, set[str]]:
    """Each module of bridge/ and the modules of bridge/ it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bridge").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bridge":
                for alias in node.names:  # `from bridge.sflow import events`: the module bridge.sflow.events
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if (ROOT / (sub.replace(".", "/") + ".py")).exists() else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.split(".")[0] == "bridge")
        graph[name] = deps - {name}
    return graph


def layer_of(module: str, table: list[list[str]]) -> tuple[int, str]:
    """(layer number, package) of a module: the longest package of the table it is in."""
    best = (-1, "")
    for i, row in enumerate(table):
        for package in row:
            if (module == package or module.startswith(package + ".")) and len(package) > len(best[1]):
                best = (i, package)
    return best


def test_every_module_has_a_layer() -> None:
    table = layers()
    assert [m for m in modules() if layer_of(m, table)[0] < 0] == []


def test_imports_point_down() -> None:
    table = layers()
    wrong = []
    for module, deps in modules().items():
        level, package = layer_of(module, table)
        for dep in sorted(deps):
            dep_level, dep_package = layer_of(dep, table)
            if dep_package != package and dep_level >= level:
                wrong.append(f"{module} -> {dep}")
    assert wrong == [], "imports that point up or across a layer (docs/architecture.md):\n" + "\n".join(wrong)


def test_no_circle() -> None:
    graph = modules()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[str] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                circles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_layer_test_sees_an_arrow_that_points_up() -> None:
    table = layers()
    assert layer_of("bridge.sflow.flow", table)[0] < layer_of("bridge.cli.bridge", table)[0]
    assert layer_of("bridge.pcap.pcapng", table)[0] < layer_of("bridge.pipeline.accounting", table)[0]
    assert "bridge.sflow.sampled_header" in modules()["bridge.sflow.flow"]
