"""A lying node: stands for a dishonest Golem provider's Ethereum node.

It is an HTTP JSON-RPC proxy on 127.0.0.1 in front of a real node (anvil behind nginx, with
its credentials) that passes everything through except the lie of its `mode`:

- ``balance``: adds 1 ETH to every balance it states (eth_getBalance and eth_getProof's
  ``balance``), leaving the proof as it is.
- ``proof``: flips a byte in the last node of every account proof.
- ``blockhash``: states a wrong ``hash`` for blocks it sends inside a batch (what the gateway's
  verified reads fetch), while answering single calls honestly: a liar that hides from health
  checks.
- ``forge``: a consistent forgery: the account it is asked for gets a made-up balance in a trie
  it builds itself, the block's stateRoot is that trie's root and its hash is recomputed from
  the changed header. Every check that looks at this node alone passes; only agreement with
  other nodes catches it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import rlp
from aiohttp import web
from eth_hash.auto import keccak
from trie.hexary import HexaryTrie

from erigolem_desktop.core.gateway.verify import EMPTY_CODE_HASH, EMPTY_TRIE_ROOT, header_hash

MODES = ("balance", "proof", "blockhash", "forge")
ONE_ETH = 10**18


class LyingNode:
    """`async with LyingNode(url, user, password, mode) as liar:` then use `liar.url`."""

    def __init__(self, url: str, user: str | None, password: str | None, mode: str) -> None:
        assert mode in MODES, mode
        self.target = url
        self.mode = mode
        self.headers = (
            {"Authorization": aiohttp.encode_basic_auth(user, password or "")} if user else {}
        )
        self.lies_told = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> LyingNode:
        self._session = aiohttp.ClientSession(headers=self.headers)
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = json.loads(await request.read())
        async with self._session.post(self.target, json=body) as resp:
            answer = json.loads(await resp.read())
        requests = body if isinstance(body, list) else [body]
        answers = answer if isinstance(answer, list) else [answer]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        batch = isinstance(body, list)
        forged = self._forgery(requests, by_id) if self.mode == "forge" else None
        for req in requests:
            ans = by_id.get(req.get("id"))
            if ans is not None and ans.get("result") is not None:
                self._lie(req, ans, batch, forged)
        return web.json_response(answer)

    def _lie(self, req: dict[str, Any], ans: dict[str, Any], batch: bool, forged: Any) -> None:
        method, result = str(req.get("method")), ans["result"]
        if self.mode == "balance":
            if method == "eth_getBalance":
                ans["result"] = hex(int(result, 16) + ONE_ETH)
                self.lies_told += 1
            elif method == "eth_getProof":
                result["balance"] = hex(int(result["balance"], 16) + ONE_ETH)
                self.lies_told += 1
        elif self.mode == "proof" and method == "eth_getProof":
            last = result["accountProof"][-1]
            flipped = "%02x" % (int(last[-2:], 16) ^ 0x01)
            result["accountProof"][-1] = last[:-2] + flipped
            self.lies_told += 1
        elif self.mode == "blockhash" and batch and method.startswith("eth_getBlockBy"):
            result["hash"] = "0x" + keccak(bytes.fromhex(result["hash"][2:])).hex()
            self.lies_told += 1
        elif self.mode == "forge" and forged is not None:
            root, proof, balance = forged
            if method.startswith("eth_getBlockBy"):
                result["stateRoot"] = "0x" + root.hex()
                result["hash"] = "0x" + header_hash(result).hex()
                self.lies_told += 1
            elif method == "eth_getProof":
                result["accountProof"] = proof
                result["balance"] = hex(balance)
                self.lies_told += 1

    def _forgery(self, requests: list[dict[str, Any]], by_id: dict[Any, Any]) -> Any:
        """(root, proof, balance) of a one-account state the liar made up, if it is asked for a
        proof in this request; headers sent without a proof get the root of an empty-ish trie."""
        address = None
        for req in requests:
            if req.get("method") == "eth_getProof":
                address = req["params"][0]
        if address is None:
            address = "0x" + "00" * 20
        balance = 123 * ONE_ETH
        trie = HexaryTrie({})
        key = keccak(bytes.fromhex(address[2:]))
        trie[key] = rlp.encode([0, balance, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH])
        proof = ["0x" + rlp.encode(node).hex() for node in trie.get_proof(key)]  # type: ignore[no-untyped-call]
        return trie.root_hash, proof, balance
