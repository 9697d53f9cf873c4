"""Comments on a card, and a card's activity (who changed which field, when, from what to what)."""

from __future__ import annotations

from typing import Final

from crdt_model import is_canonical_id
from sync_server.access.permissions import Action
from sync_server.api import bodies as b
from sync_server.api import live, views
from sync_server.api.cards import card_id_of, read_card
from sync_server.api.common import ApiRoute, Call
from sync_server.http_auth import ApiProblem

TAG = "comments"


async def _comments(call: Call, card_id: str) -> list[b.Comment]:
    rows = await call.store.list_comments(call.board_id, card_id)
    return [views.comment(row) for row in rows]


async def list_comments(call: Call) -> b.CommentList:
    """A card's comments, oldest first."""
    card_id = card_id_of(call)
    await read_card(call, card_id)  # 404 for a card that is not there
    return b.CommentList(comments=await _comments(call, card_id))


async def add_comment(call: Call) -> b.Comment:
    """Comment on a card as the caller."""
    card_id = card_id_of(call)
    body: b.CommentCreate = call.body
    comment_id = await live.write(
        call, lambda board: board.add_comment(card_id, call.user_id, body.body)
    )
    for comment in await _comments(call, card_id):
        if comment.id == comment_id:
            return comment
    raise ApiProblem(404, "no such card")  # deleted by someone else meanwhile


async def delete_comment(call: Call) -> None:
    """Delete one comment of a card."""
    card_id = card_id_of(call)
    comment_id = call.path["comment_id"]
    if not is_canonical_id(comment_id):
        raise ApiProblem(404, "no such comment")
    await live.write(call, lambda board: board.delete_comment(card_id, comment_id))


def _activity_cursor(cursor: str | None) -> tuple[int | None, str | None]:
    """Parse an activity cursor (`SEQ:FIELD`, from a previous page); 422 if it is not one."""
    if cursor is None:
        return None, None
    seq, _, field = cursor.partition(":")
    if not seq.isdigit() or not field or not 0 < int(seq) <= b.MAX_SAFE_INTEGER:
        raise ApiProblem(422, "cursor: not a cursor of this card's activity", field="cursor")
    return int(seq), field


async def card_activity(call: Call) -> b.ActivityPage:
    """A card's activity, newest first, a page at a time (also after the card was deleted)."""
    card_id = card_id_of(call)
    query: b.ActivityQuery = call.query
    before_seq, before_field = _activity_cursor(query.cursor)
    rows = await call.store.list_card_activity(
        call.board_id,
        card_id,
        limit=query.limit + 1,
        before_seq=before_seq,
        before_field=before_field,
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    last = rows[-1] if more and rows else None
    return b.ActivityPage(
        items=[views.activity(row) for row in rows],
        next_cursor=None if last is None else f"{last.seq}:{last.field}",
    )


B: Final = "board"
CARD = "/api/boards/{board_id}/cards/{card_id}"

ROUTES = [
    ApiRoute(
        "GET",
        CARD + "/comments",
        list_comments,
        "List a card's comments",
        TAG,
        B,
        Action.BOARD_READ,
        response=b.CommentList,
        operation_id="listComments",
    ),
    ApiRoute(
        "POST",
        CARD + "/comments",
        add_comment,
        "Comment on a card",
        TAG,
        B,
        Action.BOARD_WRITE,
        body=b.CommentCreate,
        response=b.Comment,
        status=201,
        operation_id="addComment",
    ),
    ApiRoute(
        "DELETE",
        CARD + "/comments/{comment_id}",
        delete_comment,
        "Delete a comment",
        TAG,
        B,
        Action.BOARD_WRITE,
        status=204,
        operation_id="deleteComment",
    ),
    ApiRoute(
        "GET",
        CARD + "/activity",
        card_activity,
        "A card's activity: who changed which field, when, from what to what",
        "activity",
        B,
        Action.BOARD_READ,
        query=b.ActivityQuery,
        response=b.ActivityPage,
        operation_id="cardActivity",
    ),
]
