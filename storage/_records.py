"""Plain records the Store hands out and takes in (msgspec Structs, immutable)."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

import msgspec

OriginKind = Literal["user", "api", "git_bridge", "import", "server"]
ORIGIN_KINDS: Final[frozenset[str]] = frozenset(get_args(OriginKind))


class UpdateOrigin(msgspec.Struct, frozen=True):
    """Who or what made an update: a kind plus an optional actor (user id, delivery id...)."""

    kind: OriginKind
    actor: str | None = None


class Workspace(msgspec.Struct, frozen=True):
    """A workspace row."""

    id: str
    name: str
    created_at: datetime


class Board(msgspec.Struct, frozen=True):
    """A board row (its document lives in the update log, not here)."""

    id: str
    workspace_id: str
    name: str
    card_prefix: str
    created_at: datetime
    archived_at: datetime | None = None


class StoredUpdate(msgspec.Struct, frozen=True):
    """One row of a board's update log."""

    seq: int
    update: bytes
    created_at: datetime
    origin: UpdateOrigin


class LoadedBoard(msgspec.Struct, frozen=True):
    """A board's current state: the compacted snapshot plus the log rows after it, by seq."""

    board_id: str
    snapshot: bytes | None
    snapshot_seq: int
    tail: list[StoredUpdate]

    @property
    def head_seq(self) -> int:
        """Return the highest seq this state includes."""
        return self.tail[-1].seq if self.tail else self.snapshot_seq

    def updates(self) -> list[bytes]:
        """Return the updates to apply in order to rebuild the document."""
        head = [self.snapshot] if self.snapshot is not None else []
        return head + [row.update for row in self.tail]


class CompactionResult(msgspec.Struct, frozen=True):
    """What one compaction did."""

    board_id: str
    snapshot_seq: int
    snapshot_bytes: int
    merged_updates: int
    folded_updates: int
    checkpoints_written: int
    retained_since: datetime

    @property
    def changed(self) -> bool:
        """Return True if the compaction wrote anything."""
        return self.merged_updates > 0 or self.folded_updates > 0


class Checkpoint(msgspec.Struct, frozen=True):
    """A dated checkpoint: the board state of every folded update with created_at <= as_of."""

    as_of: datetime
    up_to_seq: int
    state: bytes
