"""The original Erigolem React UI's request sequence against the real `erigolem serve
--one-line-message` (issue 15 item 6), made with the UI's own request library: superagent 6
from npm (package.json devDependencies), in tests/support/original_ui_client.js. An eth-account
key stands for MetaMask's personal_sign (EIP-191 over the text, as `toHex(message)` gives it).
"""

from __future__ import annotations

import json
import select
import shutil
import subprocess
import time
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_server import Wallet
from tests.support.serve_process import reap, serve_process

pytestmark = pytest.mark.integration

CLIENT = Path(__file__).resolve().parents[1] / "support" / "original_ui_client.js"
ROOT = Path(__file__).resolve().parents[2]


class OriginalUi:
    """The UI's HTTP layer (a node process with superagent), one request per call."""

    def __init__(self, base: str) -> None:
        node = shutil.which("node")
        if node is None or not (ROOT / "node_modules" / "superagent").is_dir():
            pytest.fail("node and superagent are needed: run scripts/bootstrap (npm ci)")
        self.proc = subprocess.Popen(
            [node, str(CLIENT), base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        assert ready, "the UI client did not answer within 60 s"
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read() if self.proc.stderr else "the UI client exited"
        return dict(json.loads(line))

    def auth(self, wallet: Wallet) -> dict[str, Any]:
        """The UI's auth(): GET /getMessage, personal_sign, keep the ticket."""
        self._send({"op": "auth", "account": wallet.address})
        asked = self._read()
        if "sign" not in asked:
            return asked
        self._send({"signature": wallet.sign(asked["sign"])})
        return self._read()

    def call(
        self, method: str, path: str, *, ticket: bool, id: str = "", data: Any = None
    ) -> dict[str, Any]:
        self._send(
            {"op": "call", "method": method, "path": path, "id": id, "data": data, "ticket": ticket}
        )
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        finally:
            reap(self.proc)


def _wait(ui: OriginalUi, node_id: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        got = ui.call("get", "getInstances", ticket=True)
        assert got.get("ok"), got
        node = next(n for n in got["body"] if n["id"] == node_id)
        if node["status"] in statuses:
            return dict(node)
        assert time.monotonic() < deadline, node
        time.sleep(0.3)


def test_the_original_ui_signs_in_and_runs_a_node_unchanged(
    erigolem_home: Path, anvil_bin: Path, nginx_bin: Path
) -> None:
    with serve_process("--one-line-message", "--backend", "local") as (_proc, info):
        ui = OriginalUi(info["url"])
        try:
            wallet = Wallet()
            signed = ui.auth(wallet)
            assert signed.get("ok"), signed
            message = signed["message"]
            assert "\n" not in message
            assert "\r" not in message
            assert message.startswith("Confirm the terms of use of the application: ")
            assert " Nonce: " in message
            assert " Expires: " in message
            # the dashboard's poll, with the ticket: the wallet's (empty) list
            assert ui.call("get", "getInstances", ticket=True) == {"ok": True, "body": []}

            # the UI's last DashboardPage sends createInstance/stopInstance without its ticket:
            # no wallet to act for, so a clear 400 (the original server said the same)
            form = {"name": "Brave Otter", "params": {"network": "goerli"}}
            got = ui.call("post", "createInstance", ticket=False, data=form)
            assert got["status"] == 400
            assert "Missing authorization header" in got["body"]["msg"]

            # the networks its form offers are shut down: a 400 naming the live ones
            for network in ("goerli", "ropsten", "rinkeby"):
                form = {"name": "Brave Otter", "params": {"network": network}}
                got = ui.call("post", "createInstance", ticket=True, data=form)
                assert got["status"] == 400, got
                text = got["body"]["msg"]
                assert f"the network '{network}' has been shut down" in text
                assert "sepolia" in text
                assert "dev" in text
            assert ui.call("get", "getInstances", ticket=True)["body"] == []

            # with the ticket the same calls run a real (dev) node and stop it
            got = ui.call(
                "post",
                "createInstance",
                ticket=True,
                data={"name": "Brave Otter", "params": {"network": "dev"}},
            )
            assert got.get("ok"), got
            node_id = got["body"]["id"]
            assert got["body"]["status"] == "pending"
            node = _wait(ui, node_id, {"running"})
            assert node["init_params"] == {"network": "dev"}
            auth = node["auth"]
            req = urllib.request.Request(
                node["url"],
                data=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
                headers={
                    "Content-Type": "application/json",
                    "Authorization": "Basic "
                    + b64encode(f"{auth['user']}:{auth['password']}".encode()).decode(),
                },
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert json.load(resp)["result"] == "0x7a69"
            got = ui.call("post", "stopInstance", ticket=True, id=node_id)
            assert got.get("ok"), got
            assert got["body"]["status"] in ("stopping", "stopped")
            stopped = _wait(ui, node_id, {"stopped"})
            assert "stopped_at" in stopped
        finally:
            ui.close()


def test_the_original_ui_at_expiry_and_without_the_flag(erigolem_home: Path) -> None:
    with serve_process("--one-line-message", "--session-seconds", "2") as (_proc, info):
        ui = OriginalUi(info["url"])
        try:
            wallet = Wallet()
            assert ui.auth(wallet).get("ok")
            assert ui.call("get", "getInstances", ticket=True).get("ok")
            time.sleep(2.2)
            # the UI keeps its cached ticket for the page's lifetime: each poll now gets this
            got = ui.call("get", "getInstances", ticket=True)
            assert got["status"] == 400
            assert "expired" in got["body"]["msg"]
            assert "GET /getMessage and sign the new one" in got["body"]["msg"]
            # a page reload runs auth() again: signed in again
            assert ui.auth(wallet).get("ok")
            assert ui.call("get", "getInstances", ticket=True).get("ok")
        finally:
            ui.close()

    # without the flag the EIP-4361 message has newlines: the UI's library refuses the header
    with serve_process() as (_proc, info):
        ui = OriginalUi(info["url"])
        try:
            signed = ui.auth(Wallet())
            assert signed.get("ok")
            assert "\n" in signed["message"]
            got = ui.call("get", "getInstances", ticket=True)
            assert got["error"] == "ERR_INVALID_CHAR", got
        finally:
            ui.close()
