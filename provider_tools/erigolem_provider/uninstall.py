"""Undo a setup: restore every file setup replaced, remove what it created, reload nginx."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from erigolem_provider.layout import Layout
from erigolem_provider.plan import Manifest, PlanError, Runner, run_command


@dataclass
class UninstallResult:
    """What uninstall did and what it left in place (with the reason)."""

    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def running_nodes(layout: Layout) -> list[Path]:
    """Location files of nodes the runtime is serving right now."""
    d = layout.include.server_dir
    return sorted(p for p in d.glob("*.conf") if not p.name.startswith("_")) if d.is_dir() else []


def _runtime_owned(layout: Layout) -> list[Path]:
    """Directories whose whole content is the runtime's own bookkeeping (never chain data)."""
    return [
        layout.runtime_data_dir / "state",
        layout.runtime_data_dir / "access-logs",
        layout.include.http_dir,
        layout.include.server_dir,
        layout.htpasswd_dir,
    ]


def _nginx_commands(layout: Layout) -> tuple[list[str] | None, list[str] | None]:
    """nginx test/reload commands from the runtime config (read before it is removed)."""
    import json

    try:
        nginx = json.loads(layout.runtime_config_path.read_text())["nginx"]
        return nginx.get("test_command"), nginx.get("reload_command")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def uninstall(
    layout: Layout, *, dry_run: bool = False, force: bool = False, runner: Runner = run_command
) -> UninstallResult:
    """Put the tree back as it was before setup; raises PlanError when it cannot start."""
    if not layout.manifest_path.exists():
        raise PlanError(
            f"nothing to uninstall: no setup manifest at {layout.manifest_path} (setup was not "
            "run with this --root, or it was already uninstalled)"
        )
    manifest = Manifest.load(layout.manifest_path, layout.backup_dir)
    nodes = running_nodes(layout)
    if nodes and not force:
        raise PlanError(
            f"{len(nodes)} rented node(s) are running ({', '.join(p.stem for p in nodes)}): stop "
            "the provider (`golemsp stop`) and wait until they end, or pass --force"
        )
    result = UninstallResult()
    test_cmd, reload_cmd = _nginx_commands(layout)
    for path_s, entry in reversed(list(manifest.files.items())):
        path = Path(path_s)
        if entry.get("original") == "backup" and entry.get("backup"):
            backup = Path(entry["backup"])
            if not backup.exists():
                result.warnings.append(f"backup of {path} is missing ({backup}): left as is")
                continue
            if not dry_run:
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(backup, path)
            result.restored.append(str(path))
        elif path.exists():
            if not dry_run:
                path.unlink()
            result.removed.append(str(path))
    if not dry_run:
        shutil.rmtree(layout.backup_dir, ignore_errors=True)
        layout.manifest_path.unlink(missing_ok=True)
    result.removed.append(str(layout.manifest_path))
    for dir_s in reversed(manifest.dirs):
        d = Path(dir_s)
        if not d.exists():
            continue
        if d in _runtime_owned(layout) and d.is_dir() and not dry_run:
            for child in d.iterdir():
                shutil.rmtree(
                    child
                ) if child.is_dir() and not child.is_symlink() else child.unlink()
        leftovers = list(d.iterdir()) if d.is_dir() else []
        if dry_run:
            result.removed.append(str(d)) if not leftovers else None
            continue
        try:
            d.rmdir()
            result.removed.append(str(d))
        except OSError:
            names = ", ".join(sorted(p.name for p in leftovers)[:5])
            result.kept.append(f"{d} (not empty: {names})")
    if not dry_run and reload_cmd:
        if test_cmd:
            proc = runner(test_cmd, {})
            if proc.returncode != 0:
                result.warnings.append(
                    f"nginx -t fails after the restore: {(proc.stderr or '').strip()[-400:]}"
                )
                return result
        proc = runner(reload_cmd, {})
        if proc.returncode != 0:
            result.warnings.append(
                f"nginx reload failed ({' '.join(reload_cmd)}): reload it yourself if it runs"
            )
    return result
