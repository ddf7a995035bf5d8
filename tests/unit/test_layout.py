"""The repository's contracts that everything else relies on."""

from __future__ import annotations

import ast
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


def test_provider_tools_import_only_the_runtime_api() -> None:
    """The provider distribution reaches the runtime through `erigolem_runtime.api` alone."""
    offenders = []
    for path in sorted((REPO / "provider_tools/erigolem_provider").rglob("*.py")):
        bad = {
            n
            for n in _imports(path)
            if n.split(".")[0] == "erigolem_runtime" and not n.startswith("erigolem_runtime.api")
        }
        if bad:
            offenders.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert offenders == []
