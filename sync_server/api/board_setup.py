"""Creating a board: its store record plus its first document, as update 1 of its log.

Shared by `taskly board create` and `POST /api/workspaces/{id}/boards`, so a board made either
way is the same: the board fields of `board-schema.md` and the five standard columns.
"""

from __future__ import annotations

from crdt_model import Board as BoardDoc
from crdt_model import new_board, new_id
from storage import Board, Store, UpdateOrigin

SERVER_ORIGIN = UpdateOrigin("server")


def check_new_board(name: str, card_prefix: str, repo: str | None = None) -> None:
    """Raise crdt_model's ValidationError if a board could not have these fields."""
    new_board(new_id(), name, new_id(), card_prefix, repo)


async def create_board_with_document(
    store: Store,
    workspace_id: str,
    name: str,
    card_prefix: str,
    *,
    repo: str | None = None,
    origin: UpdateOrigin = SERVER_ORIGIN,
) -> tuple[Board, int]:
    """Create the board record and append its first document; return the record and its seq.

    The fields are checked (crdt_model's ValidationError) before the store is touched.
    """
    board_id = new_id()
    doc = new_board(board_id, name, workspace_id, card_prefix, repo, standard_columns=True)
    clean_name = BoardDoc(doc).board().name
    board = await store.create_board(workspace_id, clean_name, card_prefix, id=board_id)
    seq = await store.append(board.id, doc.get_update(), origin)
    return board, seq
