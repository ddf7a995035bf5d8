"""The changes setup makes, as data: review them (diffs), apply them atomically, undo them.

A :class:`Plan` is a list of directories to create, files to write and commands to run. Nothing
touches the disk until :func:`apply_plan`, which checks every target first, backs up each file it
replaces, writes through a temporary file + rename, and rolls everything back if a step fails.
A manifest records what was created or replaced so ``uninstall`` can put the tree back.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from erigolem_runtime.provider import atomic_write

Status = Literal["create", "modify", "unchanged"]
CommandRole = Literal["validate", "mutate", "reload"]


class PlanError(Exception):
    """Applying (or checking) the plan failed; the message says what and what to do."""


@dataclass(frozen=True)
class FileWrite:
    """One whole file setup owns or edits, with the exact content it will have."""

    path: Path
    content: str
    purpose: str
    mode: int = 0o644

    def current(self) -> str | None:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return None
        except (IsADirectoryError, UnicodeDecodeError):
            return None

    def status(self) -> Status:
        old = self.current()
        if old is None:
            return "create"
        return "unchanged" if old == self.content else "modify"

    def diff(self) -> str:
        """Unified diff from the current file (or /dev/null) to the planned content."""
        old = self.current()
        lines = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            self.content.splitlines(keepends=True),
            fromfile=str(self.path) if old is not None else "/dev/null",
            tofile=str(self.path),
        )
        out = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        return out


@dataclass(frozen=True)
class MakeDir:
    """A directory setup needs (created with all missing parents)."""

    path: Path
    purpose: str
    mode: int = 0o755


@dataclass(frozen=True)
class Command:
    """A command run after the files are in place.

    ``validate`` commands (``nginx -t``) roll everything back when they fail; ``mutate`` commands
    (``ya-provider preset create``) change the files listed in ``touches``, which are backed up
    first; ``reload`` failures are reported as warnings.
    """

    argv: tuple[str, ...]
    purpose: str
    role: CommandRole
    touches: tuple[Path, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    skip_if_unchanged: bool = True

    def shown(self) -> str:
        prefix = " ".join(f"{k}={v}" for k, v in self.env)
        return (prefix + " " if prefix else "") + " ".join(_quote(a) for a in self.argv)


@dataclass
class Plan:
    """Everything setup will do, in order: directories, files, then commands."""

    dirs: list[MakeDir] = field(default_factory=list)
    files: list[FileWrite] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def changed_files(self) -> list[FileWrite]:
        return [f for f in self.files if f.status() != "unchanged"]

    def missing_dirs(self) -> list[MakeDir]:
        return [d for d in self.dirs if not d.path.is_dir()]

    @property
    def unchanged(self) -> bool:
        return (
            not self.changed_files()
            and not self.missing_dirs()
            and not any(not c.skip_if_unchanged for c in self.commands if c.role == "mutate")
        )

    def render(self, *, diffs: bool = True) -> str:
        """The review text: each directory, each file (as a diff), each command."""
        out: list[str] = []
        for note in self.notes:
            out.append(f"NOTE: {note}")
        for d in self.dirs:
            state = "exists" if d.path.is_dir() else "create"
            out.append(f"[dir  {state:9}] {d.path}  ({d.purpose})")
        for f in self.files:
            out.append(f"[file {f.status():9}] {f.path}  ({f.purpose})")
            if diffs and f.status() != "unchanged":
                out.append(f.diff().rstrip("\n"))
        for c in self.commands:
            out.append(f"[run  {c.role:9}] {c.shown()}  ({c.purpose})")
        if self.unchanged:
            out.append("Everything is already in place: nothing to change (unchanged).")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Manifest


@dataclass
class Manifest:
    """What setup created or replaced, so uninstall can restore the tree exactly."""

    path: Path
    backup_dir: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    created_at: float = 0.0

    @classmethod
    def load(cls, path: Path, backup_dir: Path) -> Manifest:
        if not path.exists():
            return cls(path, backup_dir)
        try:
            data = json.loads(path.read_text())
            return cls(
                path,
                backup_dir,
                files=dict(data["files"]),
                dirs=list(data["dirs"]),
                commands=list(data.get("commands", [])),
                created_at=float(data.get("created_at", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PlanError(
                f"the setup manifest {path} is unreadable ({exc}): restore it from a backup or "
                "remove it and undo the setup by hand (see the README)"
            ) from exc

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def save(self) -> None:
        data = {
            "version": 1,
            "created_at": self.created_at or time.time(),
            "files": self.files,
            "dirs": self.dirs,
            "commands": self.commands,
        }
        atomic_write(
            self.path, json.dumps(data, indent=2, sort_keys=True) + "\n", 0o600, parents=False
        )


# ---------------------------------------------------------------------------------------------
# Apply


@dataclass
class ApplyResult:
    """What apply did: per path `created`, `modified`, `unchanged`; commands run; warnings."""

    changes: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return all(v == "unchanged" for v in self.changes.values()) and not self.commands


Runner = Callable[[Sequence[str], Mapping[str, str]], "subprocess.CompletedProcess[str]"]


def run_command(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a planned command (no shell), capturing output, bounded in time."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        list(argv), capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def preflight(plan: Plan, extra_paths: Sequence[Path] = ()) -> list[str]:
    """Problems that would stop apply half-way: unwritable or wrong-kind targets. Empty = ok."""
    problems: list[str] = []
    targets = [d.path for d in plan.dirs] + [f.path for f in plan.files] + list(extra_paths)
    seen: set[Path] = set()
    for target in targets:
        if target in seen:
            continue
        seen.add(target)
        if target.exists() and target in {f.path for f in plan.files} and target.is_dir():
            problems.append(f"{target} is a directory, but setup needs to write a file there")
            continue
        anc = target if target.is_dir() else target.parent
        while not anc.exists() and anc != anc.parent:
            anc = anc.parent
        if not anc.is_dir():
            problems.append(
                f"cannot create {target}: {anc} is a file, not a directory; move it away or "
                "choose another location"
            )
        elif not writable(anc):
            problems.append(
                f"cannot write {target}: {anc} is read-only for this user; run setup as a user "
                f"who can write there (e.g. with sudo) or choose another location"
            )
    return problems


def writable(directory: Path) -> bool:
    """True when a file can really be created in ``directory`` (a probe, not just mode bits)."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    try:
        fd, name = tempfile.mkstemp(prefix=".erigolem-probe-", dir=directory)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


