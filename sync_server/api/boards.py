"""Boards: list, create, read with columns and cards, rename or reconfigure, archive.

Archiving sets the board's `archived_at` (a column of the board's row, not part of its
document): the board list's `archived` filter and every answer show it, and every REST write
to an archived board is refused with 409 (live.py) until it is unarchived.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final

from msgspec import UnsetType

from crdt_model import Board
from storage import UpdateOrigin
from sync_server.access.permissions import Action
from sync_server.api import bodies as b
from sync_server.api import live, views
from sync_server.api.board_setup import create_board_with_document
from sync_server.api.common import ApiRoute, Call

TAG = "boards"


async def board_detail(
    call: Call, board_id: str, *, include_archived: bool = False
) -> b.BoardDetail:
    """Read a board with everything on it from the materialized tables."""
    record = await call.store.get_board(board_id)
    tables = await call.store.read_materialized(board_id)
    committed: dict[str, int] = defaultdict(int)
    for card in tables.cards:
        if card.sprint_id is not None and not card.archived and card.points is not None:
            committed[card.sprint_id] += card.points
    row = tables.board
    return b.BoardDetail(
        id=record.id,
        workspace_id=record.workspace_id,
        name=row.name if row is not None else record.name,
        card_prefix=row.card_prefix if row is not None else record.card_prefix,
        repo=row.repo if row is not None else None,
        created_at=record.created_at,
        archived_at=record.archived_at,
        columns=[views.column(column) for column in tables.columns],
        cards=[
            views.card(board_id, card, None)
            for card in tables.cards
            if include_archived or not card.archived
        ],
        labels=[views.label(label) for label in tables.labels],
        sprints=[views.sprint(sprint, committed[sprint.id]) for sprint in tables.sprints],
    )


async def list_boards(call: Call) -> b.BoardList:
    """The workspace's boards, oldest first."""
    assert call.workspace_id is not None
    wanted: b.BoardListQuery = call.query
    boards = await call.store.list_boards(call.workspace_id)
    if wanted.archived != "any":
        archived = wanted.archived == "true"
        boards = [board for board in boards if (board.archived_at is not None) == archived]
    return b.BoardList(boards=[views.board_summary(board) for board in boards])


async def create_board(call: Call) -> b.BoardDetail:
    """Create a board with the five standard columns; the caller's role must allow it."""
    assert call.workspace_id is not None
    body: b.BoardCreate = call.body
    board, seq = await create_board_with_document(
        call.store,
        call.workspace_id,
        body.name,
        body.card_prefix,
        repo=body.repo,
        origin=UpdateOrigin("api", call.user_id),
    )
    await live.projected(call, board.id, seq)
    return await board_detail(call, board.id)


async def get_board(call: Call) -> b.BoardDetail:
    """The board, its columns in order, its cards by column and rank, labels and sprints."""
    query: b.BoardQuery = call.query
    return await board_detail(call, call.board_id, include_archived=query.include_archived)


def _configure(board: Board, patch: b.BoardPatch) -> None:
    if not isinstance(patch.name, UnsetType):
        board.rename(patch.name)
    if not isinstance(patch.card_prefix, UnsetType):
        board.set_card_prefix(patch.card_prefix)
    if not isinstance(patch.repo, UnsetType):
        board.set_repo(patch.repo)


async def patch_board(call: Call) -> b.BoardDetail:
    """Rename the board, change its card prefix or its repository."""
    body: b.BoardPatch = call.body
    await live.write(call, lambda board: _configure(board, body))
    return await board_detail(call, call.board_id)


async def archive_board(call: Call) -> b.BoardDetail:
    """Archive the board: it stays readable and is listed with `archived=true`; every change
    to it is refused with 409 until it is unarchived. Archiving an archived board changes
    nothing (`archived_at` keeps the first time)."""
    await call.store.set_board_archived(call.board_id, True)
    return await board_detail(call, call.board_id)


async def unarchive_board(call: Call) -> b.BoardDetail:
    """Unarchive the board: it is listed again and accepts changes."""
    await call.store.set_board_archived(call.board_id, False)
    return await board_detail(call, call.board_id)


W: Final = "workspace"
B: Final = "board"
BOARD_PATH = "/api/boards/{board_id}"

ROUTES = [
    ApiRoute(
        "GET",
        "/api/workspaces/{workspace_id}/boards",
        list_boards,
        "List the workspace's boards",
        TAG,
        W,
        Action.WORKSPACE_READ,
        query=b.BoardListQuery,
        response=b.BoardList,
        operation_id="listBoards",
    ),
    ApiRoute(
        "POST",
        "/api/workspaces/{workspace_id}/boards",
        create_board,
        "Create a board with the five standard columns",
        TAG,
        W,
        Action.BOARD_CREATE,
        body=b.BoardCreate,
        response=b.BoardDetail,
        status=201,
        operation_id="createBoard",
    ),
    ApiRoute(
        "GET",
        BOARD_PATH,
        get_board,
        "Get a board with its columns, cards, labels and sprints",
        TAG,
        B,
        Action.BOARD_READ,
        query=b.BoardQuery,
        response=b.BoardDetail,
        operation_id="getBoard",
    ),
    ApiRoute(
        "PATCH",
        BOARD_PATH,
        patch_board,
        "Rename a board, or change its card prefix or repository",
        TAG,
        B,
        Action.BOARD_CONFIGURE,
        body=b.BoardPatch,
        response=b.BoardDetail,
        operation_id="patchBoard",
    ),
    ApiRoute(
        "POST",
        f"{BOARD_PATH}/archive",
        archive_board,
        "Archive a board: it stays readable and refuses changes until unarchived",
        TAG,
        B,
        Action.BOARD_ARCHIVE,
        response=b.BoardDetail,
        operation_id="archiveBoard",
        live_write=False,
    ),
    ApiRoute(
        "POST",
        f"{BOARD_PATH}/unarchive",
        unarchive_board,
        "Unarchive a board",
        TAG,
        B,
        Action.BOARD_ARCHIVE,
        response=b.BoardDetail,
        operation_id="unarchiveBoard",
        live_write=False,
    ),
]
