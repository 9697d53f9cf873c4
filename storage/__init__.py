"""Taskly storage: the Store protocol and its SQLite and Postgres implementations.

Boards are stored as an append-only log of Yjs v1 updates plus a compacted snapshot, with
dated checkpoints keeping history beyond the log's retention window.
"""

from storage._base import redact_url
from storage._compaction import DEFAULT_RETENTION, STEPS
from storage._factory import open_store
from storage._protocol import StepHook, Store
from storage._records import (
    Board,
    Checkpoint,
    CompactionResult,
    LoadedBoard,
    OriginKind,
    StoredUpdate,
    UpdateOrigin,
    Workspace,
)
from storage.errors import (
    BoardNotFound,
    Conflict,
    InvalidUpdate,
    MigrationError,
    NotFound,
    StorageError,
    StorageUnavailable,
    WorkspaceNotFound,
)
from storage.memory import InMemoryStore
from storage.postgres import PostgresStore
from storage.sqlite import SQLiteStore

__all__ = [
    "DEFAULT_RETENTION",
    "STEPS",
    "Board",
    "BoardNotFound",
    "Checkpoint",
    "CompactionResult",
    "Conflict",
    "InMemoryStore",
    "InvalidUpdate",
    "LoadedBoard",
    "MigrationError",
    "NotFound",
    "OriginKind",
    "PostgresStore",
    "SQLiteStore",
    "StepHook",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "StoredUpdate",
    "UpdateOrigin",
    "Workspace",
    "WorkspaceNotFound",
    "open_store",
    "redact_url",
]
