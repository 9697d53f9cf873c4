"""open_store's backend choice, and driver errors translated into storage.errors."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from storage import (
    PostgresStore,
    SQLiteStore,
    StorageUnavailable,
    Store,
    UpdateOrigin,
    open_store,
)
from tests.storage._docs import card_move_updates
from tests.storage.test_contract import new_board


async def test_no_url_means_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "taskly-data"
    store = open_store(database_url=None, data_dir=data_dir)
    assert isinstance(store, SQLiteStore) and data_dir.is_dir()
    async with store:
        await store.ping()
    assert (data_dir / "taskly.db").is_file()
    with sqlite3.connect(data_dir / "taskly.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_postgres_urls_mean_postgres(pg_database: str, scheme: str, tmp_path: Path) -> None:
    url = scheme + pg_database.removeprefix("postgresql")
    store = open_store(database_url=url, data_dir=tmp_path / "unused")
    assert isinstance(store, PostgresStore)
    assert not (tmp_path / "unused").exists()
    async with store:
        await store.ping()
        await new_board(store)


def test_other_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mysql"):
        open_store(database_url="mysql://x/y", data_dir=tmp_path)


async def test_unreachable_postgres_is_storage_unavailable() -> None:
    store = PostgresStore(
        "postgresql://postgres@127.0.0.1:1/nothing", connect_timeout=timedelta(seconds=1)
    )
    with pytest.raises(StorageUnavailable):
        await store.open()
    with pytest.raises(StorageUnavailable):
        await store.ping()


async def test_unopenable_sqlite_file_is_storage_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(StorageUnavailable):
        await SQLiteStore(tmp_path / "a-directory.db").open()


async def test_sqlite_lock_held_too_long_is_storage_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store: Store = SQLiteStore(path, busy_timeout=timedelta(milliseconds=50))
    async with store:
        board = await new_board(store)
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageUnavailable, match="SQLITE_BUSY"):
                await store.append(board.id, card_move_updates(1)[0], UpdateOrigin("api"))
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        # The store recovers once the lock is released.
        assert await store.append(board.id, card_move_updates(1)[0], UpdateOrigin("api")) == 1


async def test_sqlite_connection_runs_wal_with_synchronous_full(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    async with store:
        conn = store._conn
        assert conn is not None
        pragmas = {}
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
            async with conn.execute(f"PRAGMA {name}") as cur:
                row = await cur.fetchone()
                assert row is not None
                pragmas[name] = row[0]
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1,
                       "busy_timeout": 10_000}  # fmt: skip


async def test_deleting_a_board_cascades_to_its_rows(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    async with store:
        board = await new_board(store)
        await store.append(board.id, card_move_updates(1)[0], UpdateOrigin("api"))
        await store.compact(board.id)
        await store.set_watermark(board.id, 1)
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM boards WHERE id = ?", (board.id,))
        for table in ("board_updates", "board_snapshots", "projection_watermarks"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    conn.close()
