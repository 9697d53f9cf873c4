"""PostgresStore's half of MaterializedStore: projection writes and card reads (a mixin).

apply_projection locks the board's watermark row (SELECT ... FOR UPDATE) before comparing it
with the batch's `from_seq`, so two materializers projecting the same board from one watermark
queue and the second writes nothing. It never locks the boards row, which appends update: only
when the document changed the board's fields does it update that row, as its last statement,
so an append waits for the commit at most. Reads run at REPEATABLE READ: one consistent view
of every table.

Postgres text cannot hold U+0000. A document may (any client can write it), so every string
written here has it replaced by U+FFFD; SQLite and InMemoryStore keep it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from typing import Any, Final

import psycopg

from crdt_model import BoardRow, ColumnRow, CommentRow, LabelRow, SprintRow
from storage._card_sql import (
    POSITION,
    CardDialect,
    card_query,
    card_upsert,
    card_values,
    link_rows,
    read_card,
)
from storage._materialized import (
    PreparedBatch,
    check_activity_page,
    check_query,
    encode_cursor,
    from_json,
    prepare_batch,
    search_words,
    sort_key,
)
from storage._materialized_records import (
    CardActivity,
    CardHit,
    CardPage,
    CardQuery,
    MaterializedBoard,
    ProjectionBatch,
)
from storage._records import UpdateOrigin
from storage.errors import BoardNotFound, CardNotFound

Row = tuple[Any, ...]
Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_JSON_COLUMNS: Final = frozenset({"labels", "assignees", "git"})

_DIALECT: Final = CardDialect(
    placeholder="%s",
    json_column=lambda column: f"{column}::text",
    no_due="DATE '9999-12-31'",
    text_clause="c.search @@ plainto_tsquery('simple', {})",
    text_param=" ".join,
    flag=bool,
    day=lambda value: value,
    time=lambda value: value.astimezone(UTC),
)


def _text(value: str) -> str:
    """Return `value` with U+0000 replaced by U+FFFD (Postgres text refuses NUL)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _texts(values: Sequence[str]) -> list[str]:
    return [_text(value) for value in values]


def _clean(value: object) -> object:
    return _text(value) if isinstance(value, str) else value


def _row(values: Sequence[object]) -> tuple[object, ...]:
    return tuple(_clean(value) for value in values)


