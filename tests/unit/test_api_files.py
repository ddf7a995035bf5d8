"""The one lock helper and the one log tailer of `erigolem_runtime.api.files`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from erigolem_runtime.api.files import (
    lock_held,
    locked,
    tail_lines,
    tail_text,
    try_lock_file,
)


def test_a_held_lock_file_is_refused_and_probed(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    assert not lock_held(path)  # no file: nobody holds it
    fd = try_lock_file(path)
    assert fd is not None
    try:
        assert lock_held(path)
        assert try_lock_file(path) is None  # flock: a second open file is another holder
    finally:
        os.close(fd)
    assert not lock_held(path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_locked_waits_up_to_its_timeout_then_raises_busy(tmp_path: Path) -> None:
    path = tmp_path / "y.lock"
    with locked(path):
        start = time.monotonic()
        with (
            pytest.raises(LookupError, match="busy"),
            locked(path, 0.2, lambda: LookupError("busy")),
        ):
            pass
        assert time.monotonic() - start >= 0.2
        with pytest.raises(TimeoutError, match=r"y\.lock"), locked(path, 0.05):
            pass
    with locked(path, 0.05):  # free again
        assert lock_held(path)


def test_tail_reads_the_last_lines_backwards(tmp_path: Path) -> None:
    log = tmp_path / "client.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(50_000)))  # ~600 KB: several blocks
    assert tail_lines(log, 3) == ["line 49997", "line 49998", "line 49999"]
    assert tail_text(log, 2) == "line 49998\nline 49999\n"
    assert tail_lines(log, 0) == []
    # max_bytes bounds the read: only what lies in the last 20 bytes can come back
    assert tail_lines(log, 100, max_bytes=20) == ["ne 49998", "line 49999"]


def test_tail_of_a_missing_or_broken_log(tmp_path: Path) -> None:
    assert tail_text(tmp_path / "none.log", 5) == ""
    with pytest.raises(FileNotFoundError):
        tail_lines(tmp_path / "none.log", 5)
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"ok\n\xff\xfe broken\n")
    assert tail_text(bad, 5) == "ok\n\ufffd\ufffd broken\n"
