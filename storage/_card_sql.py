"""The SQL of card reads, shared by SQLite and Postgres: one SELECT, filters, sorts, keysets.

A dialect supplies its placeholder, its spelling of a few expressions and the conversion of
Python values to parameters; the statement is assembled here in one place, so the two
databases filter, order and paginate identically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from crdt_model import CardRow
from storage._materialized import (
    UNPLACED,
    PreparedCard,
    cursor_time,
    decode_git,
    decode_ids,
)
from storage._materialized_records import CardHit, CardQuery, CardSort

#: The position of a card's column in board order (UNPLACED when it is not materialized).
POSITION: Final = f"COALESCE(bc.position, {UNPLACED})"

#: The card row fields in CardRow order, as columns of `cards c`.
CARD_FIELDS: Final = (
    "id", "column_id", "raw_column_id", "rank", "number", "key", "title", "description",
    "priority", "points", "due", "labels", "assignees", "sprint_id", "created_by", "created_at",
    "archived", "git",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CardDialect:
    """How one database spells the dialect-specific parts of a card query."""

    placeholder: str
    json_column: Callable[[str], str]  # how to select a JSON column as text
    no_due: str  # SQL literal of NO_DUE
    text_clause: str  # a condition on `c`, "{}" standing for its parameter: the card matches
    text_param: Callable[[list[str]], object]
    flag: Callable[[bool], object]
    day: Callable[[date], object]
    time: Callable[[datetime], object]

    def select(self) -> str:
        """Return `SELECT board_id, column position, updated_at, <card fields> FROM ...`."""
        fields = ", ".join(
            self.json_column(f"c.{f}") if f in ("labels", "assignees", "git") else f"c.{f}"
            for f in CARD_FIELDS
        )
        return (
            f"SELECT c.board_id, {POSITION}, c.updated_at, {fields} FROM cards c"
            " LEFT JOIN board_columns bc ON bc.board_id = c.board_id AND bc.id = c.column_id"
        )

    def order(self, sort: CardSort) -> list[tuple[str, bool]]:
        """Return the (expression, ascending) list `sort` orders by, tiebreakers included."""
        if sort == "rank":
            return [("c.board_id", True), (POSITION, True), ("c.rank", True), ("c.id", True)]
        if sort == "due":
            return [
                ("CASE WHEN c.due IS NULL THEN 1 ELSE 0 END", True),
                (f"COALESCE(c.due, {self.no_due})", True),
                ("c.board_id", True),
                ("c.id", True),
            ]
        return [("c.updated_at", False), ("c.board_id", True), ("c.id", True)]

    def key_params(self, sort: CardSort, key: list[Any]) -> list[object]:
        """Return a cursor's sort key as parameters for the keyset condition."""
        if sort == "due":
            return [key[0], self.day(date.fromisoformat(key[1])), key[2], key[3]]
        if sort == "updated":
            return [self.time(cursor_time(key[0])), key[1], key[2]]
        return list(key)


class _Builder:
    def __init__(self, placeholder: str) -> None:
        self.placeholder = placeholder
        self.params: list[object] = []

    def p(self, value: object) -> str:
        self.params.append(value)
        return self.placeholder


def card_query(
    d: CardDialect, query: CardQuery, after: list[Any] | None, words: list[str] | None
) -> tuple[str, list[object]]:
    """Return the statement and parameters of one page (limit + 1 rows) of `query`."""
    b = _Builder(d.placeholder)
    where: list[str] = []
    if query.board_id is not None:
        where.append(f"c.board_id = {b.p(query.board_id)}")
    if query.workspace_id is not None:
        where.append(f"c.board_id IN (SELECT id FROM boards WHERE workspace_id = "
                     f"{b.p(query.workspace_id)})")  # fmt: skip
    if query.column_id is not None:
        where.append(f"c.column_id = {b.p(query.column_id)}")
    if query.column_role is not None:
        where.append(f"bc.role = {b.p(query.column_role)}")
    # Sorted by rank, the plan walks the cards in order and stops after a page of matches: a
    # per-card EXISTS probe is cheapest. Sorted otherwise, every match must be found before the
    # first page is known: start from the person's or label's rows (0005 indexes) instead of
    # scanning every card (measured on 100,000 cards, SQLite: 74 -> 33 ms for sort=due).
    probe = query.sort == "rank"
    if query.assignee is not None:
        where.append(_link_filter("card_assignees", "user_id", b.p(query.assignee), probe=probe))
    if query.label is not None:
        where.append(_link_filter("card_labels", "label_id", b.p(query.label), probe=probe))
    if query.sprint_id is not None:
        where.append(f"c.sprint_id = {b.p(query.sprint_id)}")
    if query.priority is not None:
        where.append(f"c.priority = {b.p(query.priority)}")
    if query.due_from is not None:
        where.append(f"c.due >= {b.p(d.day(query.due_from))}")
    if query.due_to is not None:
        where.append(f"c.due <= {b.p(d.day(query.due_to))}")
    if query.archived is not None:
        where.append(f"c.archived = {b.p(d.flag(query.archived))}")
    if words is not None:
        where.append(d.text_clause.format(b.p(d.text_param(words))))
    order = d.order(query.sort)
    if after is not None:
        values = d.key_params(query.sort, after)
        alternatives = []
        for i, (expr, ascending) in enumerate(order):
            equal = [f"{order[j][0]} = {b.p(values[j])}" for j in range(i)]
            step = f"{expr} {'>' if ascending else '<'} {b.p(values[i])}"
            alternatives.append("(" + " AND ".join([*equal, step]) + ")")
        where.append("(" + " OR ".join(alternatives) + ")")
    sql = d.select()
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY " + ", ".join(f"{e} {'ASC' if a else 'DESC'}" for e, a in order)
    sql += f" LIMIT {b.p(query.limit + 1)}"
    return sql, b.params


