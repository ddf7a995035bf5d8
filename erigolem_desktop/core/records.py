"""Node records and their SQLite store under the data directory.

A `NodeRecord` is what the app remembers about a node across restarts. The password is NOT in
it: it lives in the OS keyring (`SecretStore`), keyed by the node id. The database is opened in
WAL mode, every write is one transaction, and the file is created owner-only (0600; SQLite
gives its -wal/-shm files the same mode).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from erigolem_runtime.api import NodeStatus

from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.paths import data_dir
from erigolem_desktop.core.states import NodeState

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: the `warm` column (rows of schema 1 read as private nodes)
DB_NAME = "nodes.sqlite3"
NODE_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")  # = the runtime's instance id rule


class StoreError(HintedError):
    """The node database cannot be used; the message says which file and what to do."""


def new_node_id() -> str:
    """A random node id (12 hex digits) that is also a valid runtime instance id."""
    return secrets.token_hex(6)


def url_id(url: str | None) -> str:
    """The id in a node URL's path (`http://h:1/8b96bee5fdf5d669/` -> that id); "" if none."""
    if not url:
        return ""
    rest = url.split("://", 1)[-1]
    path = rest.split("/", 1)[1] if "/" in rest else ""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    return parts[-1] if parts else ""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NodeRecord:
    """Everything the app keeps about one node (no password: that is in the keyring).

    `runtime` holds backend details needed after a restart (Local: workdir, runtime pid and the
    pids of its client/nginx processes); `last_status` is the runtime's latest status (without the password).
    """

    id: str
    name: str
    backend: str
    chain: str
    client: str
    state: NodeState = NodeState.PENDING
    owner: str | None = None
    reason: str | None = None
    progress: str | None = None
    provider: str | None = None
    url: str | None = None
    user: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    ready_at: datetime | None = None
    stopped_at: datetime | None = None
    cost: Decimal | None = None
    last_status: NodeStatus | None = None
    runtime: dict[str, Any] = field(default_factory=dict)
    warm: bool = False  # Golem/Erigon: an own rpcdaemon on the provider's synced Erigon

    @property
    def mode(self) -> str:
        """The runtime's start mode: "warm" (a shared synced Erigon) or "private" (own node)."""
        return "warm" if self.warm else "private"

    @property
    def active(self) -> bool:
        return self.state.active

    @property
    def ws_url(self) -> str | None:
        """The node's WebSocket URL as its runtime reported it (None from older runtimes)."""
        return self.last_status.ws_url if self.last_status is not None else None

    def evolve(self, **changes: Any) -> NodeRecord:
        """A copy with `changes` applied and `updated_at` set to now."""
        changes.setdefault("updated_at", utcnow())
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps ISO-8601 UTC, cost as a decimal string)."""
        out = asdict(self)
        out["state"] = self.state.value
        for key in ("created_at", "updated_at", "ready_at", "stopped_at"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value is not None else None
        out["cost"] = str(self.cost) if self.cost is not None else None
        out["last_status"] = self.last_status.to_json() if self.last_status is not None else None
        out["ws_url"] = self.ws_url
        out["mode"] = self.mode
        return out


_COLUMNS = (
    "id",
    "name",
    "backend",
    "chain",
    "client",
    "state",
    "owner",
    "reason",
    "progress",
    "provider",
    "url",
    "user",
    "created_at",
    "updated_at",
    "ready_at",
    "stopped_at",
    "cost",
    "last_status",
    "runtime",
    "warm",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    backend TEXT NOT NULL,
    chain TEXT NOT NULL,
    client TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    reason TEXT,
    progress TEXT,
    provider TEXT,
    url TEXT,
    user TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ready_at TEXT,
    stopped_at TEXT,
    cost TEXT,
    last_status TEXT,
    runtime TEXT NOT NULL DEFAULT '{}',
    warm INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS nodes_state ON nodes(state);
"""
_SET_ASIDE = """
CREATE TABLE IF NOT EXISTS nodes_set_aside (
    id TEXT NOT NULL, row TEXT NOT NULL, problem TEXT NOT NULL, set_aside_at TEXT NOT NULL
)
"""


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


def _to_row(rec: NodeRecord) -> tuple[Any, ...]:
    return (
        rec.id,
        rec.name,
        rec.backend,
        rec.chain,
        rec.client,
        rec.state.value,
        rec.owner,
        rec.reason,
        rec.progress,
        rec.provider,
        rec.url,
        rec.user,
        _ts(rec.created_at),
        _ts(rec.updated_at),
        _ts(rec.ready_at),
        _ts(rec.stopped_at),
        str(rec.cost) if rec.cost is not None else None,
        json.dumps(rec.last_status.to_json()) if rec.last_status is not None else None,
        json.dumps(rec.runtime),
        int(rec.warm),
    )


def _status(text: str | None) -> NodeStatus | None:
    data = json.loads(text) if text else None
    return NodeStatus.from_json(data) if isinstance(data, Mapping) else None


def _runtime(text: str | None) -> dict[str, Any]:
    data = json.loads(text) if text else {}
    if not isinstance(data, dict):
        raise ValueError(f"a JSON object was expected, not {type(data).__name__}")
    return data


def _flag(value: object) -> bool:
    """A 0/1 column (None: a row from before the column existed, read as 0)."""
    if value is None or value in (0, 1):
        return bool(value)
    raise ValueError(f"0 or 1 was expected, not {value!r}")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"text was expected, not {type(value).__name__}")
    return value


_Row = sqlite3.Row | Mapping[str, Any]


