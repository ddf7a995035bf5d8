"""The Local backend: runs `erigolem-runtime` on this computer, like a Golem provider would.

Each node is one runtime process driven through the Runtime API by `RuntimeClient` (the same
protocol yagna's exe-unit speaks), with the workdir `<data dir>/nodes/<node id>` and the config
written by `write_local_config(<data dir>/runtime)` (a private nginx on 127.0.0.1, anvil found
on this machine, Erigon when installed). The runtime's process lives exactly as long as this
backend holds it: if this process dies, the runtime sees its stdin close and stops its node;
`reclaim()` (used by `NodeManager.recover()`) kills whatever is left after a harder crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from erigolem_runtime.api import ErrorKind, NodeStatus, RuntimeState
from erigolem_runtime.api.client import RuntimeClient, RuntimeClientError
from erigolem_runtime.api.files import tail_text
from erigolem_runtime.api.paths import CONFIG_FILE_NAME
from erigolem_runtime.api.process import process_token, terminate_group

from erigolem_desktop import frozen
from erigolem_desktop.core.backends.base import (
    BackendError,
    NodeSpec,
    ProgressCallback,
    StartedNode,
    Usage,
)
from erigolem_desktop.core.paths import data_dir as default_data_dir

log = logging.getLogger(__name__)

START_TIMEOUT = {"anvil": 60.0, "erigon": 240.0}
RUN_TIMEOUT = 20.0
CLIENT_LOG = Path("logs") / "client.log"


class LocalBackend:
    """Nodes on this computer (kind "local"); see the module docstring.

    Args:
        data_dir: the app's data directory (default: `paths.data_dir()`).
        runtime_command: how to start the runtime (default: this Python, `-m erigolem_runtime`;
            in a frozen bundle the app binary itself, see `erigolem_desktop.frozen`).
    """

    kind: ClassVar[str] = "local"

    def __init__(
        self, data_dir: Path | None = None, *, runtime_command: Sequence[str] | None = None
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.runtime_command = (
            list(runtime_command) if runtime_command else frozen.runtime_command()
        )
        self._config: Path | None = None
        self._clients: dict[str, RuntimeClient] = {}
        self._info: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ helpers

    @property
    def runtime_dir(self) -> Path:
        return self.data_dir / "runtime"

    def workdir(self, node_id: str) -> Path:
        return self.data_dir / "nodes" / node_id

    def config_path(self) -> Path:
        """The runtime config (written or refreshed on first use in this process)."""
        if self._config is None:
            from erigolem_runtime.config import ConfigError
            from erigolem_runtime.localconfig import write_local_config

            try:
                self._config = write_local_config(self.runtime_dir)
            except (OSError, ConfigError) as exc:
                raise BackendError(
                    f"Could not prepare the local runtime's config in {self.runtime_dir}: {exc}.",
                    "Check that the data directory is writable.",
                ) from exc
        return self._config

    def served_chains(self) -> list[str]:
        """Chains the local runtime can run now (dev with anvil; Erigon's once it is configured)."""
        from erigolem_runtime.config import ConfigError, load_config
        from erigolem_runtime.offer import served_chains

        path = self.config_path()
        try:
            return served_chains(load_config(path))
        except (OSError, ConfigError) as exc:
            raise BackendError(
                f"Could not read the local runtime's config {path}: {exc}.",
                "Fix or delete that file; the app writes a fresh one on its next start.",
            ) from exc

    def _error(
        self, what: str, exc: RuntimeClientError, node_id: str, spec: NodeSpec | None = None
    ) -> BackendError:
        """A BackendError in plain words, with the way out chosen by the runtime's error kind."""
        error = exc.error
        if error is not None:
            text = error.message.strip()
            tail = error.context.get("log_tail")
            if tail is not None:  # keep the client's own last word, not the whole log
                text = text.partition(" Last lines of its log:")[0]
                said = [line.strip() for line in tail.splitlines() if line.strip()]
                if said:
                    text += f" It said: {said[-1][:300]}"
        else:
            text = str(exc).partition("\n")[0].strip()
        text = text.removeprefix("start failed: ")
        config = self._config or self.runtime_dir / CONFIG_FILE_NAME
        kind = exc.kind
        client = (error.context.get("client") if error is not None else None) or (
            spec.client if spec is not None else None
        )
        chain_kinds = (ErrorKind.UNKNOWN_CHAIN, ErrorKind.CHAIN_NOT_OFFERED)
        if kind is ErrorKind.CHAIN_NOT_OFFERED and error is not None:
            # the runtime speaks as a provider ("this provider does not offer ..."); here it
            # is this computer's own runtime
            offered = error.context.get("offered") or "no chain for this client"
            text = f"the local runtime runs only {offered}"
        if (
            spec is not None
            and spec.client == "erigon"
            and (kind in chain_kinds or (kind is ErrorKind.MISSING_BINARY and client == "erigon"))
        ):
            return BackendError(
                f"Erigon is not set up on this computer, so a local {spec.chain} node cannot run "
                f"({text}).",
                f"Install Erigon and set clients.erigon.binary in the runtime config at {config}, "
                "or start a dev node (--chain dev), or rent one on Golem (--golem).",
            )
        if kind in (ErrorKind.UNKNOWN_CLIENT, *chain_kinds):
            return BackendError(
                f"{what} failed: {text}.", "Choose a chain and client from the list above."
            )
        if kind is ErrorKind.MISSING_BINARY and client == "anvil":
            return BackendError(
                f"{what} failed: {text}.",
                "Install anvil (npm install @foundry-rs/anvil) or set clients.anvil.binary in "
                f"the runtime config at {config}.",
            )
        if kind is ErrorKind.NGINX:
            return BackendError(
                f"{what} failed: {text}.",
                "Install nginx (e.g. apt-get install nginx-light) or check the nginx section of "
                f"the runtime config at {config}.",
            )
        return BackendError(
            f"{what} failed: {text}.",
            f"The runtime's logs are in {self.workdir(node_id) / 'logs'}.",
        )

    def _client(self, node_id: str) -> RuntimeClient:
        client = self._clients.get(node_id)
        if client is None or not client.running:
            raise BackendError(
                f"The local node {node_id} is not running any more (its runtime ended).",
                "Restart it (Restart in the app, or `erigolem node start --local` again); "
                "a node started by another process is handled there.",
            )
        return client

    # ------------------------------------------------------------------ Backend

    async def start(self, node_id: str, spec: NodeSpec, progress: ProgressCallback) -> StartedNode:
        """Deploy and start a runtime for `node_id`; on failure nothing is left running."""
        progress("Preparing the local runtime")
        config = self.config_path()
        client = RuntimeClient(
            self.workdir(node_id), command=self.runtime_command, config_path=config
        )
        try:
            await client.deploy()
        except RuntimeClientError as exc:
            raise self._error("Checking the local runtime", exc, node_id, spec) from exc
        progress(f"Starting {spec.client} ({spec.chain})")
        self._clients[node_id] = client
        try:
            out = await client.start(
                spec.start_argument(), timeout=START_TIMEOUT.get(spec.client, 240.0)
            )
        except RuntimeClientError as exc:
            self._clients.pop(node_id, None)
            await self._shutdown(client)
            raise self._error(f"Starting the local {spec.chain} node", exc, node_id, spec) from exc
        except BaseException:
            self._clients.pop(node_id, None)
            await self._shutdown(client)
            raise
        status = NodeStatus.from_json(out)
        password = status.password
        if password is None or not status.url:
            self._clients.pop(node_id, None)
            await self._shutdown(client)
            raise BackendError(
                "The local runtime's start output lacks the url or credentials.",
                "Update erigolem-runtime.",
            )
        pid = client.pid
        self._info[node_id] = {
            "workdir": str(self.workdir(node_id)),
            "config": str(config),
            "instance": status.instance,
            "runtime_pid": pid,
            "runtime_token": process_token(pid) if pid else None,
        }
        progress("Ready" if status.state is RuntimeState.READY else "Syncing")
        return StartedNode(
            url=status.url, user=status.user, password=password, status=status, provider=None
        )

    def runtime_info(self, node_id: str) -> dict[str, Any]:
        """Pids and paths kept in the node's record (for `reclaim` after a crash)."""
        return dict(self._info.get(node_id, {}))

    async def status(self, node_id: str) -> NodeStatus:
        client = self._client(node_id)
        try:
            data = await client.run_json("status", timeout=RUN_TIMEOUT)
        except RuntimeClientError as exc:
            raise self._error("Reading the node's status", exc, node_id) from exc
        return NodeStatus.from_json(data)

    async def rotate_credentials(self, node_id: str) -> tuple[str, str]:
        client = self._client(node_id)
        try:
            out = await client.run_json("rotate-credentials", timeout=RUN_TIMEOUT)
            return str(out["auth"]["user"]), str(out["auth"]["password"])
        except RuntimeClientError as exc:
            raise self._error("Rotating the credentials", exc, node_id) from exc
        except (KeyError, TypeError) as exc:
            raise BackendError(
                "The runtime's answer to rotate-credentials has no new auth.",
                "Update erigolem-runtime.",
            ) from exc

    async def logs(self, node_id: str, lines: int) -> str:
        """The client log's last `lines` lines: from the runtime, or the file if not held here."""
        client = self._clients.get(node_id)
        if client is not None and client.running:
            try:
                result = await client.run("logs", str(lines), timeout=RUN_TIMEOUT)
            except RuntimeClientError as exc:
                if client.running:
                    raise self._error("Reading the logs", exc, node_id) from exc
                result = None  # the runtime died meanwhile: its log file is still there
            if result is not None and result.return_code == 0:
                text: str = result.stdout.decode("utf-8", "replace")
                return text
        return await asyncio.to_thread(tail_text, self.workdir(node_id) / CLIENT_LOG, lines)

    async def usage(self, node_id: str) -> Usage | None:
        return None  # a local node costs nothing

    async def stop(self, node_id: str) -> None:
        client = self._clients.pop(node_id, None)
        self._info.pop(node_id, None)
        if client is None:
            return
        try:
            await client.shutdown()
        except RuntimeClientError as exc:
            # shutdown() has killed the process group anyway; the node is gone, but a runtime
            # that died on its own could not remove its nginx location: drop it now.
            log.warning("local node %s: %s", node_id, str(exc).split("\n", 1)[0])
            if self._config is not None:
                await _reap_nginx(self._config)

    async def _shutdown(self, client: RuntimeClient) -> None:
        with contextlib.suppress(RuntimeClientError, OSError):
            await client.shutdown()

    def is_running(self, node_id: str) -> bool:
        client = self._clients.get(node_id)
        return client is not None and client.running

    async def close(self) -> None:
        """Stop every node of this backend (in parallel), then leave no idle nginx behind."""
        await asyncio.gather(*(self.stop(n) for n in list(self._clients)))
        if self._config is not None:
            # A runtime killed earlier (a failed node) may have left its location and the
            # private master running; with every node stopped, nothing of ours may stay.
            await _reap_nginx(self._config)

    async def reclaim(self, node_id: str, runtime: dict[str, Any]) -> None:
        """Kill what is left of a node whose owning process died, and its nginx location."""
        pid = runtime.get("runtime_pid")
        if isinstance(pid, int) and pid > 0:
            token = process_token(pid)
            expected = runtime.get("runtime_token")
            if token is not None and (not expected or not token or token == expected):
                await asyncio.to_thread(terminate_group, pid)
        config = runtime.get("config") or (
            str(self.runtime_dir / CONFIG_FILE_NAME)
            if (self.runtime_dir / CONFIG_FILE_NAME).exists()
            else None
        )
        if config:
            await _reap_nginx(Path(config))


async def _reap_nginx(config_path: Path) -> None:
    """Drop nginx locations of dead runtimes; the private master stops when none is left."""
    try:
        from erigolem_runtime.config import load_config
        from erigolem_runtime.nginx import NginxFront

        await NginxFront(load_config(config_path)).reap_stale()
    except Exception:
        log.exception("cleaning up stale nginx locations failed")
