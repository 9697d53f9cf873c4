"""Per-field differences of rows, and which cards an applied update touched."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, TransactionEvent

from crdt_model import (
    Board,
    ChangeTracker,
    CommentRow,
    FieldChange,
    ModelError,
    apply_update,
    card_changes,
    comment_changes,
    new_board,
    project,
    project_board_level,
    project_card,
    project_cards,
)

from .conftest import BOARD_ID, OTHER_USER, USER, WORKSPACE_ID


def follower(board: Board) -> tuple[Doc[Any], ChangeTracker]:
    """A second document holding `board`'s state, with a tracker on it."""
    doc: Doc[Any] = Doc()
    apply_update(doc, board.doc.get_update())
    return doc, ChangeTracker(doc)


def sync(source: Board, doc: Doc[Any]) -> None:
    """Apply what `doc` lacks of `source` as one update."""
    apply_update(doc, source.doc.get_update(doc.get_state()))


def patched(row: dict[str, Any], changes: list[FieldChange]) -> dict[str, Any]:
    result = dict(row)
    for change in changes:
        assert result[change.field] == change.old
        result[change.field] = change.new
    return result


# -- card_changes -----------------------------------------------------------------------------


def test_no_change_is_empty(board: Board, card: str) -> None:
    row = project_card(board.doc, card).card
    assert row is not None
    assert card_changes(row, row) == []
    assert card_changes(None, None) == []


def test_creation_and_deletion_carry_the_whole_row(board: Board, card: str) -> None:
    row = project_card(board.doc, card).card
    assert row is not None
    created = card_changes(None, row)
    deleted = card_changes(row, None)
    assert created == [FieldChange("card", None, msgspec.to_builtins(row))]
    assert deleted == [FieldChange("card", msgspec.to_builtins(row), None)]
    assert created[0].new["title"] == "A card"


def test_fields_as_json_values_in_row_order(board: Board, card: str) -> None:
    before = project_card(board.doc, card).card
    board.set_points(card, 3)
    board.set_due(card, date(2026, 5, 1))
    board.set_branch(card, "tsk-1-a-card")
    after = project_card(board.doc, card).card
    assert before is not None and after is not None
    changes = card_changes(before, after)
    assert [c.field for c in changes] == ["points", "due", "git"]
    assert changes[0] == FieldChange("points", None, 3)
    assert changes[1] == FieldChange("due", None, "2026-05-01")
    assert changes[2].old["branch"] is None and changes[2].new["branch"] == "tsk-1-a-card"
    assert msgspec.json.encode(changes)  # plain JSON all the way down


def test_rows_of_two_cards_are_refused(board: Board, card: str) -> None:
    other = board.create_card("Other", created_by=USER)
    a, b = project_card(board.doc, card).card, project_card(board.doc, other).card
    with pytest.raises(ValueError, match="two different cards"):
        card_changes(a, b)


# -- comment_changes --------------------------------------------------------------------------


def comment(ident: str, body: str, position: int) -> CommentRow:
    return CommentRow(
        card_id="c", id=ident, author=USER, body=body, created_at=None, position=position
    )


def test_comments_added_edited_removed_and_moved() -> None:
    old = [comment("a", "one", 0), comment("b", "two", 1), comment("c", "three", 2)]
    new = [comment("b", "two", 0), comment("c", "THREE", 1), comment("d", "four", 2)]
    (change,) = comment_changes(old, new)
    assert change.field == "comments"
    assert [c["id"] for c in change.old] == ["a", "c"]
    assert [(c["id"], c["body"]) for c in change.new] == [("c", "THREE"), ("d", "four")]
    assert change.new[0] == {"id": "c", "author": USER, "body": "THREE", "created_at": None}
    assert comment_changes(old, old) == []
    assert comment_changes([], [comment("a", "one", 0)])[0].old == []


def test_malformed_comments_sharing_an_id_are_told_apart() -> None:
    old = [comment("", "x", 0)]
    new = [comment("", "x", 0), comment("", "y", 1)]
    assert comment_changes(old, new) == [
        FieldChange("comments", [], [{"id": "", "author": USER, "body": "y", "created_at": None}])
    ]


