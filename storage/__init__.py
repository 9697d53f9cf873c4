"""Taskly storage: the Store protocol and its SQLite and Postgres implementations.

Boards are stored as an append-only log of Yjs v1 updates plus a compacted snapshot, with
dated checkpoints keeping history beyond the log's retention window. The materialized tables
hold each board's projection (crdt_model.project) for queries, full-text search and activity.
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
from storage._materialized_protocol import MaterializedStore
from storage._materialized_records import (
    MAX_PAGE_LIMIT,
    ActivityRef,
    CardActivity,
    CardHit,
    CardPage,
    CardQuery,
    CardSort,
    MaterializedBoard,
    ProjectionBatch,
)
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
    CardNotFound,
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
    "MAX_PAGE_LIMIT",
    "ROLES",
    "STEPS",
    "AccessToken",
    "ActivityRef",
    "AuthStore",
    "Board",
    "BoardNotFound",
    "CardActivity",
    "CardHit",
    "CardNotFound",
    "CardPage",
    "CardQuery",
    "CardSort",
    "Checkpoint",
    "CompactionResult",
    "Conflict",
    "InMemoryStore",
    "InvalidRole",
    "InvalidUpdate",
    "LastOwner",
    "LoadedBoard",
    "MaterializedBoard",
    "MaterializedStore",
    "Member",
    "MemberNotFound",
    "MigrationError",
    "NotFound",
    "OriginKind",
    "PostgresStore",
    "ProjectionBatch",
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
