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


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `taskly` needs to start; the embedded default needs none of it set."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    # postgresql://… selects Postgres; unset means SQLite under data_dir (the embedded default).
    database_url: str | None = None

    @property
    def database_label(self) -> str:
        """Where the store lives, for humans, without any password."""
        if self.database_url is None:
            return f"SQLite at {self.data_dir / 'taskly.db'}"
        return "Postgres at " + redact_url(self.database_url)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    try:
        port = int(env.get("TASKLY_PORT", DEFAULT_PORT))
    except ValueError:
        raise ValueError(f"TASKLY_PORT must be a number, not {env['TASKLY_PORT']!r}") from None
    return Settings(
        host=env.get("TASKLY_HOST", DEFAULT_HOST),
        port=port,
        data_dir=Path(env.get("TASKLY_DATA_DIR", str(DEFAULT_DATA_DIR))),
        database_url=env.get("TASKLY_DATABASE_URL") or None,
    )
