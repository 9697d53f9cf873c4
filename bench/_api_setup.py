"""Where api_bench.py's Taskly runs: a fresh SQLite data directory or a fresh Postgres database.

A `Backend` is one throw-away store: the `taskly` CLI and `taskly serve` are pointed at it
through the environment (`TASKLY_DATABASE_URL` for Postgres, `--data-dir` always: it also
holds the generated keys), the benchmark's store code opens it with `open_store`, and `Probe`
reads its tables from a separate connection while the server runs. A Postgres database is
created on TASKLY_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432) and
dropped when the `backend()` block ends, whatever happened.

The server runs with the API rate limits raised (TASKLY_RATE_LIMIT_PER_USER and
TASKLY_RATE_LIMIT_PER_IP = RATE_LIMIT): by default one user may make 100 requests a minute,
and 50 clients sharing one token would measure 429s instead of reads.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import _servers
import psycopg
from _servers import TASKLY, Server, start_server

from storage import Store, open_store

SQLITE, POSTGRES = "sqlite", "postgres"
BACKENDS = (SQLITE, POSTGRES)
PG_BASE_URL = os.environ.get("TASKLY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
#: Requests per minute allowed per user and per IP during the benchmark (defaults: 100, 1,000).
RATE_LIMIT = 1_000_000_000
BENCH_USER = "bench"


def _pg_url(dbname: str) -> str:
    parts = urlsplit(PG_BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


@dataclass
class Backend:
    """One fresh store: SQLite in `data_dir`, or the Postgres database at `database_url`."""

    kind: str
    data_dir: Path
    database_url: str | None = None

    def env(self) -> dict[str, str]:
        """The environment of every `taskly` process run against this store."""
        return {
            # Empty selects SQLite even if the caller's shell exports a Postgres URL.
            "TASKLY_DATABASE_URL": self.database_url or "",
            "TASKLY_REDIS_URL": "",  # in-process rate limits
            "TASKLY_RATE_LIMIT_PER_USER": str(RATE_LIMIT),
            "TASKLY_RATE_LIMIT_PER_IP": str(RATE_LIMIT),
            "TASKLY_LOG_LEVEL": "warning",
        }

    def cli(self, *args: str) -> str:
        """Run `taskly ARGS --data-dir DATA_DIR` on this store; return stdout; raise if it fails."""
        done = subprocess.run(
            [*_servers.TASKLY_CMD, *args, "--data-dir", str(self.data_dir)],
            cwd=_servers.ROOT,
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"taskly {' '.join(args[:2])} failed ({done.returncode}): {done.stderr}"
            )
        return done.stdout

    def provision_token(self, workspace: str) -> str:
        """`taskly user create bench --workspace W --role owner`, then a new PAT of theirs."""
        self.cli("user", "create", BENCH_USER, "--workspace", workspace, "--role", "owner")
        return self.cli("token", "create", "--user", BENCH_USER).strip()

    def open_store(self) -> Store:
        """An unopened Store on this backend (`async with backend.open_store() as store`)."""
        return open_store(database_url=self.database_url, data_dir=self.data_dir)

    def start(self, log_dir: Path, token: str, cpus: set[int] | None) -> Server:
        """`taskly serve --port 0` on this store, with the rate limits raised."""
        return start_server(
            TASKLY,
            log_dir,
            cpus=cpus,
            data_dir=self.data_dir,
            env=self.env(),
            token=token,
            timeout=120,
        )

    def probe(self) -> Probe:
        """A separate read connection to this store's tables (see Probe)."""
        if self.database_url is None:
            return Probe(SQLITE, sqlite3.connect(self.data_dir / "taskly.db", isolation_level=None))
        return Probe(POSTGRES, psycopg.connect(self.database_url, autocommit=True))


@contextmanager
def backend(kind: str, work_dir: Path, name: str) -> Iterator[Backend]:
    """A fresh store of `kind` for one phase; a Postgres database is dropped afterwards."""
    data_dir = work_dir / f"{kind}-{name}"
    data_dir.mkdir(parents=True)
    if kind == SQLITE:
        yield Backend(kind, data_dir)
        return
    dbname = f"taskly_api_bench_{name}_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(_pg_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield Backend(kind, data_dir, _pg_url(dbname))
    finally:
        with psycopg.connect(_pg_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _micros(value: Any) -> int:
    """A stored time as Unix microseconds (SQLite keeps integers, Postgres timestamptz)."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1_000_000)
    return int(value)


class Probe:
    """Reads the store's tables from its own connection while `taskly serve` writes them.

    Each statement runs in autocommit, so every call sees the latest committed state: the
    watermark moves in the transaction that writes the projected rows, so `watermark(b) >= s`
    means the rows of update `s` are visible to any reader.
    """

    def __init__(self, kind: str, conn: Any) -> None:
        self.kind = kind
        self.conn = conn
        self.p = "?" if kind == SQLITE else "%s"
        if kind == SQLITE:
            conn.execute("PRAGMA query_only = 1")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return list(self.conn.execute(sql.replace("?", self.p), params).fetchall())

    def watermark(self, board_id: str) -> int:
        rows = self._rows(
            "SELECT projected_seq FROM projection_watermarks WHERE board_id = ?", (board_id,)
        )
        return int(rows[0][0]) if rows else 0

    def heads_and_watermarks(self) -> dict[str, tuple[int, int]]:
        """{board: (last_seq, projected_seq)} for every board."""
        rows = self._rows(
            "SELECT b.id, b.last_seq, COALESCE(w.projected_seq, 0) FROM boards b"
            " LEFT JOIN projection_watermarks w ON w.board_id = b.id"
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def head(self, board_id: str) -> int:
        return int(self._rows("SELECT last_seq FROM boards WHERE id = ?", (board_id,))[0][0])

    def log(self, board_id: str, after_seq: int = 0) -> list[tuple[int, int, bytes]]:
        """(seq, created_at in Unix µs, update bytes) of the board's log rows after `after_seq`."""
        rows = self._rows(
            "SELECT seq, created_at, data FROM board_updates WHERE board_id = ? AND seq > ?"
            " ORDER BY seq",
            (board_id, after_seq),
        )
        return [(int(r[0]), _micros(r[1]), bytes(r[2])) for r in rows]

    def positions(self, board_id: str) -> dict[str, tuple[str | None, str]]:
        """{card id: (column_id, rank)} as the cards table holds them."""
        rows = self._rows("SELECT id, column_id, rank FROM cards WHERE board_id = ?", (board_id,))
        return {r[0]: (r[1], r[2]) for r in rows}

    def backend_pids(self) -> list[int]:
        """Postgres: the server processes serving this database (this connection's too)."""
        if self.kind != POSTGRES:
            return []
        rows = self._rows("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [int(r[0]) for r in rows]

    def close(self) -> None:
        self.conn.close()
