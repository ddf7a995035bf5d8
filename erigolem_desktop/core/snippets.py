"""Ready-to-paste client examples for a node (curl, web3.py, ethers.js, cast, a subscription).

No Qt here: the node detail pane shows them, and tests run them as written against real nodes.
Each carries the real URL and user; the password is whatever the caller passes (the pane
passes a mask until the password is revealed).
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "••••••••••••"
SNIPPET_KINDS = ("curl", "web3.py", "ethers.js", "cast", "subscribe")


def url_with_auth(url: str, user: str, password: str) -> str:
    """`url` with `user:password@` in it (for cast and other tools that take auth in the URL)."""
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _auth_url(url: str, user: str, password: str) -> str:
    """`url_with_auth`, but a masked password stays readable (not percent-encoded)."""
    if password == MASK:
        return url.replace("://", f"://{quote(user, safe='')}:{MASK}@", 1)
    return url_with_auth(url, user, password)


def snippet(kind: str, url: str, user: str, password: str, ws_url: str | None = None) -> str:
    """A ready-to-paste example for `kind` (see SNIPPET_KINDS) with these values.

    `ws_url` is the node's WebSocket URL (the subscription example needs it; None from
    runtimes that report none).
    """
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    if kind == "curl":
        return (
            f"curl -s -u '{user}:{password}' \\\n  -H 'Content-Type: application/json' \\\n"
            f"  -d '{body}' \\\n  '{url}'"
        )
    if kind == "web3.py":
        return (
            "from web3 import Web3\n\n"
            "# auth through request_kwargs: web3 keeps its own headers (Content-Type);\n"
            "# request_kwargs={'headers': {'Authorization': ...}} would replace them,\n"
            "# and the node then refuses the call.\n"
            f"w3 = Web3(Web3.HTTPProvider(\n    {url!r},\n"
            f"    request_kwargs={{'auth': ({user!r}, {password!r})}},\n))\n"
            "print(w3.eth.block_number)"
        )
    if kind == "ethers.js":
        insecure = (
            "  req.allowInsecureAuthentication = true; // plain http on this computer\n"
            if url.startswith("http://")
            else ""
        )
        return (
            "// CommonJS: runs as a .js file in a default Node project (npm install ethers).\n"
            '// In an ES module (.mjs): import { ethers } from "ethers"; and drop main().\n'
            'const { ethers } = require("ethers");\n\n'
            "async function main() {\n"
            f"  const req = new ethers.FetchRequest({json.dumps(url)});\n"
            f"  req.setCredentials({json.dumps(user)}, "
            f"{json.dumps(password, ensure_ascii=False)});\n"
            f"{insecure}"
            "  const provider = new ethers.JsonRpcProvider(req);\n"
            "  console.log(await provider.getBlockNumber());\n"
            "  provider.destroy();\n"
            "}\n\n"
            "main();"
        )
    if kind == "cast":
        auth_url = _auth_url(url, user, password)
        return f"cast block-number --rpc-url '{auth_url}'\ncast chain-id --rpc-url '{auth_url}'"
    if kind == "subscribe":
        if not ws_url:
            return (
                "# This node's runtime reports no WebSocket URL (an older provider runtime):\n"
                "# subscriptions are not available on it; poll over HTTP instead."
            )
        return (
            "# New block headers as they arrive, over WebSocket (pip install web3).\n"
            "import asyncio\n\n"
            "from web3 import AsyncWeb3, WebSocketProvider\n\n\n"
            "async def main() -> None:\n"
            f"    url = {_auth_url(ws_url, user, password)!r}\n"
            "    async with AsyncWeb3(WebSocketProvider(url)) as w3:\n"
            '        await w3.eth.subscribe("newHeads")\n'
            "        async for message in w3.socket.process_subscriptions():\n"
            '            print("block", message["result"]["number"], flush=True)\n\n\n'
            "asyncio.run(main())"
        )
    raise ValueError(f"unknown snippet kind {kind!r}")
