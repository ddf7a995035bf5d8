"""The RPC console's history: a 0600 file under data_dir() that never holds secrets.

Like geth's console history: consecutive duplicates are dropped, calls that can carry a secret
(`personal_*`, anything with a password or private key in it, the node's own password) are not
recorded, and only method + params are kept — never the URL or the credentials.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from erigolem_runtime.api.files import atomic_write

from erigolem_desktop.core.paths import data_dir

log = logging.getLogger(__name__)

FILE_NAME = "console_history.jsonl"
MAX_ENTRIES = 500
_SECRET_METHOD = re.compile(r"^(personal_|.*(unlock|import|private|secret|password))", re.I)
_SECRET_WORD = re.compile(r"password|passphrase|private_?key|secret|mnemonic", re.I)
_KEY_LIKE = re.compile(r"(?<![0-9a-fA-F])(0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])")
_HASH_METHODS = re.compile(r"(Hash|Receipt|ByHash|Transaction|trace|debug|Logs|Storage|Proof)")


@dataclass(frozen=True)
class HistoryEntry:
    method: str
    params: str  # the params editor's text as typed


def may_record(entry: HistoryEntry, secrets: tuple[str, ...] = ()) -> bool:
    """False when the call could carry a secret (see the module docstring).

    A bare 32-byte hex value could be a private key: it is only recorded for methods that take
    block or transaction hashes (lookups, traces), never for `send*`/`sign*` calls.
    """
    if _SECRET_METHOD.match(entry.method):
        return False
    if any(s and s in f"{entry.method} {entry.params}" for s in secrets):
        return False
    if _SECRET_WORD.search(entry.params):
        return False
    if _KEY_LIKE.search(entry.params):
        lowered = entry.method.lower()
        if "send" in lowered or "sign" in lowered or not _HASH_METHODS.search(entry.method):
            return False
    return True


class History:
    """Entries oldest first; `previous()`/`next()` walk them like a shell."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / FILE_NAME
        self.entries: list[HistoryEntry] = self._load()
        self._cursor = len(self.entries)

    def _load(self) -> list[HistoryEntry]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("console history %s unreadable: %s", self.path, exc)
            return []
        out = []
        for line in lines[-MAX_ENTRIES:]:
            try:
                raw = json.loads(line)
                out.append(HistoryEntry(str(raw["method"]), str(raw.get("params", ""))))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def add(self, entry: HistoryEntry, secrets: tuple[str, ...] = ()) -> bool:
        """Record `entry` unless it may hold a secret or repeats the last one; True if kept."""
        self._cursor = len(self.entries)
        if not entry.method or not may_record(entry, secrets):
            return False
        if self.entries and self.entries[-1] == entry:
            return False
        self.entries.append(entry)
        del self.entries[:-MAX_ENTRIES]
        self._cursor = len(self.entries)
        self._save()
        return True

    def _save(self) -> None:
        text = "".join(
            json.dumps({"method": e.method, "params": e.params}) + "\n" for e in self.entries
        )
        atomic_write(self.path, text, mode=0o600, fsync=False)

    def previous(self) -> HistoryEntry | None:
        if not self.entries:
            return None
        self._cursor = max(0, self._cursor - 1)
        return self.entries[self._cursor]

    def next(self) -> HistoryEntry | None:
        """The next newer entry, or None past the newest (the caller clears the fields)."""
        if self._cursor >= len(self.entries) - 1:
            self._cursor = len(self.entries)
            return None
        self._cursor += 1
        return self.entries[self._cursor]
