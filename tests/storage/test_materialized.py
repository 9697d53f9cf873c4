"""The materialized tables: every test runs against SQLite, Postgres and the in-memory fake.

Round trips: boards built with crdt_model operations (random edits, hypothesis) are projected,
written (in one full batch, or incrementally with only the touched cards) and read back equal
(==) to `crdt_model.project`. Then the watermark, card queries (every filter and sort, keyset
pages, full-text search), activity, sprint points, and the checks of bad input.
"""

from __future__ import annotations

import asyncio
import base64
import random
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Map

from crdt_model import (
    PRIORITIES,
    Board,
    BoardRow,
    CardRow,
    ColumnRow,
    CommentRow,
    GitRow,
    LabelRow,
    ModelError,
    Projection,
    PrRow,
    SprintRow,
    new_board,
    project,
)
from storage import (
    MAX_PAGE_LIMIT,
    ActivityRef,
    BoardNotFound,
    CardActivity,
    CardNotFound,
    CardQuery,
    CardSort,
    MaterializedBoard,
    NotFound,
    ProjectionBatch,
    SQLiteStore,
    Store,
    UpdateOrigin,
    _migrations,
)
from storage import postgres as pg_module
from storage import sqlite as sqlite_module
from tests.storage.conftest import Backend

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
USERS = (
    "0190aaaa-0000-7000-8000-000000000001",
    "0190aaaa-0000-7000-8000-000000000002",
    "0190aaaa-0000-7000-8000-000000000003",
)
ROLES = (None, "backlog", "todo", "in_progress", "review", "done")
UNPLACED = 2**31 - 1


def uid(n: int, kind: int = 0) -> str:
    """A canonical lower-case UUID numbered `n` (kind separates id families)."""
    return f"00000000-0000-4000-8{kind:03x}-{n:012x}"


async def make_board(store: Store, workspace_id: str | None = None) -> tuple[str, str]:
    """Create a workspace (unless given) and a board with canonical ids; return both ids."""
    if workspace_id is None:
        workspace_id = (await store.create_workspace("Acme", id=str(uuid.uuid4()))).id
    board = await store.create_board(workspace_id, "Sprint board", "TSK", id=str(uuid.uuid4()))
    return workspace_id, board.id


def comments_by_card(projection: Projection) -> dict[str, list[CommentRow]]:
    """Every card's comments (an empty list for a card without any)."""
    grouped: dict[str, list[CommentRow]] = {card.id: [] for card in projection.cards}
    for comment in projection.comments:
        grouped[comment.card_id].append(comment)
    return grouped


def full_batch(
    projection: Projection, seq: int, at: datetime = T0, *, from_seq: int = 0
) -> ProjectionBatch:
    """Everything: what a materializer writes when it projects a board from scratch (from
    watermark 0, unless `from_seq` says otherwise)."""
    return ProjectionBatch(
        board=projection.board,
        columns=projection.columns,
        labels=projection.labels,
        sprints=projection.sprints,
        upsert_cards=projection.cards,
        card_comments=comments_by_card(projection),
        from_seq=from_seq,
        projected_seq=seq,
        at=at,
    )


def incremental_batch(
    before: Projection, after: Projection, seq: int, at: datetime
) -> ProjectionBatch:
    """Only what changed between two projections: the touched cards and comment threads (one
    update's worth: from watermark seq - 1)."""
    old_cards = {card.id: card for card in before.cards}
    new_cards = {card.id: card for card in after.cards}
    old_comments, new_comments = comments_by_card(before), comments_by_card(after)
    return ProjectionBatch(
        board=None if after.board == before.board else after.board,
        columns=None if after.columns == before.columns else after.columns,
        labels=None if after.labels == before.labels else after.labels,
        sprints=None if after.sprints == before.sprints else after.sprints,
        upsert_cards=[card for card in after.cards if old_cards.get(card.id) != card],
        delete_cards=[card_id for card_id in old_cards if card_id not in new_cards],
        card_comments={
            card_id: thread
            for card_id, thread in new_comments.items()
            if old_comments.get(card_id) != thread
        },
        from_seq=seq - 1,
        projected_seq=seq,
        at=at,
    )


def expected(projection: Projection, seq: int) -> MaterializedBoard:
    """What read_materialized must return once `projection` is written with watermark `seq`."""
    return MaterializedBoard(
        board=projection.board,
        columns=projection.columns,
        cards=projection.cards,
        labels=projection.labels,
        sprints=projection.sprints,
        comments=projection.comments,
        projected_seq=seq,
    )


def assert_tables_equal(read: MaterializedBoard, want: MaterializedBoard) -> None:
    """Compare part by part, so a failure names the part that differs."""
    assert read.board == want.board
    assert read.columns == want.columns
    assert read.labels == want.labels
    assert read.sprints == want.sprints
    assert [c.id for c in read.cards] == [c.id for c in want.cards]  # display order
    assert read.cards == want.cards
    assert read.comments == want.comments
    assert read.projected_seq == want.projected_seq
    assert read == want


# -- random board edits (hypothesis) -----------------------------------------------------------

OPS = (
    "create", "create", "create", "move", "title", "describe", "archive", "delete", "priority",
    "points", "due", "number", "label", "unlabel", "new_label", "delete_label", "rename_label",
    "assign", "unassign", "add_column", "move_column", "remove_column", "rename_column",
    "role", "wip", "comment", "comment", "uncomment", "new_sprint", "edit_sprint",
    "delete_sprint", "sprint", "branch", "pr", "pr", "unpr", "automation", "rename", "repo",
    "prefix", "corrupt",
)  # fmt: skip
WORDS = ("alpha", "Beta", "gamma delta", "über", "🚀 ship it", "naïve", "x", "Ω", "日本語")
texts = st.sampled_from(WORDS) | st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=12,
)
ops = st.tuples(st.sampled_from(OPS), st.integers(0, 40), st.integers(0, 40), texts)
ROUND = ("round", 0, 0, "")
scripts = st.lists(st.one_of(ops, ops, ops, ops, st.just(ROUND)), min_size=2, max_size=30)


