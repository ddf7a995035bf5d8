"""CPU, memory and disk of a local node in its detail pane: sampled from /proc for the real
runtime and anvil it runs, in the executor (never on the GUI thread), gone when it stops."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from erigolem_runtime.api.process import cmdline, cpu_seconds, descendants, process_token, rss_bytes

from erigolem_desktop.core.resources import ResourceSampler, sampler_for, tree_size
from erigolem_desktop.core.states import NodeState
from tests.ui.conftest import wait_until
from tests.ui.test_e2e_local import GOOD, local_manager, start_dev_node


def test_process_readers_on_this_process_and_its_children(tmp_path: Path) -> None:
    assert (cpu_seconds(os.getpid()) or 0) > 0
    assert (rss_bytes(os.getpid()) or 0) > 1 << 20
    assert cpu_seconds(0) is None
    assert rss_bytes(2**22 + 12345) is None
    proc = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 30 & wait"], stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        import time

        deadline = time.monotonic() + 5
        while not descendants(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        kids = descendants(proc.pid)
        assert len(kids) == 1
        assert b"sleep" in Path(f"/proc/{kids[0]}/cmdline").read_bytes()
    finally:
        os.killpg(proc.pid, 9)  # the group this test just started
        proc.wait()


def test_tree_size_counts_files_and_skips_symlinks(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 100_000)
    (tmp_path / "link").symlink_to("/usr")
    size = tree_size(tmp_path)
    assert 100_000 <= size < 200_000


def test_sampler_refuses_a_pid_that_is_not_the_node(tmp_path: Path) -> None:
    wrong = ResourceSampler(os.getpid(), "not-my-start-time", [tmp_path])
    assert wrong.sample() is None
    right = ResourceSampler(os.getpid(), process_token(os.getpid()), [tmp_path])
    first = right.sample()
    assert first is not None
    assert first.cpu_percent is None  # a rate needs two samples
    assert first.memory > 1 << 20
    assert first.disk is not None
    assert first.disk_free is not None
    assert sampler_for("golem", {"runtime_pid": os.getpid()}) is None
    assert sampler_for("local", {}) is None


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.asyncio
async def test_detail_shows_cpu_memory_disk_of_a_local_node(
    make_window: Any,
    ctx: Any,
    wallet: Any,
    erigolem_home: Path,
    anvil_bin: Path,
    nginx_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info, _ = wallet.create(GOOD)
    wallet.unlock(info.address, GOOD)
    threads: list[str] = []
    real_sample = ResourceSampler.sample

    def recording(self: ResourceSampler) -> Any:
        threads.append(threading.current_thread().name)
        return real_sample(self)

    monkeypatch.setattr(ResourceSampler, "sample", recording)
    async with local_manager(erigolem_home) as manager:
        ctx.manager = manager
        window = make_window()
        window.start()
        row = await start_dev_node(window)
        detail = window.detail
        assert detail.cpu_label.isVisibleTo(detail)
        await wait_until(lambda: detail.usage is not None, 10)
        await wait_until(lambda: not detail._sampling, 10)
        task = detail.sample_resources()  # a second sample gives the CPU rate
        assert task is not None
        await task
        usage = detail.usage
        assert usage is not None
        assert usage.cpu_percent is not None
        assert "%" in detail.cpu_label.text()
        # the runtime and the anvil it started (nginx, shared, is left out)
        record = manager.get(row.id)
        assert record is not None
        runtime_pid = int(record.runtime["runtime_pid"])
        anvils = [p for p in descendants(runtime_pid) if b"anvil" in (cmdline(p) or b"")]
        assert len(anvils) == 1
        assert usage.processes >= 2
        assert usage.memory >= (rss_bytes(anvils[0]) or 0)
        assert "MB" in detail.memory_label.text()
        assert usage.disk is not None
        assert "used" in detail.disk_label.text()
        assert "free" in detail.disk_label.text()
        assert threads
        assert threading.main_thread().name not in threads  # never on the GUI thread

        detail.stop_node()
        await wait_until(lambda: window.model.row_by_id(row.id).state is NodeState.STOPPED, 30)
        assert not detail._resource_timer.isActive()
        assert "stopped" in detail.memory_label.text()
        await window.console.close_client()
    assert sys.platform.startswith("linux")
