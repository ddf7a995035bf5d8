"""`erigolem node …` on hostile or damaged records, through the real CLI (a subprocess):
names with terminal escapes are shown without them (issue 11 item 16), and one bad JSON or date
value in nodes.sqlite3 sets that row aside with a message while the rest works (item 13)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from erigolem_desktop.core.records import DB_NAME, NodeRecord, NodeStore
from erigolem_desktop.core.states import NodeState

CLI = [sys.executable, "-m", "erigolem_desktop"]
ESCAPES = ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\x00")


def erigolem(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def _stopped(node_id: str, name: str, reason: str = "stopped by the user") -> NodeRecord:
    return NodeRecord(
        id=node_id,
        name=name,
        backend="local",
        chain="dev",
        client="anvil",
        state=NodeState.STOPPED,
        reason=reason,
    )


def test_node_list_and_status_print_no_terminal_escapes(erigolem_home: Path) -> None:
    hostile = "\x1b[2J\x1b]0;owned\x07evil\rname\u202eoctet\x9b31m\x00"
    store = NodeStore()
    store.add(_stopped("a1b2c3d4e5f6", hostile, reason="provider said \x1b[31mred\x1b[0m\r"))
    store.close()
    for args in (("node", "list", "--all"), ("node", "status", "a1b2c3d4e5f6")):
        proc = erigolem(*args)
        assert proc.returncode == 0, proc.stderr
        for esc in ESCAPES:
            assert esc not in proc.stdout, (args, esc, proc.stdout)
            assert esc not in proc.stderr, (args, esc, proc.stderr)
        assert "[2J]0;ownedevil name" in proc.stdout  # the printable rest is still shown
    assert "provider said [31mred[0m" in erigolem("node", "status", "a1b2c3d4e5f6").stdout
    # --json keeps the stored value exactly (JSON escapes it)
    data = json.loads(erigolem("node", "list", "--all", "--json").stdout)
    assert data[0]["name"] == hostile


def test_a_damaged_record_is_set_aside_and_the_rest_works(erigolem_home: Path) -> None:
    store = NodeStore()
    for node_id in ("aaaaaaaaaaa1", "bbbbbbbbbbb2", "ccccccccccc3"):
        store.add(_stopped(node_id, f"node {node_id}"))
    store.close()
    db = sqlite3.connect(erigolem_home / DB_NAME)
    db.execute("UPDATE nodes SET created_at = 'yesterday' WHERE id = 'aaaaaaaaaaa1'")
    db.execute("UPDATE nodes SET last_status = '{\"chain\": ' WHERE id = 'bbbbbbbbbbb2'")
    db.commit()
    db.close()

    proc = erigolem("node", "list", "--all")
    assert proc.returncode == 0, proc.stderr
    assert "ccccccccccc3" in proc.stdout
    assert "aaaaaaaaaaa1" not in proc.stdout
    assert "Traceback" not in proc.stderr
    assert "The node record 'aaaaaaaaaaa1'" in proc.stderr
    assert "is damaged (created_at: Invalid isoformat string: 'yesterday')" in proc.stderr
    assert "The node record 'bbbbbbbbbbb2'" in proc.stderr
    assert "(last_status: " in proc.stderr
    assert "set aside (table nodes_set_aside, kept whole)" in proc.stderr

    # once set aside, every node command works and says nothing more
    for args in (("node", "list", "--all"), ("node", "status", "ccccccccccc3")):
        again = erigolem(*args)
        assert again.returncode == 0, again.stderr
        assert "damaged" not in again.stderr
    gone = erigolem("node", "status", "aaaaaaaaaaa1")
    assert gone.returncode != 0
    assert "Traceback" not in gone.stderr

    db = sqlite3.connect(erigolem_home / DB_NAME)
    kept = db.execute("SELECT id, row, problem FROM nodes_set_aside ORDER BY id").fetchall()
    db.close()
    assert [k[0] for k in kept] == ["aaaaaaaaaaa1", "bbbbbbbbbbb2"]
    assert json.loads(kept[0][1])["created_at"] == "yesterday"  # nothing of the row is lost
    assert json.loads(kept[1][1])["name"] == "node bbbbbbbbbbb2"