# -- ChangeTracker ----------------------------------------------------------------------------


def test_tracker_names_the_cards_an_update_touched(board: Board, card: str) -> None:
    other = board.create_card("Other", created_by=USER)
    doc, tracker = follower(board)
    assert tracker.take().empty
    board.set_title(card, "Renamed")
    board.add_comment(other, USER, "hello")
    sync(board, doc)
    touched = tracker.take()
    assert touched.cards == {card, other}
    assert touched.roots == frozenset()
    assert tracker.take().empty


def test_tracker_sees_creation_deletion_and_nested_maps(board: Board, card: str) -> None:
    doc, tracker = follower(board)
    new = board.create_card("New", created_by=USER)
    board.delete_card(card)
    sync(board, doc)
    assert tracker.take().cards == {new, card}
    label = board.create_label("bug", "#ff0000")
    board.add_label(new, label)
    board.upsert_pr(new, "octo/repo#1", title="Fix")
    sync(board, doc)
    touched = tracker.take()
    assert touched.cards == {new}
    assert touched.roots == {"labels"}


def test_tracker_reports_board_level_roots(board: Board) -> None:
    doc, tracker = follower(board)
    board.rename("Renamed")
    board.add_column("Extra")
    board.create_sprint("S1", "2026-01-01", "2026-01-14")
    sync(board, doc)
    assert tracker.take().roots == {"board", "columns", "sprints"}


def test_tracker_reports_nothing_for_an_update_already_applied(board: Board, card: str) -> None:
    doc, tracker = follower(board)
    before = doc.get_state()
    board.set_points(card, 5)
    update = board.doc.get_update(before)
    apply_update(doc, update)
    assert tracker.take().cards == {card}
    apply_update(doc, update)
    assert tracker.take().empty


def test_tracker_sees_wrongly_typed_values(board: Board, card: str) -> None:
    doc, tracker = follower(board)
    cards: Map[Any] = board.doc.get("cards", type=Map)
    cards[card]["points"] = "lots"
    cards["not-a-uuid"] = 5
    sync(board, doc)
    assert tracker.take().cards == {card, "not-a-uuid"}
    projected = project_cards(doc, [card, "not-a-uuid"])
    row = projected[card].card
    assert row is not None and row.points is None
    assert [w.path for w in projected[card].warnings] == [f"cards/{card}/points"]
    assert projected["not-a-uuid"].card is None
    assert projected["not-a-uuid"].warnings


def test_close_stops_recording(board: Board, card: str) -> None:
    doc, tracker = follower(board)
    tracker.close()
    tracker.close()
    board.set_points(card, 1)
    sync(board, doc)
    assert tracker.take().empty


def test_project_cards_reads_absent_cards_as_none(board: Board, card: str) -> None:
    result = project_cards(board.doc, [card, "0190aaaa-0000-7000-8000-00000000dead"])
    assert result[card] == project_card(board.doc, card)
    assert result["0190aaaa-0000-7000-8000-00000000dead"].card is None


def test_board_level_matches_the_projection(board: Board) -> None:
    board.create_label("bug", "#ff0000")
    level = project_board_level(board.doc)
    whole = project(board.doc)
    assert (level.board, level.columns, level.labels, level.sprints) == (
        whole.board,
        whole.columns,
        whole.labels,
        whole.sprints,
    )
    assert level.context.column_ids == {c.id for c in whole.columns}
    assert level.context.first_column == whole.columns[0].id


# -- property: incremental maintenance equals the full projection -----------------------------

OPS = [
    "create",
    "create",
    "move",
    "title",
    "insert",
    "archive",
    "delete",
    "points",
    "bad_points",
    "bad_card",
    "label",
    "new_label",
    "delete_label",
    "assign",
    "add_column",
    "remove_column",
    "move_column",
    "comment",
    "delete_comment",
    "sprint",
    "delete_sprint",
    "prefix",
    "pr",
    "rename",
]


def _pick(data: st.DataObject, items: list[str]) -> str | None:
    return data.draw(st.sampled_from(items)) if items else None


