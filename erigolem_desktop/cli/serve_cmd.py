"""`erigolem serve`: the headless REST requestor (the original Erigolem server's API, with SIWE).

The server owns the nodes it starts: on Ctrl+C / SIGTERM it stops them cleanly, then exits.
It listens on loopback unless `--public` is given; then it warns that TLS must come from a
reverse proxy in front (signed messages and node passwords travel in every response).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import socket
import sys
from datetime import timedelta
from typing import Any

from erigolem_desktop.cli import common

SERVE_HELP = """\
Serve the REST API of the original Erigolem requestor server (GET /getMessage, GET
/getInstances, POST /createInstance, POST /stopInstance/ID, plus POST /logout and GET /health)
with Sign-In with Ethereum: wallets sign a server-issued EIP-4361 message and send it with
every call (Authorization: Bearer ADDRESS, Message, Signature). Each wallet sees and stops only
its own nodes. Nodes started here live as long as the server: Ctrl+C or SIGTERM stops them.

Exit codes: 0 stopped by a signal, 1 could not serve (port taken…), 2 bad arguments,
4 no usable keyring.
"""

TLS_WARNING = (
    "warning: serving on a non-loopback address over plain HTTP. Sign-in messages, signatures "
    "and node passwords cross the network in clear text: put a TLS reverse proxy (nginx, "
    "Caddy) in front, pass its public name with --domain, and firewall this port."
)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IPs (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """The host as written in a URL: IPv6 in one pair of brackets (`::1` or `[::1]` -> `[::1]`)."""
    bare = host.strip().strip("[]")
    return f"[{bare}]" if ":" in bare else bare


class OneLineBadRequests(logging.Filter):
    """aiohttp's "Error handling request" for a malformed request: one line, no traceback.

    A client that sends a broken request line or header gets aiohttp's 400 either way; the
    operator needs to see that it happened, not 10 lines of parser stack per request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            detail = " ".join(str(exc.message).split())[:200]
            record.args = (record.getMessage(), exc.code, detail)
            record.msg = "%s: %s %s"
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_bad_requests() -> None:
    """Install OneLineBadRequests on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, OneLineBadRequests) for f in logger.filters):
        logger.addFilter(OneLineBadRequests())


def default_domains(host: str, port: int) -> list[str]:
    """The host[:port] names a local client may use to reach us (SIWE domains, Host check)."""
    names = [host]
    if is_loopback(host):
        names += ["127.0.0.1", "localhost"]
    if host.strip("[]") == "::1":
        names.append("[::1]")
    out: list[str] = []
    for name in names:
        shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
        value = f"{shown}:{port}"
        if value not in out:
            out.append(value)
    return out


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the REST API (original Erigolem compatible, Sign-In with Ethereum)",
        description=SERVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common.add_json_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 = any free one)")
    p.add_argument(
        "--public",
        action="store_true",
        help="allow listening on a non-loopback address (use TLS in front!)",
    )
    p.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="the name clients reach this server by (SIWE domain; Host header must match); "
        "repeatable; default: the listening address",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to call the API (CORS), e.g. https://app.example; "
        "repeatable; default none",
    )
    p.add_argument(
        "--backend",
        choices=("local", "golem"),
        default=None,
        help="where nodes run when params.backend is not given "
        "(default: golem when yagna is configured, else local)",
    )
    p.add_argument(
        "--session-minutes",
        type=int,
        default=60,
        help="lifetime of a sign-in message/session (default 60)",
    )
    p.add_argument(
        "--max-nodes",
        type=int,
        default=10,
        help="active nodes one wallet may have at once (default 10)",
    )
    p.add_argument(
        "--auth-401",
        action="store_true",
        help="answer sign-in failures with 401 instead of the original's 400",
    )
    p.add_argument(
        "--one-line-message",
        action="store_true",
        help="for the original Erigolem React UI: GET /getMessage returns a one-line challenge "
        "(it sends the message raw in an HTTP header) with the same nonce and expiry checks",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="close a connection that has not sent a whole request head (or a request body) "
        "within this time, or sits idle this long between requests (default 15)",
    )
    p.add_argument("--poll-interval", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--session-seconds", type=int, default=None, help=argparse.SUPPRESS)  # tests
    p.set_defaults(func=common.handle_errors(_cmd_serve))


def _check_args(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise common.UsageError(f"--port {args.port} is not a TCP port.", "Use 1-65535 (or 0).")
    if not is_loopback(args.host) and not args.public:
        raise common.UsageError(
            f"Refusing to listen on {args.host}: it is not a loopback address.",
            "Add --public to serve other machines (and put TLS in front), or use --host 127.0.0.1.",
        )
    if not 1 <= args.session_minutes <= 7 * 24 * 60:
        raise common.UsageError("--session-minutes must be between 1 and 10080.")
    if not 1 <= args.idle_timeout <= 3600:
        raise common.UsageError("--idle-timeout must be between 1 and 3600 seconds.")
    if args.max_nodes < 1:
        raise common.UsageError("--max-nodes must be at least 1.")
    for origin in args.allow_origin:
        if origin == "*" or not origin.startswith(("http://", "https://")):
            raise common.UsageError(
                f"--allow-origin {origin!r} is not an origin.",
                "Name each origin, e.g. https://app.example.com (no wildcard).",
            )
    from erigolem_desktop.core.siwe import _DOMAIN_RE

    for domain in args.domain:
        if not _DOMAIN_RE.match(domain) or "@" in domain:
            raise common.UsageError(
                f"--domain {domain!r} is not a host[:port].", "E.g. --domain nodes.example.com"
            )


def _cmd_serve(args: argparse.Namespace) -> int:
    from erigolem_runtime.api.process import forbid_core_dumps

    _check_args(args)
    forbid_core_dumps()  # the server verifies and may hold wallets' secrets: no core dumps
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from erigolem_desktop.core.app_context import open_manager
    from erigolem_desktop.core.manager import OWNER_SERVE
    from erigolem_desktop.server.app import create_app
    from erigolem_desktop.server.routes import ServerOptions

    if args.public and not is_loopback(args.host):
        common.note(TLS_WARNING)
    golem = None if args.backend != "local" else False
    manager = open_manager(  # OWNER_SERVE: `erigolem node stop` must not signal this process
        golem=golem, poll_interval=args.poll_interval, owner_kind=OWNER_SERVE
    )
    if args.backend == "golem" and "golem" not in manager.backends:
        raise common.UsageError(
            "--backend golem: yagna is not configured (no app key).",
            "Set YAGNA_APPKEY or save the app key in the desktop app's settings.",
        )
    default_backend = args.backend or ("golem" if "golem" in manager.backends else "local")
    stop = asyncio.Event()
    with common.signal_handlers(dict.fromkeys(common.STOP_SIGNALS, stop.set)):
        runner: web.AppRunner | None = None
        try:
            await manager.recover()
            sock = _listen(args.host, args.port)  # bound first: --port 0 picks any free port
            port = int(sock.getsockname()[1])
            domains = list(args.domain) or default_domains(args.host, port)
            app = create_app(
                manager,
                domains=domains,
                allow_origins=args.allow_origin,
                options=ServerOptions(
                    auth_error_status=401 if args.auth_401 else 400,
                    default_backend=default_backend,
                    max_active_per_wallet=args.max_nodes,
                    body_timeout=args.idle_timeout,
                ),
                message_ttl=_session_ttl(args),
                one_line_message=args.one_line_message,
                close_manager=False,
            )
            runner = web.AppRunner(  # keepalive_timeout also bounds the wait for a request head;
                app,  # lingering: how long an unread body is drained after the answer (not 10 s)
                handle_signals=False,
                access_log=None,
                keepalive_timeout=args.idle_timeout,
                lingering_time=min(2.0, args.idle_timeout),
            )
            quiet_bad_requests()
            await runner.setup()
            await web.SockSite(runner, sock).start()
            url = f"http://{url_host(args.host)}:{port}"
            backends = sorted(manager.backends)
            info = {
                "url": url,
                "domains": domains,
                "backends": backends,
                "default_backend": default_backend,
                "pid": _pid(),
            }
            if common.json_mode(args):
                sys.stdout.write(json.dumps(info) + "\n")
                sys.stdout.flush()
            else:
                common.note(
                    f"Serving the Erigolem REST API on {url} (SIWE domain {domains[0]}; backends: "
                    f"{', '.join(backends)}). Press Ctrl+C to stop; nodes started here are "
                    "stopped then."
                )
            await stop.wait()
            common.note("Stopping: closing the API and stopping the nodes started here…")
            return common.EXIT_OK
        finally:
            if runner is not None:
                await runner.cleanup()
            await manager.close()


def _session_ttl(args: argparse.Namespace) -> timedelta:
    """How long a sign-in message lasts: --session-minutes (tests: the hidden --session-seconds)."""
    if args.session_seconds is not None:
        return timedelta(seconds=args.session_seconds)
    return timedelta(minutes=args.session_minutes)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (CliError saying what to do when it cannot be had)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as exc:
        raise common.CliError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
            "Pick another --port, or stop what uses this one.",
        ) from exc


def _pid() -> int:
    return os.getpid()
