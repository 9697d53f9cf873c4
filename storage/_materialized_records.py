"""Records of the materialized tables: what the materializer writes and the REST API reads.

The rows themselves are crdt_model's projection rows (CardRow, ColumnRow, ...): the tables hold
exactly what `crdt_model.project` says, so "tables equal the projection" is a plain equality.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final, Literal

import msgspec

from crdt_model import BoardRow, CardRow, ColumnRow, CommentRow, LabelRow, SprintRow
from storage._records import UpdateOrigin

#: rank: board display order (by board id across boards, then column position, rank, card id);
#: due: earliest due date first, cards without one last; updated: most recently changed first.
#: Every sort ends with (board id, card id), so the order is total and cursors are stable.
CardSort = Literal["rank", "due", "updated"]

#: Largest page a card query or an activity listing returns.
MAX_PAGE_LIMIT: Final = 500


class CardActivity(msgspec.Struct, frozen=True, kw_only=True):
    """One field of one card changed by one logged update: who, when, old -> new (JSON values).

    (board_id, card_id, seq, field) is unique: an entry repeating one already stored (or given
    earlier in the same batch) is ignored. old and new are stored as JSON and come back as JSON
    values (a date given comes back as its ISO string).
    """

    board_id: str
    card_id: str
    seq: int  # the update's sequence number in the board's log
    at: datetime
    origin: UpdateOrigin
    # A CardRow field name, or "card" for a creation (old None, new the whole row) or a
    # deletion (old the whole row, new None), or "comments": one entry per card and update
    # however many comments it touched (old the removed and edited comments as they were,
    # new the added and edited ones as they are).
    field: str
    old: Any = None
    new: Any = None


class ActivityRef(msgspec.Struct, frozen=True, kw_only=True):
    """Which stored activity entry: its card, update seq and field."""

    card_id: str
    seq: int
    field: str


class ProjectionBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What one materializer run changes, written in one transaction with the watermark.

    The batch is the change from the board's tables at watermark `from_seq` to those at
    `projected_seq` (0 <= from_seq < projected_seq): it is written only while the watermark is
    still `from_seq` (a compare-and-set), so of two batches computed from one watermark only
    the first written is.

    `None` for board, columns, labels or sprints means unchanged; a list replaces them all
    (boards have few). Cards and comments are incremental: only those an update touched.
    Lists keep the projection's order (it is what reads return). A card row identical to the
    stored one is not rewritten, so its `updated_at` stays; deleting a card deletes its comments,
    and comments of a card that is not stored are ignored (as the projection ignores them).
    """

    board: BoardRow | None = None
    columns: list[ColumnRow] | None = None
    labels: list[LabelRow] | None = None
    sprints: list[SprintRow] | None = None
    upsert_cards: list[CardRow] = []
    delete_cards: list[str] = []
    # Every comment of each listed card, replacing that card's comments.
    card_comments: dict[str, list[CommentRow]] = {}
    activity: list[CardActivity] = []
    # Entries of earlier batches that an entry of this one coalesces (the same person changing
    # the same field again within a few seconds): deleted in the same transaction.
    superseded_activity: list[ActivityRef] = []
    # The watermark the batch was computed from: the board's tables as they were at that seq.
    from_seq: int
    # The last log sequence this batch covers; becomes the board's watermark.
    projected_seq: int
    at: datetime


class MaterializedBoard(msgspec.Struct, frozen=True, kw_only=True):
    """A board as the tables hold it, in display order (columns and cards by rank)."""

    board: BoardRow | None
    columns: list[ColumnRow]
    cards: list[CardRow]
    labels: list[LabelRow]
    sprints: list[SprintRow]
    comments: list[CommentRow]
    projected_seq: int


class CardQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A filter over cards of one board or of every board of one workspace (at least one of the
    two is required; every given filter applies).

    `text` matches cards whose title or description hold every word of it, case-insensitively
    (words as the database's full-text tokenizer splits them; operators and quotes in it are
    plain characters); text with no word in it matches nothing. `limit` is 1..MAX_PAGE_LIMIT.
    """

    workspace_id: str | None = None
    board_id: str | None = None
    column_id: str | None = None
    column_role: str | None = None
    assignee: str | None = None
    label: str | None = None  # label id
    sprint_id: str | None = None
    priority: str | None = None
    due_from: date | None = None  # inclusive
    due_to: date | None = None  # inclusive
    archived: bool | None = False  # None: both
    text: str | None = None  # full-text search over title and description, <= 1000 chars
    sort: CardSort = "rank"
    limit: int = 50
    cursor: str | None = None  # opaque, from a previous CardPage


class CardHit(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A card found by a query, with its board and when its row last changed."""

    board_id: str
    card: CardRow
    updated_at: datetime


class CardPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a card query; `next_cursor` is None on the last page."""

    items: list[CardHit]
    next_cursor: str | None