def _time(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _day(value: date | None) -> date | None:
    return value


def _hit(row: Row) -> tuple[CardHit, int]:
    return read_card(row, day=_day, time=_time)


async def _fetchall(conn: Conn, query: str, params: Sequence[Any] = ()) -> list[Row]:
    """Run one query with binary results and return every row."""
    cur = await conn.execute(query, params, binary=True)
    return await cur.fetchall()


async def _executemany(conn: Conn, query: str, rows: Sequence[Sequence[object]]) -> None:
    """Run `query` once per row (pipelined by psycopg), strings cleaned of NUL."""
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(query, [_row(r) for r in rows])


async def _board_exists(conn: Conn, board_id: str) -> None:
    if not await _fetchall(conn, "SELECT 1 FROM boards WHERE id = %s", (board_id,)):
        raise BoardNotFound(board_id)


class PostgresMaterializedMixin:
    """MaterializedStore on Postgres; the host class provides `_tx`."""

    def _tx(self, *, repeatable_read: bool = False) -> AbstractAsyncContextManager[Conn]:
        """Run the block in one transaction (provided by PostgresStore)."""
        raise NotImplementedError

    async def apply_projection(self, board_id: str, batch: ProjectionBatch) -> bool:
        """Write `batch` and move the watermark in one transaction if it is still the batch's
        from_seq; else write nothing and return False."""
        prepared = prepare_batch(board_id, batch)
        batch = prepared.batch  # typed
        async with self._tx() as conn:
            await _board_exists(conn, board_id)
            await conn.execute(
                "INSERT INTO projection_watermarks (board_id, projected_seq, updated_at)"
                " VALUES (%s, 0, %s) ON CONFLICT (board_id) DO NOTHING",
                (board_id, prepared.at),
            )
            rows = await _fetchall(
                conn,
                "SELECT projected_seq FROM projection_watermarks WHERE board_id = %s FOR UPDATE",
                (board_id,),
            )
            if int(rows[0][0]) != batch.from_seq:
                return False
            await _write(conn, board_id, prepared)
            await conn.execute(
                "UPDATE projection_watermarks SET projected_seq = %s, updated_at = %s"
                " WHERE board_id = %s",
                (batch.projected_seq, prepared.at, board_id),
            )
            if batch.board is not None:
                await _update_board(conn, board_id, batch.board)
        return True

    async def read_materialized(self, board_id: str, *, cards: bool = True) -> MaterializedBoard:
        """Return the board as the tables hold it (no cards or comments unless `cards`);
        raise BoardNotFound."""
        with_cards = cards
        async with self._tx(repeatable_read=True) as conn:
            boards = await _fetchall(
                conn,
                "SELECT document_id, name, document_workspace_id, schema_version, card_prefix,"
                " repo FROM boards WHERE id = %s",
                (board_id,),
            )
            if not boards:
                raise BoardNotFound(board_id)
            b = boards[0]
            board = None if b[3] is None else BoardRow(b[0], b[1], b[2], int(b[3]), b[4], b[5])
            columns = await _fetchall(
                conn,
                "SELECT id, name, rank, role, wip_limit, position FROM board_columns"
                " WHERE board_id = %s ORDER BY position",
                (board_id,),
            )
            card_rows = []
            if with_cards:
                card_rows = await _fetchall(
                    conn,
                    f"{_DIALECT.select()} WHERE c.board_id = %s ORDER BY {POSITION}, c.rank, c.id",
                    (board_id,),
                )
            labels = await _fetchall(
                conn,
                "SELECT id, name, color FROM labels WHERE board_id = %s ORDER BY position",
                (board_id,),
            )
            sprints = await _fetchall(
                conn,
                "SELECT id, name, start_date, end_date, goal, capacity FROM sprints"
                " WHERE board_id = %s ORDER BY position",
                (board_id,),
            )
            comments = []
            if with_cards:
                comments = await _fetchall(
                    conn,
                    "SELECT card_id, id, author, body, created_at, position FROM comments"
                    " WHERE board_id = %s ORDER BY card_id, position",
                    (board_id,),
                )
            mark = await _fetchall(
                conn,
                "SELECT projected_seq FROM projection_watermarks WHERE board_id = %s",
                (board_id,),
            )
        return MaterializedBoard(
            board=board,
            columns=[ColumnRow(r[0], r[1], r[2], r[3], r[4], r[5]) for r in columns],
            cards=[_hit(r)[0].card for r in card_rows],
            labels=[LabelRow(r[0], r[1], r[2]) for r in labels],
            sprints=[SprintRow(r[0], r[1], r[2], r[3], r[4], r[5]) for r in sprints],
            comments=[CommentRow(r[0], r[1], r[2], r[3], _time(r[4]), r[5]) for r in comments],
            projected_seq=int(mark[0][0]) if mark else 0,
        )

    async def list_comments(self, board_id: str, card_id: str) -> list[CommentRow]:
        """Return one card's comments, oldest first (none for an unknown card)."""
        async with self._tx() as conn:
            rows = await _fetchall(
                conn,
                "SELECT card_id, id, author, body, created_at, position FROM comments"
                " WHERE board_id = %s AND card_id = %s ORDER BY position",
                (board_id, card_id),
            )
        return [CommentRow(r[0], r[1], r[2], r[3], _time(r[4]), r[5]) for r in rows]

    async def get_card_row(self, board_id: str, card_id: str) -> CardHit:
        """Return one materialized card; raise CardNotFound."""
        async with self._tx() as conn:
            rows = await _fetchall(
                conn,
                f"{_DIALECT.select()} WHERE c.board_id = %s AND c.id = %s",
                _row((board_id, card_id)),
            )
        if not rows:
            raise CardNotFound(board_id, card_id)
        return _hit(rows[0])[0]

    async def query_cards(self, query: CardQuery) -> CardPage:
        """Return one page of the cards matching `query`; ValueError on a bad query or cursor."""
        query, after = check_query(query)
        words = None if query.text is None else search_words(query.text)
        if words == []:
            return CardPage(items=[], next_cursor=None)
        sql, params = card_query(_DIALECT, query, after, words)
        async with self._tx() as conn:
            rows = await _fetchall(conn, sql, _row(params))
        hits = [_hit(r) for r in rows]
        more = len(hits) > query.limit
        hits = hits[: query.limit]
        cursor = None
        if more:
            last, position = hits[-1]
            key = sort_key(query.sort, last.board_id, position, last.card, last.updated_at)
            cursor = encode_cursor(query.sort, key)
        return CardPage(items=[hit for hit, _ in hits], next_cursor=cursor)

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
        sql = (
            "SELECT board_id, card_id, seq, at, origin_kind, origin_actor, field, old::text,"
            " new::text FROM card_activity WHERE board_id = %s AND card_id = %s"
        )
        params: list[object] = [board_id, card_id]
        if before_seq is not None and before_field is None:
            sql += " AND seq < %s"
            params.append(before_seq)
        elif before_seq is not None:
            sql += " AND (seq < %s OR (seq = %s AND field > %s))"
            params += [before_seq, before_seq, before_field]
        sql += " ORDER BY seq DESC, field LIMIT %s"
        params.append(limit)
        async with self._tx(repeatable_read=True) as conn:
            await _board_exists(conn, board_id)
            rows = await _fetchall(conn, sql, _row(params))
        return [
            CardActivity(
                board_id=r[0],
                card_id=r[1],
                seq=int(r[2]),
                at=r[3].astimezone(UTC),
                origin=UpdateOrigin(r[4], r[5]),
                field=r[6],
                old=from_json(r[7]),
                new=from_json(r[8]),
            )
            for r in rows
        ]

    async def sprint_committed_points(self, board_id: str, sprint_id: str) -> int:
        """Return the sum of points of the sprint's unarchived cards; raise BoardNotFound."""
        async with self._tx(repeatable_read=True) as conn:
            await _board_exists(conn, board_id)
            rows = await _fetchall(
                conn,
                "SELECT COALESCE(SUM(points), 0) FROM cards"
                " WHERE board_id = %s AND sprint_id = %s AND NOT archived",
                (board_id, sprint_id),
            )
        return int(rows[0][0])


def _json_cast(column: str) -> str:
    return "::json" if column in _JSON_COLUMNS else ""


async def _write(conn: Conn, board_id: str, prepared: PreparedBatch) -> None:
    """Write a checked batch inside the caller's transaction (all but watermark and board)."""
    batch = prepared.batch
    if batch.columns is not None:
        await conn.execute("DELETE FROM board_columns WHERE board_id = %s", (board_id,))
        await _executemany(
            conn,
            "INSERT INTO board_columns (board_id, id, name, rank, role, wip_limit, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(board_id, c.id, c.name, c.rank, c.role, c.wip_limit, c.position)
             for c in batch.columns],
        )  # fmt: skip
    if batch.labels is not None:
        await conn.execute("DELETE FROM labels WHERE board_id = %s", (board_id,))
        await _executemany(
            conn,
            "INSERT INTO labels (board_id, id, name, color, position) VALUES (%s, %s, %s, %s, %s)",
            [(board_id, lb.id, lb.name, lb.color, i) for i, lb in enumerate(batch.labels)],
        )
    if batch.sprints is not None:
        await conn.execute("DELETE FROM sprints WHERE board_id = %s", (board_id,))
        await _executemany(
            conn,
            "INSERT INTO sprints"
            " (board_id, id, name, start_date, end_date, goal, capacity, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(board_id, s.id, s.name, s.start, s.end, s.goal, s.capacity, i)
             for i, s in enumerate(batch.sprints)],
        )  # fmt: skip
    # Deleting a card deletes its label, assignee, PR and comment rows (ON DELETE CASCADE).
    if batch.delete_cards:
        await conn.execute(
            "DELETE FROM cards WHERE board_id = %s AND id = ANY(%s)",
            (board_id, _texts(batch.delete_cards)),
        )
    stored: dict[str, bytes] = {}
    if prepared.cards:
        rows = await _fetchall(
            conn,
            "SELECT id, fingerprint FROM cards WHERE board_id = %s AND id = ANY(%s)",
            (board_id, _texts([c.row.id for c in prepared.cards])),
        )
        stored = {r[0]: bytes(r[1]) for r in rows}
    changed = [c for c in prepared.cards if stored.get(_text(c.row.id)) != c.fingerprint]
    await _executemany(
        conn,
        card_upsert("%s", _json_cast),
        [card_values(board_id, c, prepared.at, _DIALECT) for c in changed],
    )
    rewritten = [_text(c.row.id) for c in changed if _text(c.row.id) in stored]
    if rewritten:
        for table in ("card_labels", "card_assignees", "card_pull_requests"):
            await conn.execute(
                f"DELETE FROM {table} WHERE board_id = %s AND card_id = ANY(%s)",
                (board_id, rewritten),
            )
    labels, assignees, prs = link_rows(board_id, changed)
    await _executemany(
        conn,
        "INSERT INTO card_labels (board_id, card_id, label_id) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        labels,
    )
    await _executemany(
        conn,
        "INSERT INTO card_assignees (board_id, card_id, user_id) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        assignees,
    )
    await _executemany(
        conn,
        "INSERT INTO card_pull_requests (board_id, card_id, repo, number)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        prs,
    )
    if batch.card_comments:
        listed = _texts(list(batch.card_comments))
        await conn.execute(
            "DELETE FROM comments WHERE board_id = %s AND card_id = ANY(%s)",
            (board_id, listed),
        )
        present = {
            r[0]
            for r in await _fetchall(
                conn,
                "SELECT id FROM cards WHERE board_id = %s AND id = ANY(%s)",
                (board_id, listed),
            )
        }
        await _executemany(
            conn,
            "INSERT INTO comments (board_id, card_id, position, id, author, body, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(board_id, c.card_id, c.position, c.id, c.author, c.body, c.created_at)
             for card_id, comments in batch.card_comments.items()
             if _text(card_id) in present for c in comments],
        )  # fmt: skip
    await _executemany(
        conn,
        "DELETE FROM card_activity"
        " WHERE board_id = %s AND card_id = %s AND seq = %s AND field = %s",
        [(board_id, a.card_id, a.seq, a.field) for a in batch.superseded_activity],
    )
    await _executemany(
        conn,
        "INSERT INTO card_activity"
        " (board_id, card_id, seq, at, origin_kind, origin_actor, field, old, new)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::json, %s::json) ON CONFLICT DO NOTHING",
        [(board_id, a.entry.card_id, a.entry.seq, a.at, a.entry.origin.kind,
          a.entry.origin.actor, a.entry.field, a.old, a.new) for a in prepared.activity],
    )  # fmt: skip


async def _update_board(conn: Conn, board_id: str, board: BoardRow) -> None:
    """Copy the document's board fields to the boards row, only if they changed."""
    wanted = _row(
        (board.name, board.card_prefix, board.repo, board.schema_version, board.id,
         board.workspace_id)
    )  # fmt: skip
    current = await _fetchall(
        conn,
        "SELECT name, card_prefix, repo, schema_version, document_id, document_workspace_id"
        " FROM boards WHERE id = %s",
        (board_id,),
    )
    if current and tuple(current[0]) == wanted:
        return
    await conn.execute(
        "UPDATE boards SET name = %s, card_prefix = %s, repo = %s, schema_version = %s,"
        " document_id = %s, document_workspace_id = %s WHERE id = %s",
        (*wanted, board_id),
    )