def _run(data: st.DataObject, board: Board, kind: str) -> None:
    view = project(board.doc)
    cards = [c.id for c in view.cards]
    card = _pick(data, cards)
    text = data.draw(st.text(alphabet="ab🚀 ", min_size=1, max_size=4))
    ident = str(data.draw(st.uuids(version=4)))
    raw: Map[Any] = board.doc.get("cards", type=Map)
    labels = [label.id for label in view.labels]
    sprints = [sprint.id for sprint in view.sprints]
    columns = [column.id for column in view.columns]
    if kind == "create":
        board.create_card(
            text + "x", created_by=USER, card_id=ident, column_id=_pick(data, columns)
        )
    elif kind == "move" and card and columns:
        board.move_card(card, column_id=_pick(data, columns), position=0)
    elif kind == "title" and card:
        board.set_title(card, text + "t")
    elif kind == "insert" and card:
        board.insert_text(card, "description", 0, text)
    elif kind == "archive" and card:
        board.set_archived(card, data.draw(st.booleans()))
    elif kind == "delete" and card:
        board.delete_card(card)
    elif kind == "points" and card:
        board.set_points(card, data.draw(st.none() | st.integers(0, 99)))
    elif kind == "bad_points" and card:
        raw[card]["points"] = data.draw(st.sampled_from(["lots", 1000, 2.5, True]))
    elif kind == "bad_card":
        raw[ident] = data.draw(st.sampled_from([5, "x", Map({"title": 3})]))
    elif kind == "label" and card and labels:
        board.add_label(card, data.draw(st.sampled_from(labels)))
    elif kind == "new_label":
        board.create_label(text + "l", "#00ff00", label_id=ident)
    elif kind == "delete_label" and labels:
        # Raw, like a client that deletes the label but not its uses on cards.
        del board.doc.get("labels", type=Map)[data.draw(st.sampled_from(labels))]
    elif kind == "assign" and card:
        board.add_assignee(card, data.draw(st.sampled_from([USER, OTHER_USER])))
    elif kind == "add_column":
        board.add_column(text + "c", column_id=ident, position=data.draw(st.integers(0, 5)))
    elif kind == "remove_column" and columns:
        board.remove_column(data.draw(st.sampled_from(columns)))
    elif kind == "move_column" and len(columns) > 1:
        board.move_column(data.draw(st.sampled_from(columns)), position=0)
    elif kind == "comment" and card:
        board.add_comment(card, USER, text + "!")
    elif kind == "delete_comment" and view.comments:
        picked = data.draw(st.sampled_from(view.comments))
        board.delete_comment(picked.card_id, picked.id)
    elif kind == "sprint":
        board.create_sprint(text + "s", "2026-01-01", "2026-01-14", sprint_id=ident)
        if card:
            board.set_sprint(card, ident)
    elif kind == "delete_sprint" and sprints:
        del board.doc.get("sprints", type=Map)[data.draw(st.sampled_from(sprints))]
    elif kind == "prefix":
        board.set_card_prefix(data.draw(st.sampled_from(["TSK", "ABC"])))
    elif kind == "pr" and card:
        board.upsert_pr(
            card, "octo/repo#7", title=text, ci=data.draw(st.sampled_from([None, "success"]))
        )
    elif kind == "rename":
        board.rename(text + "b")


class Incremental:
    """Rows kept up to date the way the materializer does, from the tracker alone."""

    def __init__(self, doc: Doc[Any]) -> None:
        self.doc = doc
        self.tracker = ChangeTracker(doc)
        whole = project(doc)
        self.cards = {row.id: row for row in whole.cards}
        self.comments: dict[str, list[CommentRow]] = {}
        for row in whole.comments:
            self.comments.setdefault(row.card_id, []).append(row)
        self.level = project_board_level(doc)

    def apply(self, update: bytes) -> list[tuple[str, FieldChange]]:
        apply_update(self.doc, update)
        touched = self.tracker.take()
        ids = set(touched.cards)
        if touched.roots:
            level = project_board_level(self.doc)
            if level.context != self.level.context:
                ids |= set(self.cards) | set(self.doc.get("cards", type=Map).keys())
            self.level = level
        changes: list[tuple[str, FieldChange]] = []
        # With the context kept here, as the materializer does: the property below then also
        # says that a kept context is never stale.
        for card_id, projected in project_cards(self.doc, sorted(ids), self.level.context).items():
            old = self.cards.get(card_id)
            changes += [(card_id, c) for c in card_changes(old, projected.card)]
            old_comments = self.comments.get(card_id, [])
            changes += [(card_id, c) for c in comment_changes(old_comments, projected.comments)]
            if projected.card is None:
                self.cards.pop(card_id, None)
                self.comments.pop(card_id, None)
            else:
                self.cards[card_id] = projected.card
                self.comments[card_id] = projected.comments
        return changes


