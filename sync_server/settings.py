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
DEFAULT_RATE_LIMIT_PER_USER = 100
DEFAULT_RATE_LIMIT_PER_IP = 1000
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_ACCESS_TOKEN_URL = "https://github.com/login/oauth/access_token"
GITHUB_API_URL = "https://api.github.com/"
# Settings whose values are secrets: repr shows only whether they are set.
SECRET_FIELDS = frozenset(
    {"secret_key", "encryption_key", "encryption_previous_keys", "github_client_secret"}
)


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
    # HTTP API requests allowed per minute, per signed-in user and per client IP.
    rate_limit_per_user: int = DEFAULT_RATE_LIMIT_PER_USER
    rate_limit_per_ip: int = DEFAULT_RATE_LIMIT_PER_IP
    # Base64url keys. Unset: generated once and kept in data_dir/secrets.json (mode 0600);
    # several instances behind one database must share them, so set both there.
    secret_key: str | None = None  # signs access tokens and the OAuth state cookie (>= 32 bytes)
    encryption_key: str | None = None  # AES-256-GCM for GitHub tokens at rest (32 bytes)
    encryption_previous_keys: tuple[str, ...] = ()  # still accepted for decryption (rotation)
    # The URL people reach Taskly at, for printed sign-in links; unset: the bound address.
    public_url: str | None = None
    # A GitHub OAuth app; without both id and secret, GitHub sign-in is off.
    github_client_id: str | None = None
    github_client_secret: str | None = None
    github_authorize_url: str = GITHUB_AUTHORIZE_URL
    github_access_token_url: str = GITHUB_ACCESS_TOKEN_URL
    github_api_url: str = GITHUB_API_URL
    # The callback URL registered with the GitHub app; unset: derived from each request.
    github_redirect_url: str | None = None

    def __repr__(self) -> str:
        fields = []
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name in SECRET_FIELDS and value:
                fields.append(f"{name}='***'")
            elif name in ("database_url", "redis_url") and value:
                fields.append(f"{name}={redact_url(value)!r}")
            else:
                fields.append(f"{name}={value!r}")
        return f"Settings({', '.join(fields)})"

    __str__ = __repr__

    @property
    def github_enabled(self) -> bool:
        """Whether a GitHub OAuth app is configured."""
        return bool(self.github_client_id and self.github_client_secret)

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


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = int(_number(env, name, default, integer=True))
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def _url(env: Mapping[str, str], name: str) -> str | None:
    """Read an optional http(s) URL setting."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    if scheme not in ("http", "https") or not sep or not rest:
        raise ValueError(f"{name} must be an http:// or https:// URL, not {raw!r}")
    return raw


def _redis_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("TASKLY_REDIS_URL", "").strip()
    if not raw:
        return None
    if raw.partition("://")[0] not in ("redis", "rediss", "unix") or "://" not in raw:
        raise ValueError(
            "TASKLY_REDIS_URL must be a redis://, rediss:// or unix:// URL, not "
            + repr(redact_url(raw))
        )
    return raw


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
        redis_url=_redis_url(env),
        rate_limit_per_user=_positive(
            env, "TASKLY_RATE_LIMIT_PER_USER", DEFAULT_RATE_LIMIT_PER_USER
        ),
        rate_limit_per_ip=_positive(env, "TASKLY_RATE_LIMIT_PER_IP", DEFAULT_RATE_LIMIT_PER_IP),
        secret_key=env.get("TASKLY_SECRET_KEY") or None,
        encryption_key=env.get("TASKLY_ENCRYPTION_KEY") or None,
        encryption_previous_keys=tuple(
            key.strip()
            for key in env.get("TASKLY_ENCRYPTION_PREVIOUS_KEYS", "").split(",")
            if key.strip()
        ),
        public_url=_url(env, "TASKLY_PUBLIC_URL"),
        github_client_id=env.get("TASKLY_GITHUB_CLIENT_ID") or None,
        github_client_secret=env.get("TASKLY_GITHUB_CLIENT_SECRET") or None,
        github_authorize_url=_url(env, "TASKLY_GITHUB_AUTHORIZE_URL") or GITHUB_AUTHORIZE_URL,
        github_access_token_url=_url(env, "TASKLY_GITHUB_ACCESS_TOKEN_URL")
        or GITHUB_ACCESS_TOKEN_URL,
        github_api_url=_url(env, "TASKLY_GITHUB_API_URL") or GITHUB_API_URL,
        github_redirect_url=_url(env, "TASKLY_GITHUB_REDIRECT_URL"),
    )
