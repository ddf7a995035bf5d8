"""Node records keep the warm mode (issue 12 item 9): round trip, schema-1 files still read
(their rows are private nodes), `node list/status` show it (the real CLI, a subprocess)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from erigolem_desktop.core.records import DB_NAME, SCHEMA_VERSION, NodeRecord, NodeStore
from erigolem_desktop.core.states import NodeState

# The nodes table as schema 1 wrote it (before the `warm` column), for the migration test.
_SCHEMA_1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE nodes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, backend TEXT NOT NULL, chain TEXT NOT NULL,
    client TEXT NOT NULL, state TEXT NOT NULL, owner TEXT, reason TEXT, progress TEXT,
    provider TEXT, url TEXT, user TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    ready_at TEXT, stopped_at TEXT, cost TEXT, last_status TEXT,
    runtime TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO nodes (id, name, backend, chain, client, state, created_at, updated_at)
VALUES ('0ld0ld0ld0ld', 'old node', 'golem', 'mainnet', 'erigon', 'stopped',
        '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00');
"""


def _warm(node_id: str = "a1b2c3d4e5f6") -> NodeRecord:
    return NodeRecord(
        id=node_id,
        name="warm main",
        backend="golem",
        chain="mainnet",
        client="erigon",
        state=NodeState.STOPPED,
        reason="stopped by the user",
        warm=True,
    )


def test_warm_survives_a_restart_of_the_store(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    store = NodeStore(path)
    store.add(_warm())
    store.add(
        NodeRecord(id="b1b2c3d4e5f6", name="p", backend="golem", chain="mainnet", client="erigon")
    )
    store.close()
    again = NodeStore(path)
    warm, private = again.get("a1b2c3d4e5f6"), again.get("b1b2c3d4e5f6")
    assert warm is not None
    assert private is not None
    assert (warm.warm, warm.mode, warm.to_json()["mode"]) == (True, "warm", "warm")
    assert (private.warm, private.mode) == (False, "private")
    again.close()


def test_a_schema_1_file_is_migrated_and_its_rows_read_as_private(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA_1)
    db.close()
    store = NodeStore(path)
    old = store.get("0ld0ld0ld0ld")
    assert old is not None
    assert old.name == "old node"
    assert old.warm is False
    store.add(_warm())  # the migrated table takes the new column
    got = store.get("a1b2c3d4e5f6")
    assert got is not None
    assert got.warm is True
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    db.close()


def test_a_damaged_warm_value_sets_the_row_aside(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    store = NodeStore(path)
    store.add(_warm())
    with store._tx() as db:
        db.execute("UPDATE nodes SET warm = 'yes'")
    assert store.get("a1b2c3d4e5f6") is None
    assert "warm" in store.set_aside[0]
    store.close()


@pytest.mark.parametrize("json_out", [False, True])
def test_node_list_and_status_show_the_mode(erigolem_home: Path, json_out: bool) -> None:
    store = NodeStore()
    store.add(_warm())
    store.close()
    cli = [sys.executable, "-m", "erigolem_desktop", "node"]
    tail = ["--json"] if json_out else []
    listed = subprocess.run(
        [*cli, "list", "--all", *tail], capture_output=True, text=True, timeout=60, check=False
    )
    status = subprocess.run(
        [*cli, "status", "a1b2", *tail], capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert status.returncode == 0, status.stderr
    if json_out:
        assert json.loads(listed.stdout)[0]["mode"] == "warm"
        assert json.loads(status.stdout)["warm"] is True
    else:
        assert "mainnet/erigon warm" in listed.stdout
        assert "Mode:     warm" in status.stdout
