"""SQLiteStore's half of MaterializedStore: projection writes and card reads (a mixin).

apply_projection runs in one BEGIN IMMEDIATE transaction, which holds the database write lock
from its first statement: the watermark it compares with the batch's `from_seq` cannot move
before it commits.
Full-text search is the FTS5 table cards_fts, kept in step with cards by triggers (0004).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Final, Literal

import aiosqlite

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
    fts5_query,
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
from storage._time import from_micros, to_micros
from storage.errors import BoardNotFound, CardNotFound

Row = sqlite3.Row | tuple[Any, ...]
Mode = Literal["IMMEDIATE", "DEFERRED"]

#: Ids per `IN (...)` list (SQLite allows 32,766 parameters since 3.32).
_CHUNK: Final = 500

_DIALECT: Final = CardDialect(
    placeholder="?",
    json_column=lambda column: column,
    no_due="'9999-12-31'",
    text_clause="c.row_id IN (SELECT rowid FROM cards_fts WHERE cards_fts MATCH {})",
    text_param=fts5_query,
    flag=int,
    day=date.isoformat,
    time=to_micros,
)


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _time(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def _hit(row: Row) -> tuple[CardHit, int]:
    return read_card(row, day=_day, time=_time)


async def _board_exists(conn: aiosqlite.Connection, board_id: str) -> None:
    rows = list(await conn.execute_fetchall("SELECT 1 FROM boards WHERE id = ?", (board_id,)))
    if not rows:
        raise BoardNotFound(board_id)


async def _ids_in(conn: aiosqlite.Connection, sql: str, board_id: str, ids: list[str]) -> list[Row]:
    """Run `sql` (ending in `IN `) for each chunk of `ids`; return every row."""
    found: list[Row] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        found.extend(await conn.execute_fetchall(f"{sql}({marks})", (board_id, *chunk)))
    return found


class SQLiteMaterializedMixin:
    """MaterializedStore on SQLite; the host class provides `_tx`."""

    def _tx(self, mode: Mode) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """Run the block in one transaction (provided by SQLiteStore)."""
        raise NotImplementedError

    async def apply_projection(self, board_id: str, batch: ProjectionBatch) -> bool:
        """Write `batch` and move the watermark in one transaction if it is still the batch's
        from_seq; else write nothing and return False."""
        prepared = prepare_batch(board_id, batch)
        batch = prepared.batch  # typed
        async with self._tx("IMMEDIATE") as conn:
            await _board_exists(conn, board_id)
            rows = list(
                await conn.execute_fetchall(
                    "SELECT projected_seq FROM projection_watermarks WHERE board_id = ?",
                    (board_id,),
                )
            )
            if (int(rows[0][0]) if rows else 0) != batch.from_seq:
                return False
            await _write(conn, board_id, prepared)
            await conn.execute(
                "INSERT INTO projection_watermarks (board_id, projected_seq, updated_at)"
                " VALUES (?, ?, ?) ON CONFLICT (board_id) DO UPDATE"
                " SET projected_seq = excluded.projected_seq, updated_at = excluded.updated_at",
                (board_id, batch.projected_seq, to_micros(prepared.at)),
            )
        return True

    async def read_materialized(self, board_id: str, *, cards: bool = True) -> MaterializedBoard:
        """Return the board as the tables hold it (no cards or comments unless `cards`);
        raise BoardNotFound."""
        with_cards = cards
        async with self._tx("DEFERRED") as conn:
            boards = list(
                await conn.execute_fetchall(
                    "SELECT document_id, name, document_workspace_id, schema_version,"
                    " card_prefix, repo FROM boards WHERE id = ?",
                    (board_id,),
                )
            )
            if not boards:
                raise BoardNotFound(board_id)
            b = boards[0]
            board = None if b[3] is None else BoardRow(b[0], b[1], b[2], int(b[3]), b[4], b[5])
            columns = await conn.execute_fetchall(
                "SELECT id, name, rank, role, wip_limit, position FROM board_columns"
                " WHERE board_id = ? ORDER BY position",
                (board_id,),
            )
            card_rows: list[Row] = []
            if with_cards:
                card_rows = list(
                    await conn.execute_fetchall(
                        f"{_DIALECT.select()} WHERE c.board_id = ?"
                        f" ORDER BY {POSITION}, c.rank, c.id",
                        (board_id,),
                    )
                )
            labels = await conn.execute_fetchall(
                "SELECT id, name, color FROM labels WHERE board_id = ? ORDER BY position",
                (board_id,),
            )
            sprints = await conn.execute_fetchall(
                "SELECT id, name, start_date, end_date, goal, capacity FROM sprints"
                " WHERE board_id = ? ORDER BY position",
                (board_id,),
            )
            comments: list[Row] = []
            if with_cards:
                comments = list(
                    await conn.execute_fetchall(
                        "SELECT card_id, id, author, body, created_at, position FROM comments"
                        " WHERE board_id = ? ORDER BY card_id, position",
                        (board_id,),
                    )
                )
            mark = list(
                await conn.execute_fetchall(
                    "SELECT projected_seq FROM projection_watermarks WHERE board_id = ?",
                    (board_id,),
                )
            )
        return MaterializedBoard(
            board=board,
            columns=[ColumnRow(r[0], r[1], r[2], r[3], r[4], r[5]) for r in columns],
            cards=[_hit(r)[0].card for r in card_rows],
            labels=[LabelRow(r[0], r[1], r[2]) for r in labels],
            sprints=[SprintRow(r[0], r[1], _day(r[2]), _day(r[3]), r[4], r[5]) for r in sprints],
            comments=[CommentRow(r[0], r[1], r[2], r[3], _time(r[4]), r[5]) for r in comments],
            projected_seq=int(mark[0][0]) if mark else 0,
        )

    async def list_comments(self, board_id: str, card_id: str) -> list[CommentRow]:
        """Return one card's comments, oldest first (none for an unknown card)."""
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(
                "SELECT card_id, id, author, body, created_at, position FROM comments"
                " WHERE board_id = ? AND card_id = ? ORDER BY position",
                (board_id, card_id),
            )
        return [CommentRow(r[0], r[1], r[2], r[3], _time(r[4]), r[5]) for r in rows]

    async def get_card_row(self, board_id: str, card_id: str) -> CardHit:
        """Return one materialized card; raise CardNotFound."""
        async with self._tx("DEFERRED") as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"{_DIALECT.select()} WHERE c.board_id = ? AND c.id = ?", (board_id, card_id)
                )
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
        async with self._tx("DEFERRED") as conn:
            rows = await conn.execute_fetchall(sql, params)
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
            "SELECT board_id, card_id, seq, at, origin_kind, origin_actor, field, old, new"
            " FROM card_activity WHERE board_id = ? AND card_id = ?"
        )
        params: list[object] = [board_id, card_id]
        if before_seq is not None and before_field is None:
            sql += " AND seq < ?"
            params.append(before_seq)
        elif before_seq is not None:
            sql += " AND (seq < ? OR (seq = ? AND field > ?))"
            params += [before_seq, before_seq, before_field]
        sql += " ORDER BY seq DESC, field LIMIT ?"
        params.append(limit)
        async with self._tx("DEFERRED") as conn:
            await _board_exists(conn, board_id)
            rows = await conn.execute_fetchall(sql, params)
        return [
            CardActivity(
                board_id=r[0],
                card_id=r[1],
                seq=int(r[2]),
                at=from_micros(r[3]),
                origin=UpdateOrigin(r[4], r[5]),
                field=r[6],
                old=from_json(r[7]),
                new=from_json(r[8]),
            )
            for r in rows
        ]

    async def sprint_committed_points(self, board_id: str, sprint_id: str) -> int:
        """Return the sum of points of the sprint's unarchived cards; raise BoardNotFound."""
        async with self._tx("DEFERRED") as conn:
            await _board_exists(conn, board_id)
            rows = list(
                await conn.execute_fetchall(
                    "SELECT COALESCE(SUM(points), 0) FROM cards"
                    " WHERE board_id = ? AND sprint_id = ? AND archived = 0",
                    (board_id, sprint_id),
                )
            )
        return int(rows[0][0])