class _Session:
    """Undo log of one apply: restores every change when something fails."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.created_dirs: list[Path] = []
        self.written: list[tuple[Path, Path | None]] = []  # (path, session backup or None)
        self.stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"

    def make_dirs(self, d: MakeDir) -> bool:
        missing: list[Path] = []
        p = d.path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for m in reversed(missing):
            m.mkdir(mode=d.mode)
            self.created_dirs.append(m)
        return bool(missing)

    def backup(self, path: Path) -> Path | None:
        """Copy ``path`` into the backup dir (once per session); None when it does not exist."""
        if not path.exists():
            return None
        rel = str(path).lstrip("/")
        dest = self.manifest.backup_dir / self.stamp / rel
        if not dest.exists():
            self.make_dirs(MakeDir(dest.parent, "backup", 0o700))
            shutil.copy2(path, dest)
        return dest

    def record_original(self, path: Path, backup: Path | None) -> None:
        """Remember how ``path`` looked before setup first touched it (kept across re-runs)."""
        key = str(path)
        if key in self.manifest.files:
            return
        self.manifest.files[key] = {
            "original": "backup" if backup else "absent",
            "backup": str(backup) if backup else None,
        }

    def write(self, f: FileWrite) -> None:
        backup = self.backup(f.path)
        self.record_original(f.path, backup)
        self.written.append((f.path, backup))
        atomic_write(f.path, f.content, f.mode, parents=False)

    def rollback(self) -> list[str]:
        errors: list[str] = []
        for path, backup in reversed(self.written):
            try:
                if backup is not None:
                    shutil.copy2(backup, path)
                else:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                errors.append(f"could not restore {path}: {exc}")
        for d in reversed(self.created_dirs):
            try:
                shutil.rmtree(d) if d.is_relative_to(self.manifest.backup_dir) else d.rmdir()
            except OSError as exc:
                errors.append(f"could not remove {d}: {exc}")
        return errors


def apply_plan(
    plan: Plan,
    manifest_path: Path,
    backup_dir: Path,
    *,
    runner: Runner = run_command,
    progress: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Apply ``plan``: all or nothing for files and validation; raises PlanError with the cause."""
    say = progress or (lambda _msg: None)
    problems = preflight(plan, [manifest_path])
    if problems:
        raise PlanError("nothing was written:\n  " + "\n  ".join(problems))
    manifest = Manifest.load(manifest_path, backup_dir)
    result = ApplyResult()
    session = _Session(manifest)
    any_change = bool(plan.changed_files() or plan.missing_dirs())
    try:
        for d in plan.dirs:
            created = session.make_dirs(d)
            result.changes[str(d.path)] = "created" if created else "unchanged"
            if created:
                say(f"created {d.path}")
        for f in plan.files:
            status = f.status()
            if status == "unchanged":
                result.changes[str(f.path)] = "unchanged"
                continue
            session.write(f)
            result.changes[str(f.path)] = "created" if status == "create" else "modified"
            say(f"{'wrote' if status == 'create' else 'updated'} {f.path}")
        for c in plan.commands:
            if c.role == "mutate" and c.skip_if_unchanged:
                continue
            if c.role != "mutate" and not any_change:
                continue
            for touched in c.touches:
                backup = session.backup(touched)
                session.record_original(touched, backup)
                session.written.append((touched, backup))
            say(f"running {c.shown()}")
            proc = runner(c.argv, dict(c.env))
            result.commands.append(c.shown())
            if proc.returncode != 0:
                detail = (proc.stderr or proc.stdout).strip()[-800:]
                if c.role == "reload":
                    result.warnings.append(
                        f"{c.purpose} failed ({c.shown()}: {detail}); the files are in place — "
                        "start or reload nginx yourself, then run `erigolem-provider check`"
                    )
                    continue
                any_change = True
                raise PlanError(f"{c.purpose} failed: {c.shown()}\n{detail}")
            if c.role == "mutate":
                any_change = True
                for touched in c.touches:
                    if touched.exists() and str(touched) not in result.changes:
                        result.changes[str(touched)] = "modified"
        for new_dir in session.created_dirs:
            if not new_dir.is_relative_to(backup_dir) and str(new_dir) not in manifest.dirs:
                manifest.dirs.append(str(new_dir))
        if any_change or not manifest.exists:
            manifest.dirs.extend(str(p) for p in _missing_parents(manifest_path.parent))
            manifest_path.parent.mkdir(parents=True, exist_ok=True)
            manifest.commands.extend(result.commands)
            manifest.save()
    except BaseException as exc:
        errors = session.rollback()
        suffix = ("\nrollback problems:\n  " + "\n  ".join(errors)) if errors else ""
        if isinstance(exc, PlanError):
            raise PlanError(f"{exc}\nEverything setup wrote was rolled back.{suffix}") from exc
        if isinstance(exc, OSError):
            raise PlanError(
                f"writing failed ({exc}); everything setup wrote was rolled back.{suffix}"
            ) from exc
        raise
    return result


def _missing_parents(path: Path) -> list[Path]:
    out: list[Path] = []
    p = path
    while not p.exists():
        out.append(p)
        p = p.parent
    return list(reversed(out))


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
