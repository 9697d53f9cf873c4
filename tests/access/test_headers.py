"""Security headers and CORS on the real app over real HTTP; WebSockets still sync through them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from storage import SQLiteStore
from sync_server.access import SecurityHeadersMiddleware, content_security_policy
from sync_server.app import create_app
from sync_server.settings import load_settings
from tests.sync_server.conftest import make_board, run_app
from tests.sync_server.yclient import YClient

GOOD = "https://board.example.com"
EVIL = "https://evil.example.net"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "taskly.db") as opened:
        yield opened


def assert_secured(answer: httpx.Response) -> None:
    """The four security headers, with a CSP that allows no inline code and no framing."""
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    csp = answer.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ):
        assert directive in csp
    assert "unsafe" not in csp


async def test_every_http_answer_carries_the_security_headers(store: SQLiteStore) -> None:
    async with run_app(store) as server:
        for path, status in (("/livez", 200), ("/readyz", 200), ("/metrics", 200), ("/no", 404)):
            answer = await server.get(path)
            assert answer.status_code == status
            assert_secured(answer)


async def test_no_cross_origin_access_by_default(store: SQLiteStore) -> None:
    async with run_app(store) as server, httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.get("/livez", headers={"origin": GOOD})
        assert answer.status_code == 200
        assert "access-control-allow-origin" not in answer.headers


async def test_cors_only_for_configured_origins(store: SQLiteStore) -> None:
    async with (
        run_app(store, cors_origins=(GOOD,)) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        allowed = await client.get("/livez", headers={"origin": GOOD})
        assert allowed.headers["access-control-allow-origin"] == GOOD
        assert allowed.headers["access-control-allow-credentials"] == "true"
        refused = await client.get("/livez", headers={"origin": EVIL})
        assert "access-control-allow-origin" not in refused.headers

        def preflight(origin: str) -> dict[str, str]:
            return {"origin": origin, "access-control-request-method": "POST"}

        ok = await client.options("/livez", headers=preflight(GOOD))
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == GOOD
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert_secured(ok)
        bad = await client.options("/livez", headers=preflight(EVIL))
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers


async def test_websockets_sync_through_the_middlewares(store: SQLiteStore) -> None:
    board_id = await make_board(store, "Through the middleware")
    async with run_app(store, cors_origins=(GOOD,)) as server:
        alice = await YClient.connect(server.ws, board_id)
        bob = await YClient.connect(server.ws, board_id)
        try:
            assert alice.board.board().name == "Through the middleware"
            await alice.edit(lambda b: b.rename("Renamed by Alice"))
            await bob.wait_for(lambda: bob.board.board().name == "Renamed by Alice")
        finally:
            await alice.close()
            await bob.close()


async def test_a_route_keeps_its_own_header() -> None:
    async def framed(request: Request) -> Response:
        return PlainTextResponse("x", headers={"X-Frame-Options": "SAMEORIGIN"})

    app = Starlette(routes=[Route("/", framed)])
    app.add_middleware(SecurityHeadersMiddleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://taskly") as client:
        answer = await client.get("/")
    assert answer.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_extra_connect_sources_are_listed() -> None:
    csp = content_security_policy(["wss://sync.example.com"])
    assert "connect-src 'self' wss://sync.example.com;" in csp


def test_cors_origins_setting() -> None:
    assert load_settings({}).cors_origins == ()
    raw = f" {GOOD}/ , http://localhost:5173,"
    assert load_settings({"TASKLY_CORS_ORIGINS": raw}).cors_origins == (
        GOOD,
        "http://localhost:5173",
    )
    for bad in ("*", "https://*.example.com", "board.example.com", f"{GOOD}/app"):
        with pytest.raises(ValueError, match="TASKLY_CORS_ORIGINS"):
            load_settings({"TASKLY_CORS_ORIGINS": bad})


async def test_an_unhandled_error_is_problem_json_with_the_security_headers(
    store: SQLiteStore,
) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    app = create_app(load_settings({}), store=store)
    app.add_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://taskly.test") as client:
        answer = await client.get("/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 500
    assert "a bug" not in answer.text  # internals stay in the log
    assert_secured(answer)
