"""`erigolem rpc ID METHOD [PARAMS…]`: one JSON-RPC call (or a batch) to a node, like `cast rpc`.

Each PARAM is a JSON value (`true`, `12`, `'{"to": "0x…"}'`); anything that is not valid JSON
is sent as a string, so `0x…` addresses and `latest` need no quotes. A PARAM that starts with
`{` or `[` must be valid JSON: a broken object is a usage error (exit 2), nothing is sent. The result is printed as
pretty JSON on stdout and the timing on stderr; `--json` prints one object with the result (or
the node's error object), the time and the size. Exit code 1 when the node returns an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from erigolem_desktop.cli import common


def parse_param(text: str, position: int = 1) -> Any:
    """A command-line parameter as a JSON value, or the text itself when it is not JSON.

    Text that starts with `{` or `[` is meant as an object or array: when it does not parse,
    raises UsageError naming the 1-based `position` and the parser's line/column, since sending
    it as a string only earns a puzzling type error from the node.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip()[:1] in ("{", "["):
            raise common.UsageError(
                f"Parameter {position} looks like JSON but does not parse: {exc}.",
                "Quote the whole object for the shell, e.g. "
                """'{"to": "0x…", "data": "0x…"}' (double quotes inside, closing brace included).""",
            ) from exc
        return text


def _load_batch(path: str) -> list[tuple[str, Any]]:
    """The calls of a batch file (`-` = stdin); UsageError when it is not a list of calls."""
    src = "batch on stdin" if path == "-" else f"batch file {path}"
    text = common.read_secret_file(path, "batch") if path != "-" else sys.stdin.read()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise common.UsageError(f"The {src} is not JSON ({exc}).") from exc
    if not isinstance(data, list) or not data:
        raise common.UsageError(
            f"The {src} must hold a non-empty JSON array.",
            'e.g. [{"method": "eth_chainId"}, {"method": "eth_getBalance", "params": ["0x…", "latest"]}]',
        )
    calls: list[tuple[str, Any]] = []
    for i, item in enumerate(data):
        if isinstance(item, dict) and isinstance(item.get("method"), str):
            calls.append((item["method"], item.get("params", [])))
        elif isinstance(item, list) and item and isinstance(item[0], str):
            calls.append((item[0], item[1] if len(item) > 1 else []))
        else:
            raise common.UsageError(
                f"Item {i} of the {src} is not a call.",
                'Write {"method": "...", "params": [...]} or ["method", [params]].',
            )
    return calls


def _cmd(args: argparse.Namespace) -> int:
    """One call or batch with the blocking client: no event loop, no aiohttp (fast start)."""
    from erigolem_desktop.core.app_context import open_manager
    from erigolem_desktop.core.catalog import load_catalog
    from erigolem_desktop.core.rpc_blocking import BlockingJsonRpcClient
    from erigolem_desktop.core.rpc_wire import RpcResult

    if args.batch and args.method:
        raise common.UsageError("Give either METHOD or --batch FILE, not both.")
    if not args.batch and not args.method:
        raise common.UsageError("Name a METHOD (e.g. eth_chainId) or pass --batch FILE.")
    calls = (
        _load_batch(args.batch)
        if args.batch
        else [(args.method, [parse_param(p, i) for i, p in enumerate(args.params, 1)])]
    )
    # Only the record and the password are needed: no backend, no recovery (fast start-up).
    mgr = open_manager(backends={})
    rec = mgr.resolve(args.node)
    if not rec.active or not rec.url:
        raise common.CliError(
            f"Node {rec.id} is {rec.state.value}; it has no endpoint to call.",
            "Start a node with: erigolem node start --local",
        )
    password = mgr.password(rec.id)
    catalog = load_catalog()
    for method, _ in calls:
        if method not in catalog and not common.json_mode(args):
            common.note(f"note: {method} is not in the method catalog; sending it anyway.")
    with BlockingJsonRpcClient(rec.url, rec.user, password, timeout=args.timeout) as client:
        results: list[RpcResult] = client.batch(calls) if args.batch else [client.call(*calls[0])]
    failed = [r for r in results if r.error is not None]
    if common.json_mode(args):
        out: Any = [r.to_json() for r in results] if args.batch else results[0].to_json()
        common.emit(args, out)
    else:
        for res in results:
            if args.batch:
                sys.stdout.write(f"# {res.method}\n")
            if res.error is not None:
                sys.stdout.write(json.dumps({"error": res.error}, indent=2) + "\n")
                method = catalog.get(res.method)
                if method is not None and method.params:
                    common.note(
                        f"usage: {method.signature()}  e.g. {json.dumps(method.template())}"
                    )
            else:
                sys.stdout.write(json.dumps(res.result, indent=2) + "\n")
        sys.stdout.flush()
        last = results[-1]
        common.note(f"({last.elapsed_ms:.1f} ms, {last.size_bytes} bytes)")
    if failed:
        if not common.json_mode(args):
            first = failed[0]
            assert first.error is not None
            common.print_error(
                args,
                f"{first.method} failed: {first.error.get('message')} "
                f"(JSON-RPC error {first.error.get('code')}).",
            )
        return common.EXIT_ERROR
    return common.EXIT_OK


def register(subparsers: Any) -> None:
    """Add `rpc` to the `erigolem` parser."""
    p = subparsers.add_parser(
        "rpc",
        help="call a JSON-RPC method on a node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("node", metavar="ID", help=common.NODE_ID_HELP)
    p.add_argument("method", metavar="METHOD", nargs="?", help="e.g. eth_chainId")
    p.add_argument(
        "params", metavar="PARAMS", nargs="*", help="JSON values (strings need no quotes)"
    )
    p.add_argument(
        "--batch", metavar="FILE", help="send the calls in FILE ('-' = stdin) as one batch"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    common.add_json_option(p)
    p.set_defaults(func=common.handle_errors(_cmd))
