"""Every request and response body of the REST API, as msgspec Structs.

These Structs are the single source of the wire format: handlers decode into them and encode
from them, and `openapi.py` turns them into the OpenAPI document's schemas
(`msgspec.json.schema_components`). Limits mirror the board schema (`crdt_model`), so most bad
input is refused with 422 before the document is touched; what only the document can decide
(does this column exist?) is checked against it in the same transaction as the write.

Conventions: request Structs forbid unknown fields; a PATCH field left out is unchanged
(`UNSET`), a nullable one set to `null` is cleared. Ids are lower-case canonical UUIDs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

# -- scalars ------------------------------------------------------------------------------------

ID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
NOT_BLANK: Final = r"\S"
MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_BULK: Final = 500
MAX_SET: Final = 100
MAX_PAGE: Final = 200

Id = Annotated[str, Meta(pattern=ID_PATTERN, description="a lower-case canonical UUID")]
BoardName = Annotated[str, Meta(min_length=1, max_length=100, pattern=NOT_BLANK)]
ColumnName = Annotated[str, Meta(min_length=1, max_length=100, pattern=NOT_BLANK)]
LabelName = Annotated[str, Meta(min_length=1, max_length=50, pattern=NOT_BLANK)]
SprintName = Annotated[str, Meta(min_length=1, max_length=100, pattern=NOT_BLANK)]
Title = Annotated[str, Meta(min_length=1, max_length=255, pattern=NOT_BLANK)]
Description = Annotated[str, Meta(max_length=100_000, description="Markdown")]
CommentBody = Annotated[str, Meta(min_length=1, max_length=20_000, pattern=NOT_BLANK)]
Goal = Annotated[str, Meta(max_length=500)]
CardPrefix = Annotated[str, Meta(pattern=r"^[A-Z][A-Z0-9]{0,9}$", examples=["TSK"])]
Repo = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$",
        description="a GitHub repository, owner/name",
    ),
]
Color = Annotated[str, Meta(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#d73a4a"])]
Points = Annotated[int, Meta(ge=0, le=99)]
WipLimit = Annotated[int, Meta(ge=1, le=999)]
Capacity = Annotated[int, Meta(ge=0, le=10_000)]
Position = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER, description="0 = first")]
Priority = Literal["none", "low", "medium", "high", "urgent"]
ColumnRole = Literal["backlog", "todo", "in_progress", "review", "done"]
IdSet = Annotated[list[Id], Meta(max_length=MAX_SET)]

# -- problems -----------------------------------------------------------------------------------


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 7807 problem: every error answer of the API."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | UnsetType = UNSET  # 422: the offending body or query field (`cards[2].title`)
    index: int | UnsetType = UNSET  # 422 of a bulk update: the offending item
    action: str | UnsetType = UNSET  # 403: the permission that was missing


# -- boards -------------------------------------------------------------------------------------


class BoardCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/workspaces/{workspace_id}/boards: a board with the five standard columns."""

    name: BoardName
    card_prefix: CardPrefix = "TSK"
    repo: Repo | None = None


class BoardPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/boards/{board_id}: rename, change the card prefix or the repository."""

    name: BoardName | UnsetType = UNSET
    card_prefix: CardPrefix | UnsetType = UNSET
    repo: Repo | None | UnsetType = UNSET


class BoardSummary(msgspec.Struct, kw_only=True):
    """A board as listed."""

    id: str
    workspace_id: str
    name: str
    card_prefix: str
    created_at: datetime
    archived_at: datetime | None


class BoardList(msgspec.Struct, kw_only=True):
    """GET /api/workspaces/{workspace_id}/boards."""

    boards: list[BoardSummary]


class Column(msgspec.Struct, kw_only=True, gc=False):
    """A column; `position` is its index in board order."""

    id: str
    name: str
    role: ColumnRole | None
    wip_limit: int | None
    rank: str
    position: int


class Label(msgspec.Struct, kw_only=True, gc=False):
    """A label."""

    id: str
    name: str
    color: str


class Sprint(msgspec.Struct, kw_only=True, gc=False):
    """A sprint with the points committed to it (its unarchived cards) against its capacity."""

    id: str
    name: str
    start: date | None
    end: date | None
    goal: str
    capacity: int
    committed_points: int


class PullRequest(msgspec.Struct, kw_only=True, gc=False):
    """A pull request linked to a card (written by the git bridge)."""

    key: str
    repo: str
    number: int
    title: str
    state: str
    url: str | None
    head_branch: str | None
    head_sha: str | None
    ci: str | None
    approvals: int
    updated_at: datetime | None


class Automation(msgspec.Struct, kw_only=True, gc=False):
    """Why the git bridge last moved a card."""

    rule: str | None
    pr: str | None
    event: str | None
    delivery_id: str | None
    at: datetime | None


class CardGit(msgspec.Struct, kw_only=True, gc=False):
    """A card's git fields (read-only over REST: only the git bridge writes them)."""

    branch: str | None
    prs: list[PullRequest]
    last_automation: Automation | None


