"""The typed, read-only view of a board: msgspec Structs produced by the projection."""

from __future__ import annotations

from datetime import date, datetime

import msgspec


class ProjectionWarning(msgspec.Struct, frozen=True, gc=False):
    """A value the projection could not read as the schema says, and read as its default."""

    path: str
    message: str


class BoardRow(msgspec.Struct, frozen=True, gc=False):
    """The `board` root map."""

    id: str
    name: str
    workspace_id: str
    schema_version: int
    card_prefix: str
    repo: str | None


class ColumnRow(msgspec.Struct, frozen=True, gc=False):
    """One column; `position` is its index in board order."""

    id: str
    name: str
    rank: str
    role: str | None
    wip_limit: int | None
    position: int


class PrRow(msgspec.Struct, frozen=True, gc=False):
    """One pull request linked to a card, keyed `owner/repo#number`."""

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


class AutomationRow(msgspec.Struct, frozen=True, gc=False):
    """Why the git bridge last moved a card."""

    rule: str | None
    pr: str | None
    event: str | None
    delivery_id: str | None
    at: datetime | None


class GitRow(msgspec.Struct, frozen=True, gc=False):
    """The git-bridge fields of a card."""

    branch: str | None
    prs: list[PrRow]
    last_automation: AutomationRow | None


class CardRow(msgspec.Struct, frozen=True, gc=False):
    """Every field of one card, read with the schema's defaults where the document is off."""

    id: str
    column_id: str | None
    raw_column_id: str | None
    rank: str
    number: int | None
    key: str | None
    title: str
    description: str
    priority: str
    points: int | None
    due: date | None
    labels: list[str]
    assignees: list[str]
    sprint_id: str | None
    created_by: str | None
    created_at: datetime | None
    archived: bool
    git: GitRow


class LabelRow(msgspec.Struct, frozen=True, gc=False):
    """One label."""

    id: str
    name: str
    color: str


class SprintRow(msgspec.Struct, frozen=True, gc=False):
    """One sprint."""

    id: str
    name: str
    start: date | None
    end: date | None
    goal: str
    capacity: int


class CommentRow(msgspec.Struct, frozen=True, gc=False):
    """One comment; `position` is its index in the card's comment array."""

    card_id: str
    id: str
    author: str | None
    body: str
    created_at: datetime | None
    position: int


class Projection(msgspec.Struct, frozen=True):
    """A whole board as rows, in display order, with the warnings met while reading it."""

    board: BoardRow
    columns: list[ColumnRow]
    cards: list[CardRow]
    labels: list[LabelRow]
    sprints: list[SprintRow]
    comments: list[CommentRow]
    warnings: list[ProjectionWarning]


class CardProjection(msgspec.Struct, frozen=True):
    """One card as a row (None if it does not exist), its comments and the warnings."""

    card: CardRow | None
    comments: list[CommentRow]
    warnings: list[ProjectionWarning]
