"""Rate limits: sliding-window limiters (in-process or Redis) and an ASGI middleware using them.

Both limiters keep an exact sliding log: a hit is allowed while fewer than `limit` hits were
allowed in the last `window_seconds`, so no window of that length ever holds more than `limit`
allowed hits. Refused hits are not counted.

The client IP is the ASGI scope's `client` host. Behind a reverse proxy that is the proxy's
address: run uvicorn with `--proxy-headers --forwarded-allow-ips=<proxy address>` so it puts the
real client from a *trusted* X-Forwarded-For into the scope. The header itself is never read
here: any client can send it.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec
from redis.asyncio import BlockingConnectionPool, Redis
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from sync_server.settings import Settings

log = logging.getLogger("taskly.ratelimit")

DEFAULT_MAX_KEYS = 100_000
REDIS_PREFIX = "taskly:ratelimit:"
REDIS_MAX_CONNECTIONS = 50
REDIS_POOL_TIMEOUT_SECONDS = 5.0


class Decision(msgspec.Struct, frozen=True):
    """The answer to one hit: allowed or not, hits left, seconds until one more is allowed."""

    allowed: bool
    remaining: int
    retry_after_seconds: int


class RateLimiter(Protocol):
    """Counts hits per key in a sliding window."""

    async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
        """Record a hit on `key` if fewer than `limit` were allowed in the window; say which."""
        ...

    async def aclose(self) -> None:
        """Release connections, if any."""
        ...


def _check(limit: int, window_seconds: float) -> None:
    if limit < 1 or not window_seconds > 0:
        raise ValueError("limit must be at least 1 and window_seconds positive")


def _retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class InProcessRateLimiter:
    """A sliding-log limiter in this process's memory (one event loop; not thread-safe).

    Memory is bounded: keys with no hit inside their window are dropped as time passes, and past
    `max_keys` keys the least recently used one is evicted (its budget starts afresh).
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        # key -> (window, times of allowed hits, oldest first); least recently used first.
        self._logs: OrderedDict[str, tuple[float, deque[float]]] = OrderedDict()

    def __len__(self) -> int:
        """The number of keys held."""
        return len(self._logs)

    async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
        """Record a hit on `key` if fewer than `limit` were allowed in the window; say which."""
        _check(limit, window_seconds)
        now = self._clock()
        self._expire(now)
        entry = self._logs.pop(key, None)
        times = entry[1] if entry is not None else deque()
        while times and times[0] <= now - window_seconds:
            times.popleft()
        while len(times) > limit:  # the limit for this key was lowered
            times.popleft()
        if len(times) < limit:
            times.append(now)
            decision = Decision(True, limit - len(times), 0)
        else:
            decision = Decision(False, 0, _retry_after(times[0] + window_seconds - now))
        self._logs[key] = (window_seconds, times)
        while len(self._logs) > self._max_keys:
            self._logs.popitem(last=False)
        return decision

    async def aclose(self) -> None:
        """Nothing to release."""

    def _expire(self, now: float) -> None:
        """Drop least recently used keys whose newest allowed hit left their window."""
        while self._logs:
            key, (window, times) = next(iter(self._logs.items()))
            if times and times[-1] > now - window:
                return
            del self._logs[key]


