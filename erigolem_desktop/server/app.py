"""The aiohttp application of `erigolem serve`: routes, JSON errors, opt-in CORS, clean shutdown.

Build it with `create_app(manager, domains=[...])`; serve it with aiohttp's runner. On cleanup
it waits for stops in flight and, with `close_manager=True`, closes the manager, which stops
every node this process started (nodes live as long as the server).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from erigolem_desktop.core.chains import network_table
from erigolem_desktop.core.manager import NodeManager
from erigolem_desktop.server.auth import DEFAULT_TTL, SiweAuth
from erigolem_desktop.server.routes import Api, ServerOptions, error

log = logging.getLogger(__name__)

API_KEY = web.AppKey("erigolem.api", Api)
MAX_BODY = 64 * 1024
CORS_HEADERS = "Authorization, Message, Signature, Content-Type, Accept, X-Api-Call"


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as `{"msg": …}`: unknown paths, wrong methods, oversized bodies, bugs."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        text = exc.reason if exc.status != 413 else f"the request body is over {MAX_BODY} bytes"
        return error(exc.status, text.lower() if exc.status in (404, 405) else text, **headers)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error(500, "internal server error; the server log has the details")


def cors_middleware(origins: Sequence[str]) -> Middleware:
    """CORS for exactly these origins (none = no CORS headers at all, like a same-origin app)."""
    allowed = {o.rstrip("/") for o in origins}

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        ok = origin is not None and origin in allowed
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            if not ok:
                return error(403, f"cross-origin requests from {str(origin)[:100]} are not allowed")
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if ok and origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    return cors


def create_app(
    manager: NodeManager,
    *,
    domains: Sequence[str],
    allow_origins: Sequence[str] = (),
    options: ServerOptions | None = None,
    message_ttl: timedelta = DEFAULT_TTL,
    one_line_message: bool = False,
    close_manager: bool = True,
    auth: SiweAuth | None = None,
) -> web.Application:
    """The web application around `manager` (see the module docstring).

    Args:
        domains: host[:port] values this server answers for (SIWE domain, Host check).
        allow_origins: browser origins allowed to call the API cross-origin (default none).
        options: behaviour switches (auth error status, default backend, quotas).
        message_ttl: lifetime of a sign-in message (and so of the session it opens).
        one_line_message: issue one-line challenges (the original Erigolem UI) instead of SIWE.
        close_manager: close the manager on cleanup (stopping its nodes).
        auth: a ready SiweAuth (tests pass one with their own clock).
    """
    opts = options or ServerOptions()
    if not opts.networks:
        opts.networks, opts.default_clients = network_table()
    siwe_auth = auth or SiweAuth(domains=list(domains), ttl=message_ttl, one_line=one_line_message)
    api = Api(manager, siwe_auth, opts)
    middlewares: list[Middleware] = [json_errors]
    if allow_origins:
        middlewares.insert(0, cors_middleware(allow_origins))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[API_KEY] = api
    app.add_routes(api.routes())

    async def cleanup(_app: web.Application) -> None:
        await api.close()
        if close_manager:
            await manager.close()

    app.on_cleanup.append(cleanup)
    return app