@given(st.data())
def test_incremental_rows_equal_the_projection_after_every_update(data: st.DataObject) -> None:
    source = Board(
        new_board(BOARD_ID, "B", WORKSPACE_ID, standard_columns=True, client_id=11),
        rng=random.Random(data.draw(st.integers(0, 1000))),
    )
    updates: list[bytes] = []

    def record(event: TransactionEvent) -> None:
        updates.append(event.update)

    source.doc.observe(record)
    shadow: Doc[Any] = Doc()
    apply_update(shadow, source.doc.get_update())
    incremental = Incremental(shadow)
    for kind in data.draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=25)):
        before = {row.id: msgspec.to_builtins(row) for row in project(shadow).cards}
        updates.clear()
        try:
            _run(data, source, kind)
        except ModelError:
            continue
        changes = []
        for update in updates:
            applied = incremental.apply(update)
            # One entry per card and field and update (the activity table's key).
            assert len({(card_id, c.field) for card_id, c in applied}) == len(applied)
            changes += applied
        whole = project(shadow)
        assert sorted(incremental.cards.values(), key=lambda r: r.id) == sorted(
            whole.cards, key=lambda r: r.id
        )
        kept = sorted((c for rows in incremental.comments.values() for c in rows), key=_key)
        assert kept == sorted(whole.comments, key=_key)
        assert incremental.level.columns == whole.columns
        # The per-field changes patch each old row into its new one.
        after = {row.id: msgspec.to_builtins(row) for row in whole.cards}
        rows = dict(before)
        for card_id, change in changes:
            if change.field == "card":
                assert rows.get(card_id) == change.old
                if change.new is None:
                    del rows[card_id]
                else:
                    rows[card_id] = change.new
            elif change.field != "comments":
                rows[card_id] = patched(rows[card_id], [change])
        assert rows == after
    assert project(shadow) == project(source.doc)


def _key(row: CommentRow) -> tuple[str, int]:
    return (row.card_id, row.position)


@given(
    st.dictionaries(
        st.sampled_from(["points", "priority", "due", "archived", "rank", "number"]),
        st.one_of(st.none(), st.integers(-5, 200), st.text(max_size=5), st.booleans()),
    )
)
def test_changes_patch_the_old_row_into_the_new_one(raw_fields: dict[str, Any]) -> None:
    board = Board(new_board(BOARD_ID, "B", WORKSPACE_ID, standard_columns=True, client_id=3))
    card = board.create_card("Card", created_by=USER)
    old = project_card(board.doc, card).card
    target: Map[Any] = board.doc.get("cards", type=Map)[card]
    for key, value in raw_fields.items():
        target[key] = value
    new = project_card(board.doc, card).card
    assert old is not None and new is not None
    changes = card_changes(old, new)
    assert patched(msgspec.to_builtins(old), changes) == msgspec.to_builtins(new)
    assert (changes == []) == (old == new)


def test_a_comment_array_replaced_by_garbage_is_a_change(board: Board, card: str) -> None:
    board.add_comment(card, USER, "first")
    doc, tracker = follower(board)
    board.doc.get("comments", type=Map)[card] = Text("garbage")
    sync(board, doc)
    assert tracker.take().cards == {card}
    projected = project_cards(doc, [card])[card]
    assert projected.comments == []
    assert projected.warnings
    # An Array of non-maps reads as no comments, with a warning per item.
    board.doc.get("comments", type=Map)[card] = Array([1, 2])
    sync(board, doc)
    assert tracker.take().cards == {card}
    assert len(project_cards(doc, [card])[card].warnings) == 2
