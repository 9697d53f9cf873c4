"""Choosing the backend from configuration, once, at start-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storage._protocol import Store
from storage.postgres import PostgresStore
from storage.sqlite import SQLiteStore

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    *,
    database_url: str | None,
    data_dir: Path,
    retention: timedelta | None = None,
    migrate_on_open: bool = True,
) -> Store:
    """Return an unopened Store: Postgres for a postgres URL, else SQLite in `data_dir`.

    Use it as ``async with open_store(...) as store``; opening connects and migrates.
    The data directory is created for SQLite (it holds taskly.db and its -wal/-shm files).
    """
    if database_url and database_url.startswith(_POSTGRES_SCHEMES):
        return PostgresStore(database_url, retention=retention, migrate_on_open=migrate_on_open)
    if database_url:
        raise ValueError(f"unsupported database URL scheme: {database_url.split(':', 1)[0]!r}")
    return SQLiteStore.in_dir(data_dir, retention=retention, migrate_on_open=migrate_on_open)
