"""The replica file: one SQLite database per board holding its updates, a snapshot and meta.

Why SQLite with WAL and synchronous=FULL: an append returns only once the WAL is fsynced, so an
edit the replica reported done survives SIGKILL (and power loss). Rows are never rewritten,
only folded into the snapshot by `compact`, in one transaction, so a crash leaves either the
old or the new state. AUTOINCREMENT keeps sequence numbers unique forever (the confirmed
watermark compares against them even after compaction deleted the highest rows).

Several processes may open one file at once (`taskly sync --watch` beside `taskly card add`):
each appends its own rows and reads the others' with `rows_after`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from clients.python._errors import ReplicaError

FORMAT_VERSION: Final = 1
BUSY_TIMEOUT_MS: Final = 10_000

RowOrigin = Literal["local", "remote"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    data BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    data BLOB NOT NULL,
    upto_seq INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Row:
    """One stored update: its sequence number, who made it and the v1 update bytes."""

    seq: int
    origin: RowOrigin
    data: bytes


@dataclass(frozen=True)
class Snapshot:
    """The compacted state: every update up to `upto_seq` as one v1 update."""

    data: bytes
    upto_seq: int


class ReplicaFile:
    """The SQLite file of one board replica (sqlite3, autocommit, explicit transactions)."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the file at `path`."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ReplicaFileError(f"{path} is not a usable replica file: {exc}") from None
        version = self.get_meta("format")
        if version is None:
            self.set_meta("format", str(FORMAT_VERSION))
        elif version != str(FORMAT_VERSION):
            raise ReplicaFileError(
                f"{path} has replica format {version}, expected {FORMAT_VERSION}"
            )

    def close(self) -> None:
        """Close the connection (every append is already durable)."""
        self._db.close()

    # -- updates ----------------------------------------------------------------------------

    def append(self, data: bytes, origin: RowOrigin) -> int:
        """Store one update durably (fsynced before returning) and return its seq."""
        cursor = self._db.execute(
            "INSERT INTO updates (origin, data, at) VALUES (?, ?, ?)",
            (origin, data, time.time()),
        )
        seq = cursor.lastrowid
        assert seq is not None
        return seq

    def snapshot(self) -> Snapshot | None:
        """The compacted state, or None before the first compaction."""
        row = self._db.execute("SELECT data, upto_seq FROM snapshot WHERE id = 1").fetchone()
        return None if row is None else Snapshot(bytes(row[0]), int(row[1]))

    def rows_after(self, seq: int) -> list[Row]:
        """Every stored update with a seq above `seq`, in order."""
        return [
            Row(int(s), o, bytes(d))
            for s, o, d in self._db.execute(
                "SELECT seq, origin, data FROM updates WHERE seq > ? ORDER BY seq", (seq,)
            )
        ]

    def max_seq(self) -> int:
        """The highest seq ever assigned (0 if none), compacted rows included."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'updates'").fetchone()
        return 0 if row is None else int(row[0])

    def count_rows(self) -> int:
        """How many updates are stored outside the snapshot."""
        return int(self._db.execute("SELECT count(*) FROM updates").fetchone()[0])

    def count_local_after(self, seq: int) -> int:
        """How many local edits have a seq above `seq` (not yet confirmed by the server)."""
        query = "SELECT count(*) FROM updates WHERE origin = 'local' AND seq > ?"
        return int(self._db.execute(query, (seq,)).fetchone()[0])

    def data_version(self) -> int:
        """A number that changes when another connection commits (PRAGMA data_version)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def begin_immediate(self) -> None:
        """Start a write transaction now (other writers wait until commit or rollback)."""
        self._db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the open transaction."""
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction."""
        self._db.execute("ROLLBACK")

    def replace_snapshot(self, data: bytes, upto_seq: int) -> None:
        """Write a new snapshot and delete the rows it folds; call inside begin_immediate."""
        self._db.execute(
            "INSERT INTO snapshot (id, data, upto_seq) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET data = excluded.data, upto_seq = excluded.upto_seq",
            (data, upto_seq),
        )
        self._db.execute("DELETE FROM updates WHERE seq <= ?", (upto_seq,))

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A text meta value, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def get_meta_bytes(self, key: str) -> bytes | None:
        """A binary meta value, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: str | bytes) -> None:
        """Set a meta value (durable on return)."""
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class ReplicaFileError(ReplicaError):
    """The file cannot be used as a replica (corrupt, another format)."""
