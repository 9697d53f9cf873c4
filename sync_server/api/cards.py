"""Cards: query, create, read, patch any field, move, delete, and bulk updates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from msgspec import UnsetType

from crdt_model import is_canonical_id
from storage import CardQuery, NotFound
from sync_server.access.permissions import Action
from sync_server.api import bodies as b
from sync_server.api import edits, live, views
from sync_server.api.common import ApiRoute, Call, model_problem
from sync_server.http_auth import ApiProblem

TAG = "cards"


def card_id_of(call: Call) -> str:
    """The card the path names; 404 if it cannot be an id."""
    card_id = call.path["card_id"]
    if not is_canonical_id(card_id):
        raise ApiProblem(404, "no such card")
    return card_id


async def read_card(call: Call, card_id: str) -> b.Card:
    """Read one card from the materialized tables; 404 if it is not there."""
    try:
        hit = await call.store.get_card_row(call.board_id, card_id)
    except NotFound:
        raise ApiProblem(404, "no such card") from None
    return views.card_hit(hit)


async def check_assignees(call: Call, assignees: Iterable[str], field: str = "assignees") -> None:
    """Refuse (422) an assignee who is not a member of the board's workspace."""
    assert call.workspace_id is not None
    for user_id in dict.fromkeys(assignees):
        if await call.store.get_member_role(call.workspace_id, user_id) is None:
            raise ApiProblem(
                422, f"{field}: {user_id} is not a member of this workspace", field=field
            )


def _card_query(f: b.CardFilter, **scope: str | None) -> CardQuery:
    if f.due_from is not None and f.due_to is not None and f.due_to < f.due_from:
        raise ApiProblem(422, "due_to: must not be before due_from", field="due_to")
    return CardQuery(
        **scope,
        column_id=f.column_id,
        column_role=f.column_role,
        assignee=f.assignee,
        label=f.label,
        sprint_id=f.sprint_id,
        priority=f.priority,
        due_from=f.due_from,
        due_to=f.due_to,
        archived=None if f.archived == "any" else f.archived == "true",
        text=f.q,
        sort=f.sort,
        limit=f.limit,
        cursor=f.cursor,
    )


async def _page(call: Call, query: CardQuery) -> b.CardPage:
    try:
        page = await call.store.query_cards(query)
    except ValueError:  # a cursor that is not one of ours, or of another query
        raise ApiProblem(422, "cursor: not a cursor of this query", field="cursor") from None
    return b.CardPage(
        items=[views.card_hit(hit) for hit in page.items], next_cursor=page.next_cursor
    )


async def query_cards(call: Call) -> b.CardPage:
    """Filter, search, sort and page the board's cards."""
    return await _page(call, _card_query(call.query, board_id=call.board_id))


async def query_workspace_cards(call: Call) -> b.CardPage:
    """Filter, search, sort and page the cards of every board of the workspace."""
    query: b.WorkspaceCardFilter = call.query
    if query.board_id is not None:
        board_ids = {board.id for board in await call.store.list_boards(call.workspace_id)}
        if query.board_id not in board_ids:
            raise ApiProblem(422, "board_id: no such board in this workspace", field="board_id")
    return await _page(
        call, _card_query(query, workspace_id=call.workspace_id, board_id=query.board_id)
    )


async def create_card(call: Call) -> b.Card:
    """Create a card (numbered at once) with any of its fields, in one transaction."""
    body: b.CardCreate = call.body
    await check_assignees(call, body.assignees)
    number = await call.store.next_card_number(call.board_id)
    card_id = await live.write(
        call,
        lambda board: edits.create_card(board, body, created_by=call.user_id, number=number),
    )
    return await read_card(call, card_id)


async def get_card(call: Call) -> b.Card:
    """One card."""
    return await read_card(call, card_id_of(call))


