"""The SQLite Store (aiosqlite): the embedded default, one file `taskly.db` in the data dir.

Durability: the database runs in WAL journal mode with ``synchronous=FULL``. A transaction is
committed by appending its pages plus a commit frame to the ``-wal`` file, and with FULL that
file is fsync'ed before COMMIT returns. So when append()/append_many() return, the update is on
stable storage: it survives the process being killed the next instant (SIGKILL) and an OS
crash or power cut. (``NORMAL`` would survive a process kill but could lose the last commits
on power loss, which the "acknowledged means stored" invariant forbids.)

Concurrency: one connection per Store, used by one operation at a time (an asyncio.Lock).
Every write transaction starts with BEGIN IMMEDIATE, which takes the database write lock up
front (waiting up to busy_timeout), so two Stores or two processes on the same file serialize
their appends instead of failing to upgrade a read lock. Sequence numbers are allocated from
``boards.last_seq`` inside that transaction: unique, gap-free, in append order. Reads run in a
deferred transaction so that a snapshot and its tail come from the same database state. A task
cancelled mid-call leaves nothing open: its transaction is rolled back before the connection
serves another call (`SQLiteStore._tx`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import aiosqlite

from storage._base import StoreBase, check_updates, new_id, resolve_time
from storage._columns import BOARD_COLS, LOG_COLS
from storage._compaction import run_compaction, state_as_of
from storage._migrations import CREATE_TABLE, load_migrations, pending, split_sqlite_script
from storage._protocol import StepHook
from storage._records import (
    Board,
    Checkpoint,
    CompactionResult,
    LoadedBoard,
    StoredUpdate,
    UpdateOrigin,
    Workspace,
)
from storage._sqlite_auth import SQLiteAuthMixin
from storage._sqlite_materialized import SQLiteMaterializedMixin
from storage._time import as_utc, from_micros, to_micros
from storage.errors import (
    BoardNotFound,
    Conflict,
    MigrationError,
    StorageError,
    StorageUnavailable,
    WorkspaceNotFound,
)

DB_FILENAME: Final = "taskly.db"

log = logging.getLogger("taskly.storage")

# Result codes meaning "the database is there but cannot serve us right now".
_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL",
                "SQLITE_READONLY", "SQLITE_NOTADB", "SQLITE_CORRUPT")  # fmt: skip


@contextmanager
def wrap_errors() -> Iterator[None]:
    """Translate sqlite3/aiosqlite errors raised inside the block into StorageError types."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise Conflict(str(exc)) from exc
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(_UNAVAILABLE):
            raise StorageUnavailable(f"{name}: {exc}") from exc
        raise StorageError(f"sqlite: {exc}") from exc
    except (ValueError, OSError) as exc:
        # aiosqlite raises ValueError("no active connection") once closed.
        if isinstance(exc, ValueError) and "connection" not in str(exc):
            raise
        raise StorageUnavailable(str(exc)) from exc


def _board(row: sqlite3.Row | tuple[Any, ...]) -> Board:
    archived = row[5]
    return Board(
        id=row[0],
        workspace_id=row[1],
        name=row[2],
        card_prefix=row[3],
        created_at=from_micros(row[4]),
        archived_at=None if archived is None else from_micros(archived),
    )


def _stored(row: sqlite3.Row | tuple[Any, ...]) -> StoredUpdate:
    return StoredUpdate(
        seq=row[0],
        update=bytes(row[1]),
        created_at=from_micros(row[2]),
        origin=UpdateOrigin(kind=row[3], actor=row[4]),
    )


