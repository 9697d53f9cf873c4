"""The Postgres Store (psycopg 3 async + psycopg_pool): the scale-out backend.

Durability: COMMIT returns after the WAL record is flushed (Postgres' default
synchronous_commit=on), so append() returning means the update is stored.

Concurrency: each board's row in ``boards`` is its log head. An append runs
``UPDATE boards SET last_seq = last_seq + n ... RETURNING last_seq`` first, which row-locks the
head until COMMIT: concurrent appenders to one board (any process, any pool) queue on that
lock, so seqs are unique, gap-free and in commit order; appends to other boards do not wait.
Compaction takes the same lock with SELECT ... FOR UPDATE. Multi-statement reads run at
REPEATABLE READ so that a snapshot and its tail come from the same database state.
Updates and states travel as binary bytea (``%b`` parameters, binary result rows).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from storage._base import StoreBase, check_updates, new_id, redact_url, resolve_time
from storage._columns import BOARD_COLS, LOG_COLS
from storage._compaction import run_compaction, state_as_of
from storage._migrations import CREATE_TABLE, PG_LOCK_KEY, load_migrations, pending
from storage._postgres_auth import PostgresAuthMixin
from storage._postgres_materialized import PostgresMaterializedMixin
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
from storage._time import as_utc
from storage.errors import (
    BoardNotFound,
    Conflict,
    MigrationError,
    StorageError,
    StorageUnavailable,
    WorkspaceNotFound,
)

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_REPEATABLE_READ: Final = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"


@contextmanager
def wrap_errors() -> Iterator[None]:
    """Translate psycopg and pool errors raised inside the block into StorageError types."""
    try:
        yield
    except (psycopg.errors.IntegrityError, psycopg.errors.TransactionRollback) as exc:
        # Unique/foreign-key violations, serialization failures and deadlocks.
        raise Conflict(str(exc)) from exc
    except (psycopg.OperationalError, PoolTimeout, PoolClosed) as exc:
        raise StorageUnavailable(str(exc)) from exc
    except psycopg.Error as exc:
        raise StorageError(f"postgres: {exc}") from exc


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _board(row: tuple[Any, ...]) -> Board:
    return Board(
        id=row[0],
        workspace_id=row[1],
        name=row[2],
        card_prefix=row[3],
        created_at=_utc(row[4]),
        archived_at=None if row[5] is None else _utc(row[5]),
    )


def _stored(row: tuple[Any, ...]) -> StoredUpdate:
    return StoredUpdate(
        seq=int(row[0]),
        update=bytes(row[1]),
        created_at=_utc(row[2]),
        origin=UpdateOrigin(kind=row[3], actor=row[4]),
    )


async def _fetchall(conn: Conn, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one query with binary results and return every row."""
    cur = await conn.execute(query, params, binary=True)
    return await cur.fetchall()


async def _require_board(conn: Conn, board_id: str, *, lock: bool = False) -> int:
    """Return the board's head seq (row-locked if `lock`); raise BoardNotFound."""
    suffix = " FOR UPDATE" if lock else ""
    rows = await _fetchall(conn, "SELECT last_seq FROM boards WHERE id = %s" + suffix, (board_id,))
    if not rows:
        raise BoardNotFound(board_id)
    return int(rows[0][0])


