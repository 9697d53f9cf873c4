"""Versioned SQL migrations: files shipped as package data, applied in order, recorded.

Files live in storage/sql/migrations/<dialect>/NNNN_name.sql; the version is the file stem.
Each backend applies the pending ones, each in its own transaction that first takes a lock
(Postgres: pg_advisory_xact_lock; SQLite: BEGIN IMMEDIATE) and re-reads schema_migrations, so
concurrent migrators apply each version exactly once and a second run is a no-op.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal

from storage.errors import MigrationError

Dialect = Literal["sqlite", "postgres"]

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

#: Bookkeeping table, created by the runner (under its lock) before anything else.
CREATE_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version TEXT NOT NULL PRIMARY KEY,"
    " applied_at {time_type} NOT NULL)"
)

#: Arbitrary constant key of the Postgres advisory lock that serializes migrators.
PG_LOCK_KEY: Final = 0x7A5C1_0001


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: str
    sql: str


def load_migrations(dialect: Dialect) -> list[Migration]:
    """Return the dialect's migrations sorted by version."""
    folder = resources.files("storage").joinpath("sql", "migrations", dialect)
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.is_file() or not entry.name.endswith(".sql"):
            continue
        if _NAME.match(entry.name) is None:
            raise MigrationError(f"badly named migration file {entry.name!r}")
        found.append(Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    numbers = [m.version[:4] for m in found]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"duplicate migration numbers in {dialect}: {numbers}")
    return found


def pending(migrations: list[Migration], applied: set[str]) -> list[Migration]:
    """Return the migrations not applied yet; refuse a database migrated by newer code."""
    known = {m.version for m in migrations}
    unknown = sorted(applied - known)
    if unknown:
        raise MigrationError(f"database has migrations this code does not know: {unknown}")
    return [m for m in migrations if m.version not in applied]


def split_sqlite_script(sql: str) -> list[str]:
    """Split a script into statements (executescript would COMMIT our open transaction)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = _strip_comments(buffer)
            if statement:
                statements.append(statement)
            buffer = ""
    if _strip_comments(buffer):
        raise MigrationError(f"unterminated statement at the end of a migration: {buffer!r}")
    return statements


def _strip_comments(sql: str) -> str:
    """Return `sql` without whole-line `--` comments, stripped."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return "\n".join(lines).strip()
