"""The rate limits of the real app (`secure_app` / `create_app` with a limiter) on uvicorn.

Small budgets (5 per user, 8 per IP, per 60 s) so a test spends them quickly; every client
here comes from 127.0.0.1, so they all share one IP budget. The Redis cases run two app
instances on one real Redis (127.0.0.1:6379) under a key prefix of their own.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis

from storage import SQLiteStore, Store
from sync_server.access.authenticator import TokenAuthenticator, pat_hash
from sync_server.access.crypto import EncryptionConfig
from sync_server.access.ratelimit import RateLimiter, RedisRateLimiter, redis_client
from sync_server.access.server_keys import ServerKeys
from sync_server.access.tokens import AccessTokens, TokenConfig, new_personal_access_token
from sync_server.app import create_app
from sync_server.secure_app import secure_app
from sync_server.settings import Settings
from tests.sync_server.conftest import make_board
from tests.sync_server.test_signin import assert_problem, serve

REDIS_URL = "redis://127.0.0.1:6379/0"
PER_USER = 5
PER_IP = 8
SECURITY_HEADERS = (
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
)
ORIGIN = "https://board.example.com"


def settings(**overrides: Any) -> Settings:
    return Settings(
        host="127.0.0.1",
        port=0,
        rate_limit_per_user=PER_USER,
        rate_limit_per_ip=PER_IP,
        **overrides,
    )


def random_keys() -> ServerKeys:
    return ServerKeys(
        tokens=TokenConfig(signing_key=secrets.token_bytes(32)),
        encryption=EncryptionConfig(key=secrets.token_bytes(32)),
        source="the test",
    )


@dataclass
class Api:
    """One running app and what a test needs to call it."""

    url: str
    store: Store
    keys: ServerKeys
    board: str
    users: dict[str, str]  # login -> id

    def bearer(self, login: str) -> dict[str, str]:
        token = AccessTokens(self.keys.tokens).issue(self.users[login]).token
        return {"Authorization": f"Bearer {token}"}


async def populate(store: Store) -> tuple[str, dict[str, str]]:
    """A board, and users ada and bob who are members of its workspace."""
    board = await make_board(store)
    workspace = (await store.get_board(board)).workspace_id
    users = {}
    for login in ("ada", "bob"):
        users[login] = (await store.create_user(login, login.title())).id
        await store.add_member(workspace, users[login], "member")
    return board, users


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "taskly.db") as opened:
        yield opened


@pytest.fixture
async def api(sqlite: SQLiteStore) -> AsyncIterator[Api]:
    """`secure_app`, as `taskly serve` builds it, with the small budgets (in-process limiter)."""
    board, users = await populate(sqlite)
    keys = random_keys()
    config = settings(cors_origins=(ORIGIN,))
    async with serve(secure_app(config, sqlite, keys), config) as url:
        yield Api(url, sqlite, keys, board, users)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        yield http


def assert_limited(response: httpx.Response, limit: int) -> dict[str, Any]:
    """Assert a 429 problem with Retry-After and the RateLimit headers; return its body."""
    body = assert_problem(response, 429)
    assert body["title"] == "Too Many Requests"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    return body


def assert_counted(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.status_code != 429, response.text
    assert response.headers["ratelimit-limit"] == str(limit), response.headers
    assert response.headers["ratelimit-remaining"] == str(remaining), response.headers


async def test_a_users_sixth_request_is_refused_while_another_user_passes_until_the_ip_is_spent(
    api: Api, client: httpx.AsyncClient
) -> None:
    ada, bob = api.bearer("ada"), api.bearer("bob")
    for i in range(PER_USER):
        answer = await client.get(api.url + "/api/workspaces", headers=ada)
        assert answer.status_code == 200, answer.text
        # The tighter budget is shown: ada's own (5) rather than the IP's (8).
        assert_counted(answer, PER_USER, PER_USER - 1 - i)

    refused = await client.get(api.url + "/api/workspaces", headers=ada)

    body = assert_limited(refused, PER_USER)
    assert str(PER_USER) in body["detail"]
    # The IP has made 6 requests: bob, on the same IP, has the 2 left of its budget of 8.
    for remaining in (1, 0):
        answer = await client.get(api.url + "/api/workspaces", headers=bob)
        assert answer.status_code == 200, answer.text
        assert_counted(answer, PER_IP, remaining)
    assert_limited(await client.get(api.url + "/api/workspaces", headers=bob), PER_IP)
    assert_limited(await client.get(api.url + "/auth/session"), PER_IP)


async def test_unauthenticated_requests_count_against_the_ip(
    api: Api, client: httpx.AsyncClient
) -> None:
    unknown_pat = new_personal_access_token().token
    anonymous: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/api/workspaces", {}),
        ("GET", "/api/workspaces", {"Authorization": "Bearer not-a-token"}),
        ("GET", "/api/workspaces", {"Authorization": f"Bearer {unknown_pat}"}),
        ("GET", "/auth/session", {}),
        ("GET", "/auth/link?code=made-up", {}),
        ("POST", "/auth/refresh", {}),
        ("GET", "/auth/github/login", {}),
        ("GET", "/api/no-such-route", {}),
    ]
    assert len(anonymous) == PER_IP
    for i, (method, path, headers) in enumerate(anonymous):
        answer = await client.request(method, api.url + path, headers=headers)
        assert answer.status_code in (401, 404), (path, answer.text)
        assert_counted(answer, PER_IP, PER_IP - 1 - i)

    assert_limited(await client.get(api.url + "/auth/session"), PER_IP)
    # A valid user from the spent IP is refused too: the IP budget holds whoever asks.
    assert_limited(await client.get(api.url + "/api/workspaces", headers=api.bearer("ada")), PER_IP)


async def test_health_metrics_and_sync_are_not_limited(api: Api, client: httpx.AsyncClient) -> None:
    for _ in range(PER_IP):
        await client.get(api.url + "/auth/session")
    assert_limited(await client.get(api.url + "/auth/session"), PER_IP)

    for path in ("/livez", "/readyz", "/metrics"):
        for _ in range(3):
            answer = await client.get(api.url + path)
            assert answer.status_code == 200, (path, answer.text)
            assert "ratelimit-limit" not in answer.headers
    # WebSockets are not counted: a member still syncs from the spent IP, again and again.
    token = AccessTokens(api.keys.tokens).issue(api.users["ada"]).token
    ws_url = api.url.replace("http://", "ws://") + f"/sync/{api.board}?token={token}"
    for _ in range(PER_IP + 2):
        async with websockets.connect(ws_url, proxy=None, open_timeout=5) as ws:
            frame = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(frame, bytes) and frame[:1] == b"\x00"  # a sync message


async def test_the_429_carries_the_security_and_cors_headers(
    api: Api, client: httpx.AsyncClient
) -> None:
    ada = {**api.bearer("ada"), "Origin": ORIGIN}
    for _ in range(PER_USER):
        allowed = await client.get(api.url + "/api/workspaces", headers=ada)
        assert allowed.status_code == 200

    refused = await client.get(api.url + "/api/workspaces", headers=ada)

    assert_limited(refused, PER_USER)
    for name in SECURITY_HEADERS:
        assert name in refused.headers, name
    assert refused.headers["x-frame-options"] == "DENY"
    # The browser app on another origin can read the 429 and its Retry-After.
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    exposed = refused.headers["access-control-expose-headers"].lower()
    assert "retry-after" in exposed and "ratelimit-remaining" in exposed


async def test_a_users_jwt_and_pat_share_one_budget(api: Api, client: httpx.AsyncClient) -> None:
    pat = new_personal_access_token()
    await api.store.create_token(api.users["ada"], "laptop", pat_hash(pat.token))
    by_pat = {"Authorization": f"Bearer {pat.token}"}
    by_jwt = api.bearer("ada")
    for i in range(PER_USER):
        answer = await client.get(api.url + "/api/workspaces", headers=(by_pat, by_jwt)[i % 2])
        assert answer.status_code == 200, answer.text
    assert_limited(await client.get(api.url + "/api/workspaces", headers=by_pat), PER_USER)
    assert_limited(await client.get(api.url + "/api/workspaces", headers=by_jwt), PER_USER)


async def test_a_revoked_or_expired_pat_does_not_spend_its_users_budget(
    api: Api, client: httpx.AsyncClient
) -> None:
    """rate_limit_user: "A request without a valid token counts only against its IP's budget".
    Otherwise whoever holds a revoked (say, leaked) token could lock its user out of the API."""
    ada = api.users["ada"]
    revoked = new_personal_access_token()
    record = await api.store.create_token(ada, "leaked", pat_hash(revoked.token))
    await api.store.revoke_token(record.id)
    expired = new_personal_access_token()
    await api.store.create_token(
        ada, "old", pat_hash(expired.token), expires_at=datetime.now(UTC) - timedelta(days=1)
    )
    for token in (revoked.token, expired.token) * 3:
        answer = await client.get(
            api.url + "/api/workspaces", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401, answer.text
    # ada's own budget is untouched (only the IP's was spent: 6 of 8).
    answer = await client.get(api.url + "/api/workspaces", headers=api.bearer("ada"))
    assert answer.status_code == 200, answer.text
    assert_counted(answer, PER_IP, PER_IP - 7)


# -- Redis: one budget across instances ---------------------------------------------------------


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the real Redis on 127.0.0.1:6379; the test fails if it is not running."""
    client = redis_client(REDIS_URL)
    await client.ping()
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix for one test; its keys (and only those) are deleted afterwards."""
    name = f"taskly-test:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in redis.scan_iter(match=name + "*")]
    if keys:
        await redis.delete(*keys)


@asynccontextmanager
async def instances(
    db: Path, keys: ServerKeys, limiters: Sequence[RateLimiter]
) -> AsyncIterator[list[str]]:
    """Run one app per limiter, each on its own connection to the same SQLite file, as
    `secure_app` builds them; yield their URLs."""
    async with AsyncExitStack() as stack:
        urls = []
        config = settings()
        for limiter in limiters:
            store = await stack.enter_async_context(SQLiteStore(db))
            app = create_app(
                config,
                store=store,
                authenticator=TokenAuthenticator(store, AccessTokens(keys.tokens)),
                tokens=keys.tokens,
                encryption=keys.encryption,
                limiter=limiter,
            )
            urls.append(await stack.enter_async_context(serve(app, config)))
        yield urls


@pytest.fixture
async def two_instances(tmp_path: Path, prefix: str) -> AsyncIterator[tuple[list[str], Api]]:
    db = tmp_path / "taskly.db"
    async with SQLiteStore(db) as store:
        board, users = await populate(store)
    keys = random_keys()
    limiters = [
        RedisRateLimiter(redis_client(REDIS_URL), prefix=prefix, owns_client=True) for _ in range(2)
    ]
    async with instances(db, keys, limiters) as urls, SQLiteStore(db) as store:
        yield urls, Api(urls[0], store, keys, board, users)


async def test_two_instances_on_one_redis_share_a_users_budget(
    two_instances: tuple[list[str], Api], client: httpx.AsyncClient, redis: Redis, prefix: str
) -> None:
    urls, api = two_instances
    ada = api.bearer("ada")
    for i in range(PER_USER):
        answer = await client.get(urls[i % 2] + "/api/workspaces", headers=ada)
        assert answer.status_code == 200, answer.text
        assert_counted(answer, PER_USER, PER_USER - 1 - i)

    for url in urls:
        body = assert_limited(await client.get(url + "/api/workspaces", headers=ada), PER_USER)
        assert "retry in" in body["detail"]
    assert await redis.zcard(f"{prefix}user:{api.users['ada']}") == PER_USER
    # The IP budget is shared too: 7 of 8 spent (the 2 refused by ada's budget counted).
    bob = api.bearer("bob")
    answer = await client.get(urls[1] + "/api/workspaces", headers=bob)
    assert_counted(answer, PER_IP, 0)
    for url in urls:
        assert_limited(await client.get(url + "/api/workspaces", headers=bob), PER_IP)
        assert_limited(await client.get(url + "/auth/session"), PER_IP)
    assert await redis.zcard(f"{prefix}ip:127.0.0.1") == PER_IP
    ttl = await redis.pttl(f"{prefix}ip:127.0.0.1")
    assert 0 < ttl <= 61_000


async def test_concurrent_requests_to_two_instances_never_exceed_the_budget(
    two_instances: tuple[list[str], Api], client: httpx.AsyncClient
) -> None:
    urls, api = two_instances
    ada = api.bearer("ada")
    answers = await asyncio.gather(
        *(client.get(urls[i % 2] + "/api/workspaces", headers=ada) for i in range(20))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * PER_USER + [429] * (20 - PER_USER)
    for answer in answers:
        if answer.status_code == 429:
            assert "retry-after" in answer.headers
            for name in SECURITY_HEADERS:
                assert name in answer.headers, name