def _link_filter(table: str, column: str, param: str, *, probe: bool) -> str:
    """Return the condition "the card has a `table` row whose `column` is `param`"."""
    if probe:
        return (
            f"EXISTS (SELECT 1 FROM {table} x WHERE x.board_id = c.board_id"
            f" AND x.card_id = c.id AND x.{column} = {param})"
        )
    return (
        f"(c.board_id, c.id) IN (SELECT x.board_id, x.card_id FROM {table} x"
        f" WHERE x.{column} = {param})"
    )


# -- rows ---------------------------------------------------------------------------------------

#: The columns a card upsert writes, in the order of card_values().
CARD_WRITE_COLUMNS: Final = (
    "board_id", "id", "column_id", "raw_column_id", "rank", "number", "key", "title",
    "description", "priority", "points", "due", "labels", "assignees", "sprint_id", "created_by",
    "created_at", "archived", "git_branch", "git", "fingerprint", "updated_at",
)  # fmt: skip


def card_upsert(placeholder: str, cast: Callable[[str], str] = lambda column: "") -> str:
    """Return the INSERT ... ON CONFLICT DO UPDATE of one card row (`cast` suffixes a value)."""
    columns = ", ".join(CARD_WRITE_COLUMNS)
    values = ", ".join(placeholder + cast(column) for column in CARD_WRITE_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in CARD_WRITE_COLUMNS[2:])
    return (
        f"INSERT INTO cards ({columns}) VALUES ({values})"
        f" ON CONFLICT (board_id, id) DO UPDATE SET {updates}"
    )


def card_values(
    board_id: str, card: PreparedCard, at: datetime, d: CardDialect
) -> tuple[object, ...]:
    """Return the parameters of card_upsert() for one card."""
    row = card.row
    return (
        board_id, row.id, row.column_id, row.raw_column_id, row.rank, row.number, row.key,
        row.title, row.description, row.priority, row.points,
        None if row.due is None else d.day(row.due), card.labels, card.assignees, row.sprint_id,
        row.created_by, None if row.created_at is None else d.time(row.created_at),
        d.flag(row.archived), row.git.branch, card.git, card.fingerprint, d.time(at),
    )  # fmt: skip


def link_rows(
    board_id: str, cards: list[PreparedCard]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], list[tuple[str, str, str, int]]]:
    """Return the card_labels, card_assignees and card_pull_requests rows of `cards`."""
    labels = [(board_id, c.row.id, label) for c in cards for label in c.row.labels]
    assignees = [(board_id, c.row.id, user) for c in cards for user in c.row.assignees]
    prs = [(board_id, c.row.id, pr.repo, pr.number) for c in cards for pr in c.row.git.prs]
    return labels, assignees, prs


def read_card(
    row: Sequence[Any],
    *,
    day: Callable[[Any], date | None],
    time: Callable[[Any], datetime | None],
) -> tuple[CardHit, int]:
    """Return the card hit and its column position from a row of CardDialect.select()."""
    (board_id, position, updated_at, card_id, column_id, raw_column_id, rank, number, key,
     title, description, priority, points, due, labels, assignees, sprint_id, created_by,
     created_at, archived, git) = row  # fmt: skip
    card = CardRow(
        id=card_id,
        column_id=column_id,
        raw_column_id=raw_column_id,
        rank=rank,
        number=None if number is None else int(number),
        key=key,
        title=title,
        description=description,
        priority=priority,
        points=points,
        due=day(due),
        labels=decode_ids(labels),
        assignees=decode_ids(assignees),
        sprint_id=sprint_id,
        created_by=created_by,
        created_at=time(created_at),
        archived=bool(archived),
        git=decode_git(git),
    )
    updated = time(updated_at)
    assert updated is not None
    return CardHit(board_id=board_id, card=card, updated_at=updated), int(position)