@dataclass
class Editor:
    """Applies scripted edits to a board document; ids are numbered, so a script replays."""

    board: Board
    counter: int = 0
    clock: datetime = T0

    def next_id(self) -> str:
        self.counter += 1
        return uid(self.counter, 1)

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=7, microseconds=13)
        return self.clock

    def run(self, op: tuple[str, int, int, str]) -> None:
        """Apply one edit; an edit the model refuses (bad title, missing target) is skipped."""
        kind, a, b, text = op
        try:
            self._run(kind, a, b, text)
        except ModelError:
            pass

    def _run(self, kind: str, a: int, b: int, text: str) -> None:
        board = self.board
        view = board.project()
        cards = [c.id for c in view.cards]
        columns = [c.id for c in view.columns]
        labels = [label.id for label in view.labels]
        sprints = [s.id for s in view.sprints]

        def pick(items: Sequence[str], index: int) -> str:
            if not items:
                raise ModelError("nothing to pick")
            return items[index % len(items)]

        card = cards[a % len(cards)] if cards else None
        if kind == "create":
            board.create_card(
                text,
                created_by=USERS[b % 3],
                column_id=columns[b % len(columns)] if columns and b % 4 else None,
                card_id=self.next_id(),
                now=self.tick(),
            )
        elif card is None:
            self._board_level(kind, a, b, text, columns, labels, sprints, pick)
        elif kind == "move":
            board.move_card(card, column_id=pick(columns, b), position=0)
        elif kind == "title":
            board.set_title(card, text)
        elif kind == "describe":
            board.set_description(card, f"{text} {WORDS[b % len(WORDS)]}")
        elif kind == "archive":
            board.set_archived(card, bool(b % 2))
        elif kind == "delete":
            board.delete_card(card)
        elif kind == "priority":
            board.set_priority(card, PRIORITIES[b % len(PRIORITIES)])
        elif kind == "points":
            board.set_points(card, None if b % 5 == 0 else b)
        elif kind == "due":
            board.set_due(card, None if b % 4 == 0 else date(2026, 1, 1) + timedelta(days=b))
        elif kind == "number":
            board.set_card_number(card, b + 1)
        elif kind == "label":
            board.add_label(card, pick(labels, b))
        elif kind == "unlabel":
            board.remove_label(card, pick(labels, b))
        elif kind == "assign":
            board.add_assignee(card, USERS[b % 3])
        elif kind == "unassign":
            board.remove_assignee(card, USERS[b % 3])
        elif kind == "comment":
            board.add_comment(card, USERS[b % 3], text, comment_id=self.next_id(), now=self.tick())
        elif kind == "uncomment":
            board.delete_comment(card, pick([c.id for c in board.comments(card)], b))
        elif kind == "sprint":
            board.set_sprint(card, None if b % 3 == 0 else pick(sprints, b))
        elif kind == "branch":
            board.set_branch(card, None if b % 3 == 0 else f"tsk-{b}-{WORDS[b % 2].lower()}")
        elif kind == "pr":
            board.upsert_pr(
                card,
                f"octo/repo{b % 2}#{b % 5 + 1}",
                title=text[:50],
                state=("open", "draft", "merged", "closed")[b % 4],
                ci=(None, "pending", "success", "failure")[a % 4],
                approvals=a,
                url=f"https://github.com/octo/repo/pull/{b}",
                updated_at=self.tick(),
            )
        elif kind == "unpr":
            prs = [pr.key for pr in board.card(card).git.prs]
            board.remove_pr(card, pick(prs, b))
        elif kind == "automation":
            board.set_last_automation(
                card,
                rule="pr_opened",
                pr=f"octo/repo0#{b % 5 + 1}",
                event="pull_request",
                delivery_id=f"d-{b}",
                at=self.tick(),
            )
        elif kind == "corrupt":
            # What a foreign client may write: the projection reads defaults (and raw_column_id
            # keeps the unknown column).
            raw: Map[Any] = board.doc.get("cards", type=Map)[card]
            field_name, value = (
                ("column", uid(999, 9)),
                ("points", "lots"),
                ("due", "someday"),
                ("priority", 7),
                ("labels", "not a map"),
            )[b % 5]
            with board.doc.transaction():
                raw[field_name] = value
        else:
            self._board_level(kind, a, b, text, columns, labels, sprints, pick)

    def _board_level(
        self,
        kind: str,
        a: int,
        b: int,
        text: str,
        columns: list[str],
        labels: list[str],
        sprints: list[str],
        pick: Callable[[Sequence[str], int], str],
    ) -> None:
        board = self.board
        if kind == "new_label":
            board.create_label(
                text[:50], f"#{(a * 7919 + b) % 0xFFFFFF:06x}", label_id=self.next_id()
            )
        elif kind == "delete_label":
            board.delete_label(pick(labels, b))
        elif kind == "rename_label":
            board.rename_label(pick(labels, b), text[:50])
        elif kind == "add_column":
            board.add_column(
                text[:100],
                role=ROLES[b % len(ROLES)],
                position=a % (len(columns) + 1),
                column_id=self.next_id(),
            )
        elif kind == "move_column":
            board.move_column(pick(columns, a), position=b % len(columns))
        elif kind == "remove_column":
            board.remove_column(pick(columns, b))
        elif kind == "rename_column":
            board.rename_column(pick(columns, b), text[:100])
        elif kind == "role":
            board.set_column_role(pick(columns, b), ROLES[a % len(ROLES)])
        elif kind == "wip":
            board.set_wip_limit(pick(columns, b), None if a % 3 == 0 else a + 1)
        elif kind == "new_sprint":
            start = date(2026, 1, 1) + timedelta(days=7 * (b % 9))
            board.create_sprint(
                text[:100],
                start,
                start + timedelta(days=13),
                goal=text,
                capacity=a,
                sprint_id=self.next_id(),
            )
        elif kind == "edit_sprint":
            board.edit_sprint(pick(sprints, b), name=text[:100], capacity=a * 3)
        elif kind == "delete_sprint":
            board.delete_sprint(pick(sprints, b))
        elif kind == "rename":
            board.rename(text[:100])
        elif kind == "repo":
            board.set_repo(None if b % 3 == 0 else f"octo/repo{b % 2}")
        elif kind == "prefix":
            board.set_card_prefix(("TSK", "OPS", "X1")[b % 3])


def start_board(board_id: str, workspace_id: str) -> Editor:
    """A board to edit: the standard columns, three cards, two labels and a sprint."""
    doc = new_board(board_id, "Random board", workspace_id, standard_columns=True, client_id=5)
    editor = Editor(Board(doc, rng=random.Random(3)))
    board = editor.board
    cards = [
        board.create_card(title, created_by=USERS[n], card_id=editor.next_id(), now=T0)
        for n, title in enumerate(("Plan", "Build", "Ship"))
    ]
    labels = [
        board.create_label("bug", "#d73a4a", label_id=editor.next_id()),
        board.create_label("feature", "#a2eeef", label_id=editor.next_id()),
    ]
    sprint = board.create_sprint("S1", "2026-03-02", "2026-03-15", sprint_id=editor.next_id())
    board.add_label(cards[0], labels[1])
    board.add_label(cards[0], labels[0])
    board.add_assignee(cards[0], USERS[2])
    board.add_assignee(cards[0], USERS[0])
    board.set_sprint(cards[1], sprint)
    board.set_points(cards[1], 5)
    board.add_comment(cards[1], USERS[1], "looks good", comment_id=editor.next_id(), now=T0)
    board.upsert_pr(cards[2], "octo/repo0#1", title="Ship", state="open", updated_at=T0)
    board.move_card(cards[2], column_id=board.columns()[3].id)
    return editor


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts)
async def test_incremental_batches_keep_the_tables_equal_to_the_projection(
    store: Store, script: list[tuple[str, int, int, str]]
) -> None:
    """After every round of edits the touched cards are written, and the tables read back as
    the projection; a second board given the final state in one full batch reads the same."""
    workspace_id, board_id = await make_board(store)
    editor = start_board(board_id, workspace_id)
    before = project(editor.board.doc)
    seq = 1
    assert await store.apply_projection(board_id, full_batch(before, seq))
    rounds: list[list[tuple[str, int, int, str]]] = [[]]
    for op in script:
        if op == ROUND:
            rounds.append([])
        else:
            rounds[-1].append(op)
    for edits in rounds:
        for op in edits:
            editor.run(op)
        after = project(editor.board.doc)
        seq += 1
        batch = incremental_batch(before, after, seq, T0 + timedelta(seconds=seq))
        assert await store.apply_projection(board_id, batch)
        assert_tables_equal(await store.read_materialized(board_id), expected(after, seq))
        before = after

    _, other_id = await make_board(store, workspace_id)
    assert await store.apply_projection(other_id, full_batch(before, 1))
    whole = await store.read_materialized(other_id)
    incremental = await store.read_materialized(board_id)
    assert msgspec.structs.replace(whole, projected_seq=seq) == incremental


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(ops, min_size=2, max_size=30))
async def test_a_full_batch_reads_back_as_the_projection(
    store: Store, script: list[tuple[str, int, int, str]]
) -> None:
    workspace_id, board_id = await make_board(store)
    editor = start_board(board_id, workspace_id)
    for op in script:
        editor.run(op)
    projection = project(editor.board.doc)
    assert await store.apply_projection(board_id, full_batch(projection, 7))
    assert_tables_equal(await store.read_materialized(board_id), expected(projection, 7))
    for card in projection.cards:
        hit = await store.get_card_row(board_id, card.id)
        assert (hit.board_id, hit.card, hit.updated_at) == (board_id, card, T0)