class PostgresStore(PostgresAuthMixin, PostgresMaterializedMixin, StoreBase):
    """Store on a Postgres database through an AsyncConnectionPool."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: timedelta = timedelta(seconds=10),
        migrate_on_open: bool = True,
        retention: timedelta | None = None,
    ) -> None:
        super().__init__(migrate_on_open=migrate_on_open, retention=retention)
        self.url = url
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._min_size = min_size
        self._max_size = max_size

    # -- lifecycle ---------------------------------------------------------------------------

    async def _connect(self) -> None:
        """Open the pool and wait for its first connection."""
        if self._pool is not None:
            return
        await self._probe()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            # Autocommit: every block opens its own explicit transaction (conn.transaction()).
            # TimeZone=UTC: timestamptz values come back in UTC.
            kwargs={"autocommit": True, "options": "-c TimeZone=UTC"},
            timeout=self.connect_timeout.total_seconds(),
            name="taskly-storage",
        )
        try:
            with wrap_errors():
                await pool.open(wait=True, timeout=self.connect_timeout.total_seconds())
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def _probe(self) -> None:
        """Connect once, so an unreachable server fails at once with the driver's own reason.

        The pool would instead retry in the background, log every attempt and end with a bare
        "pool initialization incomplete" after the whole timeout.
        """
        timeout = max(1, round(self.connect_timeout.total_seconds()))
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, connect_timeout=timeout)
        except psycopg.Error as exc:
            # psycopg's message spans lines (reason, then a hint); keep it on one line.
            reason = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
            reason = reason or type(exc).__name__
            raise StorageUnavailable(
                f"cannot connect to Postgres at {redact_url(self.url)}: {reason}"
            ) from exc
        await conn.close()

    async def close(self) -> None:
        """Close the pool; idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _tx(self, *, repeatable_read: bool = False) -> AsyncIterator[Conn]:
        """Run the block in one transaction on a pooled connection."""
        pool = self._pool
        if pool is None:
            raise StorageUnavailable("the store is not open")
        with wrap_errors():
            async with pool.connection() as conn, conn.transaction():
                if repeatable_read:
                    await conn.execute(_REPEATABLE_READ)
                yield conn

    async def ping(self) -> None:
        """Run a trivial query; raise StorageUnavailable if the database does not answer."""
        async with self._tx() as conn:
            await conn.execute("SELECT 1")

    async def migrate(self) -> list[str]:
        """Apply pending migrations, each in a transaction holding an advisory lock."""
        migrations = load_migrations("postgres")
        applied_now: list[str] = []
        while True:
            async with self._tx() as conn:
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
                await conn.execute(CREATE_TABLE.format(time_type="TIMESTAMPTZ"))
                rows = await _fetchall(conn, "SELECT version FROM schema_migrations")
                todo = pending(migrations, {str(r[0]) for r in rows})
                if not todo:
                    return applied_now
                migration = todo[0]
                try:
                    # No parameters: psycopg sends the whole script at once.
                    await conn.execute(migration.sql.encode("utf-8"))
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.version}: {exc}") from exc
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, now())",
                    (migration.version,),
                )
            applied_now.append(migration.version)

    # -- workspaces and boards -------------------------------------------------------------------

    async def create_workspace(
        self, name: str, *, id: str | None = None, at: datetime | None = None
    ) -> Workspace:
        """Create a workspace; raise Conflict if `id` is taken."""
        ws = Workspace(id=id or new_id(), name=name, created_at=resolve_time(at))
        async with self._tx() as conn:
            await conn.execute(
                "INSERT INTO workspaces (id, name, created_at) VALUES (%s, %s, %s)",
                (ws.id, ws.name, ws.created_at),
            )
        return ws

    async def get_workspace(self, workspace_id: str) -> Workspace:
        """Return a workspace; raise WorkspaceNotFound."""
        async with self._tx() as conn:
            rows = await _fetchall(
                conn, "SELECT id, name, created_at FROM workspaces WHERE id = %s", (workspace_id,)
            )
        if not rows:
            raise WorkspaceNotFound(workspace_id)
        return Workspace(id=rows[0][0], name=rows[0][1], created_at=_utc(rows[0][2]))

    async def list_workspaces(self) -> list[Workspace]:
        """Return every workspace, oldest first."""
        async with self._tx() as conn:
            rows = await _fetchall(
                conn, "SELECT id, name, created_at FROM workspaces ORDER BY created_at, id"
            )
        return [Workspace(id=r[0], name=r[1], created_at=_utc(r[2])) for r in rows]

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
        async with self._tx() as conn:
            # FOR KEY SHARE: the workspace cannot vanish between this check and the insert.
            found = await _fetchall(
                conn, "SELECT 1 FROM workspaces WHERE id = %s FOR KEY SHARE", (workspace_id,)
            )
            if not found:
                raise WorkspaceNotFound(workspace_id)
            await conn.execute(
                "INSERT INTO boards (id, workspace_id, name, card_prefix, created_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (board.id, workspace_id, name, card_prefix, board.created_at),
            )
        return board

    async def get_board(self, board_id: str) -> Board:
        """Return a board; raise BoardNotFound."""
        async with self._tx() as conn:
            rows = await _fetchall(
                conn, f"SELECT {BOARD_COLS} FROM boards WHERE id = %s", (board_id,)
            )
        if not rows:
            raise BoardNotFound(board_id)
        return _board(rows[0])

    async def list_boards(self, workspace_id: str | None = None) -> list[Board]:
        """Return every board (of one workspace, if given), oldest first."""
        async with self._tx() as conn:
            if workspace_id is None:
                rows = await _fetchall(
                    conn, f"SELECT {BOARD_COLS} FROM boards ORDER BY created_at, id"
                )
            else:
                rows = await _fetchall(
                    conn,
                    f"SELECT {BOARD_COLS} FROM boards WHERE workspace_id = %s"
                    " ORDER BY created_at, id",
                    (workspace_id,),
                )
        return [_board(r) for r in rows]

    async def set_board_archived(
        self, board_id: str, archived: bool, *, at: datetime | None = None
    ) -> Board:
        """Archive (or unarchive) a board; raise BoardNotFound."""
        when = resolve_time(at)
        async with self._tx() as conn:
            rows = await _fetchall(
                conn,
                "UPDATE boards SET archived_at = CASE WHEN %s THEN COALESCE(archived_at, %s) END"
                f" WHERE id = %s RETURNING {BOARD_COLS}",
                (archived, when, board_id),
            )
        if not rows:
            raise BoardNotFound(board_id)
        return _board(rows[0])

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
        when = resolve_time(at)
        async with self._tx() as conn:
            rows = await _fetchall(
                conn,
                "UPDATE boards SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq",
                (len(burst), board_id),
            )
            if not rows:
                raise BoardNotFound(board_id)
            first = int(rows[0][0]) - len(burst) + 1
            seqs = list(range(first, first + len(burst)))
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO board_updates"
                    " (board_id, seq, data, created_at, origin_kind, origin_actor)"
                    " VALUES (%s, %s, %b, %s, %s, %s)",
                    [
                        (board_id, seq, update, when, origin.kind, origin.actor)
                        for seq, (update, origin) in zip(seqs, burst, strict=True)
                    ],
                )
        return seqs

    async def read_log(
        self, board_id: str, after_seq: int = 0, *, limit: int | None = None
    ) -> list[StoredUpdate]:
        """Return the log rows with seq > after_seq still held, by seq."""
        async with self._tx(repeatable_read=True) as conn:
            await _require_board(conn, board_id)
            rows = await _fetchall(
                conn,
                f"SELECT {LOG_COLS} FROM board_updates WHERE board_id = %s AND seq > %s"
                " ORDER BY seq LIMIT %s",
                (board_id, after_seq, limit),
            )
        return [_stored(r) for r in rows]

    async def load(self, board_id: str) -> LoadedBoard:
        """Return the board's snapshot plus the log rows after it, read consistently."""
        async with self._tx(repeatable_read=True) as conn:
            await _require_board(conn, board_id)
            snap = await _fetchall(
                conn,
                "SELECT state, up_to_seq FROM board_snapshots WHERE board_id = %s",
                (board_id,),
            )
            snapshot, snapshot_seq = (bytes(snap[0][0]), int(snap[0][1])) if snap else (None, 0)
            rows = await _fetchall(
                conn,
                f"SELECT {LOG_COLS} FROM board_updates WHERE board_id = %s AND seq > %s"
                " ORDER BY seq",
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
        async with self._tx() as conn:
            return await run_compaction(
                _CompactionTxn(conn, board_id),
                board_id,
                now=when,
                retention=self.retention if retention is None else retention,
                on_step=on_step,
            )

    async def load_as_of(self, board_id: str, at: datetime) -> bytes | None:
        """Return the board state at `at` as one v1 update, or None if it was empty then."""
        when = as_utc(at)
        async with self._tx(repeatable_read=True) as conn:
            await _require_board(conn, board_id)
            cps = await _fetchall(
                conn,
                "SELECT state FROM board_checkpoints"
                " WHERE board_id = %s AND as_of <= %s ORDER BY as_of DESC LIMIT 1",
                (board_id, when),
            )
            # Every log row up to `at`: none of them is in the checkpoint (folding deletes).
            rows = await _fetchall(
                conn,
                "SELECT data FROM board_updates WHERE board_id = %s AND created_at <= %s"
                " ORDER BY seq",
                (board_id, when),
            )
        checkpoint = bytes(cps[0][0]) if cps else None
        return await asyncio.to_thread(state_as_of, checkpoint, [bytes(r[0]) for r in rows])

    # -- counters --------------------------------------------------------------------------------

    async def next_card_number(self, board_id: str) -> int:
        """Hand out the board's next card number (atomic, unique across processes)."""
        async with self._tx() as conn:
            rows = await _fetchall(
                conn,
                "UPDATE boards SET next_card_number = next_card_number + 1 WHERE id = %s"
                " RETURNING next_card_number - 1",
                (board_id,),
            )
        if not rows:
            raise BoardNotFound(board_id)
        return int(rows[0][0])

    async def get_watermark(self, board_id: str) -> int:
        """Return the last seq the materializer projected for the board (0 if none)."""
        async with self._tx(repeatable_read=True) as conn:
            await _require_board(conn, board_id)
            rows = await _fetchall(
                conn,
                "SELECT projected_seq FROM projection_watermarks WHERE board_id = %s",
                (board_id,),
            )
        return int(rows[0][0]) if rows else 0

    async def list_unprojected_boards(self) -> list[tuple[str, int]]:
        """Return (board id, head seq) of every board whose watermark is behind its log head."""
        async with self._tx() as conn:
            rows = await _fetchall(
                conn,
                "SELECT b.id, b.last_seq FROM boards b"
                " LEFT JOIN projection_watermarks w ON w.board_id = b.id"
                " WHERE b.last_seq > COALESCE(w.projected_seq, 0) ORDER BY b.id",
                (),
            )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def set_watermark(self, board_id: str, projected_seq: int) -> None:
        """Record the last seq the materializer projected for the board."""
        async with self._tx() as conn:
            await _require_board(conn, board_id)
            await conn.execute(
                "INSERT INTO projection_watermarks (board_id, projected_seq, updated_at)"
                " VALUES (%s, %s, now()) ON CONFLICT (board_id) DO UPDATE"
                " SET projected_seq = excluded.projected_seq, updated_at = excluded.updated_at",
                (board_id, projected_seq),
            )


class _CompactionTxn:
    """CompactionTxn over an open Postgres transaction."""

    def __init__(self, conn: Conn, board_id: str) -> None:
        self.conn = conn
        self.board_id = board_id

    async def lock_head(self) -> int:
        """Row-lock the board's head (blocking its appends) and return its seq."""
        return await _require_board(self.conn, self.board_id, lock=True)

    async def read_snapshot(self) -> tuple[bytes | None, int]:
        """Return the current snapshot and the seq it covers."""
        rows = await _fetchall(
            self.conn,
            "SELECT state, up_to_seq FROM board_snapshots WHERE board_id = %s",
            (self.board_id,),
        )
        return (bytes(rows[0][0]), int(rows[0][1])) if rows else (None, 0)

    async def read_updates_after(self, seq: int) -> list[bytes]:
        """Return the updates with seq > `seq`, by seq."""
        rows = await _fetchall(
            self.conn,
            "SELECT data FROM board_updates WHERE board_id = %s AND seq > %s ORDER BY seq",
            (self.board_id, seq),
        )
        return [bytes(r[0]) for r in rows]

    async def read_rows_before(self, cutoff: datetime) -> list[tuple[datetime, bytes]]:
        """Return (created_at, update) of rows created before `cutoff`, by seq."""
        rows = await _fetchall(
            self.conn,
            "SELECT created_at, data FROM board_updates WHERE board_id = %s AND created_at < %s"
            " ORDER BY seq",
            (self.board_id, cutoff),
        )
        return [(_utc(r[0]), bytes(r[1])) for r in rows]

    async def read_checkpoint_before(self, as_of: datetime) -> bytes | None:
        """Return the state of the latest checkpoint with as_of < `as_of`."""
        rows = await _fetchall(
            self.conn,
            "SELECT state FROM board_checkpoints WHERE board_id = %s AND as_of < %s"
            " ORDER BY as_of DESC LIMIT 1",
            (self.board_id, as_of),
        )
        return bytes(rows[0][0]) if rows else None

    async def read_checkpoints_from(self, as_of: datetime) -> list[Checkpoint]:
        """Return the checkpoints with as_of >= `as_of`, oldest first."""
        rows = await _fetchall(
            self.conn,
            "SELECT as_of, up_to_seq, state FROM board_checkpoints"
            " WHERE board_id = %s AND as_of >= %s ORDER BY as_of",
            (self.board_id, as_of),
        )
        return [Checkpoint(_utc(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    async def write_snapshot(self, state: bytes, up_to_seq: int, at: datetime) -> None:
        """Insert or replace the snapshot."""
        await self.conn.execute(
            "INSERT INTO board_snapshots (board_id, state, up_to_seq, created_at)"
            " VALUES (%s, %b, %s, %s) ON CONFLICT (board_id) DO UPDATE SET state = excluded.state,"
            " up_to_seq = excluded.up_to_seq, created_at = excluded.created_at",
            (self.board_id, state, up_to_seq, at),
        )

    async def write_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Insert or replace checkpoints keyed by as_of."""
        async with self.conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO board_checkpoints (board_id, as_of, up_to_seq, state)"
                " VALUES (%s, %s, %s, %b) ON CONFLICT (board_id, as_of) DO UPDATE"
                " SET up_to_seq = excluded.up_to_seq, state = excluded.state",
                [(self.board_id, c.as_of, c.up_to_seq, c.state) for c in checkpoints],
            )

    async def delete_rows_before(self, cutoff: datetime, up_to_seq: int) -> int:
        """Delete rows created before `cutoff` with seq <= up_to_seq; return the count."""
        cur = await self.conn.execute(
            "DELETE FROM board_updates WHERE board_id = %s AND created_at < %s AND seq <= %s",
            (self.board_id, cutoff, up_to_seq),
        )
        return cur.rowcount
