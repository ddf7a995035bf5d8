"""The repository's contracts that everything else relies on."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.support.binaries import REPO

QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qasync")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_and_runtime_never_import_qt() -> None:
    offenders = []
    for folder in ("erigolem_desktop/core", "runtime/erigolem_runtime"):
        for path in sorted((REPO / folder).rglob("*.py")):
            bad = {n for n in _imports(path) if n.split(".")[0] in QT_MODULES}
            if bad:
                offenders.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert offenders == []


def test_node_state_vocabulary() -> None:
    from erigolem_runtime.api import RuntimeState

    from erigolem_desktop.core.states import NodeState, from_runtime_state

    assert [s.value for s in NodeState] == [
        "pending",
        "starting",
        "syncing",
        "ready",
        "stopping",
        "stopped",
        "failed",
    ]
    assert from_runtime_state(RuntimeState.DEGRADED) is NodeState.SYNCING
    assert not NodeState.STOPPED.active
    assert NodeState.READY.active


# ---------------------------------------------------------------------- the seam and the graph

PACKAGES = {
    "erigolem_desktop": REPO / "erigolem_desktop",
    "erigolem_runtime": REPO / "runtime/erigolem_runtime",
    "erigolem_provider": REPO / "provider_tools/erigolem_provider",
}
RUNTIME_DOORS = (
    "erigolem_runtime.api",
    "erigolem_runtime.cli",
    "erigolem_runtime.host",
    "erigolem_runtime.provider",
)
"""What the desktop and the provider tools may import of the runtime: its API package, the CLI
entry point (the frozen app runs it as the runtime executable) and `host` (in-process calls of
a host running the runtime on this computer: the Local backend) and `provider` (the typed config
and checks provider setup builds on)."""
PENDING_PROVIDER: dict[str, set[str]] = {}
"""Provider modules still allowed a runtime import outside the doors (none: keep it empty)."""


@functools.cache
def _modules() -> dict[str, Path]:
    """Every module of the three distributions by dotted name (packages by their own name)."""
    found: dict[str, Path] = {}
    for name, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [name, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (anywhere in it: lazy imports count too)."""
    modules = _modules()

    def ours(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                names = [f"{base}.{alias.name}" for alias in node.names]
            targets.update(t for t in map(ours, names) if t is not None and t != module)
        graph[module] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected parts of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(frozenset(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_desktop_and_provider_reach_the_runtime_only_through_its_doors() -> None:
    """The seam: `erigolem_runtime.api` (+ the CLI entry point and `host`), nothing else."""
    offenders: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        if module.split(".")[0] not in ("erigolem_desktop", "erigolem_provider"):
            continue
        bad = {
            t
            for t in targets
            if t.startswith("erigolem_runtime")
            and not any(t == d or t.startswith(d + ".") for d in RUNTIME_DOORS)
        }
        if bad:
            offenders[module] = bad
    pending = {m: bad & PENDING_PROVIDER.get(m, set()) for m, bad in offenders.items()}
    assert {m: bad - pending[m] for m, bad in offenders.items() if bad - pending[m]} == {}


def test_no_upward_imports() -> None:
    """core never reaches the views (ui, cli, server); the runtime and the provider tools never
    reach the desktop; the runtime never reaches the provider tools."""
    forbidden = {
        "erigolem_desktop.core": (
            "erigolem_desktop.ui",
            "erigolem_desktop.cli",
            "erigolem_desktop.server",
        ),
        "erigolem_runtime": ("erigolem_desktop", "erigolem_provider"),
        "erigolem_provider": ("erigolem_desktop",),
    }
    offenders = []
    for module, targets in _graph().items():
        for low, above in forbidden.items():
            if module == low or module.startswith(low + "."):
                bad = sorted(t for t in targets if t.startswith(above))
                if bad:
                    offenders.append(f"{module} -> {bad}")
    assert offenders == []


def test_no_import_cycles_between_modules_or_between_the_folders_of_a_package() -> None:
    """No cycle among modules, nor among the parts (modules and sub-packages) of any package:
    e.g. `erigolem_runtime.api` must not import a runtime module that imports `api`."""
    graph = _graph()
    files = _modules()
    cycles = _cycles(graph)
    for package in sorted(m for m, path in files.items() if path.name == "__init__.py"):
        depth = package.count(".") + 2  # the package's direct parts

        def part(name: str, depth: int = depth, package: str = package) -> str | None:
            if not name.startswith(package + "."):
                return None
            return ".".join(name.split(".")[:depth])

        rooms: dict[str, set[str]] = {}
        for module in sorted(graph):
            room = part(module)
            if room is None:
                continue
            rooms.setdefault(room, set()).update(
                r for r in map(part, graph[module]) if r is not None and r != room
            )
        cycles += _cycles(rooms)
    assert sorted(sorted(c) for c in cycles) == []