# KEYS[1] the log (a sorted set scored by microseconds); ARGV: limit, window in microseconds, a
# unique member. Redis's own clock, so processes with skewed clocks share one timeline.
_SLIDING_LOG = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window / 1000) + 1)
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now}
"""


class RedisRateLimiter:
    """A sliding-log limiter in Redis: one atomic Lua script per hit, keys expire with the window.

    Every server process using the same Redis and `prefix` shares one budget per key.
    """

    def __init__(
        self, redis: Redis, *, prefix: str = REDIS_PREFIX, owns_client: bool = False
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._owns_client = owns_client
        self._script = redis.register_script(_SLIDING_LOG)

    async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
        """Record a hit on `key` if fewer than `limit` were allowed in the window; say which."""
        _check(limit, window_seconds)
        window_us = max(1, round(window_seconds * 1_000_000))
        member = os.urandom(12).hex()
        allowed, remaining, wait_us = await self._script(
            keys=[self._prefix + key], args=[limit, window_us, member]
        )
        if allowed:
            return Decision(True, int(remaining), 0)
        return Decision(False, 0, _retry_after(int(wait_us) / 1_000_000))

    async def aclose(self) -> None:
        """Close the Redis client if this limiter created it."""
        if self._owns_client:
            await self._redis.aclose()


def redis_client(url: str) -> Redis:
    """Return a client whose requests wait for a free pooled connection instead of failing."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=REDIS_MAX_CONNECTIONS, timeout=REDIS_POOL_TIMEOUT_SECONDS
    )
    return Redis.from_pool(pool)


def rate_limiter(settings: Settings) -> RateLimiter:
    """Return the Redis limiter when TASKLY_REDIS_URL is set, else the in-process one."""
    if settings.redis_url:
        return RedisRateLimiter(redis_client(settings.redis_url), owns_client=True)
    return InProcessRateLimiter()


def no_user(scope: Scope) -> str | None:
    """Treat every request as anonymous (only the per-IP limit applies)."""
    return None


class RateLimitMiddleware:
    """Limit HTTP requests under `path_prefix` (one or several): `per_user` per user (as
    `user_of` names them; it may be async) and `per_ip` per client IP.

    Answers 429 problem JSON with `Retry-After`; allowed responses get `RateLimit-Limit` and
    `RateLimit-Remaining` (the tighter budget). Other paths and WebSockets pass through. If the
    limiter fails (Redis down), requests pass and the failure is logged.
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        *,
        per_user: int = 100,
        per_ip: int = 1000,
        window: float = 60,
        path_prefix: str | Sequence[str] = "/api",
        user_of: Callable[[Scope], str | None | Awaitable[str | None]] = no_user,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.per_user = per_user
        self.per_ip = per_ip
        self.window = window
        prefixes = (path_prefix,) if isinstance(path_prefix, str) else tuple(path_prefix)
        self.prefixes = tuple(prefix.rstrip("/") for prefix in prefixes)
        self.user_of = user_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check both budgets, then answer 429 or call the app."""
        if scope["type"] != "http" or not self._applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            decision, limit = await self._decide(scope)
        except Exception as exc:
            log.warning("rate limiter failed, letting the request pass: %r", exc)
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            await self._refuse(decision, limit)(scope, receive, send)
            return
        extra = [
            (b"ratelimit-limit", str(limit).encode()),
            (b"ratelimit-remaining", str(decision.remaining).encode()),
        ]

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _applies(self, path: str) -> bool:
        return any(
            not prefix or path == prefix or path.startswith(prefix + "/")
            for prefix in self.prefixes
        )

    async def _decide(self, scope: Scope) -> tuple[Decision, int]:
        """Hit the IP budget, then (if allowed and known) the user's; return the tighter."""
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        decision = await self.limiter.hit(f"ip:{ip}", self.per_ip, self.window)
        limit = self.per_ip
        found = self.user_of(scope)
        user = await found if inspect.isawaitable(found) else found
        if decision.allowed and user is not None:
            by_user = await self.limiter.hit(f"user:{user}", self.per_user, self.window)
            if not by_user.allowed or by_user.remaining < decision.remaining:
                decision, limit = by_user, self.per_user
        return decision, limit

    def _refuse(self, decision: Decision, limit: int) -> JSONResponse:
        """The RFC 7807 429 answer."""
        seconds = decision.retry_after_seconds
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Too Many Requests",
                "status": 429,
                "detail": f"more than {limit} requests in {self.window:g} seconds; "
                f"retry in {seconds} seconds",
            },
            status_code=429,
            media_type="application/problem+json",
            headers={
                "Retry-After": str(seconds),
                "RateLimit-Limit": str(limit),
                "RateLimit-Remaining": "0",
            },
        )
