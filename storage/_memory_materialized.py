"""InMemoryStore's half of MaterializedStore: projection writes and card reads (a mixin).

The rows live on each board's record, so they go when the board goes. No method awaits
between its reads and writes, and a batch is checked completely before anything is written,
so each call is atomic on the event loop. Sorting, keysets and search follow the SQL backends
(storage._materialized holds what they share).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import msgspec

from crdt_model import BoardRow, CardRow, ColumnRow, CommentRow, LabelRow, SprintRow
from storage._materialized import (
    UNPLACED,
    PreparedBatch,
    activity_order,
    after_activity,
    check_activity_page,
    check_query,
    encode_cursor,
    from_json,
    prepare_batch,
    python_order,
    search_words,
    sort_key,
    text_matches,
)
from storage._materialized_records import (
    CardActivity,
    CardHit,
    CardPage,
    CardQuery,
    MaterializedBoard,
    ProjectionBatch,
)
from storage._records import Board
from storage.errors import CardNotFound


@dataclass(frozen=True, slots=True)
class StoredCard:
    """One materialized card: its row, when the row last changed, and its fingerprint."""

    row: CardRow
    updated_at: datetime
    fingerprint: bytes


@dataclass
class MaterializedData:
    """The materialized tables of one board."""

    board: BoardRow | None = None
    columns: list[ColumnRow] = field(default_factory=list)
    labels: list[LabelRow] = field(default_factory=list)
    sprints: list[SprintRow] = field(default_factory=list)
    cards: dict[str, StoredCard] = field(default_factory=dict)
    comments: dict[str, list[CommentRow]] = field(default_factory=dict)
    activity: dict[tuple[str, int, str], CardActivity] = field(default_factory=dict)

    def positions(self) -> dict[str, int]:
        """Return column id -> position."""
        return {column.id: column.position for column in self.columns}

    def position_of(self, card: CardRow, positions: dict[str, int]) -> int:
        """Return the sort position of a card's column (UNPLACED if not materialized)."""
        if card.column_id is None:
            return UNPLACED
        return positions.get(card.column_id, UNPLACED)


class _BoardRecord(Protocol):
    """What the mixin needs of InMemoryStore's per-board record."""

    board: Board
    watermark: int
    materialized: MaterializedData


