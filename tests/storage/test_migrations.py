"""Migrations: applied in order, recorded, idempotent, safe under concurrent migrators, and the
resulting schema matches the checked-in snapshot (drift test) on both databases.

Regenerate the snapshots after adding a migration with
    TASKLY_UPDATE_SCHEMA_SNAPSHOTS=1 .venv/bin/pytest tests/storage/test_migrations.py
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import psycopg
import pytest

from storage import MigrationError, PostgresStore, SQLiteStore, Store
from storage._migrations import load_migrations, split_sqlite_script
from tests.storage.conftest import Backend

SNAPSHOTS = Path(__file__).parent / "schema"

# Every table and column later issues rely on (the same names on both databases).
EXPECTED: dict[str, set[str]] = {
    "schema_migrations": {"version", "applied_at"},
    "workspaces": {"id", "name", "created_at"},
    "boards": {"id", "workspace_id", "name", "card_prefix", "created_at", "archived_at",
               "last_seq", "next_card_number", "repo", "schema_version", "document_id",
               "document_workspace_id"},
    "board_updates": {"board_id", "seq", "data", "created_at", "origin_kind", "origin_actor"},
    "board_snapshots": {"board_id", "state", "up_to_seq", "created_at"},
    "board_checkpoints": {"board_id", "as_of", "up_to_seq", "state"},
    "board_columns": {"board_id", "id", "name", "rank", "role", "wip_limit", "position"},
    "cards": {"board_id", "id", "column_id", "raw_column_id", "rank", "number", "key", "title",
              "description", "priority", "points", "due", "labels", "assignees", "sprint_id",
              "created_by", "created_at", "archived", "git_branch", "git", "fingerprint",
              "updated_at"},
    "labels": {"board_id", "id", "name", "color", "position"},
    "card_labels": {"board_id", "card_id", "label_id"},
    "card_assignees": {"board_id", "card_id", "user_id"},
    "sprints": {"board_id", "id", "name", "start_date", "end_date", "goal", "capacity",
                "position"},
    "comments": {"board_id", "card_id", "position", "id", "author", "body", "created_at"},
    "card_pull_requests": {"board_id", "card_id", "repo", "number"},
    "card_activity": {"board_id", "card_id", "seq", "at", "origin_kind", "origin_actor", "field",
                      "old", "new"},
    "projection_watermarks": {"board_id", "projected_seq", "updated_at"},
    "users": {"id", "login", "login_key", "name", "email", "github_id", "github_login",
              "github_token_encrypted", "is_local", "created_at", "updated_at"},
    "access_tokens": {"id", "user_id", "name", "token_hash", "created_at", "expires_at",
                      "revoked_at", "last_used_at"},
    "refresh_tokens": {"id", "family_id", "user_id", "token_hash", "created_at", "expires_at",
                       "used_at", "revoked_at"},
    "workspace_members": {"workspace_id", "user_id", "role", "added_at"},
    "access_epoch": {"id", "epoch"},
}  # fmt: skip

# What each database adds for full-text search: SQLite an FTS5 table over cards (plus the
# shadow tables FTS5 keeps its index in) addressed by an explicit rowid, Postgres a generated
# tsvector column.
FTS5_SHADOWS = ("cards_fts_config", "cards_fts_data", "cards_fts_docsize", "cards_fts_idx")
DIALECT_EXTRAS: dict[str, dict[str, set[str]]] = {
    "sqlite": {"cards": {"row_id"}, "cards_fts": {"title", "description", "cards_fts", "rank"}},
    "postgres": {"cards": {"search"}},
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """An empty, never migrated database."""
    if request.param == "sqlite":
        path = tmp_path / "fresh.db"
        return Backend("sqlite", lambda **kw: SQLiteStore(path, **kw), str(path))
    url = request.getfixturevalue("empty_pg_database")
    return Backend("postgres", lambda **kw: PostgresStore(url, **kw), url)


def dump_schema(backend: Backend) -> dict[str, list[str]]:
    """Describe every table: columns (type, null, pk), then indexes, constraints, triggers."""
    if backend.kind == "sqlite":
        return _dump_sqlite(backend.target)
    return _dump_postgres(backend.target)


def _dump_sqlite(path: str) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name")]  # fmt: skip
        schema: dict[str, list[str]] = {}
        for table in tables:
            lines = [
                f"column {name} {ctype} {'NOT NULL' if notnull else 'NULL'} pk={pk}"
                f" default={default}"
                for _, name, ctype, notnull, default, pk, _hidden in conn.execute(
                    f"PRAGMA table_xinfo({table})"
                )
            ]
            lines += sorted(
                f"index {sql}"
                for (sql,) in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
                    " AND sql IS NOT NULL",
                    (table,),
                )
            )
            fks: dict[int, list[tuple[str, str, str, str]]] = {}
            for fk_id, _seq, ref, col, ref_col, _upd, on_delete, _m in conn.execute(
                f"PRAGMA foreign_key_list({table})"
            ):
                fks.setdefault(fk_id, []).append((col, ref, ref_col, on_delete))
            lines += sorted(
                f"fk ({', '.join(c[0] for c in cols)}) -> {cols[0][1]}"
                f" ({', '.join(str(c[2]) for c in cols)}) on delete {cols[0][3]}"
                for cols in fks.values()
            )
            lines += sorted(
                f"trigger {' '.join(sql.split())}"
                for (sql,) in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                    (table,),
                )
            )
            schema[table] = lines
        return schema
    finally:
        conn.close()


def _dump_postgres(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        schema: dict[str, list[str]] = {}
        for table, column, dtype, nullable, default, collation, generated in conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default,"
            " collation_name, generation_expression"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY table_name, ordinal_position"
        ):
            null = "NULL" if nullable == "YES" else "NOT NULL"
            line = f"column {column} {dtype} {null} default={default}"
            # Explicit collations and generated columns only (the rest use the defaults).
            line += f" collate={collation}" if collation else ""
            line += f" generated={generated}" if generated else ""
            schema.setdefault(table, []).append(line)
        for table, definition in conn.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " ORDER BY tablename, indexname"
        ):
            schema[table].append(f"index {definition}")
        for table, name, definition in conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
            " ORDER BY 1, 2"
        ):
            schema[table].append(f"constraint {name} {definition}")
        for table, definition in conn.execute(
            "SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE NOT tgisinternal ORDER BY 1, tgname"
        ):
            schema[table].append(f"trigger {definition}")
        return schema


def _render(schema: dict[str, list[str]]) -> str:
    return "".join(
        f"{t}\n" + "".join(f"    {line}\n" for line in schema[t]) for t in sorted(schema)
    )


async def test_migrate_applies_everything_once_then_is_a_no_op(fresh: Backend) -> None:
    versions = [m.version for m in load_migrations(fresh.kind)]  # type: ignore[arg-type]
    assert versions and versions[0] == "0001_init"
    async with fresh.make(migrate_on_open=False) as store:
        assert await store.migrate() == versions
        assert await store.migrate() == []
    async with fresh.make() as store:  # migrate-on-open finds nothing to do
        assert await store.migrate() == []
        await store.create_workspace("still works")


async def test_concurrent_migrators_apply_each_version_once(fresh: Backend) -> None:
    stores = [fresh.make(migrate_on_open=False) for _ in range(4)]
    for store in stores:
        await store.open()
    try:
        results = await asyncio.gather(*(s.migrate() for s in stores))
    finally:
        for store in stores:
            await store.close()
    applied = [v for result in results for v in result]
    assert sorted(applied) == [m.version for m in load_migrations(fresh.kind)]  # type: ignore[arg-type]


async def test_schema_matches_the_checked_in_snapshot(fresh: Backend) -> None:
    async with fresh.make():
        pass
    rendered = _render(dump_schema(fresh))
    snapshot = SNAPSHOTS / f"{fresh.kind}.txt"
    if os.environ.get("TASKLY_UPDATE_SCHEMA_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(rendered)
    assert rendered == snapshot.read_text(), (
        "the migrated schema drifted from tests/storage/schema/; if the change is intended, "
        "rerun with TASKLY_UPDATE_SCHEMA_SNAPSHOTS=1 and commit the new snapshot"
    )


async def test_every_expected_table_and_column_exists(fresh: Backend) -> None:
    async with fresh.make():
        pass
    schema = dump_schema(fresh)
    columns = {
        table: {line.split()[1] for line in lines if line.startswith("column ")}
        for table, lines in schema.items()
        if table not in FTS5_SHADOWS
    }
    expected = {table: set(names) for table, names in EXPECTED.items()}
    for table, names in DIALECT_EXTRAS[fresh.kind].items():
        expected.setdefault(table, set()).update(names)
    assert columns == expected


async def test_a_database_from_newer_code_is_refused(fresh: Backend) -> None:
    async with fresh.make() as store:
        await _exec(fresh, "INSERT INTO schema_migrations VALUES ('9999_future', {now})")
        with pytest.raises(MigrationError, match="9999_future"):
            await store.migrate()
    with pytest.raises(MigrationError):
        async with fresh.make():
            pass


async def _exec(backend: Backend, sql: str) -> None:
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.target) as conn:
            conn.execute(sql.format(now=0))
        conn.close()
    else:
        with psycopg.connect(backend.target, autocommit=True) as pg:
            pg.execute(sql.format(now="now()").encode())


def test_migration_files_are_shipped_and_split_cleanly() -> None:
    sqlite_m, pg_m = load_migrations("sqlite"), load_migrations("postgres")
    assert [m.version for m in sqlite_m] == [m.version for m in pg_m]
    statements = split_sqlite_script(sqlite_m[0].sql)
    assert all(s.upper().startswith("CREATE") for s in statements)
    code = [ln for ln in sqlite_m[0].sql.splitlines() if not ln.lstrip().startswith("--")]
    assert len(statements) == sum(ln.startswith("CREATE ") for ln in code)


def test_a_failing_migration_is_a_migration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import _migrations, sqlite

    broken = [_migrations.Migration("0001_broken", "CREATE TABLE x (;")]
    monkeypatch.setattr(sqlite, "load_migrations", lambda dialect: broken)

    async def run() -> None:
        store: Store = SQLiteStore(tmp_path / "b.db", migrate_on_open=False)
        async with store:
            with pytest.raises(MigrationError, match="0001_broken"):
                await store.migrate()

    asyncio.run(run())