# -- one hand-made board -----------------------------------------------------------------------


def sample_board(board_id: str, workspace_id: str) -> Board:
    """A board with two cards carrying every kind of field."""
    doc = new_board(board_id, "Launch", workspace_id, "LCH", "octo/app", standard_columns=True)
    board = Board(doc, rng=random.Random(1))
    label = board.create_label("bug", "#ff0000", label_id=uid(1, 2))
    sprint = board.create_sprint("S1", "2026-03-02", "2026-03-15", goal="ship", sprint_id=uid(1, 3))
    first = board.create_card("Write the README", created_by=USERS[0], card_id=uid(1), now=T0)
    second = board.create_card("Ship it", created_by=USERS[1], card_id=uid(2), now=T0)
    board.set_description(first, "Explain **how** to install")
    board.add_label(first, label)
    board.add_assignee(first, USERS[1])
    board.add_assignee(first, USERS[0])
    board.set_sprint(first, sprint)
    board.set_points(first, 3)
    board.set_due(first, "2026-03-10")
    board.set_card_number(first, 1)
    board.set_branch(first, "lch-1-write-the-readme")
    board.upsert_pr(first, "octo/app#7", title="README", state="open", ci="success",
                    approvals=1, updated_at=T0)  # fmt: skip
    board.upsert_pr(first, "octo/lib#2", state="draft")
    board.set_last_automation(first, rule="pr_opened", pr="octo/app#7", event="pull_request",
                              delivery_id="d-1", at=T0)  # fmt: skip
    board.add_comment(first, USERS[0], "first!", comment_id=uid(1, 4), now=T0)
    board.add_comment(first, USERS[1], "second", comment_id=uid(2, 4), now=T0)
    board.move_card(second, column_id=board.columns()[2].id)
    return board