class MemoryMaterializedMixin:
    """MaterializedStore over dicts; the host class provides `_board`, `_boards`, `_check_open`."""

    _boards: dict[str, Any]
    _lock: asyncio.Lock

    def _check_open(self) -> None:
        """Raise StorageUnavailable unless open (provided by InMemoryStore)."""
        raise NotImplementedError

    def _board(self, board_id: str) -> Any:
        """Return the board's record or raise BoardNotFound (provided by InMemoryStore)."""
        raise NotImplementedError

    def _record(self, board_id: str) -> _BoardRecord:
        record: _BoardRecord = self._board(board_id)
        return record

    async def apply_projection(self, board_id: str, batch: ProjectionBatch) -> bool:
        """Write `batch` and move the watermark in one step if it is still the batch's from_seq;
        else write nothing and return False."""
        prepared = prepare_batch(board_id, batch)
        async with self._lock:  # a compaction swaps in a copy of the record: wait for it
            return self._apply(self._record(board_id), prepared)

    def _apply(self, record: _BoardRecord, prepared: PreparedBatch) -> bool:
        batch = prepared.batch
        if record.watermark != batch.from_seq:
            return False
        m = record.materialized
        if batch.columns is not None:
            m.columns = sorted(batch.columns, key=lambda column: column.position)
        if batch.labels is not None:
            m.labels = list(batch.labels)
        if batch.sprints is not None:
            m.sprints = list(batch.sprints)
        for card_id in batch.delete_cards:
            m.cards.pop(card_id, None)
            m.comments.pop(card_id, None)
        for card in prepared.cards:
            stored = m.cards.get(card.row.id)
            if stored is None or stored.fingerprint != card.fingerprint:
                m.cards[card.row.id] = StoredCard(card.row, prepared.at, card.fingerprint)
        for card_id, comments in batch.card_comments.items():
            if card_id in m.cards and comments:
                m.comments[card_id] = sorted(comments, key=lambda c: c.position)
            else:
                m.comments.pop(card_id, None)
        for ref in batch.superseded_activity:
            m.activity.pop((ref.card_id, ref.seq, ref.field), None)
        for entry in prepared.activity:
            key = (entry.entry.card_id, entry.entry.seq, entry.entry.field)
            if key not in m.activity:
                m.activity[key] = msgspec.structs.replace(
                    entry.entry, at=entry.at, old=from_json(entry.old), new=from_json(entry.new)
                )
        if batch.board is not None:
            m.board = batch.board
            record.board = msgspec.structs.replace(
                record.board, name=batch.board.name, card_prefix=batch.board.card_prefix
            )
        record.watermark = batch.projected_seq
        return True

    async def read_materialized(self, board_id: str, *, cards: bool = True) -> MaterializedBoard:
        """Return the board as the tables hold it (no cards or comments unless `cards`);
        raise BoardNotFound."""
        record = self._record(board_id)
        m = record.materialized
        positions = m.positions()
        rows = sorted(
            (stored.row for stored in m.cards.values()),
            key=lambda c: (m.position_of(c, positions), c.rank, c.id),
        )
        return MaterializedBoard(
            board=m.board,
            columns=list(m.columns),
            cards=rows if cards else [],
            labels=list(m.labels),
            sprints=list(m.sprints),
            comments=[c for card_id in sorted(m.comments) for c in m.comments[card_id]]
            if cards
            else [],
            projected_seq=record.watermark,
        )

    async def list_comments(self, board_id: str, card_id: str) -> list[CommentRow]:
        """Return one card's comments, oldest first (none for an unknown card)."""
        self._check_open()
        record: _BoardRecord | None = self._boards.get(board_id)
        return [] if record is None else list(record.materialized.comments.get(card_id, []))

    async def get_card_row(self, board_id: str, card_id: str) -> CardHit:
        """Return one materialized card; raise CardNotFound."""
        self._check_open()
        record: _BoardRecord | None = self._boards.get(board_id)
        stored = None if record is None else record.materialized.cards.get(card_id)
        if stored is None:
            raise CardNotFound(board_id, card_id)
        return CardHit(board_id=board_id, card=stored.row, updated_at=stored.updated_at)

    async def query_cards(self, query: CardQuery) -> CardPage:
        """Return one page of the cards matching `query`; ValueError on a bad query or cursor."""
        query, after = check_query(query)
        self._check_open()
        words = None if query.text is None else search_words(query.text)
        if words == []:
            return CardPage(items=[], next_cursor=None)
        start = None if after is None else python_order(query.sort, after)
        found: list[tuple[tuple[Any, ...], list[Any], CardHit]] = []
        for record in list(self._boards.values()):
            board: Board = record.board
            if query.board_id is not None and board.id != query.board_id:
                continue
            if query.workspace_id is not None and board.workspace_id != query.workspace_id:
                continue
            m: MaterializedData = record.materialized
            positions = m.positions()
            roles = {column.id: column.role for column in m.columns}
            for stored in m.cards.values():
                card = stored.row
                if not _matches(query, card, roles, words):
                    continue
                key = sort_key(
                    query.sort, board.id, m.position_of(card, positions), card, stored.updated_at
                )
                order = python_order(query.sort, key)
                if start is not None and order <= start:
                    continue
                found.append(
                    (
                        order,
                        key,
                        CardHit(board_id=board.id, card=card, updated_at=stored.updated_at),
                    )
                )
        found.sort(key=lambda item: item[0])
        page = found[: query.limit]
        cursor = None
        if len(found) > query.limit:
            cursor = encode_cursor(query.sort, page[-1][1])
        return CardPage(items=[hit for _, _, hit in page], next_cursor=cursor)

    async def list_card_activity(
        self,
        board_id: str,
        card_id: str,
        *,
        limit: int = 50,
        before_seq: int | None = None,
        before_field: str | None = None,
    ) -> list[CardActivity]:
        """Return a card's activity by (seq desc, field), after (before_seq, before_field)."""
        check_activity_page(limit, before_seq, before_field)
        m = self._record(board_id).materialized
        entries = [
            entry
            for (card, _seq, _field), entry in m.activity.items()
            if card == card_id and after_activity(entry, before_seq, before_field)
        ]
        entries.sort(key=activity_order)
        return entries[:limit]

    async def sprint_committed_points(self, board_id: str, sprint_id: str) -> int:
        """Return the sum of points of the sprint's unarchived cards; raise BoardNotFound."""
        m = self._record(board_id).materialized
        return sum(
            stored.row.points or 0
            for stored in m.cards.values()
            if stored.row.sprint_id == sprint_id and not stored.row.archived
        )


def _matches(
    query: CardQuery, card: CardRow, roles: dict[str, str | None], words: list[str] | None
) -> bool:
    """True if `card` passes every filter of `query` but the board scope."""
    checks = (
        query.column_id is None or card.column_id == query.column_id,
        query.column_role is None
        or (card.column_id is not None and roles.get(card.column_id) == query.column_role),
        query.assignee is None or query.assignee in card.assignees,
        query.label is None or query.label in card.labels,
        query.sprint_id is None or card.sprint_id == query.sprint_id,
        query.priority is None or card.priority == query.priority,
        query.due_from is None or (card.due is not None and card.due >= query.due_from),
        query.due_to is None or (card.due is not None and card.due <= query.due_to),
        query.archived is None or card.archived == query.archived,
        words is None or text_matches(words, card.title, card.description),
    )
    return all(checks)
