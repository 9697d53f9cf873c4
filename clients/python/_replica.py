"""`BoardReplica`: a full local replica of one board, editable offline, durable per edit.

The document lives in memory (pycrdt, edited through `crdt_model.Board`); every transaction's
update is appended to the replica file from inside pycrdt's commit callback, so when an
operation such as `replica.board.create_card(...)` returns, its update is already fsynced.
Opening the file rebuilds the document from the snapshot plus the rows after it.

What the server has is tracked as a watermark: `confirmed_seq`, the highest local row the
server is known to have stored (see `_sync.py` for how the sync session learns it), plus the
union of the server state vectors seen. `pending_edits()` counts local rows above the watermark.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pycrdt import Doc, Map, TransactionEvent

from clients.python._errors import ReplicaError
from clients.python._log import ReplicaFile, Row
from crdt_model import Board, BoardRow, ModelError, apply_update
from crdt_model.sync_protocol import merge_state_vectors

# pycrdt reports a transaction that changed nothing as this update.
EMPTY_UPDATE: Final = b"\x00\x00"
# Compact on open once this many rows sit outside the snapshot.
COMPACT_AFTER_ROWS: Final = 500

UpdateSink = Callable[[bytes], None]


class BoardReplica:
    """One board's document, its replica file and what the server confirmed."""

    def __init__(self, file: ReplicaFile, board_id: str) -> None:
        """Wrap an open replica file; use BoardReplica.open()."""
        self.file = file
        self.board_id = board_id
        # A fresh Yjs client id per opening, as Yjs does: reusing one after a crash could
        # reuse clocks the server already holds from a row that never reached this file.
        self.doc: Doc[Any] = Doc(client_id=random.getrandbits(52) + 1)
        self.board = Board(self.doc)
        self._applying: str | None = None  # "remote" or "file" while applying such bytes
        self._last_seen = 0  # every row up to here (and the snapshot) is in self.doc
        self._data_version = -1
        self._own_rows: set[int] = set()
        self._sinks: list[UpdateSink] = []
        self._load()
        self.doc.observe(self._on_transaction)

    @classmethod
    def open(cls, path: Path, board_id: str) -> BoardReplica:
        """Open (or create) the replica of `board_id` stored at `path`."""
        file = ReplicaFile(path)
        try:
            stored = file.get_meta("board_id")
            if stored is None:
                file.set_meta("board_id", board_id)
            elif stored != board_id:
                raise ReplicaError(f"{path} holds board {stored}, not {board_id}")
            replica = cls(file, board_id)
            if file.count_rows() > COMPACT_AFTER_ROWS:
                replica.compact()
            return replica
        except BaseException:
            file.close()
            raise

    def close(self) -> None:
        """Close the file; every acknowledged edit is already in it."""
        self._sinks.clear()
        self.file.close()

    def __enter__(self) -> BoardReplica:
        """Use as a context manager that closes the replica."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the replica."""
        self.close()

    # -- loading and other processes' rows -----------------------------------------------------

    def _load(self) -> None:
        with self._apply_as("file"):
            snapshot = self.file.snapshot()
            if snapshot is not None:
                self._apply(snapshot.data)
                self._last_seen = snapshot.upto_seq
            for row in self.file.rows_after(self._last_seen):
                self._apply(row.data)
                self._last_seen = row.seq
        self._data_version = self.file.data_version()

    def refresh(self) -> int:
        """Apply rows other processes appended since the last look; return how many.

        Cheap when nothing changed (one PRAGMA). The applied rows are offered to the update
        sinks (the sync session sends them), but not appended again.
        """
        version = self.file.data_version()
        if version == self._data_version:
            return 0
        self._data_version = version
        return self._catch_up()

    def _catch_up(self) -> int:
        applied = 0
        with self._apply_as("file"):
            snapshot = self.file.snapshot()
            if snapshot is not None and snapshot.upto_seq > self._last_seen:
                # Another process compacted rows this one never read: they are in the snapshot.
                self._apply(snapshot.data)
                self._last_seen = snapshot.upto_seq
                applied += 1
            rows: list[Row] = self.file.rows_after(self._last_seen)
            for row in rows:
                if row.seq not in self._own_rows:
                    self._apply(row.data)
                    applied += 1
                self._last_seen = row.seq
        self._own_rows = {seq for seq in self._own_rows if seq > self._last_seen}
        return applied

    @contextmanager
    def _apply_as(self, kind: str) -> Iterator[None]:
        outer, self._applying = self._applying, kind
        try:
            yield
        finally:
            self._applying = outer

    def _apply(self, update: bytes) -> None:
        try:
            apply_update(self.doc, update, checked=False)
        except ModelError as exc:
            raise ReplicaError(f"{self.file.path}: a stored update is unreadable: {exc}") from None

    # -- the commit callback -------------------------------------------------------------------

    def _on_transaction(self, event: TransactionEvent) -> None:
        update: bytes = event.update
        if update == EMPTY_UPDATE:
            return
        if self._applying == "file":
            pass  # already in the file (another process's row, or our own load)
        elif self._applying == "remote":
            # Stored too, so that reopening offline shows what the server sent.
            self._append(update, "remote")
        else:
            # A local edit: durable before the operation that made it returns.
            self._append(update, "local")
        if self._applying != "remote":
            for sink in list(self._sinks):
                sink(update)

    def _append(self, update: bytes, origin: Any) -> None:
        seq = self.file.append(update, origin)
        if seq == self._last_seen + 1:
            self._last_seen = seq  # nobody else wrote in between: no need to re-read
        else:
            self._own_rows.add(seq)

    # -- used by the sync session --------------------------------------------------------------

    def apply_remote(self, update: bytes) -> None:
        """Apply an update received from the server (stored, not sent back)."""
        with self._apply_as("remote"):
            try:
                apply_update(self.doc, update, checked=True)
            except ModelError as exc:
                raise ReplicaError(f"the server sent an unreadable update: {exc}") from None

    def add_sink(self, sink: UpdateSink) -> None:
        """Call `sink(update)` for every local edit (and other processes' rows) from now on."""
        self._sinks.append(sink)

    def remove_sink(self, sink: UpdateSink) -> None:
        """Stop calling `sink`."""
        if sink in self._sinks:
            self._sinks.remove(sink)

    def watermark(self) -> int:
        """The highest seq whose update is in the document (after catching up with the file)."""
        self._catch_up()
        return max(self._last_seen, max(self._own_rows, default=0))

    def confirm(self, seq: int, server_state: bytes) -> None:
        """Record that the server stored every row up to `seq` and has at least `server_state`."""
        self.file.begin_immediate()
        try:
            current = self.confirmed_seq()
            self.file.set_meta("confirmed_seq", str(max(current, seq)))
            known = self.server_state_vector()
            merged = server_state if known is None else merge_state_vectors(known, server_state)
            self.file.set_meta("server_sv", merged)
            self.file.set_meta("synced_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            self.file.commit()
        except BaseException:
            self.file.rollback()
            raise

    # -- status ----------------------------------------------------------------------------

    def confirmed_seq(self) -> int:
        """The highest local row the server is known to have stored (0: none)."""
        value = self.file.get_meta("confirmed_seq")
        return 0 if value is None else int(value)

    def server_state_vector(self) -> bytes | None:
        """The union of the server state vectors seen by confirmed syncs, or None."""
        return self.file.get_meta_bytes("server_sv")

    def pending_edits(self) -> int:
        """How many local edits the server has not confirmed yet."""
        return self.file.count_local_after(self.confirmed_seq())

    def last_synced_at(self) -> str | None:
        """When a sync last confirmed edits (ISO 8601 UTC), or None if never."""
        return self.file.get_meta("synced_at")

    def has_board(self) -> bool:
        """Whether the document holds the board's fields yet (False before the first sync)."""
        board = self.doc.get("board", type=Map)
        return "id" in board

    def board_row(self) -> BoardRow | None:
        """The board fields, or None before the first sync."""
        return self.board.board() if self.has_board() else None

    # -- compaction ------------------------------------------------------------------------

    def compact(self) -> None:
        """Fold every row the server confirmed into the snapshot (one transaction).

        Unconfirmed local rows stay as rows so that `pending_edits` can count them. Under the
        file's write lock the document first takes in the current snapshot and every row, so
        the new snapshot never drops what another process wrote or compacted meanwhile.
        """
        self.file.begin_immediate()
        try:
            self._catch_up()
            upto = min(self.confirmed_seq(), self._last_seen)
            existing = self.file.snapshot()
            if upto <= (0 if existing is None else existing.upto_seq):
                self.file.rollback()
                return
            if existing is not None:
                with self._apply_as("file"):
                    self._apply(existing.data)
            self.file.replace_snapshot(self.doc.get_update(), upto)
            self.file.commit()
        except BaseException:
            self.file.rollback()
            raise
