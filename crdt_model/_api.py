"""`Board`: the typed reads and every operation of the board schema, on one pycrdt Doc."""

from __future__ import annotations

from crdt_model._board import BoardOps
from crdt_model._cards import CardOps
from crdt_model._git import GitOps


class Board(BoardOps, CardOps, GitOps):
    """A board document with typed reads and validated operations.

    Every operation takes an optional `origin` (the transaction origin) and joins an
    enclosing transaction if one is open; it validates all its arguments before writing.
    """
