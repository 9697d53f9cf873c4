"""The browser app as `taskly serve` serves it: the shell at `/` and on client-side routes,
hashed assets cached for a year, the service worker, and a clear 503 before a build.

A tiny stand-in build is written to a temporary directory, so these tests do not need
`npm run build`; the app is the real one (`secure_app`) on a real uvicorn.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from storage import SQLiteStore
from sync_server.access.authenticator import TokenAuthenticator
from sync_server.access.crypto import EncryptionConfig
from sync_server.access.server_keys import ServerKeys
from sync_server.access.tokens import AccessTokens, TokenConfig
from sync_server.app import create_app
from sync_server.settings import Settings
from sync_server.web_app import DEFAULT_DIST
from tests.sync_server.test_signin import serve

INDEX = "<!doctype html><title>Taskly</title><script type=module src=/assets/app-1.js></script>"
SCRIPT = "console.log('taskly')"
WORKER = "self.addEventListener('fetch', () => {})"


def build(dist: Path) -> Path:
    """Write what `npm run build` writes, in miniature."""
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "sw.js").write_text(WORKER)
    (dist / "assets" / "app-1.js").write_text(SCRIPT)
    return dist


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "taskly.db") as opened:
        yield opened


async def serve_app(store: SQLiteStore, dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    keys = ServerKeys(
        tokens=TokenConfig(signing_key=secrets.token_bytes(32)),
        encryption=EncryptionConfig(key=secrets.token_bytes(32)),
        source="the test",
    )
    settings = Settings(host="127.0.0.1", port=0)
    app = create_app(
        settings,
        store=store,
        authenticator=TokenAuthenticator(store, AccessTokens(keys.tokens)),
        tokens=keys.tokens,
        web_dist=dist,
    )
    async with (
        serve(app, settings) as url,
        httpx.AsyncClient(base_url=url, trust_env=False, timeout=15) as client,
    ):
        yield client


@pytest.fixture
async def built(sqlite: SQLiteStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_app(sqlite, build(tmp_path / "dist")):
        yield client


@pytest.fixture
async def not_built(sqlite: SQLiteStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve_app(sqlite, tmp_path / "no-such-dist"):
        yield client


@pytest.mark.parametrize("path", ["/", "/b/0193a8c4-0000-7000-8000-000000000000", "/b/x/y"])
async def test_the_shell_answers_the_root_and_every_client_side_route(
    built: httpx.AsyncClient, path: str
) -> None:
    response = await built.get(path)

    assert response.status_code == 200, response.text
    assert response.text == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    # Revalidated on every load, so a new build shows at once.
    assert response.headers["cache-control"] == "no-cache"
    # The app runs under the server's strict CSP: no inline code, same origin only.
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_hashed_assets_are_cached_for_a_year(built: httpx.AsyncClient) -> None:
    response = await built.get("/assets/app-1.js")

    assert response.status_code == 200
    assert response.text == SCRIPT
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_the_service_worker_is_served_from_the_root_and_revalidated(
    built: httpx.AsyncClient,
) -> None:
    response = await built.get("/sw.js")

    assert response.status_code == 200
    assert response.text == WORKER
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/nope.js", "/nope", "/assets/../index.html"])
async def test_unknown_paths_are_a_404_problem_not_the_shell(
    built: httpx.AsyncClient, path: str
) -> None:
    response = await built.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_app_does_not_shadow_the_api_or_the_server_routes(
    built: httpx.AsyncClient,
) -> None:
    assert (await built.get("/livez")).json() == {"status": "ok"}
    assert (await built.get("/api/openapi.json")).json()["openapi"].startswith("3.1")
    assert (await built.get("/auth/session")).status_code == 401
    assert (await built.post("/")).status_code == 405


async def test_without_a_build_the_server_runs_and_says_how_to_build(
    not_built: httpx.AsyncClient,
) -> None:
    page = await not_built.get("/b/some-board", headers={"Accept": "text/html"})
    problem = await not_built.get("/", headers={"Accept": "application/json"})
    asset = await not_built.get("/assets/app-1.js")
    worker = await not_built.get("/sw.js")

    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "make install" in page.text and "npm run build" in page.text
    assert problem.status_code == 503
    assert problem.headers["content-type"] == "application/problem+json"
    assert "not built" in problem.json()["detail"]
    assert asset.status_code == 503 and worker.status_code == 503
    assert (await not_built.get("/livez")).status_code == 200


def test_the_default_build_directory_is_the_web_clients_dist() -> None:
    assert DEFAULT_DIST == Path(__file__).resolve().parents[2] / "clients" / "web" / "dist"