async def patch_card(call: Call) -> b.Card:
    """Change any fields of a card, and move it, in one transaction: all or nothing."""
    card_id = card_id_of(call)
    body: b.CardPatch = call.body
    if not isinstance(body.assignees, UnsetType):
        await check_assignees(call, body.assignees)
    await live.write(call, lambda board: edits.patch_card(board, card_id, body))
    return await read_card(call, card_id)


async def move_card(call: Call) -> b.Card:
    """Move a card to a column, next to a card or to a position."""
    card_id = card_id_of(call)
    body: b.CardMove = call.body
    await live.write(call, lambda board: edits.move_card(board, card_id, body))
    return await read_card(call, card_id)


async def delete_card(call: Call) -> None:
    """Delete a card and its comments for good (archive it with PATCH to keep it)."""
    card_id = card_id_of(call)
    await live.write(call, lambda board: board.delete_card(card_id))


async def bulk_update(call: Call) -> b.CardList:
    """Patch many cards in one document transaction: all of them, or none (422 names the item)."""
    body: b.CardBulkUpdate = call.body
    for index, item in enumerate(body.cards):
        if not isinstance(item.assignees, UnsetType):
            field = f"cards[{index}].assignees"
            try:
                await check_assignees(call, item.assignees, field)
            except ApiProblem as problem:
                problem.extensions["index"] = index
                raise
    try:
        card_ids = await live.write(call, lambda board: edits.bulk_update(board, body.cards))
    except edits.BulkRefused as refused:
        raise model_problem(
            refused.error, index=refused.index, prefix=f"cards[{refused.index}]."
        ) from None
    return b.CardList(cards=[await read_card(call, card_id) for card_id in card_ids])


W: Final = "workspace"
B: Final = "board"
CARDS = "/api/boards/{board_id}/cards"
CARD = CARDS + "/{card_id}"

ROUTES = [
    ApiRoute(
        "GET",
        CARDS,
        query_cards,
        "Query the board's cards: filters, full-text search, sort, cursor pages",
        TAG,
        B,
        Action.BOARD_READ,
        query=b.CardFilter,
        response=b.CardPage,
        operation_id="queryCards",
    ),
    ApiRoute(
        "GET",
        "/api/workspaces/{workspace_id}/cards",
        query_workspace_cards,
        "Query the cards of every board of the workspace",
        TAG,
        W,
        Action.BOARD_READ,
        query=b.WorkspaceCardFilter,
        response=b.CardPage,
        operation_id="queryWorkspaceCards",
    ),
    ApiRoute(
        "POST",
        CARDS,
        create_card,
        "Create a card",
        TAG,
        B,
        Action.BOARD_WRITE,
        body=b.CardCreate,
        response=b.Card,
        status=201,
        operation_id="createCard",
    ),
    ApiRoute(
        "PATCH",
        CARDS,
        bulk_update,
        "Update many cards in one transaction (all or nothing)",
        TAG,
        B,
        Action.BOARD_WRITE,
        body=b.CardBulkUpdate,
        response=b.CardList,
        operation_id="bulkUpdateCards",
    ),
    ApiRoute(
        "GET",
        CARD,
        get_card,
        "Get a card",
        TAG,
        B,
        Action.BOARD_READ,
        response=b.Card,
        operation_id="getCard",
    ),
    ApiRoute(
        "PATCH",
        CARD,
        patch_card,
        "Change any fields of a card (and move it)",
        TAG,
        B,
        Action.BOARD_WRITE,
        body=b.CardPatch,
        response=b.Card,
        operation_id="patchCard",
    ),
    ApiRoute(
        "DELETE",
        CARD,
        delete_card,
        "Delete a card and its comments",
        TAG,
        B,
        Action.BOARD_WRITE,
        status=204,
        operation_id="deleteCard",
    ),
    ApiRoute(
        "POST",
        CARD + "/move",
        move_card,
        "Move a card",
        TAG,
        B,
        Action.BOARD_WRITE,
        body=b.CardMove,
        response=b.Card,
        operation_id="moveCard",
    ),
]
