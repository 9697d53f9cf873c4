"""Compaction and history, shared by every backend.

State model (the invariants every backend keeps):

* The current state is the snapshot (every update with seq <= up_to_seq) plus the log rows
  with seq > up_to_seq.
* Every update ever appended is either still in the log, or *folded*: deleted from the log and
  merged into the dated checkpoint of its UTC day and of every later checkpointed day.
* A checkpoint with `as_of` T (the last microsecond of a UTC day) holds every folded update
  with created_at <= T and nothing created after T; `up_to_seq` is the log head when it was
  written (informational). Log rows are never in a checkpoint: a row is deleted from the log
  in the same transaction that folds it.
* So the state at time t is: the latest checkpoint with as_of <= t, plus every log row with
  created_at <= t. Those rows are normally all newer than the checkpoint; older ones are late
  arrivals (an import with a past `at`) and must be applied too.

Compaction (one transaction, holding the board's write lock) rewrites the snapshot from
snapshot + tail, then folds the log rows older than `start_of_day(now - retention)` into
checkpoints. Only whole days are folded, so history is exact for any time from
start_of_day(now - retention) on; before that, it is exact at every day's end and otherwise
shows the end of the previous checkpointed day (one UTC day resolution).

Merging is done by applying updates to a pycrdt Doc and encoding its state: measured 20x
faster than merge_updates, and smaller because the Doc garbage-collects overwritten values.
Everything merged here was read back from the store, so crdt_model's structural v1 check
(pure Python, ~65 ns per byte: 0.45 s for a 10,000-card snapshot) is skipped with
checked=False; pycrdt still refuses undecodable bytes. The pycrdt work runs in a worker
thread (pure bytes in and out), so a big board does not stall the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pycrdt import Doc

from crdt_model import apply_update, encode_state
from storage._protocol import StepHook
from storage._records import Checkpoint, CompactionResult
from storage._time import end_of_day, start_of_day

DEFAULT_RETENTION = timedelta(days=30)

#: The steps compact() reports to its test-only hook, in order. A failure raised at any of
#: them rolls the whole compaction back.
STEPS = ("read", "merged", "snapshot_written", "checkpoints_written", "log_pruned")


class CompactionTxn(Protocol):
    """The reads and writes compaction needs, all inside one write transaction of a backend."""

    async def lock_head(self) -> int:
        """Lock the board against appends and return its head seq; raise BoardNotFound."""
        ...

    async def read_snapshot(self) -> tuple[bytes | None, int]:
        """Return the current snapshot and the seq it covers (None, 0 when there is none)."""
        ...

    async def read_updates_after(self, seq: int) -> list[bytes]:
        """Return the updates of the log rows with seq > `seq`, by seq."""
        ...

    async def read_rows_before(self, cutoff: datetime) -> list[tuple[datetime, bytes]]:
        """Return (created_at, update) of the log rows created before `cutoff`, by seq."""
        ...

    async def read_checkpoint_before(self, as_of: datetime) -> bytes | None:
        """Return the state of the latest checkpoint with as_of < `as_of`, if any."""
        ...

    async def read_checkpoints_from(self, as_of: datetime) -> list[Checkpoint]:
        """Return the checkpoints with as_of >= `as_of`, oldest first."""
        ...

    async def write_snapshot(self, state: bytes, up_to_seq: int, at: datetime) -> None:
        """Insert or replace the board's snapshot."""
        ...

    async def write_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Insert or replace these checkpoints (keyed by as_of)."""
        ...

    async def delete_rows_before(self, cutoff: datetime, up_to_seq: int) -> int:
        """Delete the log rows created before `cutoff` with seq <= up_to_seq; return the count."""
        ...


def fold_cutoff(now: datetime, retention: timedelta) -> datetime:
    """Return the instant before which log rows are folded: whole UTC days only."""
    return start_of_day(now - retention)


def merge_state(*updates: bytes) -> bytes:
    """Return the state of a fresh Doc with every update applied, as one v1 update."""
    doc: Doc[Any] = Doc()
    with doc.transaction():
        for update in updates:
            apply_update(doc, update, checked=False)
    return encode_state(doc)


def state_as_of(checkpoint: bytes | None, updates: Sequence[bytes]) -> bytes | None:
    """Return checkpoint + updates merged, or None when there is nothing at all."""
    if checkpoint is None and not updates:
        return None
    head = [checkpoint] if checkpoint is not None else []
    return merge_state(*head, *updates)


def fold_into_checkpoints(
    base: bytes | None,
    existing: Sequence[Checkpoint],
    rows: Sequence[tuple[datetime, bytes]],
    up_to_seq: int,
) -> list[Checkpoint]:
    """Return the checkpoints to write after folding `rows` (all created before the cutoff).

    `existing` are the checkpoints dated on or after the first folded day and `base` the
    state of the checkpoint just before it. Walking the days in order, one Doc accumulates the
    base, each existing checkpoint and each day's rows, so every checkpoint from the first
    folded day on is rewritten cumulative (a late row reaches every later checkpoint too).
    """
    if not rows:
        return []
    by_day: dict[datetime, list[bytes]] = {}
    for created_at, update in rows:
        by_day.setdefault(end_of_day(created_at), []).append(update)
    old = {cp.as_of: cp.state for cp in existing}
    doc: Doc[Any] = Doc()
    if base is not None:
        apply_update(doc, base, checked=False)
    written: list[Checkpoint] = []
    for as_of in sorted(by_day.keys() | old.keys()):
        with doc.transaction():
            if as_of in old:
                apply_update(doc, old[as_of], checked=False)
            for update in by_day.get(as_of, ()):
                apply_update(doc, update, checked=False)
        written.append(Checkpoint(as_of=as_of, up_to_seq=up_to_seq, state=encode_state(doc)))
    return written


def _plan(
    snapshot: bytes | None,
    tail: list[bytes],
    base: bytes | None,
    existing: list[Checkpoint],
    rows: list[tuple[datetime, bytes]],
    up_to_seq: int,
) -> tuple[bytes | None, list[Checkpoint]]:
    """Compute the new snapshot (None if unchanged) and checkpoints; pure, runs in a thread."""
    new_snapshot = state_as_of(snapshot, tail) if tail else None
    return new_snapshot, fold_into_checkpoints(base, existing, rows, up_to_seq)


async def run_compaction(
    txn: CompactionTxn,
    board_id: str,
    *,
    now: datetime,
    retention: timedelta,
    on_step: StepHook | None,
) -> CompactionResult:
    """Run one compaction inside `txn`; the caller commits, or rolls back if this raises."""

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    head = await txn.lock_head()
    snapshot, snapshot_seq = await txn.read_snapshot()
    tail = await txn.read_updates_after(snapshot_seq)
    cutoff = fold_cutoff(now, retention)
    rows = await txn.read_rows_before(cutoff)
    base: bytes | None = None
    existing: list[Checkpoint] = []
    if rows:
        first_day = end_of_day(min(created_at for created_at, _ in rows))
        base = await txn.read_checkpoint_before(first_day)
        existing = await txn.read_checkpoints_from(first_day)
    step("read")
    new_snapshot, checkpoints = await asyncio.to_thread(
        _plan, snapshot, tail, base, existing, rows, head
    )
    step("merged")
    if new_snapshot is not None:
        await txn.write_snapshot(new_snapshot, head, now)
    step("snapshot_written")
    if checkpoints:
        await txn.write_checkpoints(checkpoints)
    step("checkpoints_written")
    folded = await txn.delete_rows_before(cutoff, head) if rows else 0
    step("log_pruned")
    size = len(new_snapshot) if new_snapshot is not None else len(snapshot or b"")
    return CompactionResult(
        board_id=board_id,
        snapshot_seq=head if new_snapshot is not None else snapshot_seq,
        snapshot_bytes=size,
        merged_updates=len(tail),
        folded_updates=folded,
        checkpoints_written=len(checkpoints),
        retained_since=cutoff,
    )
