"""Rate limits: the in-process limiter, the Redis limiter (real Redis), the middleware."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from sync_server.access import (
    Decision,
    InProcessRateLimiter,
    RateLimiter,
    RateLimitMiddleware,
    RedisRateLimiter,
    rate_limiter,
)
from sync_server.access.ratelimit import redis_client
from sync_server.server import TasklyServer, bind_socket, display_url, uvicorn_config
from sync_server.settings import Settings, load_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- in-process -----------------------------------------------------------------------------------


async def test_allows_limit_hits_then_refuses_with_retry_after() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    answers = [await limiter.hit("k", 3, 60) for _ in range(3)]
    assert answers == [Decision(True, 2, 0), Decision(True, 1, 0), Decision(True, 0, 0)]
    clock.now = 20.5
    assert await limiter.hit("k", 3, 60) == Decision(False, 0, 40)  # 39.5 s, rounded up
    assert await limiter.hit("other", 3, 60) == Decision(True, 2, 0)


async def test_window_slides() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    for t in (0.0, 10.0, 20.0):
        clock.now = t
        assert (await limiter.hit("k", 3, 60)).allowed
    clock.now = 59.0
    assert await limiter.hit("k", 3, 60) == Decision(False, 0, 1)
    clock.now = 59.9
    assert await limiter.hit("k", 3, 60) == Decision(False, 0, 1)  # never 0 when refused
    clock.now = 60.0  # the hit at 0 left the window
    assert await limiter.hit("k", 3, 60) == Decision(True, 0, 0)
    assert await limiter.hit("k", 3, 60) == Decision(False, 0, 10)


async def test_refused_hits_do_not_count() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    assert (await limiter.hit("k", 1, 10)).allowed
    for t in range(1, 10):
        clock.now = t
        assert not (await limiter.hit("k", 1, 10)).allowed
    clock.now = 10
    assert (await limiter.hit("k", 1, 10)).allowed


async def test_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock, max_keys=10)
    for i in range(1000):
        await limiter.hit(f"ip:{i}", 5, 60)
        assert len(limiter) <= 10
    # the most recent key survived eviction with its budget spent once
    assert await limiter.hit("ip:999", 5, 60) == Decision(True, 3, 0)


async def test_idle_keys_expire() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    for i in range(50):
        await limiter.hit(f"ip:{i}", 5, 60)
    assert len(limiter) == 50
    clock.now = 61
    await limiter.hit("fresh", 5, 60)
    assert len(limiter) == 1


async def test_bad_arguments_are_refused() -> None:
    limiter = InProcessRateLimiter()
    with pytest.raises(ValueError):
        await limiter.hit("k", 0, 60)
    with pytest.raises(ValueError):
        await limiter.hit("k", 1, 0)
    with pytest.raises(ValueError):
        InProcessRateLimiter(max_keys=0)


timelines = st.lists(
    st.tuples(st.integers(0, 7), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=120
)


@given(timeline=timelines, limit=st.integers(1, 6), window=st.integers(1, 20))
async def test_never_more_than_limit_in_any_window(
    timeline: list[tuple[int, str]], limit: int, window: int
) -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    allowed: dict[str, list[float]] = {}
    for gap, key in timeline:
        clock.now += gap
        now = clock.now
        earlier = [t for t in allowed.get(key, []) if t > now - window]
        decision = await limiter.hit(key, limit, window)
        # exactly the sliding-log model: refused only when the window is full
        assert decision.allowed == (len(earlier) < limit)
        if decision.allowed:
            allowed.setdefault(key, []).append(now)
            assert decision.remaining == limit - len(earlier) - 1
        else:
            wait = min(earlier) + window - now
            assert decision.retry_after_seconds == max(1, wait)
    for times in allowed.values():
        for start in times:
            assert sum(1 for t in times if start <= t < start + window) <= limit


# -- Redis ----------------------------------------------------------------------------------------


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the real Redis on 127.0.0.1:6379; the test fails if it is not running."""
    client = redis_client(REDIS_URL)
    await client.ping()  # raises (and fails the test) when Redis is down
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix for one test; its keys are deleted afterwards."""
    name = f"taskly-test:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in redis.scan_iter(match=name + "*")]
    if keys:
        await redis.delete(*keys)


async def test_redis_allows_limit_hits_then_refuses(redis: Redis, prefix: str) -> None:
    limiter = RedisRateLimiter(redis, prefix=prefix)
    answers = [await limiter.hit("k", 3, 60) for _ in range(3)]
    assert answers == [Decision(True, 2, 0), Decision(True, 1, 0), Decision(True, 0, 0)]
    refused = await limiter.hit("k", 3, 60)
    assert not refused.allowed and refused.remaining == 0
    assert 59 <= refused.retry_after_seconds <= 60
    assert await limiter.hit("other", 3, 60) == Decision(True, 2, 0)


async def test_redis_window_slides_and_keys_expire(redis: Redis, prefix: str) -> None:
    limiter = RedisRateLimiter(redis, prefix=prefix)
    assert (await limiter.hit("k", 2, 0.4)).allowed
    assert (await limiter.hit("k", 2, 0.4)).allowed
    assert await limiter.hit("k", 2, 0.4) == Decision(False, 0, 1)
    ttl = await redis.pttl(prefix + "k")
    assert 0 < ttl <= 401
    await asyncio.sleep(0.45)
    assert (await limiter.hit("k", 2, 0.4)).allowed
    await asyncio.sleep(0.45)
    assert not await redis.exists(prefix + "k")


async def test_two_limiters_share_one_budget(redis: Redis, prefix: str) -> None:
    other = redis_client(REDIS_URL)
    try:
        first = RedisRateLimiter(redis, prefix=prefix)
        second = RedisRateLimiter(other, prefix=prefix)
        answers = [await (first if i % 2 else second).hit("user:1", 5, 60) for i in range(8)]
        assert [a.allowed for a in answers] == [True] * 5 + [False] * 3
    finally:
        await other.aclose()


async def test_concurrent_hits_never_exceed_the_limit(redis: Redis, prefix: str) -> None:
    other = redis_client(REDIS_URL)
    try:
        limiters = [RedisRateLimiter(redis, prefix=prefix), RedisRateLimiter(other, prefix=prefix)]
        answers = await asyncio.gather(
            *(limiters[i % 2].hit("ip:10.0.0.1", 50, 60) for i in range(300))
        )
        assert sum(a.allowed for a in answers) == 50
        assert sorted(a.remaining for a in answers if a.allowed) == list(range(50))
        assert await redis.zcard(prefix + "ip:10.0.0.1") == 50
    finally:
        await other.aclose()


async def test_factory_picks_redis_only_when_configured() -> None:
    assert isinstance(rate_limiter(Settings()), InProcessRateLimiter)
    limiter = rate_limiter(load_settings({"TASKLY_REDIS_URL": REDIS_URL}))
    try:
        assert isinstance(limiter, RedisRateLimiter)
        decision = await limiter.hit(f"taskly-test:{uuid.uuid4().hex}", 1, 1)
        assert decision == Decision(True, 0, 0)
    finally:
        await limiter.aclose()
    assert load_settings({}).redis_url is None


# -- the middleware -------------------------------------------------------------------------------


def user_header(scope: Scope) -> str | None:
    """The test's user: the `x-user` request header."""
    for name, value in scope["headers"]:
        if name == b"x-user":
            return str(value.decode())
    return None


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def tiny_app(limiter: RateLimiter, **options: Any) -> Starlette:
    app = Starlette(routes=[Route("/api/things", ok), Route("/livez", ok), Route("/apis", ok)])
    app.add_middleware(RateLimitMiddleware, limiter=limiter, user_of=user_header, **options)
    return app


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free port; yield its URL."""
    sock = bind_socket("127.0.0.1", 0)
    server = TasklyServer(uvicorn_config(app, Settings(port=0)))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        yield display_url(sock, "127.0.0.1")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def test_the_101st_request_of_a_user_gets_429() -> None:
    async with (
        serve(tiny_app(InProcessRateLimiter())) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        for i in range(100):
            answer = await client.get("/api/things", headers={"x-user": "ada"})
            assert answer.status_code == 200
            assert answer.headers["ratelimit-limit"] == "100"
            assert answer.headers["ratelimit-remaining"] == str(99 - i)
        refused = await client.get("/api/things", headers={"x-user": "ada"})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        body = refused.json()
        assert body["status"] == 429 and body["title"] == "Too Many Requests"
        assert (await client.get("/api/things", headers={"x-user": "bob"})).status_code == 200
        for path in ("/livez", "/apis"):
            answer = await client.get(path, headers={"x-user": "ada"})
            assert answer.status_code == 200
            assert "ratelimit-limit" not in answer.headers


async def test_the_ip_limit_holds_whoever_the_user_is() -> None:
    app = tiny_app(InProcessRateLimiter(), per_user=100, per_ip=5)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        for i in range(5):
            answer = await client.get("/api/things", headers={"x-user": f"user{i}"})
            assert answer.status_code == 200
        refused = await client.get("/api/things", headers={"x-user": "fresh"})
        assert refused.status_code == 429
        assert refused.headers["ratelimit-limit"] == "5"
        assert "retry-after" in refused.headers


async def test_ips_have_separate_budgets() -> None:
    app = tiny_app(InProcessRateLimiter(), per_ip=2)

    def client(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 1234))
        return httpx.AsyncClient(transport=transport, base_url="http://taskly")

    async with client("10.0.0.1") as one, client("10.0.0.2") as two:
        assert [(await one.get("/api/things")).status_code for _ in range(3)] == [200, 200, 429]
        assert (await two.get("/api/things")).status_code == 200
        spoofed = await one.get("/api/things", headers={"x-forwarded-for": "10.0.0.3"})
        assert spoofed.status_code == 429  # the header is not trusted


async def test_a_failing_limiter_lets_requests_pass() -> None:
    class Broken:
        async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
            raise ConnectionError("redis is down")

        async def aclose(self) -> None:
            pass

    transport = httpx.ASGITransport(app=tiny_app(Broken()))
    async with httpx.AsyncClient(transport=transport, base_url="http://taskly") as client:
        assert (await client.get("/api/things")).status_code == 200


async def test_websockets_pass_through_untouched() -> None:
    seen: list[str] = []

    class Refusing:
        async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
            raise AssertionError("a WebSocket was counted")

        async def aclose(self) -> None:
            pass

    async def inner(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = RateLimitMiddleware(inner, Refusing())
    for kind in ("websocket", "lifespan"):
        await middleware({"type": kind, "path": "/api/sync"}, _no_receive, _no_send)
    assert seen == ["websocket", "lifespan"]


async def _no_receive() -> Any:
    raise AssertionError("unexpected receive")


async def _no_send(message: Any) -> None:
    raise AssertionError("unexpected send")
