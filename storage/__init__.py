"""Taskly storage: the Store protocol and its SQLite and Postgres implementations.

Boards are stored as an append-only log of Yjs v1 updates plus a compacted snapshot, with
dated checkpoints keeping history beyond the log's retention window.
"""

from storage._auth_protocol import AuthStore
from storage._auth_records import (
    ROLES,
    AccessToken,
    Member,
    RefreshToken,
    Role,
    RotationResult,
    RotationStatus,
    User,
)
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
    InvalidRole,
    InvalidUpdate,
    LastOwner,
    MemberNotFound,
    MigrationError,
    NotFound,
    StorageError,
    StorageUnavailable,
    TokenNotFound,
    UserNotFound,
    WorkspaceNotFound,
)
from storage.memory import InMemoryStore
from storage.postgres import PostgresStore
from storage.sqlite import SQLiteStore

__all__ = [
    "DEFAULT_RETENTION",
    "ROLES",
    "STEPS",
    "AccessToken",
    "AuthStore",
    "Board",
    "BoardNotFound",
    "Checkpoint",
    "CompactionResult",
    "Conflict",
    "InMemoryStore",
    "InvalidRole",
    "InvalidUpdate",
    "LastOwner",
    "LoadedBoard",
    "Member",
    "MemberNotFound",
    "MigrationError",
    "NotFound",
    "OriginKind",
    "PostgresStore",
    "RefreshToken",
    "Role",
    "RotationResult",
    "RotationStatus",
    "SQLiteStore",
    "StepHook",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "StoredUpdate",
    "TokenNotFound",
    "UpdateOrigin",
    "User",
    "UserNotFound",
    "Workspace",
    "WorkspaceNotFound",
    "open_store",
    "redact_url",
]
