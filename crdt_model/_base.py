"""The core of `Board`: the document, transactions, typed reads and placement by rank."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from pycrdt import Map, Text

from crdt_model import _schema as s
from crdt_model._errors import NotFoundError, OriginConflictError, ValidationError
from crdt_model._projection import (
    _entries,
    _read_all,
    project,
    read_board,
    read_card,
    read_columns,
    read_comments,
    read_labels,
    read_sprints,
    root,
)
from crdt_model._ranks import is_valid_rank, rank_between
from crdt_model._read import Reader, YDoc, YMap, entry
from crdt_model._rows import (
    BoardRow,
    CardRow,
    ColumnRow,
    CommentRow,
    LabelRow,
    Projection,
    SprintRow,
)


class BoardBase:
    """A board document plus its typed reads; the operations live in mixins."""

    def __init__(self, doc: YDoc, *, rng: random.Random | None = None) -> None:
        """Wrap `doc`; `rng` makes generated ranks reproducible (tests)."""
        self.doc = doc
        self.rng = rng

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def _write(self, origin: object) -> Iterator[None]:
        """Run a block in one transaction under `origin`, joining an enclosing one if any."""
        try:
            txn = self.doc.transaction(origin=origin)
        except RuntimeError as exc:
            outer = self.doc._txn.origin if self.doc._txn is not None else None
            raise OriginConflictError(origin, outer) from exc
        with txn:
            yield

    # -- raw access ----------------------------------------------------------------------

    def _root(self, name: str) -> YMap:
        return root(self.doc, name)

    def _entity(self, root_name: str, kind: str, ident: object) -> YMap:
        """Return the Map of an existing column/card/label/sprint, or raise NotFoundError."""
        if not isinstance(ident, str):
            raise NotFoundError(kind, repr(ident))
        value = entry(self._root(root_name), ident)
        if not isinstance(value, Map):
            raise NotFoundError(kind, ident)
        return value

    def _card_map(self, card_id: object) -> YMap:
        return self._entity(s.ROOT_CARDS, "card", card_id)

    def _column_map(self, column_id: object) -> YMap:
        return self._entity(s.ROOT_COLUMNS, "column", column_id)

    def _label_map(self, label_id: object) -> YMap:
        return self._entity(s.ROOT_LABELS, "label", label_id)

    def _sprint_map(self, sprint_id: object) -> YMap:
        return self._entity(s.ROOT_SPRINTS, "sprint", sprint_id)

    @staticmethod
    def _child_map(parent: YMap, key: str) -> YMap:
        """Return the nested Map at `key`, replacing a malformed value by a new Map."""
        value = entry(parent, key)
        if isinstance(value, Map):
            return value
        fresh: YMap = Map()
        parent[key] = fresh
        return fresh

    @staticmethod
    def _child_text(parent: YMap, key: str) -> Text:
        """Return the Y.Text at `key`, replacing a malformed value by an empty Text."""
        value = entry(parent, key)
        if isinstance(value, Text):
            return value
        parent[key] = fresh = Text()
        return fresh

    # -- typed reads ---------------------------------------------------------------------

    def board(self) -> BoardRow:
        """Return the board-level fields."""
        with self.doc.transaction():
            return read_board(self.doc, Reader())

    def columns(self) -> list[ColumnRow]:
        """Return the columns in board order."""
        with self.doc.transaction():
            return read_columns(self.doc, Reader())

    def column(self, column_id: str) -> ColumnRow:
        """Return one column, or raise NotFoundError."""
        for column in self.columns():
            if column.id == column_id:
                return column
        raise NotFoundError("column", column_id)

    def card(self, card_id: str) -> CardRow:
        """Return one card, or raise NotFoundError."""
        with self.doc.transaction():
            card = self._card_map(card_id)
            reader = Reader()
            *_, ctx = _read_all(self.doc, reader)
            return read_card(card_id, card, ctx, reader)

    def cards(
        self, column_id: str | None = None, *, include_archived: bool = True
    ) -> list[CardRow]:
        """Return the cards of one column (or all, by column), in display order."""
        cards = self.project().cards
        return [
            card
            for card in cards
            if (column_id is None or card.column_id == column_id)
            and (include_archived or not card.archived)
        ]

    def labels(self) -> list[LabelRow]:
        """Return the labels, sorted by name."""
        with self.doc.transaction():
            return read_labels(self.doc, Reader())

    def sprints(self) -> list[SprintRow]:
        """Return the sprints, sorted by start date."""
        with self.doc.transaction():
            return read_sprints(self.doc, Reader())

    def comments(self, card_id: str) -> list[CommentRow]:
        """Return the comments of a card, oldest first."""
        with self.doc.transaction():
            self._card_map(card_id)
            return read_comments(self.doc, card_id, Reader())

    def project(self) -> Projection:
        """Return the whole board as rows (see crdt_model.project)."""
        return project(self.doc)

    # -- placement -----------------------------------------------------------------------

    def _column_members(
        self, column_id: str, exclude: str | None = None
    ) -> list[tuple[str, str, bool]]:
        """Return (rank, id, archived) of the cards shown in `column_id`, in display order."""
        reader = Reader()
        columns = read_columns(self.doc, reader)
        first = columns[0].id if columns else None
        known = {column.id for column in columns}
        members = []
        for card_id, card in _entries(self.doc, s.ROOT_CARDS, reader):
            if card_id == exclude:
                continue
            raw = entry(card, "column")
            effective = raw if isinstance(raw, str) and raw in known else first
            if effective != column_id:
                continue
            rank = entry(card, "rank")
            members.append(
                (
                    rank if isinstance(rank, str) else s.DEFAULT_RANK,
                    card_id,
                    entry(card, "archived") is True,
                )
            )
        members.sort(key=lambda m: (m[0], m[1]))
        return members

    def _place(
        self,
        kind: str,
        members: list[tuple[str, str, bool]],
        before: str | None,
        after: str | None,
        position: int | None,
    ) -> str:
        """Return a rank for a new place among `members` ((rank, id, hidden), sorted).

        `after`/`before` name neighbours; `position` indexes the visible (non-hidden)
        members; with none of them the item goes last.
        """
        ids = [m[1] for m in members]
        if position is not None:
            if before is not None or after is not None:
                raise ValidationError("position", "give either position or before/after")
            visible = [m[1] for m in members if not m[2]]
            if isinstance(position, bool) or not isinstance(position, int):
                raise ValidationError("position", "must be an integer")
            if not 0 <= position <= len(visible):
                raise ValidationError("position", f"must be in 0..{len(visible)}")
            if position < len(visible):
                before = visible[position]
            elif visible:
                after = visible[-1]
        index = len(members)
        if after is not None:
            if after not in ids:
                raise NotFoundError(kind, after)
            index = ids.index(after) + 1
        if before is not None:
            if before not in ids:
                raise NotFoundError(kind, before)
            before_index = ids.index(before)
            if after is None:
                index = before_index
            elif before_index != index:
                raise ValidationError("before", f"{before!r} is not right after {after!r}")
        return self._rank_at([m[0] for m in members], index)

    def _rank_at(self, ranks: list[str], index: int) -> str:
        """Return a rank between ranks[index-1] and ranks[index], skipping foreign ranks."""
        # A rank another client wrote in a foreign format cannot be a bound for
        # rank_between; the nearest well-formed neighbour on that side is used instead.
        lower = next((r for r in reversed(ranks[:index]) if is_valid_rank(r)), None)
        upper = next(
            (r for r in ranks[index:] if is_valid_rank(r) and (lower is None or r > lower)),
            None,
        )
        return rank_between(lower, upper, rng=self.rng)