async def _write(conn: aiosqlite.Connection, board_id: str, prepared: PreparedBatch) -> None:
    """Write a checked batch inside the caller's transaction (all but the watermark)."""
    batch = prepared.batch
    if batch.columns is not None:
        await conn.execute("DELETE FROM board_columns WHERE board_id = ?", (board_id,))
        await conn.executemany(
            "INSERT INTO board_columns (board_id, id, name, rank, role, wip_limit, position)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(board_id, c.id, c.name, c.rank, c.role, c.wip_limit, c.position)
             for c in batch.columns],
        )  # fmt: skip
    if batch.labels is not None:
        await conn.execute("DELETE FROM labels WHERE board_id = ?", (board_id,))
        await conn.executemany(
            "INSERT INTO labels (board_id, id, name, color, position) VALUES (?, ?, ?, ?, ?)",
            [(board_id, lb.id, lb.name, lb.color, i) for i, lb in enumerate(batch.labels)],
        )
    if batch.sprints is not None:
        await conn.execute("DELETE FROM sprints WHERE board_id = ?", (board_id,))
        await conn.executemany(
            "INSERT INTO sprints"
            " (board_id, id, name, start_date, end_date, goal, capacity, position)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(board_id, s.id, s.name, _iso(s.start), _iso(s.end), s.goal, s.capacity, i)
             for i, s in enumerate(batch.sprints)],
        )  # fmt: skip
    # Deleting a card deletes its label, assignee, PR and comment rows (ON DELETE CASCADE).
    await conn.executemany(
        "DELETE FROM cards WHERE board_id = ? AND id = ?",
        [(board_id, card_id) for card_id in batch.delete_cards],
    )
    stored: dict[str, bytes] = {
        r[0]: bytes(r[1])
        for r in await _ids_in(
            conn,
            "SELECT id, fingerprint FROM cards WHERE board_id = ? AND id IN ",
            board_id,
            [c.row.id for c in prepared.cards],
        )
    }
    changed = [c for c in prepared.cards if stored.get(c.row.id) != c.fingerprint]
    await conn.executemany(
        card_upsert("?"), [card_values(board_id, c, prepared.at, _DIALECT) for c in changed]
    )
    gone = [(board_id, c.row.id) for c in changed if c.row.id in stored]
    for table in ("card_labels", "card_assignees", "card_pull_requests"):
        await conn.executemany(f"DELETE FROM {table} WHERE board_id = ? AND card_id = ?", gone)
    labels, assignees, prs = link_rows(board_id, changed)
    await conn.executemany(
        "INSERT OR IGNORE INTO card_labels (board_id, card_id, label_id) VALUES (?, ?, ?)",
        labels,
    )
    await conn.executemany(
        "INSERT OR IGNORE INTO card_assignees (board_id, card_id, user_id) VALUES (?, ?, ?)",
        assignees,
    )
    await conn.executemany(
        "INSERT OR IGNORE INTO card_pull_requests (board_id, card_id, repo, number)"
        " VALUES (?, ?, ?, ?)",
        prs,
    )
    if batch.card_comments:
        await conn.executemany(
            "DELETE FROM comments WHERE board_id = ? AND card_id = ?",
            [(board_id, card_id) for card_id in batch.card_comments],
        )
        present = {
            r[0]
            for r in await _ids_in(
                conn,
                "SELECT id FROM cards WHERE board_id = ? AND id IN ",
                board_id,
                list(batch.card_comments),
            )
        }
        await conn.executemany(
            "INSERT INTO comments (board_id, card_id, position, id, author, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(board_id, c.card_id, c.position, c.id, c.author, c.body,
              None if c.created_at is None else to_micros(c.created_at))
             for card_id, comments in batch.card_comments.items() if card_id in present
             for c in comments],
        )  # fmt: skip
    await conn.executemany(
        "DELETE FROM card_activity WHERE board_id = ? AND card_id = ? AND seq = ? AND field = ?",
        [(board_id, a.card_id, a.seq, a.field) for a in batch.superseded_activity],
    )
    await conn.executemany(
        "INSERT OR IGNORE INTO card_activity"
        " (board_id, card_id, seq, at, origin_kind, origin_actor, field, old, new)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(board_id, a.entry.card_id, a.entry.seq, to_micros(a.at), a.entry.origin.kind,
          a.entry.origin.actor, a.entry.field, a.old, a.new) for a in prepared.activity],
    )  # fmt: skip
    if batch.board is not None:
        b = batch.board
        await conn.execute(
            "UPDATE boards SET name = ?, card_prefix = ?, repo = ?, schema_version = ?,"
            " document_id = ?, document_workspace_id = ? WHERE id = ?",
            (b.name, b.card_prefix, b.repo, b.schema_version, b.id, b.workspace_id, board_id),
        )


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
