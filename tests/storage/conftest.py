"""Backends for the storage suite: one `store` fixture parametrized over every implementation.

SQLite runs on a real file in tmp_path. Postgres runs on the real server named by
TASKLY_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432): a template database
is migrated once per session and every test gets its own `CREATE DATABASE ... TEMPLATE` copy,
dropped afterwards. An unreachable server makes the Postgres tests fail, never skip.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from storage import InMemoryStore, PostgresStore, SQLiteStore, Store

PG_BASE_URL = os.environ.get("TASKLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def pg_url(dbname: str) -> str:
    """Return the test server URL pointing at database `dbname`."""
    parts = urlsplit(PG_BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def _admin(sql: str) -> None:
    with psycopg.connect(pg_url("postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.encode())


def create_pg_database(template: str = "template0") -> str:
    """Create a uniquely named database from `template`; return its name."""
    name = f"taskly_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop_pg_database(name: str) -> None:
    """Drop a test database, disconnecting anyone still on it."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _migrate(url: str) -> None:
    async with PostgresStore(url, migrate_on_open=True):
        pass


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database, created once per session."""
    name = create_pg_database()
    try:
        asyncio.run(_migrate(pg_url(name)))
        yield name
    finally:
        drop_pg_database(name)


@pytest.fixture
def pg_database(pg_template: str) -> Iterator[str]:
    """A fresh migrated database (a copy of the template) for one test; return its URL."""
    name = create_pg_database(template=pg_template)
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture
def empty_pg_database() -> Iterator[str]:
    """A fresh, empty (unmigrated) database for one test; return its URL."""
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


@dataclass
class Backend:
    """How to open Stores on one test database; every call opens a new instance on it."""

    kind: str
    make: Callable[..., Store]
    target: str  # the SQLite file path or the Postgres URL ("" for memory)


def _sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "data" / "taskly.db"
    path.parent.mkdir()

    def make(**options: Any) -> Store:
        return SQLiteStore(path, **options)

    return Backend("sqlite", make, str(path))


def _postgres_backend(url: str) -> Backend:
    def make(**options: Any) -> Store:
        return PostgresStore(url, **options)

    return Backend("postgres", make, url)


def _memory_backend() -> Backend:
    shared = InMemoryStore()

    def make(**options: Any) -> Store:
        # One instance stands for "the database": reopening it sees the same data.
        if "retention" in options:
            shared.retention = options["retention"]
        return shared

    return Backend("memory", make, "")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A real database backend (SQLite file or Postgres database)."""
    if request.param == "sqlite":
        return _sqlite_backend(tmp_path)
    return _postgres_backend(request.getfixturevalue("pg_database"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every Store implementation, the in-memory fake included."""
    if request.param == "sqlite":
        return _sqlite_backend(tmp_path)
    if request.param == "memory":
        return _memory_backend()
    return _postgres_backend(request.getfixturevalue("pg_database"))


def run_sql(backend: Backend, sql: str) -> None:
    """Run one statement on a real backend's database from outside any Store (as another
    process would), with foreign keys enforced as the stores enforce them."""
    if backend.kind == "sqlite":
        conn = sqlite3.connect(backend.target)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            with conn:
                conn.execute(sql)
        finally:
            conn.close()
    else:
        with psycopg.connect(backend.target, autocommit=True) as pg:
            pg.execute(sql.encode())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """An empty, never migrated real database (SQLite file or Postgres database)."""
    if request.param == "sqlite":
        path = tmp_path / "fresh.db"
        return Backend("sqlite", lambda **kw: SQLiteStore(path, **kw), str(path))
    url = request.getfixturevalue("empty_pg_database")
    return Backend("postgres", lambda **kw: PostgresStore(url, **kw), url)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """An open Store on a fresh database of the parametrized backend."""
    async with backend.make() as opened:
        yield opened


@pytest.fixture
async def db_store(db_backend: Backend) -> AsyncIterator[Store]:
    """An open Store on a fresh real database (SQLite or Postgres)."""
    async with db_backend.make() as opened:
        yield opened
