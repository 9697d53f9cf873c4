"""InMemoryStore: the real Store interface over dicts, for unit tests of code above storage.

Same semantics as the database backends (the contract suite runs against it too), but nothing
survives close(). Compaction runs the shared algorithm on a copy and swaps it in on success,
which gives the same all-or-nothing behaviour as a database transaction.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from storage._base import StoreBase, check_updates, new_id, resolve_time
from storage._compaction import run_compaction, state_as_of
from storage._memory_auth import MemoryAuthMixin
from storage._memory_materialized import MaterializedData, MemoryMaterializedMixin
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
from storage.errors import BoardNotFound, Conflict, StorageUnavailable, WorkspaceNotFound


@dataclass
class _BoardData:
    board: Board
    last_seq: int = 0
    next_card_number: int = 1
    log: dict[int, StoredUpdate] = field(default_factory=dict)  # insertion order = seq order
    snapshot: tuple[bytes, int] | None = None
    checkpoints: dict[datetime, Checkpoint] = field(default_factory=dict)
    watermark: int = 0
    materialized: MaterializedData = field(default_factory=MaterializedData)


class InMemoryStore(MemoryAuthMixin, MemoryMaterializedMixin, StoreBase):
    """Store held in memory; one asyncio.Lock makes every operation atomic."""

    def __init__(self, *, retention: timedelta | None = None) -> None:
        super().__init__(migrate_on_open=False, retention=retention)
        self._open = False
        self._lock = asyncio.Lock()
        self._workspaces: dict[str, Workspace] = {}
        self._boards: dict[str, _BoardData] = {}
        self._init_auth()

    async def _connect(self) -> None:
        """Mark the store open."""
        self._open = True

    async def close(self) -> None:
        """Mark the store closed (the data stays, so reopening sees it)."""
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise StorageUnavailable("the store is not open")

    def _board(self, board_id: str) -> _BoardData:
        self._check_open()
        data = self._boards.get(board_id)
        if data is None:
            raise BoardNotFound(board_id)
        return data

    async def ping(self) -> None:
        """Succeed while open."""
        self._check_open()

    async def migrate(self) -> list[str]:
        """Nothing to migrate in memory."""
        self._check_open()
        return []

    async def create_workspace(
        self, name: str, *, id: str | None = None, at: datetime | None = None
    ) -> Workspace:
        """Create a workspace; raise Conflict if `id` is taken."""
        self._check_open()
        ws = Workspace(id=id or new_id(), name=name, created_at=resolve_time(at))
        if ws.id in self._workspaces:
            raise Conflict(f"workspace {ws.id!r} exists")
        self._workspaces[ws.id] = ws
        return ws

    async def get_workspace(self, workspace_id: str) -> Workspace:
        """Return a workspace; raise WorkspaceNotFound."""
        self._check_open()
        try:
            return self._workspaces[workspace_id]
        except KeyError:
            raise WorkspaceNotFound(workspace_id) from None

    async def list_workspaces(self) -> list[Workspace]:
        """Return every workspace, oldest first."""
        self._check_open()
        return sorted(self._workspaces.values(), key=lambda w: (w.created_at, w.id))

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
        await self.get_workspace(workspace_id)
        board = Board(
            id=id or new_id(),
            workspace_id=workspace_id,
            name=name,
            card_prefix=card_prefix,
            created_at=resolve_time(at),
        )
        if board.id in self._boards:
            raise Conflict(f"board {board.id!r} exists")
        self._boards[board.id] = _BoardData(board)
        return board

    async def get_board(self, board_id: str) -> Board:
        """Return a board; raise BoardNotFound."""
        return self._board(board_id).board

    async def list_boards(self, workspace_id: str | None = None) -> list[Board]:
        """Return every board (of one workspace, if given), oldest first."""
        self._check_open()
        boards = [
            d.board
            for d in self._boards.values()
            if workspace_id is None or d.board.workspace_id == workspace_id
        ]
        return sorted(boards, key=lambda b: (b.created_at, b.id))

    async def set_board_archived(
        self, board_id: str, archived: bool, *, at: datetime | None = None
    ) -> Board:
        """Archive (or unarchive) a board; raise BoardNotFound."""
        when = resolve_time(at)
        async with self._lock:  # see append_many
            data = self._board(board_id)
            kept = data.board.archived_at or when
            data.board = msgspec.structs.replace(data.board, archived_at=kept if archived else None)
            return data.board

    async def append_many(
        self,
        board_id: str,
        updates: Sequence[tuple[bytes, UpdateOrigin]],
        *,
        at: datetime | None = None,
    ) -> list[int]:
        """Append a burst atomically, in order; return their seqs."""
        burst = check_updates(updates)
        if not burst:
            return []
        when = resolve_time(at)
        # The lock: a compaction in progress works on a copy it swaps in when done, and would
        # drop what was written to the board meanwhile (the databases make appends wait too).
        async with self._lock:
            data = self._board(board_id)
            seqs: list[int] = []
            for update, origin in burst:
                data.last_seq += 1
                data.log[data.last_seq] = StoredUpdate(data.last_seq, update, when, origin)
                seqs.append(data.last_seq)
        return seqs

    async def read_log(
        self, board_id: str, after_seq: int = 0, *, limit: int | None = None
    ) -> list[StoredUpdate]:
        """Return the log rows with seq > after_seq still held, by seq."""
        rows = [row for seq, row in self._board(board_id).log.items() if seq > after_seq]
        return rows if limit is None else rows[:limit]

    async def load(self, board_id: str) -> LoadedBoard:
        """Return the board's snapshot plus the log rows after it."""
        data = self._board(board_id)
        snapshot, snapshot_seq = data.snapshot if data.snapshot else (None, 0)
        tail = [row for seq, row in data.log.items() if seq > snapshot_seq]
        return LoadedBoard(board_id, snapshot, snapshot_seq, tail)

    async def compact(
        self,
        board_id: str,
        *,
        now: datetime | None = None,
        retention: timedelta | None = None,
        on_step: StepHook | None = None,
    ) -> CompactionResult:
        """Compact on a copy of the board and swap it in only if every step succeeded."""
        when = resolve_time(now)
        async with self._lock:
            work = copy.copy(self._board(board_id))
            work.log = dict(work.log)
            work.checkpoints = dict(work.checkpoints)
            result = await run_compaction(
                _CompactionTxn(work),
                board_id,
                now=when,
                retention=self.retention if retention is None else retention,
                on_step=on_step,
            )
            self._boards[board_id] = work
            return result

    async def load_as_of(self, board_id: str, at: datetime) -> bytes | None:
        """Return the board state at `at` as one v1 update, or None if it was empty then."""
        when = as_utc(at)
        data = self._board(board_id)
        before = [cp for cp in data.checkpoints.values() if cp.as_of <= when]
        cp = max(before, key=lambda c: c.as_of) if before else None
        updates = [row.update for row in data.log.values() if row.created_at <= when]
        return await asyncio.to_thread(state_as_of, cp.state if cp else None, updates)

    async def next_card_number(self, board_id: str) -> int:
        """Hand out the board's next card number."""
        async with self._lock:  # see append_many
            data = self._board(board_id)
            data.next_card_number += 1
            return data.next_card_number - 1

    async def get_watermark(self, board_id: str) -> int:
        """Return the last seq the materializer projected for the board (0 if none)."""
        return self._board(board_id).watermark

    async def list_unprojected_boards(self) -> list[tuple[str, int]]:
        """Return (board id, head seq) of every board whose watermark is behind its log head."""
        return sorted(
            (board_id, data.last_seq)
            for board_id, data in self._boards.items()
            if data.last_seq > data.watermark
        )

    async def set_watermark(self, board_id: str, projected_seq: int) -> None:
        """Record the last seq the materializer projected for the board."""
        async with self._lock:  # see append_many
            self._board(board_id).watermark = projected_seq


