"""The Starlette app: `/sync/{board_id}` (y-websocket), `/livez`, `/readyz`, `/metrics`, `/`.

`create_app` builds it; services live in the lifespan state (no globals): the store (opened
here from the settings unless one is passed in), the room registry, the metrics and the
authenticator. HTTP errors are RFC 7807 problem JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import TypedDict

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from storage import BoardNotFound, Store, open_store
from sync_server.access.authenticator import accepted_subprotocol
from sync_server.access.crypto import EncryptionConfig
from sync_server.access.headers import http_middleware, security_headers
from sync_server.access.ratelimit import RateLimiter, RateLimitMiddleware
from sync_server.access.tokens import AccessTokens, TokenConfig
from sync_server.access.watcher import AccessWatcher
from sync_server.api import api_routes
from sync_server.auth import Authenticator, Principal, authenticate
from sync_server.auth_api import auth_api_routes
from sync_server.channel import ChannelClosed, WebSocketChannel
from sync_server.connection import DEFAULT_MAX_QUEUE_BYTES, Connection
from sync_server.errors import INTERNAL_ERROR, clip_reason, close_for
from sync_server.github_oauth import GitHubOAuthConfig, github_auth_routes
from sync_server.http_auth import rate_limit_user
from sync_server.materializer import Materializer
from sync_server.metrics import Metrics
from sync_server.room import Room
from sync_server.rooms import Rooms
from sync_server.settings import Settings
from sync_server.signin import github_sign_in, sign_in_routes
from sync_server.web_app import web_routes

log = logging.getLogger("taskly.sync")

READY_TIMEOUT_SECONDS = 2.0
SHUTDOWN_FLUSH_SECONDS = 30.0
CLOSE_WAIT_SECONDS = 5.0
MAX_BOARD_ID_CHARS = 200
RATE_LIMITED_PREFIXES = ("/api", "/auth")
_PROPAGATE = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


class State(TypedDict):
    """What the lifespan hands to every request."""

    settings: Settings
    store: Store
    rooms: Rooms
    metrics: Metrics
    authenticate: Authenticator
    access_watcher: AccessWatcher | None
    materializer: Materializer | None


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    authenticator: Authenticator = authenticate,
    tokens: TokenConfig | None = None,
    encryption: EncryptionConfig | None = None,
    github: GitHubOAuthConfig | None = None,
    limiter: RateLimiter | None = None,
    web_dist: Path | None = None,
) -> Starlette:
    """Return the Taskly ASGI app; `store`, if given, is used as is (opened and closed by you).

    The pieces are opt-in so tests can build exactly what they exercise; `secure_app` builds
    what `taskly serve` runs (everything on). With `tokens`, the session, sign-in-link and
    workspace routes are mounted; with `github` and `encryption` too, GitHub sign-in; with
    `limiter`, the `/api` and `/auth` rate limits of the settings. Without any, the app admits
    every WebSocket read-write (the `authenticate` default) and has no API. The browser app is
    always served at `/`, from `web_dist` (default `clients/web/dist`; `sync_server.web_app`).
    """
    if github is not None and (tokens is None or encryption is None):
        raise ValueError("GitHub sign-in needs a token config and an encryption config")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with AsyncExitStack() as stack:
            the_store = store
            if the_store is None:
                the_store = await stack.enter_async_context(
                    open_store(database_url=settings.database_url, data_dir=settings.data_dir)
                )
            metrics = Metrics()
            # Projects every stored update into the relational tables (REST reads, queries).
            materializer = Materializer(the_store, metrics=metrics)
            await materializer.start()
            # Closed after the rooms' shutdown below (which stores their last updates) and
            # before the store: it projects what is still flagged, then stops.
            stack.push_async_callback(materializer.aclose)
            rooms = Rooms(
                the_store,
                metrics,
                idle_unload_seconds=settings.idle_unload_seconds,
                memory_budget_bytes=settings.memory_budget_bytes,
                materializer=materializer,
            )
            rooms.start()
            # With tokens, memberships and revocations changed while connections are open
            # (by the API, the CLI or another instance) reach them within seconds.
            watcher = AccessWatcher(the_store, rooms) if tokens is not None else None
            if watcher is not None:
                watcher.start()
            try:
                yield State(
                    settings=settings,
                    store=the_store,
                    rooms=rooms,
                    metrics=metrics,
                    authenticate=authenticator,
                    access_watcher=watcher,
                    materializer=materializer,
                )
            finally:
                if watcher is not None:
                    await watcher.aclose()
                await rooms.shutdown(flush_seconds=SHUTDOWN_FLUSH_SECONDS)
                if limiter is not None:
                    await limiter.aclose()

    routes: list[BaseRoute] = [
        WebSocketRoute("/sync/{board_id}", sync_endpoint),
        Route("/livez", livez),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
    middleware = http_middleware(settings.cors_origins)
    if tokens is not None:
        routes += auth_api_routes(tokens) + api_routes(tokens) + sign_in_routes(tokens)
        if limiter is not None:
            # Inside CORS and the security headers, so 429 answers carry both.
            middleware.append(
                Middleware(
                    RateLimitMiddleware,
                    limiter=limiter,
                    per_user=settings.rate_limit_per_user,
                    per_ip=settings.rate_limit_per_ip,
                    path_prefix=RATE_LIMITED_PREFIXES,
                    user_of=rate_limit_user(AccessTokens(tokens)),
                )
            )
    if github is not None:
        assert tokens is not None and encryption is not None
        routes += github_auth_routes(github, github_sign_in(tokens, encryption))
        middleware.append(oauth_state_middleware(tokens))
    else:
        routes.append(Route("/auth/github/login", github_not_configured, methods=["GET"]))
    # Last: they include `/` and the app's client-side routes.
    routes += web_routes(web_dist)
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={HTTPException: _http_problem, Exception: _internal_problem},
    )


def oauth_state_middleware(tokens: TokenConfig) -> Middleware:
    """The signed cookie that carries the OAuth `state` from login to callback (10 minutes)."""
    # A key of its own, derived from the signing key, so the cookie can never be confused
    # with a token.
    secret = hmac.new(tokens.signing_key, b"taskly/oauth-state-cookie", hashlib.sha256)
    return Middleware(
        SessionMiddleware,
        secret_key=secret.hexdigest(),
        session_cookie="taskly_oauth",
        max_age=10 * 60,
        path="/auth/github",
        same_site="lax",
        # Not Secure: the cookie holds only the CSRF state, and it must work on plain
        # http://127.0.0.1 in the embedded default; set a public https URL in production.
        https_only=False,
    )


async def github_not_configured(request: Request) -> Response:
    """Say why there is no GitHub sign-in instead of a bare 404."""
    return problem(
        404,
        "Not Found",
        "GitHub sign-in is not configured on this server (set TASKLY_GITHUB_CLIENT_ID and "
        "TASKLY_GITHUB_CLIENT_SECRET); use a sign-in link from `taskly sign-in-link`",
    )


# -- HTTP ---------------------------------------------------------------------------------------


def problem(status: int, title: str, detail: str) -> JSONResponse:
    """Return an RFC 7807 problem response."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    return problem(exc.status_code, title, str(exc.detail))


