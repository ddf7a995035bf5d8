"""Two local dev nodes that are one chain, for the gateway's tests.

Two anvils started apart would each make their own genesis (it carries the start time), so they
would be two chains that merely share a chain id. Real providers of one chain serve one history;
to stand for that, the local runtime is pointed at a wrapper that runs the real anvil with a
fixed genesis timestamp. Each node is still its own anvil process behind the real runtime and
nginx; the runtime restarts a killed one with the same genesis, as a provider's node would come
back on the same chain.

anvil's genesis header commits to an empty state (its stateRoot is the empty trie's root while
its accounts are funded), so no proof at block 0 checks out; `mine_first_block` mines block 1
with a fixed timestamp on each node (the same block everywhere), whose stateRoot is real.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

from erigolem_runtime.config import AnvilConfig, load_config, save_config

from erigolem_desktop.core.backends.local import LocalBackend

GENESIS_TIMESTAMP = 1_700_000_000


def use_same_genesis_anvil(backend: LocalBackend, anvil_bin: Path, directory: Path) -> Path:
    """Point `backend`'s runtime config at a wrapper running `anvil_bin --timestamp T`."""
    wrapper = directory / "anvil-same-genesis"
    wrapper.write_text(f'#!/bin/sh\nexec "{anvil_bin}" --timestamp {GENESIS_TIMESTAMP} "$@"\n')
    wrapper.chmod(0o755)
    path = backend.config_path()
    config = load_config(path)
    clients = dataclasses.replace(config.clients, anvil=AnvilConfig(binary=str(wrapper)))
    save_config(dataclasses.replace(config, clients=clients), path)
    return wrapper


async def mine_first_block(url: str, user: str | None, password: str | None) -> None:
    """Mine block 1 at GENESIS_TIMESTAMP + 1 on that node (identical on every such node)."""
    import aiohttp

    headers = {"Authorization": aiohttp.encode_basic_auth(user, password or "")} if user else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": [GENESIS_TIMESTAMP + 1]}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(url, json=body) as resp,
    ):
        answer = await resp.json()
    assert answer.get("result") is not None, answer


def client_pid(runtime_pid: int) -> int | None:
    """The pid of the anvil that the runtime `runtime_pid` (started by the test) runs."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == runtime_pid and b"anvil" in cmdline:
            return int(entry.name)
    return None


def kill_client(runtime_pid: int) -> int:
    """SIGKILL the anvil of that runtime (the test started it); returns its pid."""
    pid = client_pid(runtime_pid)
    assert pid is not None, f"no anvil under runtime {runtime_pid}"
    os.kill(pid, signal.SIGKILL)
    return pid