class _CompactionTxn:
    """CompactionTxn over a private copy of one board."""

    def __init__(self, data: _BoardData) -> None:
        self.data = data

    async def lock_head(self) -> int:
        """Return the head seq (the store lock is held)."""
        return self.data.last_seq

    async def read_snapshot(self) -> tuple[bytes | None, int]:
        """Return the current snapshot and the seq it covers."""
        return self.data.snapshot if self.data.snapshot else (None, 0)

    async def read_updates_after(self, seq: int) -> list[bytes]:
        """Return the updates with seq > `seq`, by seq."""
        return [row.update for s, row in self.data.log.items() if s > seq]

    async def read_rows_before(self, cutoff: datetime) -> list[tuple[datetime, bytes]]:
        """Return (created_at, update) of rows created before `cutoff`, by seq."""
        return [(r.created_at, r.update) for r in self.data.log.values() if r.created_at < cutoff]

    async def read_checkpoint_before(self, as_of: datetime) -> bytes | None:
        """Return the state of the latest checkpoint with as_of < `as_of`."""
        before = [cp for cp in self.data.checkpoints.values() if cp.as_of < as_of]
        return max(before, key=lambda c: c.as_of).state if before else None

    async def read_checkpoints_from(self, as_of: datetime) -> list[Checkpoint]:
        """Return the checkpoints with as_of >= `as_of`, oldest first."""
        found = [cp for cp in self.data.checkpoints.values() if cp.as_of >= as_of]
        return sorted(found, key=lambda c: c.as_of)

    async def write_snapshot(self, state: bytes, up_to_seq: int, at: datetime) -> None:
        """Replace the snapshot."""
        self.data.snapshot = (state, up_to_seq)

    async def write_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Insert or replace checkpoints keyed by as_of."""
        for cp in checkpoints:
            self.data.checkpoints[cp.as_of] = cp

    async def delete_rows_before(self, cutoff: datetime, up_to_seq: int) -> int:
        """Delete rows created before `cutoff` with seq <= up_to_seq; return the count."""
        doomed = [s for s, r in self.data.log.items() if r.created_at < cutoff and s <= up_to_seq]
        for seq in doomed:
            del self.data.log[seq]
        return len(doomed)
