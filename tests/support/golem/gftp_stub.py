"""Stand-in for the `gftp` binary (yagna's file-transfer helper, not in PyPI's golem-node wheel).

yapapi's engine always runs `gftp server` and speaks line-delimited JSON-RPC 2.0 on its
stdin/stdout. The runtime used here needs no file transfer, so this stand-in follows the contract
(`version`, `publish`, `close`, `receive`, `upload`, `shutdown`) without moving bytes: published
files get `gftp://` URLs naming a local path, which is all yapapi itself looks at.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

VERSION = "0.7.3"
NODE = "0x" + "00" * 20


def _url(path: str) -> str:
    return f"gftp://{NODE}/{hashlib.sha256(path.encode()).hexdigest()}"


def handle(method: str, params: dict[str, Any]) -> Any:
    if method == "version":
        return VERSION
    if method == "publish":
        return [{"file": f, "url": _url(f)} for f in params.get("files", [])]
    if method == "close":
        return ["ok" for _ in params.get("urls", [])]
    if method == "receive":
        out = str(params["output_file"])
        return {"file": out, "url": _url(out)}
    if method == "upload":
        Path(str(params["file"])).stat()  # must exist, like the real one
        return "ok"
    if method == "shutdown":
        return "ok"
    raise KeyError(method)


def main(argv: list[str]) -> int:
    if argv[:1] != ["server"]:
        sys.stderr.write("usage: gftp server (test stand-in)\n")
        return 2
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": msg.get("id")}
        try:
            reply["result"] = handle(str(msg["method"]), dict(msg.get("params") or {}))
        except KeyError as exc:
            reply["error"] = {"code": -32601, "message": f"unknown method or param {exc}"}
        except OSError as exc:
            reply["error"] = {"code": 1, "message": str(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if msg.get("method") == "shutdown":
            return 0
    return 0


def install(bin_dir: Path) -> Path:
    """Write an executable `gftp` into `bin_dir` that runs this stand-in."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "gftp"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    script.chmod(0o755)
    return script


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
