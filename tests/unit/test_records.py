"""NodeStore on a real SQLite file: round trips, restart survival, atomicity, file mode, schema."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from erigolem_runtime.api import NodeStatus

from erigolem_desktop.core.records import (
    DB_NAME,
    NODE_ID_RE,
    NodeRecord,
    NodeStore,
    StoreError,
    new_node_id,
)
from erigolem_desktop.core.states import NodeState


def _record(**kw: object) -> NodeRecord:
    base: dict[str, object] = {
        "id": new_node_id(),
        "name": "dev node",
        "backend": "local",
        "chain": "dev",
        "client": "anvil",
    }
    base.update(kw)
    return NodeRecord(**base)  # type: ignore[arg-type]


def test_default_path_is_under_data_dir_and_private(erigolem_home: Path) -> None:
    store = NodeStore()
    assert store.path == erigolem_home / DB_NAME
    store.add(_record())
    for p in erigolem_home.iterdir():
        if p.name.startswith(DB_NAME):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    store.close()


def test_full_record_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    ready = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rec = _record(
        state=NodeState.READY,
        owner="0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
        provider="prov-1 (0xabc)",
        url="http://127.0.0.1:8080/abc/",
        user="erigolem",
        ready_at=ready,
        cost=Decimal("0.000123456789012345678"),
        last_status=NodeStatus.from_json(
            {"state": "ready", "sync": None, "peers": 0, "nested": [1, {"a": "b"}]}
        ),
        runtime={"workdir": "/x", "pid": 123, "pids": [4, 5]},
        progress="Ready",
    )
    store = NodeStore(path)
    store.add(rec)
    store.close()
    again = NodeStore(path)
    got = again.get(rec.id)
    assert got == rec
    assert got is not None
    assert got.cost == Decimal("0.000123456789012345678")
    assert got.to_json()["cost"] == "0.000123456789012345678"
    assert got.to_json()["state"] == "ready"
    assert got.to_json()["ready_at"] == ready.isoformat()
    again.close()


def test_list_get_find_delete_and_updates(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "n.sqlite3")
    a = store.add(_record(id="aaa111"))
    b = store.add(_record(id="aab222", state=NodeState.STOPPED))
    assert [r.id for r in store.list()] == [a.id, b.id]
    assert [r.id for r in store.list(active_only=True)] == [a.id]
    assert [r.id for r in store.find("aa")] == [a.id, b.id]
    assert [r.id for r in store.find("aab")] == [b.id]
    assert store.find("a%") == []  # LIKE wildcards are literal
    assert store.find("a_a") == []
    store.save(a.evolve(state=NodeState.FAILED, reason="boom"))
    got = store.get(a.id)
    assert got is not None
    assert got.state is NodeState.FAILED
    assert got.reason == "boom"
    assert got.updated_at >= a.updated_at
    assert store.delete(a.id) is True
    assert store.delete(a.id) is False
    assert store.get(a.id) is None
    store.close()


def test_duplicate_id_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "n.sqlite3")
    rec = store.add(_record(name="first"))
    with pytest.raises(StoreError, match="already exists"):
        store.add(_record(id=rec.id, name="second"))
    got = store.get(rec.id)
    assert got is not None
    assert got.name == "first"
    store.close()


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "n.sqlite3")
    rec = store.add(_record())

    def crash() -> None:
        with store._tx() as db:
            db.execute("UPDATE nodes SET name = 'changed' WHERE id = ?", (rec.id,))
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        crash()
    got = store.get(rec.id)
    assert got is not None
    assert got.name == rec.name
    store.close()


def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    s1, s2 = NodeStore(path), NodeStore(path)
    rec = s1.add(_record())
    assert s2.get(rec.id) == rec
    s1.close()
    s2.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    NodeStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer version"):
        NodeStore(path)


def test_garbage_file_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="Cannot open the node database") as info:
        NodeStore(path)
    assert "move it aside" in info.value.hint


def test_unknown_state_reads_as_failed(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    store = NodeStore(path)
    rec = store.add(_record())
    with store._tx() as db:
        db.execute("UPDATE nodes SET state = 'weird' WHERE id = ?", (rec.id,))
    got = store.get(rec.id)
    assert got is not None
    assert got.state is NodeState.FAILED
    store.close()


def test_new_ids_are_valid_instance_ids() -> None:
    ids = {new_node_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(NODE_ID_RE.fullmatch(i) for i in ids)
