"""Materialized rows (crdt_model's projection rows, storage's records) as API bodies."""

from __future__ import annotations

from datetime import datetime

from crdt_model import (
    COLUMN_ROLES,
    PRIORITIES,
    CardRow,
    ColumnRow,
    CommentRow,
    GitRow,
    LabelRow,
    SprintRow,
)
from storage import Board as BoardRecord
from storage import CardActivity, CardHit
from sync_server.api import bodies as b


def board_summary(record: BoardRecord, name: str | None = None) -> b.BoardSummary:
    """A board record as listed (`name`: the document's, when known)."""
    return b.BoardSummary(
        id=record.id,
        workspace_id=record.workspace_id,
        name=name if name is not None else record.name,
        card_prefix=record.card_prefix,
        created_at=record.created_at,
        archived_at=record.archived_at,
    )


def column(row: ColumnRow) -> b.Column:
    """A column row."""
    role = row.role if row.role in COLUMN_ROLES else None
    return b.Column(
        id=row.id,
        name=row.name,
        role=role,  # type: ignore[arg-type]
        wip_limit=row.wip_limit,
        rank=row.rank,
        position=row.position,
    )


def label(row: LabelRow) -> b.Label:
    """A label row."""
    return b.Label(id=row.id, name=row.name, color=row.color)


def sprint(row: SprintRow, committed_points: int) -> b.Sprint:
    """A sprint row with the points committed to it."""
    return b.Sprint(
        id=row.id,
        name=row.name,
        start=row.start,
        end=row.end,
        goal=row.goal,
        capacity=row.capacity,
        committed_points=committed_points,
    )


def _git(row: GitRow) -> b.CardGit:
    automation = row.last_automation
    return b.CardGit(
        branch=row.branch,
        prs=[
            b.PullRequest(
                key=pr.key,
                repo=pr.repo,
                number=pr.number,
                title=pr.title,
                state=pr.state,
                url=pr.url,
                head_branch=pr.head_branch,
                head_sha=pr.head_sha,
                ci=pr.ci,
                approvals=pr.approvals,
                updated_at=pr.updated_at,
            )
            for pr in row.prs
        ],
        last_automation=None
        if automation is None
        else b.Automation(
            rule=automation.rule,
            pr=automation.pr,
            event=automation.event,
            delivery_id=automation.delivery_id,
            at=automation.at,
        ),
    )


def card(board_id: str, row: CardRow, updated_at: datetime | None) -> b.Card:
    """A card row of `board_id`."""
    priority = row.priority if row.priority in PRIORITIES else "none"
    return b.Card(
        id=row.id,
        board_id=board_id,
        key=row.key,
        number=row.number,
        title=row.title,
        description=row.description,
        column_id=row.column_id,
        rank=row.rank,
        priority=priority,  # type: ignore[arg-type]
        points=row.points,
        due=row.due,
        labels=list(row.labels),
        assignees=list(row.assignees),
        sprint_id=row.sprint_id,
        created_by=row.created_by,
        created_at=row.created_at,
        archived=row.archived,
        updated_at=updated_at,
        git=_git(row.git),
    )


def card_hit(hit: CardHit) -> b.Card:
    """A card found by a query."""
    return card(hit.board_id, hit.card, hit.updated_at)


def comment(row: CommentRow) -> b.Comment:
    """A comment row."""
    return b.Comment(
        id=row.id, card_id=row.card_id, author=row.author, body=row.body, created_at=row.created_at
    )


def activity(row: CardActivity) -> b.Activity:
    """One activity row."""
    return b.Activity(
        seq=row.seq,
        at=row.at,
        origin=row.origin.kind,
        actor=row.origin.actor,
        field=row.field,
        old=row.old,
        new=row.new,
    )