async def _internal_problem(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    response = problem(500, "Internal Server Error", "the server failed; see its log")
    # Starlette answers unhandled errors from its outermost middleware, outside the security
    # headers middleware, so this response carries the headers itself.
    for name, value in security_headers():
        response.headers[name.decode()] = value.decode()
    return response


async def livez(request: Request) -> Response:
    """The process runs."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The store answers and no board's writes are failing."""
    store: Store = request.state.store
    rooms: Rooms = request.state.rooms
    try:
        await asyncio.wait_for(store.ping(), READY_TIMEOUT_SECONDS)
    except Exception as exc:
        return problem(503, "Service Unavailable", f"the store does not answer: {exc}")
    failing = rooms.failing
    if failing:
        return problem(
            503,
            "Service Unavailable",
            f"storing updates fails for {len(failing)} board(s); retrying",
        )
    return JSONResponse({"status": "ok"})


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics."""
    rooms: Rooms = request.state.rooms
    metrics: Metrics = request.state.metrics
    body = metrics.render(len(rooms.rooms), rooms.board_bytes())
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


# -- the sync endpoint ----------------------------------------------------------------------------


async def sync_endpoint(websocket: WebSocket) -> None:
    """Serve one y-websocket client of one board."""
    state = websocket.state
    settings: Settings = state.settings
    board_id: str = websocket.path_params["board_id"]
    channel = WebSocketChannel(websocket)
    subprotocol = accepted_subprotocol(websocket.scope)  # "bearer" or None; never the token
    try:
        principal: Principal = await state.authenticate(websocket.scope)
    except Exception as exc:
        code, reason = close_for(exc)
        await websocket.accept(subprotocol)
        await channel.close(code, reason)
        log.info("connection refused board=%s code=%d reason=%s", board_id, code, reason)
        return
    await websocket.accept(subprotocol)
    rooms: Rooms = state.rooms
    try:
        if len(board_id) > MAX_BOARD_ID_CHARS or not board_id.isprintable():
            raise BoardNotFound(board_id[:MAX_BOARD_ID_CHARS])  # no such id can exist
        room, presented_state = await rooms.acquire_sending(board_id, channel.send)
    except BoardNotFound as exc:
        code, reason = close_for(exc)
        await channel.close(code, reason)
        log.info("connection refused board=%s code=%d reason=%s", board_id, code, reason)
        return
    except Exception:
        log.exception("loading board=%s failed", board_id)
        await channel.close(INTERNAL_ERROR, "cannot load the board; reconnect later")
        return
    conn = Connection(
        channel,
        principal,
        board_id,
        max_queue_bytes=max(DEFAULT_MAX_QUEUE_BYTES, 2 * settings.max_message_bytes),
    )
    conn.presented_state = presented_state
    room.join(conn)
    metrics: Metrics = state.metrics
    metrics.connections += 1
    log.info(
        "connection open board=%s conn=%d user=%s read_only=%s",
        board_id,
        conn.id,
        principal.user_id,
        principal.read_only,
    )
    code, reason = await _serve(room, conn)
    room.leave(conn)
    metrics.connections -= 1
    log.info(
        "connection closed board=%s conn=%d code=%d reason=%s", board_id, conn.id, code, reason
    )


async def _serve(room: Room, conn: Connection) -> tuple[int, str]:
    """Read and handle messages until the connection ends; return its close code and reason."""
    try:
        while conn.closing is None:
            data = await conn.channel.recv()
            room.receive(conn, data)
            await room.writer.below_high_water()
    except ChannelClosed as exc:
        conn.abort()
        return exc.code, exc.reason
    except BaseException as exc:
        if isinstance(exc, _PROPAGATE):
            conn.abort()
            raise
        code, reason = close_for(exc)
        if code == INTERNAL_ERROR:
            log.error("message failed board=%s conn=%d", room.board_id, conn.id, exc_info=exc)
        conn.close(code, reason)
    assert conn.closing is not None
    await conn.wait_closed(grace=CLOSE_WAIT_SECONDS)
    return conn.closing[0], clip_reason(conn.closing[1])
