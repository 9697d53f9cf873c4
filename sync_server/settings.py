"""Taskly's configuration: `TASKLY_*` environment variables read once into a typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from storage import redact_url

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = Path("taskly-data")
DEFAULT_IDLE_UNLOAD_SECONDS = 60.0
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
DEFAULT_MEMORY_BUDGET_MB = 512.0
DEFAULT_LOG_LEVEL = "info"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `taskly` needs to start; the embedded default needs none of it set."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    # postgresql://… selects Postgres; unset means SQLite under data_dir (the embedded default).
    database_url: str | None = None
    # A board with no connection is compacted and unloaded after this many seconds.
    idle_unload_seconds: float = DEFAULT_IDLE_UNLOAD_SECONDS
    # The largest WebSocket message accepted; larger ones close the connection with 4413.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # Estimated memory of loaded boards above which idle boards are unloaded, LRU first.
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB
    log_level: str = DEFAULT_LOG_LEVEL
    # Browser origins (scheme://host[:port]) allowed cross-origin access; empty means none.
    cors_origins: tuple[str, ...] = ()
    # redis://… makes rate limits shared across server processes; unset means in-process.
    redis_url: str | None = None

    @property
    def database_label(self) -> str:
        """Where the store lives, for humans, without any password."""
        if self.database_url is None:
            return f"SQLite at {self.data_dir / 'taskly.db'}"
        return "Postgres at " + redact_url(self.database_url)

    @property
    def memory_budget_bytes(self) -> int:
        """The memory budget in bytes."""
        return int(self.memory_budget_mb * 1024 * 1024)


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {raw!r}")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    """Parse TASKLY_CORS_ORIGINS: comma-separated `scheme://host[:port]`, no wildcard, no path."""
    origins = []
    for item in raw.split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        scheme, sep, rest = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest or "*" in rest:
            raise ValueError(
                f"TASKLY_CORS_ORIGINS entries must look like https://host[:port], not {item!r}"
            )
        origins.append(origin)
    return tuple(origins)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    log_level = env.get("TASKLY_LOG_LEVEL", DEFAULT_LOG_LEVEL).lower() or DEFAULT_LOG_LEVEL
    if log_level not in LOG_LEVELS:
        raise ValueError(f"TASKLY_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    max_bytes = int(
        _number(env, "TASKLY_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES, integer=True)
    )
    if max_bytes < 1024:
        raise ValueError("TASKLY_MAX_MESSAGE_BYTES must be at least 1024")
    return Settings(
        host=env.get("TASKLY_HOST", DEFAULT_HOST),
        port=int(_number(env, "TASKLY_PORT", DEFAULT_PORT, integer=True)),
        data_dir=Path(env.get("TASKLY_DATA_DIR", str(DEFAULT_DATA_DIR))),
        database_url=env.get("TASKLY_DATABASE_URL") or None,
        idle_unload_seconds=_number(
            env, "TASKLY_IDLE_UNLOAD_SECONDS", DEFAULT_IDLE_UNLOAD_SECONDS, integer=False
        ),
        max_message_bytes=max_bytes,
        memory_budget_mb=_number(
            env, "TASKLY_MEMORY_BUDGET_MB", DEFAULT_MEMORY_BUDGET_MB, integer=False
        ),
        log_level=log_level,
        cors_origins=_origins(env.get("TASKLY_CORS_ORIGINS", "")),
        redis_url=env.get("TASKLY_REDIS_URL") or None,
    )