class Card(msgspec.Struct, kw_only=True, gc=False):
    """A card as the materialized tables hold it.

    `number`/`key` are null only until the server has numbered the card (cards created over
    REST are numbered in the same transaction).
    """

    id: str
    board_id: str
    key: str | None
    number: int | None
    title: str
    description: str
    column_id: str | None
    rank: str
    priority: Priority
    points: int | None
    due: date | None
    labels: list[str]
    assignees: list[str]
    sprint_id: str | None
    created_by: str | None
    created_at: datetime | None
    archived: bool
    updated_at: datetime | None  # when its row last changed; null in a board's card list
    git: CardGit


class BoardDetail(msgspec.Struct, kw_only=True):
    """GET /api/boards/{board_id}: the board with its columns, cards, labels and sprints."""

    id: str
    workspace_id: str
    name: str
    card_prefix: str
    repo: str | None
    created_at: datetime
    archived_at: datetime | None
    columns: list[Column]
    cards: list[Card]
    labels: list[Label]
    sprints: list[Sprint]


# -- cards --------------------------------------------------------------------------------------


class CardCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/boards/{board_id}/cards: a card, last in its column unless placed.

    Without `column_id` the card goes to the board's first column.
    """

    title: Title
    description: Description = ""
    column_id: Id | None = None
    position: Position | None = None
    before: Id | None = None
    after: Id | None = None
    priority: Priority = "none"
    points: Points | None = None
    due: date | None = None
    labels: IdSet = []
    assignees: IdSet = []
    sprint_id: Id | None = None


class CardMove(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/boards/{board_id}/cards/{card_id}/move.

    To `column_id`, or to the first column whose role is `column_role` (default: its own
    column), before or after a neighbour card, or at `position` among the column's
    unarchived cards; with none of them, last.
    """

    column_id: Id | None = None
    column_role: ColumnRole | None = None
    position: Position | None = None
    before: Id | None = None
    after: Id | None = None


class CardPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/boards/{board_id}/cards/{card_id}: change any of these fields.

    `labels` and `assignees` replace the whole set. Any of `column_id`, `position`, `before`,
    `after` moves the card as `CardMove` does.
    """

    title: Title | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    points: Points | None | UnsetType = UNSET
    due: date | None | UnsetType = UNSET
    labels: IdSet | UnsetType = UNSET
    assignees: IdSet | UnsetType = UNSET
    sprint_id: Id | None | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    column_id: Id | UnsetType = UNSET
    position: Position | UnsetType = UNSET
    before: Id | UnsetType = UNSET
    after: Id | UnsetType = UNSET


class CardBulkItem(CardPatch, forbid_unknown_fields=True, kw_only=True):
    """One card's patch in a bulk update."""

    id: Id


class CardBulkUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/boards/{board_id}/cards: many patches in one document transaction.

    All or nothing: every patch is checked before anything is written; a refusal is a 422
    naming the item (`index`) and its field (`cards[3].column_id`).
    """

    cards: Annotated[list[CardBulkItem], Meta(min_length=1, max_length=MAX_BULK)]


class CardList(msgspec.Struct, kw_only=True):
    """The answer of a bulk update: every patched card, in the order of the request."""

    cards: list[Card]


class CardPage(msgspec.Struct, kw_only=True):
    """One page of a card query; pass `next_cursor` as `cursor` for the next (null: last)."""

    items: list[Card]
    next_cursor: str | None


# -- columns, labels, sprints ---------------------------------------------------------------------


class ColumnCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/boards/{board_id}/columns: a column, last unless placed."""

    name: ColumnName
    role: ColumnRole | None = None
    wip_limit: WipLimit | None = None
    position: Position | None = None
    before: Id | None = None
    after: Id | None = None


class ColumnPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/boards/{board_id}/columns/{column_id}; a place moves the column."""

    name: ColumnName | UnsetType = UNSET
    role: ColumnRole | None | UnsetType = UNSET
    wip_limit: WipLimit | None | UnsetType = UNSET
    position: Position | UnsetType = UNSET
    before: Id | UnsetType = UNSET
    after: Id | UnsetType = UNSET


class ColumnList(msgspec.Struct, kw_only=True):
    """GET /api/boards/{board_id}/columns, in board order."""

    columns: list[Column]


class LabelCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/boards/{board_id}/labels."""

    name: LabelName
    color: Color


class LabelPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/boards/{board_id}/labels/{label_id}."""

    name: LabelName | UnsetType = UNSET
    color: Color | UnsetType = UNSET


class LabelList(msgspec.Struct, kw_only=True):
    """GET /api/boards/{board_id}/labels, by name."""

    labels: list[Label]


class SprintCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/boards/{board_id}/sprints; `end` must not be before `start`."""

    name: SprintName
    start: date
    end: date
    goal: Goal = ""
    capacity: Capacity = 40


class SprintPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/boards/{board_id}/sprints/{sprint_id}."""

    name: SprintName | UnsetType = UNSET
    start: date | UnsetType = UNSET
    end: date | UnsetType = UNSET
    goal: Goal | UnsetType = UNSET
    capacity: Capacity | UnsetType = UNSET


class SprintList(msgspec.Struct, kw_only=True):
    """GET /api/boards/{board_id}/sprints, by start date."""

    sprints: list[Sprint]


# -- comments and activity ------------------------------------------------------------------------


class CommentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /api/boards/{board_id}/cards/{card_id}/comments; the author is the caller."""

    body: CommentBody


class Comment(msgspec.Struct, kw_only=True, gc=False):
    """A comment on a card."""

    id: str
    card_id: str
    author: str | None
    body: str
    created_at: datetime | None


class CommentList(msgspec.Struct, kw_only=True):
    """A card's comments, oldest first."""

    comments: list[Comment]


class Activity(msgspec.Struct, kw_only=True, gc=False):
    """One field of a card changed by one stored update; `field` "card" with `old`/`new`
    null is the card's creation or deletion. `origin` says what made it (`user`: a sync
    client, `api`: this API, `git_bridge`, `server`...) and `actor` who (a user id...)."""

    seq: int
    at: datetime
    origin: str
    actor: str | None
    field: str
    old: Any = None
    new: Any = None


class ActivityPage(msgspec.Struct, kw_only=True):
    """A card's activity, newest first; pass `next_cursor` as `cursor` for more (null: last)."""

    items: list[Activity]
    next_cursor: str | None


# -- query parameters ---------------------------------------------------------------------------
# Query Structs are decoded from the query string (`msgspec.convert(..., strict=False)`); each
# field is one parameter in the OpenAPI document.


class CardFilter(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The filters, search, sort and page of a card query."""

    column_id: Id | None = None
    column_role: ColumnRole | None = None
    assignee: Id | None = None
    label: Id | None = None
    sprint_id: Id | None = None
    priority: Priority | None = None
    due_from: date | None = None
    due_to: date | None = None
    archived: Literal["false", "true", "any"] = "false"
    q: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    sort: Literal["rank", "due", "updated"] = "rank"
    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE)] = 50
    cursor: Annotated[str, Meta(min_length=1, max_length=1000)] | None = None


class WorkspaceCardFilter(CardFilter, forbid_unknown_fields=True, kw_only=True):
    """A card query over every board of a workspace (or one of them)."""

    board_id: Id | None = None


class BoardListQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which boards to list: unarchived (default), archived, or any."""

    archived: Literal["false", "true", "any"] = "false"


class BoardQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Whether GET /api/boards/{board_id} includes archived cards."""

    include_archived: bool = False


class ActivityQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A page of a card's activity."""

    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE)] = 50
    cursor: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
