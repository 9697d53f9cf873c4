"""The exception hierarchy of storage: every driver error leaves the package as a StorageError."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error the storage package raises."""


class NotFound(StorageError):
    """A row the caller named does not exist."""


class BoardNotFound(NotFound):
    """The board does not exist (or was deleted)."""

    def __init__(self, board_id: str) -> None:
        super().__init__(f"board {board_id!r} does not exist")
        self.board_id = board_id


class WorkspaceNotFound(NotFound):
    """The workspace does not exist."""

    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"workspace {workspace_id!r} does not exist")
        self.workspace_id = workspace_id


class Conflict(StorageError):
    """A write clashed with existing data (duplicate id) or with a concurrent writer."""


class InvalidUpdate(StorageError, ValueError):
    """Bytes offered for the update log are not acceptable (empty, or not bytes)."""


class StorageUnavailable(StorageError):
    """The database cannot be reached, is locked for too long, or the store is closed."""


class MigrationError(StorageError):
    """A schema migration failed, or the database schema is newer than this code."""