class SQLiteStore(SQLiteAuthMixin, SQLiteMaterializedMixin, StoreBase):
    """Store on one SQLite file: WAL journal, synchronous=FULL, BEGIN IMMEDIATE writes."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: timedelta = timedelta(seconds=10),
        migrate_on_open: bool = True,
        retention: timedelta | None = None,
    ) -> None:
        super().__init__(migrate_on_open=migrate_on_open, retention=retention)
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._cleanups: set[asyncio.Task[None]] = set()  # rollbacks of cancelled transactions

    @classmethod
    def in_dir(cls, data_dir: Path, **options: Any) -> SQLiteStore:
        """Return a store on `data_dir`/taskly.db, creating the directory."""
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"cannot create the data directory {data_dir}: {exc.strerror or exc}"
            ) from exc
        return cls(data_dir / DB_FILENAME, **options)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _connect(self) -> None:
        """Open the connection and set the durability and locking pragmas."""
        if self._conn is not None:
            return
        with wrap_errors():
            # isolation_level=None: the driver never opens transactions behind our back; we
            # issue BEGIN IMMEDIATE / BEGIN / COMMIT ourselves.
            conn = aiosqlite.connect(self.path, isolation_level=None)
            try:
                await conn
            except BaseException:
                # On a failed connect aiosqlite stops its worker thread without waiting for
                # it; wait here, or the thread may call back into an event loop that has
                # closed meanwhile ("Event loop is closed" in the thread).
                await asyncio.to_thread(conn._thread.join, 5)
                raise
            try:
                timeout_ms = int(self.busy_timeout.total_seconds() * 1000)
                await conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                async with conn.execute("PRAGMA journal_mode = WAL") as cur:
                    mode = await cur.fetchone()
                if mode is None or str(mode[0]).lower() != "wal":
                    raise StorageUnavailable(f"cannot enable WAL on {self.path}: {mode}")
                await conn.execute("PRAGMA synchronous = FULL")
                await conn.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                await conn.close()
                raise
        self._conn = conn

    async def close(self) -> None:
        """Close the connection; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                with wrap_errors():
                    await conn.close()

    @asynccontextmanager
    async def _tx(
        self, mode: Literal["IMMEDIATE", "DEFERRED"]
    ) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block in one transaction: IMMEDIATE for writes, DEFERRED for reads.

        Safe against cancellation at any point. aiosqlite runs each statement in its worker
        thread, in the order sent, and finishes it even when the task awaiting it is cancelled:
        a BEGIN cancelled while in flight still opens its transaction afterwards. So on any
        error or cancellation (during BEGIN, the block or COMMIT) a ROLLBACK is queued behind
        the statements already sent, and the lock is released only once it has run: the next
        transaction never starts inside this one. An error waits for the rollback before it
        propagates; a cancellation propagates at once and leaves the rollback to a task. A
        call cancelled during its COMMIT may have committed.
        """
        await self._lock.acquire()
        conn = self._conn
        if conn is None:
            self._lock.release()
            raise StorageUnavailable("the store is not open")
        try:
            with wrap_errors():
                await conn.execute(f"BEGIN {mode}")
                yield conn
                await conn.execute("COMMIT")
        except BaseException as exc:
            cleanup = asyncio.create_task(self._roll_back_and_release(conn))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
            if isinstance(exc, Exception):
                await asyncio.shield(cleanup)
            raise
        self._lock.release()

    async def _roll_back_and_release(self, conn: aiosqlite.Connection) -> None:
        """Roll back whatever transaction the statements already sent left open, then release
        the lock (held meanwhile, so nothing else runs on the connection before)."""
        try:
            await conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:  # not "no transaction is active": the rollback failed
                log.error("sqlite: rolling back an abandoned transaction failed: %s", exc)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: the connection is closed
            log.error("sqlite: rolling back an abandoned transaction failed: %s", exc)
        finally:
            self._lock.release()

    async def ping(self) -> None:
        """Run a trivial query; raise StorageUnavailable if the database does not answer."""
        async with self._tx("DEFERRED") as conn:
            await conn.execute_fetchall("SELECT 1")

    async def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own BEGIN IMMEDIATE transaction."""
        migrations = load_migrations("sqlite")
        applied_now: list[str] = []
        while True:
            async with self._tx("IMMEDIATE") as conn:
                await conn.execute(CREATE_TABLE.format(time_type="INTEGER"))
                rows = await conn.execute_fetchall("SELECT version FROM schema_migrations")
                todo = pending(migrations, {str(r[0]) for r in rows})
                if not todo:
                    return applied_now
                migration = todo[0]
                try:
                    for statement in split_sqlite_script(migration.sql):
                        await conn.execute(statement)
                except sqlite3.Error as exc:
                    raise MigrationError(f"{migration.version}: {exc}") from exc
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (migration.version, to_micros(resolve_time(None))),
                )
            applied_now.append(migration.version)

    # -- workspaces and boards -----------------------------------------------------------------

    async def create_workspace(
        self, name: str, *, id: str | None = None, at: datetime | None = None
    ) -> Workspace:
        """Create a workspace; raise Conflict if `id` is taken."""
        ws = Workspace(id=id or new_id(), name=name, created_at=resolve_time(at))
        async with self._tx("IMMEDIATE") as conn:
            await conn.execute(
                "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                (ws.id, ws.name, to_micros(ws.created_at)),
            )
        return ws

    async def get_workspace(self, workspace_id: str) -> Workspace:
        """Return a workspace; raise WorkspaceNotFound."""
        async with self._tx("DEFERRED") as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT id, name, created_at FROM workspaces WHERE id = ?", (workspace_id,)
                )
            )
        if not rows:
            raise WorkspaceNotFound(workspace_id)
        return Workspace(id=rows[0][0], name=rows[0][1], created_at=from_micros(rows[0][2]))

    async def list_workspaces(self) -> list[Workspace]:
        """Return every workspace, oldest first."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                "SELECT id, name, created_at FROM workspaces ORDER BY created_at, id"
            )
        return [Workspace(id=r[0], name=r[1], created_at=from_micros(r[2])) for r in rows]

    async def create_board(
        self,
        workspace_id: str,
        name: str,
        card_prefix: str,
        *,
        id: str | None = None,
        at: datetime | None = None,
    ) -> Board:
        """Create an empty board; raise WorkspaceNotFound, or Conflict if `id` is taken."""
        board = Board(
            id=id or new_id(),
            workspace_id=workspace_id,
            name=name,
            card_prefix=card_prefix,
            created_at=resolve_time(at),
        )
        async with self._tx("IMMEDIATE") as conn:
            found = await conn.execute_fetchall(
                "SELECT 1 FROM workspaces WHERE id = ?", (workspace_id,)
            )
            if not list(found):
                raise WorkspaceNotFound(workspace_id)
            await conn.execute(
                "INSERT INTO boards (id, workspace_id, name, card_prefix, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (board.id, workspace_id, name, card_prefix, to_micros(board.created_at)),
            )
        return board

    async def get_board(self, board_id: str) -> Board:
        """Return a board; raise BoardNotFound."""
        async with self._tx("DEFERRED") as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT {BOARD_COLS} FROM boards WHERE id = ?", (board_id,)
                )
            )
        if not rows:
            raise BoardNotFound(board_id)
        return _board(rows[0])

    async def list_boards(self, workspace_id: str | None = None) -> list[Board]:
        """Return every board (of one workspace, if given), oldest first."""
        async with self._tx("DEFERRED") as conn:
            if workspace_id is None:
                rows = await conn.execute_fetchall(
                    f"SELECT {BOARD_COLS} FROM boards ORDER BY created_at, id"
                )
            else:
                rows = await conn.execute_fetchall(
                    f"SELECT {BOARD_COLS} FROM boards WHERE workspace_id = ?"
                    " ORDER BY created_at, id",
                    (workspace_id,),
                )
        return [_board(r) for r in rows]

    async def set_board_archived(
        self, board_id: str, archived: bool, *, at: datetime | None = None
    ) -> Board:
        """Archive (or unarchive) a board; raise BoardNotFound."""
        when = to_micros(resolve_time(at))
        async with self._tx("IMMEDIATE") as conn:
            async with conn.execute(
                "UPDATE boards SET archived_at = CASE WHEN ? THEN COALESCE(archived_at, ?) END"
                f" WHERE id = ? RETURNING {BOARD_COLS}",
                (archived, when, board_id),
            ) as cur:
                row = await cur.fetchone()
        if row is None:
            raise BoardNotFound(board_id)
        return _board(row)

    # -- the update log ----------------------------------------------------------------------------

    async def append_many(
        self,
        board_id: str,
        updates: Sequence[tuple[bytes, UpdateOrigin]],
        *,
        at: datetime | None = None,
    ) -> list[int]:
        """Append a burst in one transaction (group commit), in order; return their seqs."""
        burst = check_updates(updates)
        if not burst:
            return []
        when = to_micros(resolve_time(at))
        async with self._tx("IMMEDIATE") as conn:
            async with conn.execute(
                "UPDATE boards SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq",
                (len(burst), board_id),
            ) as cur:
                head = await cur.fetchone()
            if head is None:
                raise BoardNotFound(board_id)
            first = int(head[0]) - len(burst) + 1
            seqs = list(range(first, first + len(burst)))
            await conn.executemany(
                "INSERT INTO board_updates"
                " (board_id, seq, data, created_at, origin_kind, origin_actor)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (board_id, seq, update, when, origin.kind, origin.actor)
                    for seq, (update, origin) in zip(seqs, burst, strict=True)
                ],
            )
        return seqs

    async def _require_board(self, conn: aiosqlite.Connection, board_id: str) -> int:
        """Return the board's head seq; raise BoardNotFound."""
        rows = list(
            await conn.execute_fetchall("SELECT last_seq FROM boards WHERE id = ?", (board_id,))
        )
        if not rows:
            raise BoardNotFound(board_id)
        return int(rows[0][0])

    async def read_log(
        self, board_id: str, after_seq: int = 0, *, limit: int | None = None
    ) -> list[StoredUpdate]:
        """Return the log rows with seq > after_seq still held, by seq."""
        async with self._tx("DEFERRED") as conn:
            await self._require_board(conn, board_id)
            rows = await conn.execute_fetchall(
                f"SELECT {LOG_COLS} FROM board_updates WHERE board_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (board_id, after_seq, -1 if limit is None else limit),
            )
        return [_stored(r) for r in rows]

    async def load(self, board_id: str) -> LoadedBoard:
        """Return the board's snapshot plus the log rows after it, read consistently."""
        async with self._tx("DEFERRED") as conn:
            await self._require_board(conn, board_id)
            snap = list(
                await conn.execute_fetchall(
                    "SELECT state, up_to_seq FROM board_snapshots WHERE board_id = ?",
                    (board_id,),
                )
            )
            snapshot, snapshot_seq = (bytes(snap[0][0]), int(snap[0][1])) if snap else (None, 0)
            rows = await conn.execute_fetchall(
                f"SELECT {LOG_COLS} FROM board_updates WHERE board_id = ? AND seq > ? ORDER BY seq",
                (board_id, snapshot_seq),
            )
        return LoadedBoard(
            board_id=board_id,
            snapshot=snapshot,
            snapshot_seq=snapshot_seq,
            tail=[_stored(r) for r in rows],
        )

    async def compact(
        self,
        board_id: str,
        *,
        now: datetime | None = None,
        retention: timedelta | None = None,
        on_step: StepHook | None = None,
    ) -> CompactionResult:
        """Merge the log into a new snapshot and fold old rows into checkpoints, atomically."""
        when = resolve_time(now)
        async with self._tx("IMMEDIATE") as conn:
            return await run_compaction(
                _CompactionTxn(conn, board_id),
                board_id,
                now=when,
                retention=self.retention if retention is None else retention,
                on_step=on_step,
            )

    async def load_as_of(self, board_id: str, at: datetime) -> bytes | None:
        """Return the board state at `at` as one v1 update, or None if it was empty then."""
        when = to_micros(as_utc(at))
        async with self._tx("DEFERRED") as conn:
            await self._require_board(conn, board_id)
            cps = list(
                await conn.execute_fetchall(
                    "SELECT state FROM board_checkpoints"
                    " WHERE board_id = ? AND as_of <= ? ORDER BY as_of DESC LIMIT 1",
                    (board_id, when),
                )
            )
            # Every log row up to `at`: none of them is in the checkpoint (folding deletes).
            rows = await conn.execute_fetchall(
                "SELECT data FROM board_updates WHERE board_id = ? AND created_at <= ?"
                " ORDER BY seq",
                (board_id, when),
            )
        checkpoint = bytes(cps[0][0]) if cps else None
        return await asyncio.to_thread(state_as_of, checkpoint, [bytes(r[0]) for r in rows])

    # -- counters --------------------------------------------------------------------------------

    async def next_card_number(self, board_id: str) -> int:
        """Hand out the board's next card number (atomic, unique across processes)."""
        async with self._tx("IMMEDIATE") as conn:
            async with conn.execute(
                "UPDATE boards SET next_card_number = next_card_number + 1 WHERE id = ?"
                " RETURNING next_card_number - 1",
                (board_id,),
            ) as cur:
                row = await cur.fetchone()
        if row is None:
            raise BoardNotFound(board_id)
        return int(row[0])

    async def get_watermark(self, board_id: str) -> int:
        """Return the last seq the materializer projected for the board (0 if none)."""
        async with self._tx("DEFERRED") as conn:
            await self._require_board(conn, board_id)
            rows = list(
                await conn.execute_fetchall(
                    "SELECT projected_seq FROM projection_watermarks WHERE board_id = ?",
                    (board_id,),
                )
            )
        return int(rows[0][0]) if rows else 0

    async def list_unprojected_boards(self) -> list[tuple[str, int]]:
        """Return (board id, head seq) of every board whose watermark is behind its log head."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                "SELECT b.id, b.last_seq FROM boards b"
                " LEFT JOIN projection_watermarks w ON w.board_id = b.id"
                " WHERE b.last_seq > COALESCE(w.projected_seq, 0) ORDER BY b.id"
            )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def set_watermark(self, board_id: str, projected_seq: int) -> None:
        """Record the last seq the materializer projected for the board."""
        async with self._tx("IMMEDIATE") as conn:
            await self._require_board(conn, board_id)
            await conn.execute(
                "INSERT INTO projection_watermarks (board_id, projected_seq, updated_at)"
                " VALUES (?, ?, ?) ON CONFLICT (board_id) DO UPDATE"
                " SET projected_seq = excluded.projected_seq, updated_at = excluded.updated_at",
                (board_id, projected_seq, to_micros(resolve_time(None))),
            )


class _CompactionTxn:
    """CompactionTxn over an open SQLite write transaction."""

    def __init__(self, conn: aiosqlite.Connection, board_id: str) -> None:
        self.conn = conn
        self.board_id = board_id

    async def lock_head(self) -> int:
        """Return the head seq (BEGIN IMMEDIATE already holds the write lock)."""
        rows = list(
            await self.conn.execute_fetchall(
                "SELECT last_seq FROM boards WHERE id = ?", (self.board_id,)
            )
        )
        if not rows:
            raise BoardNotFound(self.board_id)
        return int(rows[0][0])

    async def read_snapshot(self) -> tuple[bytes | None, int]:
        """Return the current snapshot and the seq it covers."""
        rows = list(
            await self.conn.execute_fetchall(
                "SELECT state, up_to_seq FROM board_snapshots WHERE board_id = ?",
                (self.board_id,),
            )
        )
        return (bytes(rows[0][0]), int(rows[0][1])) if rows else (None, 0)

    async def read_updates_after(self, seq: int) -> list[bytes]:
        """Return the updates with seq > `seq`, by seq."""
        rows = await self.conn.execute_fetchall(
            "SELECT data FROM board_updates WHERE board_id = ? AND seq > ? ORDER BY seq",
            (self.board_id, seq),
        )
        return [bytes(r[0]) for r in rows]

    async def read_rows_before(self, cutoff: datetime) -> list[tuple[datetime, bytes]]:
        """Return (created_at, update) of rows created before `cutoff`, by seq."""
        rows = await self.conn.execute_fetchall(
            "SELECT created_at, data FROM board_updates WHERE board_id = ? AND created_at < ?"
            " ORDER BY seq",
            (self.board_id, to_micros(cutoff)),
        )
        return [(from_micros(r[0]), bytes(r[1])) for r in rows]

    async def read_checkpoint_before(self, as_of: datetime) -> bytes | None:
        """Return the state of the latest checkpoint with as_of < `as_of`."""
        rows = list(
            await self.conn.execute_fetchall(
                "SELECT state FROM board_checkpoints WHERE board_id = ? AND as_of < ?"
                " ORDER BY as_of DESC LIMIT 1",
                (self.board_id, to_micros(as_of)),
            )
        )
        return bytes(rows[0][0]) if rows else None

    async def read_checkpoints_from(self, as_of: datetime) -> list[Checkpoint]:
        """Return the checkpoints with as_of >= `as_of`, oldest first."""
        rows = await self.conn.execute_fetchall(
            "SELECT as_of, up_to_seq, state FROM board_checkpoints"
            " WHERE board_id = ? AND as_of >= ? ORDER BY as_of",
            (self.board_id, to_micros(as_of)),
        )
        return [Checkpoint(from_micros(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    async def write_snapshot(self, state: bytes, up_to_seq: int, at: datetime) -> None:
        """Insert or replace the snapshot."""
        await self.conn.execute(
            "INSERT INTO board_snapshots (board_id, state, up_to_seq, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (board_id) DO UPDATE SET state = excluded.state,"
            " up_to_seq = excluded.up_to_seq, created_at = excluded.created_at",
            (self.board_id, state, up_to_seq, to_micros(at)),
        )

    async def write_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Insert or replace checkpoints keyed by as_of."""
        await self.conn.executemany(
            "INSERT INTO board_checkpoints (board_id, as_of, up_to_seq, state)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (board_id, as_of) DO UPDATE"
            " SET up_to_seq = excluded.up_to_seq, state = excluded.state",
            [(self.board_id, to_micros(c.as_of), c.up_to_seq, c.state) for c in checkpoints],
        )

    async def delete_rows_before(self, cutoff: datetime, up_to_seq: int) -> int:
        """Delete rows created before `cutoff` with seq <= up_to_seq; return the count."""
        async with self.conn.execute(
            "DELETE FROM board_updates WHERE board_id = ? AND created_at < ? AND seq <= ?",
            (self.board_id, to_micros(cutoff), up_to_seq),
        ) as cur:
            return int(cur.rowcount)
