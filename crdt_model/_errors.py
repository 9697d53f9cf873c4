"""The exception hierarchy of crdt_model: every refusal is a typed ModelError."""

from __future__ import annotations


class ModelError(Exception):
    """Root of every error crdt_model raises on purpose."""


class ValidationError(ModelError):
    """An operation got an argument the board schema does not allow."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFoundError(ModelError):
    """An operation named a column, card, label, sprint or comment that does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} does not exist on this board")
        self.kind = kind
        self.ident = ident


class UpdateDecodeError(ModelError):
    """Bytes offered as a Yjs update could not be decoded as update format v1."""


class UnsupportedUpdateFormat(UpdateDecodeError):
    """The bytes look like a Yjs update in format v2, which Taskly refuses."""


class OriginConflictError(ModelError):
    """An operation was called inside an outer transaction that has a different origin."""

    def __init__(self, origin: object, outer: object) -> None:
        super().__init__(
            f"origin {origin!r} differs from the origin {outer!r} of the enclosing transaction"
        )
        self.origin = origin
        self.outer = outer
