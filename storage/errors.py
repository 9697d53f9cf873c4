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


class CardNotFound(NotFound):
    """The card is not in the board's materialized tables."""

    def __init__(self, board_id: str, card_id: str) -> None:
        super().__init__(f"card {card_id!r} of board {board_id!r} does not exist")
        self.board_id = board_id
        self.card_id = card_id


class WorkspaceNotFound(NotFound):
    """The workspace does not exist."""

    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"workspace {workspace_id!r} does not exist")
        self.workspace_id = workspace_id


class UserNotFound(NotFound):
    """The user does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"user {key!r} does not exist")
        self.key = key


class TokenNotFound(NotFound):
    """The access or refresh token does not exist."""


class MemberNotFound(NotFound):
    """The user is not a member of the workspace."""

    def __init__(self, workspace_id: str, user_id: str) -> None:
        super().__init__(f"user {user_id!r} is not a member of workspace {workspace_id!r}")
        self.workspace_id = workspace_id
        self.user_id = user_id


class Conflict(StorageError):
    """A write clashed with existing data (duplicate id) or with a concurrent writer."""


class InvalidUpdate(StorageError, ValueError):
    """Bytes offered for the update log are not acceptable (empty, or not bytes)."""


class LastOwner(Conflict):
    """The change would leave a workspace without an owner."""


class InvalidRole(StorageError, ValueError):
    """A role that is not one of owner, admin, member, viewer."""


class StorageUnavailable(StorageError):
    """The database cannot be reached, is locked for too long, or the store is closed."""


class MigrationError(StorageError):
    """A schema migration failed, or the database schema is newer than this code."""