class DamagedRecord(Exception):
    """A row whose column cannot be read (bad JSON, date, number); `column` names it."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"{column}: {problem}")
        self.column = column


def _parse(row: _Row, column: str, parse: Callable[[Any], Any]) -> Any:
    try:
        return parse(row[column])
    except Exception as exc:  # json, dates, Decimal, NodeStatus: all mean "this row is damaged"
        raise DamagedRecord(column, str(exc)[:200] or type(exc).__name__) from None


def _from_row(row: _Row) -> NodeRecord:
    """The record in `row`; DamagedRecord naming the first column that cannot be read."""
    try:
        state = NodeState(row["state"])
    except ValueError:
        state = NodeState.FAILED

    def opt_text(column: str) -> str | None:
        return _parse(row, column, lambda v: None if v is None else _text(v))  # type: ignore[no-any-return]

    return NodeRecord(
        id=_parse(row, "id", _text),
        name=_parse(row, "name", _text),
        backend=_parse(row, "backend", _text),
        chain=_parse(row, "chain", _text),
        client=_parse(row, "client", _text),
        state=state,
        owner=opt_text("owner"),
        reason=opt_text("reason"),
        progress=opt_text("progress"),
        provider=opt_text("provider"),
        url=opt_text("url"),
        user=opt_text("user"),
        created_at=_parse(row, "created_at", _parse_ts) or utcnow(),
        updated_at=_parse(row, "updated_at", _parse_ts) or utcnow(),
        ready_at=_parse(row, "ready_at", _parse_ts),
        stopped_at=_parse(row, "stopped_at", _parse_ts),
        cost=_parse(row, "cost", lambda v: Decimal(v) if v else None),
        last_status=_parse(row, "last_status", _status),
        runtime=_parse(row, "runtime", _runtime),
        warm=_parse(row, "warm", _flag) if "warm" in row.keys() else False,  # noqa: SIM118
    )


class NodeStore:
    """Node records in SQLite (`<data dir>/nodes.sqlite3` by default).

    Each method is one atomic transaction; a crash mid-write leaves the previous version. Safe to
    share between threads (one connection guarded by a lock); several processes may open the
    same file (WAL, busy timeout).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self.set_aside: list[str] = []  # messages about damaged rows moved aside (this session)
        try:
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"Cannot open the node database {self.path}: {exc}.",
                "Check the file's permissions and free disk space; if it is corrupt, move it "
                "aside and restart (node records will start empty).",
            ) from exc

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The node database {self.path} was written by a newer version of the app "
                    f"(schema {version}, this app knows {SCHEMA_VERSION}).",
                    "Update the app.",
                )
            db.execute(_SET_ASIDE)
            if version < 1:
                for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    db.execute(stmt)
            elif version < 2:  # schema 1 had no `warm`: its rows are private nodes
                db.execute("ALTER TABLE nodes ADD COLUMN warm INTEGER NOT NULL DEFAULT 0")
            if version < SCHEMA_VERSION:
                db.execute("DELETE FROM schema_version")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    def _records(self, rows: list[sqlite3.Row]) -> list[NodeRecord]:
        """The rows as records; a damaged row is set aside (`set_aside`), the rest come back."""
        out: list[NodeRecord] = []
        for row in rows:
            try:
                out.append(_from_row(row))
            except DamagedRecord as exc:
                self._set_aside(row, exc)
        return out

    def _set_aside(self, row: sqlite3.Row, exc: DamagedRecord) -> None:
        """Move a damaged row to the nodes_set_aside table (kept whole) and say so, once."""
        raw = {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row has no items()
        node_id = str(raw.get("id"))[:64]
        with self._tx() as db:
            db.execute(
                "INSERT INTO nodes_set_aside (id, row, problem, set_aside_at) VALUES (?, ?, ?, ?)",
                (node_id, json.dumps(raw, default=str), str(exc), utcnow().isoformat()),
            )
            db.execute("DELETE FROM nodes WHERE id = ?", (raw.get("id"),))
        message = (
            f"The node record {node_id!r} in {self.path} is damaged ({exc}); it was set aside "
            "(table nodes_set_aside, kept whole) and is no longer listed. The other records are "
            "unaffected. If that node still runs, end its processes by hand."
        )
        self.set_aside.append(message)
        log.warning("%s", message)

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, rec: NodeRecord) -> NodeRecord:
        """Insert a new record; StoreError if the id exists."""
        placeholders = ",".join("?" for _ in _COLUMNS)
        try:
            with self._tx() as db:
                db.execute(
                    f"INSERT INTO nodes ({','.join(_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608 - fixed column names
                    _to_row(rec),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"A node with id {rec.id} already exists.") from exc
        return rec

    def save(self, rec: NodeRecord) -> NodeRecord:
        """Insert or replace the record with this id."""
        placeholders = ",".join("?" for _ in _COLUMNS)
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO nodes ({','.join(_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608 - fixed column names
                _to_row(rec),
            )
        return rec

    def get(self, node_id: str) -> NodeRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM nodes WHERE id = ?", (node_id,)).fetchone()
        found = self._records([row]) if row is not None else []
        return found[0] if found else None

    def find(self, prefix: str) -> list[NodeRecord]:
        """Records whose id starts with `prefix` (for short ids typed on the command line)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM nodes WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at",
                (escaped + "%",),
            ).fetchall()
        return self._records(rows)

    def list(self, active_only: bool = False) -> list[NodeRecord]:
        """All records, oldest first (only those not stopped/failed with `active_only`)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM nodes ORDER BY created_at, id").fetchall()
        records = self._records(rows)
        return [r for r in records if r.active] if active_only else records

    def delete(self, node_id: str) -> bool:
        """Forget a record; True if it existed."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM nodes WHERE id = ?", (node_id,))
            return cur.rowcount > 0


class _Transaction:
    """`with store._tx() as db:` = BEGIN IMMEDIATE … COMMIT (ROLLBACK on error), under the lock."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._lock.release()