async def test_a_hand_made_board_round_trips_with_every_field(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    board = sample_board(board_id, workspace_id)
    projection = board.project()
    card = projection.cards[0]
    assert card.labels and len(card.assignees) == 2 and len(card.git.prs) == 2
    assert card.git.last_automation is not None and card.key == "LCH-1"
    assert await store.get_watermark(board_id) == 0
    empty = await store.read_materialized(board_id)
    assert empty == MaterializedBoard(
        board=None, columns=[], cards=[], labels=[], sprints=[], comments=[], projected_seq=0
    )
    assert await store.apply_projection(board_id, full_batch(projection, 3))
    assert_tables_equal(await store.read_materialized(board_id), expected(projection, 3))
    assert await store.get_watermark(board_id) == 3
    # The document owns the board's name and card prefix.
    stored = await store.get_board(board_id)
    assert (stored.name, stored.card_prefix, stored.workspace_id) == ("Launch", "LCH", workspace_id)
    board.rename("Launch v2")
    board.set_card_prefix("LV")
    renamed = board.project()
    assert await store.apply_projection(board_id, incremental_batch(projection, renamed, 4, T0))
    assert (await store.get_board(board_id)).name == "Launch v2"
    assert (await store.read_materialized(board_id)).cards[0].key == "LV-1"


async def test_a_board_the_document_misnames_keeps_its_server_identity(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    other = str(uuid.uuid4())
    row = BoardRow(id=other, name="Hijack", workspace_id=other, schema_version=1,
                   card_prefix="HJ", repo=None)  # fmt: skip
    batch = ProjectionBatch(board=row, from_seq=0, projected_seq=1, at=T0)
    assert await store.apply_projection(board_id, batch)
    assert (await store.read_materialized(board_id)).board == row  # exactly what was projected
    stored = await store.get_board(board_id)
    assert (stored.id, stored.workspace_id, stored.name) == (board_id, workspace_id, "Hijack")
    assert [b.id for b in await store.list_boards(workspace_id)] == [board_id]


async def test_a_card_without_a_column_and_one_in_an_unknown_column(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    board = sample_board(board_id, workspace_id)
    raw: Map[Any] = board.doc.get("cards", type=Map)[uid(2)]
    raw["column"] = uid(77, 9)
    projection = board.project()
    lost = next(c for c in projection.cards if c.id == uid(2))
    assert lost.raw_column_id == uid(77, 9) and lost.column_id == projection.columns[0].id
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    assert_tables_equal(await store.read_materialized(board_id), expected(projection, 1))
    for column in projection.columns:
        board.remove_column(column.id)
    bare = board.project()
    assert all(c.column_id is None for c in bare.cards)
    assert await store.apply_projection(board_id, incremental_batch(projection, bare, 2, T0))
    assert_tables_equal(await store.read_materialized(board_id), expected(bare, 2))


# -- the watermark ------------------------------------------------------------------------------


async def test_a_batch_is_written_only_at_the_watermark_it_was_computed_from(
    store: Store,
) -> None:
    workspace_id, board_id = await make_board(store)
    board = sample_board(board_id, workspace_id)
    projection = board.project()
    assert await store.apply_projection(board_id, full_batch(projection, 5))
    snapshot = await store.read_materialized(board_id)
    hit = await store.get_card_row(board_id, uid(1))
    board.set_title(uid(1), "Something else")
    changed = board.project()
    later = T0 + timedelta(hours=1)
    # The watermark is 5: the same batch again, one over a shorter range, one going further,
    # one from an older watermark and one from a watermark not reached write nothing at all.
    for from_seq, seq in ((0, 5), (0, 4), (0, 6), (2, 9), (6, 7)):
        batch = full_batch(changed, seq, later, from_seq=from_seq)
        replayed = msgspec.structs.replace(
            batch,
            activity=[CardActivity(board_id=board_id, card_id=uid(1), seq=seq, at=later,
                                   origin=UpdateOrigin("user", USERS[0]), field="title")],
        )  # fmt: skip
        assert await store.apply_projection(board_id, replayed) is False
    assert await store.read_materialized(board_id) == snapshot
    assert await store.get_card_row(board_id, uid(1)) == hit
    assert await store.list_card_activity(board_id, uid(1)) == []
    assert await store.get_watermark(board_id) == 5
    assert await store.apply_projection(board_id, full_batch(changed, 6, later, from_seq=5))
    assert (await store.read_materialized(board_id)).projected_seq == 6


def _title_change(board_id: str, seq: int) -> CardActivity:
    return CardActivity(board_id=board_id, card_id=uid(1), seq=seq, at=T0,
                        origin=UpdateOrigin("user", USERS[seq % 3]), field="title")  # fmt: skip


async def test_of_two_writers_from_one_watermark_only_one_wins(backend: Backend) -> None:
    """Two materializers (two stores on one database) project a board at once from the same
    watermark over overlapping ranges: exactly one batch is written, the other not at all."""
    async with backend.make() as one, backend.make() as two:
        for first, second in ((one, two), (two, one)):
            workspace_id, board_id = await make_board(one)
            board = sample_board(board_id, workspace_id)
            base = board.project()
            assert await one.apply_projection(board_id, full_batch(base, 2))
            board.set_title(uid(1), "Short")
            short = board.project()
            board.delete_card(uid(2))
            long = board.project()
            # One covers updates 3..4, the other 3..8 (it also saw card 2 deleted).
            batches = [
                msgspec.structs.replace(
                    incremental_batch(base, short, 4, T0), from_seq=2,
                    activity=[_title_change(board_id, 3)],
                ),
                msgspec.structs.replace(
                    incremental_batch(base, long, 8, T0), from_seq=2,
                    activity=[_title_change(board_id, 4)],
                ),
            ]  # fmt: skip
            results = await asyncio.gather(
                first.apply_projection(board_id, batches[0]),
                second.apply_projection(board_id, batches[1]),
            )
            assert sorted(results) == [False, True]
            won = results.index(True)
            tables = await second.read_materialized(board_id)
            assert_tables_equal(tables, expected([short, long][won], [4, 8][won]))
            assert await first.list_card_activity(board_id, uid(1)) == batches[won].activity
            # The loser, computed from watermark 2, is refused for good.
            assert await first.apply_projection(board_id, batches[1 - won]) is False


async def test_an_unchanged_row_keeps_its_updated_at(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    board = sample_board(board_id, workspace_id)
    first = board.project()
    assert await store.apply_projection(board_id, full_batch(first, 1, T0))
    board.set_priority(uid(2), "urgent")
    second = board.project()
    later = T0 + timedelta(days=1)
    # A full batch: both cards listed, only one changed.
    assert await store.apply_projection(board_id, full_batch(second, 2, later, from_seq=1))
    assert (await store.get_card_row(board_id, uid(1))).updated_at == T0
    assert (await store.get_card_row(board_id, uid(2))).updated_at == later
    # A label, assignee or PR change moves it too (they are part of the row).
    board.remove_assignee(uid(1), USERS[0])
    third = board.project()
    assert await store.apply_projection(board_id, full_batch(third, 3, later, from_seq=2))
    assert (await store.get_card_row(board_id, uid(1))).updated_at == later
    assert (await store.get_card_row(board_id, uid(1))).card == third.cards[0]


async def test_unknown_boards_and_cards(store: Store) -> None:
    _, board_id = await make_board(store)
    batch = ProjectionBatch(from_seq=0, projected_seq=1, at=T0)
    with pytest.raises(BoardNotFound):
        await store.apply_projection("no-such-board", batch)
    with pytest.raises(BoardNotFound):
        await store.read_materialized("no-such-board")
    with pytest.raises(BoardNotFound):
        await store.list_card_activity("no-such-board", uid(1))
    with pytest.raises(BoardNotFound):
        await store.sprint_committed_points("no-such-board", uid(1))
    for board, card in ((board_id, uid(1)), ("no-such-board", uid(1))):
        with pytest.raises(CardNotFound) as caught:
            await store.get_card_row(board, card)
        assert isinstance(caught.value, NotFound) and caught.value.card_id == card


async def test_bad_batches_are_refused_and_write_nothing(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    projection = sample_board(board_id, workspace_id).project()
    good = full_batch(projection, 2)
    card = projection.cards[0]
    comment = projection.comments[0]
    entry = CardActivity(board_id=board_id, card_id=card.id, seq=2, at=T0,
                         origin=UpdateOrigin("api"), field="title")  # fmt: skip
    bad = [
        msgspec.structs.replace(good, upsert_cards=[card, card]),
        msgspec.structs.replace(good, delete_cards=[card.id]),
        msgspec.structs.replace(good, card_comments={uid(2): [comment]}),
        msgspec.structs.replace(good, card_comments={card.id: [comment, comment]}),
        msgspec.structs.replace(
            good, activity=[msgspec.structs.replace(entry, board_id="another")]
        ),
        msgspec.structs.replace(good, activity=[msgspec.structs.replace(entry, old=object())]),
        msgspec.structs.replace(good, at=datetime(2026, 3, 1)),
        msgspec.structs.replace(good, projected_seq=-1),
        msgspec.structs.replace(good, from_seq=-1),
        msgspec.structs.replace(good, from_seq=2),  # a batch covers at least one update
        msgspec.structs.replace(good, from_seq=3),
        msgspec.structs.replace(good, from_seq=None),
        msgspec.structs.replace(good, columns=projection.columns + projection.columns[:1]),
        # Wrong types (msgspec Structs do not check them when built).
        msgspec.structs.replace(good, upsert_cards=[msgspec.structs.replace(card, due="soon")]),
        msgspec.structs.replace(good, upsert_cards=[msgspec.structs.replace(card, points=1.5)]),
        msgspec.structs.replace(good, upsert_cards=[msgspec.structs.replace(card, labels=None)]),
        msgspec.structs.replace(
            good,
            activity=[msgspec.structs.replace(entry, origin=UpdateOrigin("robot"))],  # type: ignore[arg-type]
        ),
        msgspec.structs.replace(good, projected_seq="2"),
        msgspec.structs.replace(good, from_seq="0"),
    ]
    for batch in bad:
        with pytest.raises(ValueError):
            await store.apply_projection(board_id, batch)
    assert (await store.read_materialized(board_id)).projected_seq == 0
    # A repeated activity entry is no error: the first one is kept.
    again = msgspec.structs.replace(entry, old="first")
    assert await store.apply_projection(
        board_id, msgspec.structs.replace(good, activity=[again, entry])
    )
    later = msgspec.structs.replace(entry, seq=2, old="later")
    assert await store.apply_projection(
        board_id, ProjectionBatch(activity=[later], from_seq=2, projected_seq=3, at=T0)
    )
    assert [a.old for a in await store.list_card_activity(board_id, card.id)] == ["first"]


async def test_comments_follow_their_card(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    board = sample_board(board_id, workspace_id)
    projection = board.project()
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    # Comments of a card that is not stored are ignored, as the projection ignores them.
    stray = CommentRow(card_id=uid(50), id=uid(9, 4), author=None, body="?", created_at=None,
                       position=0)  # fmt: skip
    batch = ProjectionBatch(card_comments={uid(50): [stray]}, from_seq=1, projected_seq=2, at=T0)
    assert await store.apply_projection(board_id, batch)
    assert (await store.read_materialized(board_id)).comments == projection.comments
    # Deleting a card deletes its comments; malformed comment ids (read as "") may repeat.
    twins = [
        CommentRow(card_id=uid(2), id="", author=None, body=f"#{n}", created_at=None, position=n)
        for n in range(2)
    ]
    batch = ProjectionBatch(card_comments={uid(2): twins}, delete_cards=[uid(1)], from_seq=2,
                            projected_seq=3, at=T0)  # fmt: skip
    assert await store.apply_projection(board_id, batch)
    assert (await store.read_materialized(board_id)).comments == twins


async def test_nul_characters(store: Store, backend: Backend) -> None:
    """Postgres text cannot hold U+0000: it is stored as U+FFFD there, exactly elsewhere."""
    workspace_id, board_id = await make_board(store)
    board = sample_board(board_id, workspace_id)
    board.set_title(uid(1), "nul\x00title")
    board.set_description(uid(1), "a\x00b")
    board.add_comment(uid(1), USERS[0], "c\x00d", comment_id=uid(3, 4), now=T0)
    projection = board.project()
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    read = await store.read_materialized(board_id)
    card = read.cards[0]
    if backend.kind == "postgres":
        assert (card.title, card.description) == ("nul\ufffdtitle", "a\ufffdb")
        assert read.comments[-1].body == "c\ufffdd"
    else:
        assert_tables_equal(read, expected(projection, 1))
    page = await store.query_cards(CardQuery(board_id=board_id, text="title"))
    assert [hit.card.id for hit in page.items] == [uid(1)]


# -- card queries ------------------------------------------------------------------------------


@dataclass
class World:
    """Cards of three boards in two workspaces, and the truth to compare queries with."""

    workspace: str
    other_workspace: str
    boards: list[str]
    # board id -> (column positions and roles, [(card, updated_at)])
    columns: dict[str, dict[str, tuple[int, str | None]]] = field(default_factory=dict)
    cards: dict[tuple[str, str], tuple[CardRow, datetime]] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    workspace_of: dict[str, str] = field(default_factory=dict)

    def position(self, board_id: str, card: CardRow) -> int:
        column = self.columns[board_id].get(card.column_id or "")
        return UNPLACED if column is None else column[0]

    def key(self, sort: CardSort, board_id: str, card: CardRow, updated: datetime) -> Any:
        if sort == "rank":
            return (board_id, self.position(board_id, card), card.rank, card.id)
        if sort == "due":
            return (card.due is None, card.due or date.max, board_id, card.id)
        return (-updated.timestamp(), board_id, card.id)

    def matches(self, q: CardQuery, board_id: str, card: CardRow) -> bool:
        role = self.columns[board_id].get(card.column_id or "")
        return all(
            (
                q.board_id is None or board_id == q.board_id,
                q.workspace_id is None or self.workspace_of[board_id] == q.workspace_id,
                q.column_id is None or card.column_id == q.column_id,
                q.column_role is None or (role is not None and role[1] == q.column_role),
                q.assignee is None or q.assignee in card.assignees,
                q.label is None or q.label in card.labels,
                q.sprint_id is None or card.sprint_id == q.sprint_id,
                q.priority is None or card.priority == q.priority,
                q.due_from is None or (card.due is not None and card.due >= q.due_from),
                q.due_to is None or (card.due is not None and card.due <= q.due_to),
                q.archived is None or card.archived == q.archived,
            )
        )

    def answer(self, q: CardQuery) -> list[tuple[str, str]]:
        found = [
            (self.key(q.sort, b, card, updated), (b, card.id))
            for (b, _), (card, updated) in self.cards.items()
            if self.matches(q, b, card)
        ]
        return [ident for _, ident in sorted(found)]

    async def put(self, store: Store, board_id: str, cards: list[CardRow], at: datetime) -> None:
        watermark = self.seq.get(board_id, 0)
        self.seq[board_id] = watermark + 1
        batch = ProjectionBatch(
            upsert_cards=cards, from_seq=watermark, projected_seq=watermark + 1, at=at
        )
        assert await store.apply_projection(board_id, batch)
        for card in cards:
            self.cards[(board_id, card.id)] = (card, at)


def random_card(rng: random.Random, n: int, columns: list[str], extra: dict[str, Any]) -> CardRow:
    pr = PrRow(key="octo/app#1", repo="octo/app", number=1, title="", state="open", url=None,
               head_branch=None, head_sha=None, ci=None, approvals=0, updated_at=None)  # fmt: skip
    fields: dict[str, Any] = dict(
        id=uid(rng.randrange(1, 10**6), 5) if "id" not in extra else extra["id"],
        column_id=rng.choice([*columns, None, uid(404, 9)]) if columns else None,
        raw_column_id=None,
        rank=rng.choice(["a0", "a0", "a1", "Zz", "b", "", "a0V"]),
        number=n,
        key=f"TSK-{n}",
        title=f"Card {n} {rng.choice(['alpha', 'beta', 'gamma'])}",
        description=rng.choice(["", "delta epsilon", "Alpha and OMEGA"]),
        priority=rng.choice(PRIORITIES),
        points=rng.choice([None, 1, 2, 3, 5, 8]),
        due=rng.choice([None, date(2026, 3, 1), date(2026, 3, 2), date(2026, 4, 1)]),
        labels=sorted(rng.sample([uid(1, 2), uid(2, 2), uid(3, 2)], rng.randrange(3))),
        assignees=sorted(rng.sample(list(USERS), rng.randrange(3))),
        sprint_id=rng.choice([None, uid(1, 3), uid(2, 3)]),
        created_by=USERS[0],
        created_at=T0,
        archived=rng.random() < 0.2,
        git=GitRow(branch=None, prs=[pr] if rng.random() < 0.3 else [], last_automation=None),
    )
    fields.update(extra)
    return CardRow(**fields)


async def build_world(store: Store, cards_per_board: int = 24) -> World:
    rng = random.Random(20260301)
    ws = (await store.create_workspace("Acme", id=uid(1, 6))).id
    other = (await store.create_workspace("Other", id=uid(2, 6))).id
    boards = [uid(1, 7), uid(2, 7), uid(3, 7)]
    world = World(ws, other, boards)
    for index, board_id in enumerate(boards):
        workspace = other if index == 2 else ws
        await store.create_board(workspace, f"B{index}", "TSK", id=board_id)
        world.workspace_of[board_id] = workspace
        column_ids = [uid(10 * index + n, 8) for n in range(3)] if index != 1 else []
        columns = [
            ColumnRow(id=cid, name=f"C{n}", rank=f"a{2 - n}", role=ROLES[n + 2], wip_limit=None,
                      position=n)
            for n, cid in enumerate(column_ids)
        ]  # fmt: skip
        world.columns[board_id] = {c.id: (c.position, c.role) for c in columns}
        world.seq[board_id] = 1
        assert await store.apply_projection(
            board_id, ProjectionBatch(columns=columns, from_seq=0, projected_seq=1, at=T0)
        )
        cards = [random_card(rng, n, column_ids, {}) for n in range(cards_per_board)]
        unique = list({card.id: card for card in cards}.values())
        # Two batches with different times; many cards share one updated_at (tiebreakers).
        await world.put(store, board_id, unique[::2], T0 + timedelta(minutes=index))
        await world.put(store, board_id, unique[1::2], T0 + timedelta(minutes=10))
    return world


async def fetch_all(store: Store, query: CardQuery) -> list[tuple[str, str]]:
    """Follow next_cursor to the end; return the (board, card) ids in page order."""
    result: list[tuple[str, str]] = []
    cursor = None
    for _ in range(1000):
        page = await store.query_cards(msgspec.structs.replace(query, cursor=cursor))
        assert len(page.items) <= query.limit
        result += [(hit.board_id, hit.card.id) for hit in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return result
        assert page.items, "a page before the last is never empty"
    raise AssertionError("pagination did not end")


def query_grid(world: World) -> list[dict[str, Any]]:
    b0, b1, _b2 = world.boards
    filters: list[dict[str, Any]] = [
        {},
        {"archived": None},
        {"archived": True},
        {"column_id": uid(1, 8)},
        {"column_role": "in_progress"},
        {"column_role": "todo", "archived": None},
        {"assignee": USERS[1]},
        {"label": uid(2, 2)},
        {"label": uid(1, 2), "assignee": USERS[0]},
        {"sprint_id": uid(1, 3)},
        {"priority": "urgent"},
        {"due_from": date(2026, 3, 2)},
        {"due_to": date(2026, 3, 2)},
        {"due_from": date(2026, 3, 1), "due_to": date(2026, 3, 1), "archived": None},
        {"priority": "high", "sprint_id": uid(2, 3), "archived": None},
    ]
    scopes: list[dict[str, Any]] = [
        {"board_id": b0},
        {"board_id": b1},
        {"workspace_id": world.workspace},
        {"workspace_id": world.other_workspace},
        {"workspace_id": world.workspace, "board_id": b1},
        {"workspace_id": world.other_workspace, "board_id": b0},
    ]
    grid = []
    for i, f in enumerate(filters):
        for j, scope in enumerate(scopes):
            if (i + j) % 2 == 0 or not f:
                grid.append({**scope, **f})
    return grid


async def test_every_filter_and_sort_pages_through_the_whole_answer(store: Store) -> None:
    world = await build_world(store)
    for spec in query_grid(world):
        for sort in ("rank", "due", "updated"):
            for limit in (1, 5, MAX_PAGE_LIMIT):
                if limit == 1 and len(spec) > 2:
                    continue
                query = CardQuery(**spec, sort=sort, limit=limit)
                want = world.answer(query)
                got = await fetch_all(store, query)
                assert got == want, (spec, sort, limit)


async def test_rank_order_is_the_board_display_order(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    rng = random.Random(5)
    editor = start_board(board_id, workspace_id)
    for n in range(40):
        editor.run((rng.choice(["create", "create", "move", "move_column", "archive"]),
                    rng.randrange(40), rng.randrange(40), f"card {n}"))  # fmt: skip
    projection = project(editor.board.doc)
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    query = CardQuery(board_id=board_id, archived=None, limit=3)
    assert [card_id for _, card_id in await fetch_all(store, query)] == [
        card.id for card in projection.cards
    ]


@pytest.mark.parametrize("sort", ["rank", "due", "updated"])
async def test_pages_stay_consistent_while_cards_are_added(store: Store, sort: CardSort) -> None:
    world = await build_world(store, cards_per_board=16)
    query = CardQuery(workspace_id=world.workspace, sort=sort, limit=4, archived=None)
    before = set(world.answer(query))
    rng = random.Random(11)
    seen: list[tuple[str, str]] = []
    cursor = None
    for round_ in range(100):
        page = await store.query_cards(msgspec.structs.replace(query, cursor=cursor))
        seen += [(hit.board_id, hit.card.id) for hit in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
        # New cards land before and after the cursor, in both boards of the workspace.
        board_id = world.boards[round_ % 2]
        columns = list(world.columns[board_id])
        new = [random_card(rng, 100 + round_, columns, {"id": uid(5000 + 2 * round_ + k, 5)})
               for k in range(2)]  # fmt: skip
        await world.put(store, board_id, new, T0 + timedelta(minutes=rng.choice([0, 10, 60])))
    assert cursor is None
    assert len(seen) == len(set(seen)), "no card twice"
    assert before <= set(seen), "no card that was there all along is skipped"
    order = {ident: i for i, ident in enumerate(world.answer(query))}
    assert [order[ident] for ident in seen] == sorted(order[ident] for ident in seen)


async def test_bad_queries_and_cursors_are_value_errors(store: Store) -> None:
    world = await build_world(store, cards_per_board=6)
    base = CardQuery(board_id=world.boards[0], limit=2, archived=None)
    first = await store.query_cards(base)
    assert first.next_cursor is not None
    good = first.next_cursor

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    cursors = [
        "", "!!!", "not base64 at all", good[:-3], good + "AAAA", b64(b"[1, 2]"), b64(b"{}"),
        b64(b'{"sort": "rank", "key": [1, 2, 3, 4]}'),
        b64(b'{"sort": "rank", "key": ["b", 0, "a"]}'),
        b64(b'{"sort": "nope", "key": []}'),
        b64(b'{"sort": "rank", "key": ["b", 0, "a", "c"], "x": 1}'),
        b64(b"\xff\xfe"), "x" * 5000,
    ]  # fmt: skip
    for cursor in cursors:
        with pytest.raises(ValueError, match="cursor"):
            await store.query_cards(msgspec.structs.replace(base, cursor=cursor))
    for sort in ("due", "updated"):  # a cursor is bound to its sort
        with pytest.raises(ValueError, match="cursor"):
            await store.query_cards(msgspec.structs.replace(base, sort=sort, cursor=good))
    with pytest.raises(ValueError, match="cursor"):
        due = b64(b'{"sort": "due", "key": [3, "2026-01-01", "b", "c"]}')
        await store.query_cards(msgspec.structs.replace(base, sort="due", cursor=due))
    with pytest.raises(ValueError, match="cursor"):
        late = b64(b'{"sort": "updated", "key": [1000000000000000000, "b", "c"]}')
        await store.query_cards(msgspec.structs.replace(base, sort="updated", cursor=late))
    for limit in (0, -1, MAX_PAGE_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            await store.query_cards(msgspec.structs.replace(base, limit=limit))
    with pytest.raises(ValueError, match="board_id or a workspace_id"):
        await store.query_cards(CardQuery())
    with pytest.raises(ValueError, match="sort"):
        await store.query_cards(msgspec.structs.replace(base, sort="title"))
    with pytest.raises(ValueError, match="text"):
        await store.query_cards(msgspec.structs.replace(base, text="a" * 1001))
    for wrong in ({"due_from": "someday"}, {"archived": "yes"}, {"label": 3}):
        with pytest.raises(ValueError, match="CardQuery"):
            await store.query_cards(msgspec.structs.replace(base, **wrong))
    # An unknown board or workspace is no error: nothing matches.
    assert (await store.query_cards(CardQuery(board_id="nope"))).items == []
    assert (await store.query_cards(CardQuery(workspace_id="nope"))).items == []


# -- full-text search ----------------------------------------------------------------------------


async def test_full_text_search(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    _, other_board = await make_board(store, workspace_id)
    doc = new_board(board_id, "Search", workspace_id, standard_columns=True)
    board = Board(doc, rng=random.Random(2))
    texts_ = [
        ("Fix the login page", "Users cannot SIGN in with GitHub"),
        ("Write docs", "Explain the login flow, near the top"),
        ("Release 2.0", "Tag, build and publish; or roll back"),
        ("Crème brûlée", "dessert"),
        ("Archived login card", ""),
    ]
    ids = [board.create_card(t, created_by=USERS[0], description=d, card_id=uid(n + 1))
           for n, (t, d) in enumerate(texts_)]  # fmt: skip
    board.archive_card(ids[4])
    projection = board.project()
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    copy = msgspec.structs.replace(projection.cards[0], id=uid(99))
    assert await store.apply_projection(
        other_board, ProjectionBatch(upsert_cards=[copy], from_seq=0, projected_seq=1, at=T0)
    )

    async def search(text: str, **more: Any) -> set[str]:
        scope = more.pop("scope", {"board_id": board_id})
        query = CardQuery(**scope, text=text, limit=2, **more)
        return {card for _, card in await fetch_all(store, query)}

    assert await search("login") == {ids[0], ids[1]}
    assert await search("LOGIN") == {ids[0], ids[1]}
    assert await search("sign") == {ids[0]}  # a word of the description
    assert await search("login github") == {ids[0]}  # every word, title or description
    assert await search("github   Fix") == {ids[0]}
    assert await search("login", archived=None) == {ids[0], ids[1], ids[4]}
    assert await search("login", scope={"workspace_id": workspace_id}) == {ids[0], ids[1], uid(99)}
    assert await search("log") == set()  # words, not prefixes
    assert await search("crème") == {ids[3]}
    assert await search("brûlée dessert") == {ids[3]}
    assert await search("nothing") == set()
    # Operators and quotes are plain text: never an error, never syntax.
    assert await search("near") == {ids[1]}
    assert await search("NEAR(") == {ids[1]}
    assert await search("or") == {ids[2]}
    assert await search("login OR release") == set()  # "or" is a word the cards must hold
    assert await search('"login" "page"') == {ids[0]}
    assert await search("login*") == {ids[0], ids[1]}
    assert await search("-login") == {ids[0], ids[1]}
    hostile = ['"', "*", "OR", "AND", "NOT", "NEAR(", "NEAR(login page, 2)", '"unbalanced', "(",
               ")", "title:login", "{title}: x", "^login", "login:", "'", "\\", "''", ":", "-",
               "a\\b", "%", "%s", "?", "_", ";", "--", "/*", "\x01", "🚀", "\u0301", " ",
               ""]  # fmt: skip
    for text in hostile:
        await search(text)  # no error
    assert await search('"') == set() and await search("") == set()
    # Edits reach the index in the same transaction; deletions leave it.
    board.set_title(ids[0], "Fix the logout page")
    board.delete_card(ids[1])
    edited = board.project()
    assert await store.apply_projection(board_id, incremental_batch(projection, edited, 2, T0))
    assert await search("login") == set()
    assert await search("logout") == {ids[0]}
    assert await search("login", archived=None) == {ids[4]}


async def test_the_fts5_index_stays_consistent(tmp_path: Any) -> None:
    path = tmp_path / "fts.db"
    async with SQLiteStore(path) as store:
        workspace_id, board_id = await make_board(store)
        board = sample_board(board_id, workspace_id)
        previous = board.project()
        assert await store.apply_projection(board_id, full_batch(previous, 2))
        for n in range(3, 12):
            board.create_card(f"card {n}", created_by=USERS[0], card_id=uid(n))
            board.set_title(uid(n - 1), f"renamed {n}")
            board.delete_card(uid(n - 2))
            current = board.project()
            assert await store.apply_projection(
                board_id, incremental_batch(previous, current, n, T0)
            )
            previous = current
        await store.delete_workspace(workspace_id)
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO cards_fts (cards_fts) VALUES ('integrity-check')")
        assert conn.execute("SELECT count(*) FROM cards").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM cards_fts_docsize").fetchone() == (0,)
    finally:
        conn.close()


# -- activity ------------------------------------------------------------------------------------


def activity(board_id: str, card_id: str, seq: int, field_name: str, old: Any = None,
             new: Any = None) -> CardActivity:  # fmt: skip
    return CardActivity(board_id=board_id, card_id=card_id, seq=seq,
                        at=T0 + timedelta(seconds=seq), origin=UpdateOrigin("user", USERS[seq % 3]),
                        field=field_name, old=old, new=new)  # fmt: skip


async def test_activity_is_listed_newest_first_and_pages_exactly(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    projection = sample_board(board_id, workspace_id).project()
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    card, other = uid(1), uid(2)
    entries: list[CardActivity] = []
    rng = random.Random(3)
    fields = ["title", "priority", "labels", "git", "due", "card"]
    for seq in range(2, 14):
        batch_entries = [
            activity(board_id, card, seq, name, old={"n": seq, "xs": [1, "a", None]}, new=seq)
            for name in rng.sample(fields, rng.randrange(1, 4))
        ] + [activity(board_id, other, seq, "title", "a", "b")]
        entries += [e for e in batch_entries if e.card_id == card]
        batch = ProjectionBatch(activity=batch_entries, from_seq=seq - 1, projected_seq=seq, at=T0)
        assert await store.apply_projection(board_id, batch)
    newest_first = sorted(entries, key=lambda e: (-e.seq, e.field))
    assert await store.list_card_activity(board_id, card, limit=MAX_PAGE_LIMIT) == newest_first
    for limit in (1, 2, 5):
        pages: list[CardActivity] = []
        before: tuple[int, str] | None = None
        while True:
            page = await store.list_card_activity(
                board_id,
                card,
                limit=limit,
                before_seq=None if before is None else before[0],
                before_field=None if before is None else before[1],
            )
            pages += page
            if len(page) < limit:
                break
            before = (page[-1].seq, page[-1].field)
        assert pages == newest_first
    # before_seq alone: everything of older updates.
    assert await store.list_card_activity(board_id, card, before_seq=5) == [
        e for e in newest_first if e.seq < 5
    ]
    # JSON values come back as JSON: a date as its ISO string.
    dated = activity(board_id, card, 20, "due", None, date(2026, 5, 1))
    assert await store.apply_projection(
        board_id, ProjectionBatch(activity=[dated], from_seq=13, projected_seq=20, at=T0)
    )
    latest = (await store.list_card_activity(board_id, card, limit=1))[0]
    assert latest == msgspec.structs.replace(dated, new="2026-05-01")
    # A deleted card keeps its history.
    assert await store.apply_projection(
        board_id, ProjectionBatch(delete_cards=[card], from_seq=20, projected_seq=21, at=T0)
    )
    assert (
        len(await store.list_card_activity(board_id, card, limit=MAX_PAGE_LIMIT))
        == len(entries) + 1
    )
    for limit in (0, MAX_PAGE_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            await store.list_card_activity(board_id, card, limit=limit)
    with pytest.raises(ValueError, match="before_seq"):
        await store.list_card_activity(board_id, card, before_field="title")


async def test_narrow_reads_leave_out_what_they_do_not_need(store: Store) -> None:
    """Lists of columns, labels and sprints read no cards; a card's comments only its own."""
    workspace_id, board_id = await make_board(store)
    projection = sample_board(board_id, workspace_id).project()
    assert projection.comments  # the sample has some
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    whole = expected(projection, 1)
    level = await store.read_materialized(board_id, cards=False)
    assert level == msgspec.structs.replace(whole, cards=[], comments=[])
    for card in projection.cards:
        assert await store.list_comments(board_id, card.id) == comments_by_card(projection).get(
            card.id, []
        )
    assert await store.list_comments(board_id, "no such card") == []


async def test_unprojected_boards_are_listed_with_their_head(store: Store) -> None:
    """The materializer's catch-up asks once for every board behind its log."""
    workspace_id, behind = await make_board(store)
    _, idle = await make_board(store, workspace_id)
    for update in rename_updates(3):
        await store.append(behind, update, UpdateOrigin("user", USERS[0]))
    assert await store.list_unprojected_boards() == [(behind, 3)]
    projection = sample_board(behind, workspace_id).project()
    assert await store.apply_projection(behind, full_batch(projection, 2))
    assert await store.list_unprojected_boards() == [(behind, 3)]
    assert await store.apply_projection(behind, ProjectionBatch(from_seq=2, projected_seq=3, at=T0))
    assert await store.list_unprojected_boards() == []
    assert idle not in dict(await store.list_unprojected_boards())


def rename_updates(n: int) -> list[bytes]:
    """`n` valid Yjs updates (one rename each) of one document."""
    board = sample_board(str(uuid.uuid4()), str(uuid.uuid4()))
    updates: list[bytes] = []
    for i in range(n):
        before = board.doc.get_state()
        board.rename(f"name {i}")
        updates.append(board.doc.get_update(before))
    return updates


async def test_a_batch_supersedes_stored_activity_in_the_same_transaction(store: Store) -> None:
    """A coalesced entry replaces the one it continues: the old row goes, the new one comes,
    and a batch refused at the watermark does neither."""
    workspace_id, board_id = await make_board(store)
    projection = sample_board(board_id, workspace_id).project()
    assert await store.apply_projection(board_id, full_batch(projection, 1))
    card = uid(1)
    first = activity(board_id, card, 2, "title", "a", "b")
    other = activity(board_id, card, 2, "priority", None, "high")
    assert await store.apply_projection(
        board_id, ProjectionBatch(activity=[first, other], from_seq=1, projected_seq=2, at=T0)
    )
    merged = activity(board_id, card, 3, "title", "a", "c")
    ref = ActivityRef(card_id=card, seq=2, field="title")
    stale = ProjectionBatch(activity=[merged], superseded_activity=[ref], from_seq=1,
                            projected_seq=3, at=T0)  # fmt: skip
    assert not await store.apply_projection(board_id, stale)
    assert await store.list_card_activity(board_id, card) == [other, first]
    batch = msgspec.structs.replace(stale, from_seq=2)
    assert await store.apply_projection(board_id, batch)
    assert await store.list_card_activity(board_id, card) == [merged, other]
    with pytest.raises(ValueError, match="superseded activity entry"):
        await store.apply_projection(
            board_id,
            ProjectionBatch(superseded_activity=[ref, ref], from_seq=3, projected_seq=4, at=T0),
        )


# -- sprints -------------------------------------------------------------------------------------


async def test_sprint_committed_points(store: Store) -> None:
    workspace_id, board_id = await make_board(store)
    rng = random.Random(8)
    cards = [
        random_card(rng, n, [], {"id": uid(n + 1), "sprint_id": rng.choice([uid(1, 3), uid(2, 3)])})
        for n in range(30)
    ]
    batch = ProjectionBatch(
        sprints=[SprintRow(id=uid(1, 3), name="S1", start=None, end=None, goal="", capacity=40)],
        upsert_cards=cards,
        from_seq=0,
        projected_seq=1,
        at=T0,
    )
    assert await store.apply_projection(board_id, batch)

    def total(sprint: str, rows: list[CardRow]) -> int:
        return sum(c.points or 0 for c in rows if c.sprint_id == sprint and not c.archived)

    assert total(uid(1, 3), cards) > 0
    for sprint in (uid(1, 3), uid(2, 3), uid(3, 3)):
        assert await store.sprint_committed_points(board_id, sprint) == total(sprint, cards)
    changed = [msgspec.structs.replace(c, archived=not c.archived, points=5) for c in cards[:10]]
    batch = ProjectionBatch(
        upsert_cards=changed, delete_cards=[uid(30)], from_seq=1, projected_seq=2, at=T0
    )
    assert await store.apply_projection(board_id, batch)
    now = changed + cards[10:29]
    assert await store.sprint_committed_points(board_id, uid(1, 3)) == total(uid(1, 3), now)


# -- the migration -------------------------------------------------------------------------------


async def test_0004_applies_on_a_database_at_0003(
    fresh_db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sqlite_module if fresh_db.kind == "sqlite" else pg_module
    real = _migrations.load_migrations
    with monkeypatch.context() as patch:
        patch.setattr(module, "load_migrations", lambda dialect: real(dialect)[:3])
        async with fresh_db.make() as store:
            workspace_id, board_id = await make_board(store)
            await store.set_watermark(board_id, 12)
            _insert_old_card(fresh_db, board_id)
    async with fresh_db.make(migrate_on_open=False) as store:
        assert (await store.migrate())[:1] == ["0004_materialized"]  # and any later ones
        assert (await store.get_board(board_id)).name == "Sprint board"
        assert await store.get_watermark(board_id) == 0  # projected again from the document
        projection = sample_board(board_id, workspace_id).project()
        assert await store.apply_projection(board_id, full_batch(projection, 12))
        assert_tables_equal(await store.read_materialized(board_id), expected(projection, 12))


def _insert_old_card(backend: Backend, board_id: str) -> None:
    """A row in the 0001 shape of cards (no materializer wrote one, but a database might)."""
    sql = (
        "INSERT INTO cards (board_id, id, column_id, rank, title, updated_at)"
        " VALUES ('{b}', 'c-1', 'col', 'a0', 'Old', {t})"
    )
    if backend.kind == "sqlite":
        conn = sqlite3.connect(backend.target)
        try:
            with conn:
                conn.execute(sql.format(b=board_id, t=0))
        finally:
            conn.close()
    else:
        with psycopg.connect(backend.target, autocommit=True) as pg:
            pg.execute(sql.format(b=board_id, t="now()").encode())


def test_record_defaults_match_the_projection() -> None:
    """A batch built from the projection's own rows needs no conversion (same classes)."""
    board = sample_board(uid(1, 7), uid(1, 6))
    projection = board.project()
    batch = full_batch(projection, 1)
    assert batch.labels == [LabelRow(id=uid(1, 2), name="bug", color="#ff0000")]
    assert sum(len(v) for v in batch.card_comments.values()) == len(projection.comments)


async def test_projection_during_a_compaction_is_kept(store: Store) -> None:
    """A projection (and an append) while the board is being compacted is neither lost nor
    undone when the compaction commits (InMemoryStore compacts a copy and swaps it in)."""
    workspace_id, board_id = await make_board(store)
    board = sample_board(board_id, workspace_id)
    updates: list[bytes] = []
    board.doc.observe(lambda event: updates.append(event.update))
    board.set_title(uid(1), "Compacted")
    board.set_title(uid(2), "Appended")
    await store.append(board_id, updates[0], UpdateOrigin("api"), at=T0)
    projection = board.project()
    _, applied, seq = await asyncio.gather(
        store.compact(board_id, now=T0 + timedelta(hours=1)),
        store.apply_projection(board_id, full_batch(projection, 1)),
        store.append(board_id, updates[1], UpdateOrigin("api"), at=T0),
    )
    assert applied and seq == 2
    assert await store.get_watermark(board_id) == 1
    assert (await store.get_board(board_id)).name == "Launch"
    assert [row.seq for row in await store.read_log(board_id)][-1] == 2
    assert_tables_equal(await store.read_materialized(board_id), expected(projection, 1))
