"""The Store protocol: the one seam between Taskly and its databases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from pycrdt import Doc

from storage._auth_protocol import AuthStore
from storage._materialized_protocol import MaterializedStore
from storage._records import (
    Board,
    CompactionResult,
    LoadedBoard,
    StoredUpdate,
    UpdateOrigin,
    Workspace,
)

#: A test-only hook compact() calls with the name of each step it completes (see _compaction).
StepHook = Callable[[str], None]


@runtime_checkable
class Store(AuthStore, MaterializedStore, Protocol):
    """Persistent home of workspaces, boards and each board's update log, snapshot and history,
    of users, tokens and workspace memberships (AuthStore), and of the boards' materialized
    tables (MaterializedStore).

    Every method raises only StorageError subclasses (driver errors are translated), except
    ValueError for a naive datetime argument or a malformed batch, query, cursor or limit of
    the materialized tables.
    """

    async def __aenter__(self) -> Self:
        """Open the store (and migrate it, unless disabled)."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...

    async def open(self) -> None:
        """Connect, configure and (unless disabled) migrate."""
        ...

    async def close(self) -> None:
        """Release every connection; idempotent."""
        ...

    async def ping(self) -> None:
        """Run a trivial query; raise StorageUnavailable if the database does not answer."""
        ...

    async def migrate(self) -> list[str]:
        """Apply pending schema migrations in order; return the versions applied now."""
        ...

    # -- workspaces and boards -------------------------------------------------------------

    async def create_workspace(
        self, name: str, *, id: str | None = None, at: datetime | None = None
    ) -> Workspace:
        """Create a workspace; raise Conflict if `id` is taken."""
        ...

    async def get_workspace(self, workspace_id: str) -> Workspace:
        """Return a workspace; raise WorkspaceNotFound."""
        ...

    async def list_workspaces(self) -> list[Workspace]:
        """Return every workspace, oldest first."""
        ...

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
        ...

    async def get_board(self, board_id: str) -> Board:
        """Return a board; raise BoardNotFound."""
        ...

    async def list_boards(self, workspace_id: str | None = None) -> list[Board]:
        """Return every board (of one workspace, if given), oldest first."""
        ...

    async def set_board_archived(
        self, board_id: str, archived: bool, *, at: datetime | None = None
    ) -> Board:
        """Archive (or unarchive) a board; raise BoardNotFound.

        Archiving sets `archived_at` to `at` (default now), unless the board is archived
        already (it keeps its first time); unarchiving clears it. Returns the board as now.
        """
        ...

    # -- the update log ----------------------------------------------------------------------

    async def append(
        self, board_id: str, update: bytes, origin: UpdateOrigin, *, at: datetime | None = None
    ) -> int:
        """Append one update durably (committed on return); return its seq."""
        ...

    async def append_many(
        self,
        board_id: str,
        updates: Sequence[tuple[bytes, UpdateOrigin]],
        *,
        at: datetime | None = None,
    ) -> list[int]:
        """Append a burst in one transaction (group commit), in order; return their seqs."""
        ...

    async def read_log(
        self, board_id: str, after_seq: int = 0, *, limit: int | None = None
    ) -> list[StoredUpdate]:
        """Return the log rows with seq > after_seq still held, by seq."""
        ...

    async def load(self, board_id: str) -> LoadedBoard:
        """Return the board's snapshot plus the log rows after it, read consistently."""
        ...

    async def load_doc(self, board_id: str) -> Doc[Any]:
        """Return a new pycrdt Doc holding the board's current state."""
        ...

    async def compact(
        self,
        board_id: str,
        *,
        now: datetime | None = None,
        retention: timedelta | None = None,
        on_step: StepHook | None = None,
    ) -> CompactionResult:
        """Merge the log into a new snapshot and fold old rows into checkpoints, atomically."""
        ...

    async def load_as_of(self, board_id: str, at: datetime) -> bytes | None:
        """Return the board state at `at` as one v1 update, or None if it was empty then."""
        ...

    # -- counters ------------------------------------------------------------------------------

    async def next_card_number(self, board_id: str) -> int:
        """Hand out the board's next card number (atomic, unique across processes)."""
        ...

    async def get_watermark(self, board_id: str) -> int:
        """Return the last seq the materializer projected for the board (0 if none)."""
        ...

    async def list_unprojected_boards(self) -> list[tuple[str, int]]:
        """Return (board id, head seq) of every board whose watermark is behind its log head."""
        ...

    async def set_watermark(self, board_id: str, projected_seq: int) -> None:
        """Record the last seq the materializer projected for the board."""
        ...
