"""The projection reads any document shape without raising, defaulting and reporting."""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from crdt_model import Board, Projection, new_board, new_id, project, project_card

from .conftest import USER


def raw(board: Board, root: str) -> Map[Any]:
    result: Map[Any] = board.doc.get(root, type=Map)
    return result


def paths(projection: Projection) -> set[str]:
    return {warning.path for warning in projection.warnings}


def test_clean_board_has_no_warnings(board: Board, card: str) -> None:
    label = board.create_label("bug", "#ff0000")
    board.add_label(card, label)
    board.create_sprint("S", "2026-01-01", "2026-01-02")
    board.add_comment(card, USER, "hi")
    board.upsert_pr(card, "octo/repo#1", title="x")
    projection = project(board.doc)
    assert projection.warnings == []
    assert [c.id for c in projection.cards] == [card]
    assert len(projection.comments) == 1


def test_empty_document_reads_defaults() -> None:
    projection = project(Doc())
    assert projection.board.name == "Untitled board"
    assert projection.board.schema_version == 1
    assert projection.board.card_prefix == "TSK"
    assert (projection.columns, projection.cards, projection.labels) == ([], [], [])
    assert {"board/id", "board/name", "board/schemaVersion"} <= paths(projection)


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("points", 1000, "points", None),
        ("points", 2.5, "points", None),
        ("points", math.nan, "points", None),
        ("points", True, "points", None),
        ("points", "5", "points", None),
        ("points", Map({"a": 1}), "points", None),
        ("priority", "extreme", "priority", "none"),
        ("priority", None, "priority", "none"),
        ("due", "2026-02-30", "due", None),
        ("due", 20260101, "due", None),
        ("title", "plain string", "title", "Untitled"),
        ("title", Text("   "), "title", "Untitled"),
        ("title", Text("x" * 300), "title", "Untitled"),
        ("description", 5, "description", ""),
        ("labels", Array(["x"]), "labels", []),
        ("labels", "bug", "labels", []),
        ("assignees", Map({"not-a-uuid": True}), "assignees", []),
        ("assignees", Map({"0190aaaa-0000-7000-8000-000000000001": "yes"}), "assignees", []),
        ("archived", "true", "archived", False),
        ("archived", 1, "archived", False),
        ("number", -3, "number", None),
        ("number", 2.0**60, "number", None),
        ("number", math.inf, "number", None),
        ("createdAt", "yesterday", "created_at", None),
        ("createdBy", 5, "created_by", None),
        ("sprint", new_id(), "sprint_id", None),
        ("rank", 5, "rank", ""),
        ("git", "main", "git", None),
    ],
)
def test_malformed_card_fields_read_as_defaults(
    board: Board, card: str, key: str, value: object, field: str, expected: object
) -> None:
    raw(board, "cards")[card][key] = value
    projection = project(board.doc)
    row = projection.cards[0]
    if field == "git":
        assert (row.git.branch, row.git.prs, row.git.last_automation) == (None, [], None)
    else:
        assert getattr(row, field) == expected
    assert any(path.startswith(f"cards/{card}/{key}") for path in paths(projection))
    # The single-card projection shares the code, so it agrees.
    single = project_card(board.doc, card)
    assert single.card == row
    assert single.warnings


def test_numbers_come_back_as_ints(board: Board, card: str) -> None:
    board.set_points(card, 5)
    raw_points = raw(board, "cards")[card]["points"]
    assert isinstance(raw_points, float)  # what pycrdt really returns
    assert type(board.card(card).points) is int


def test_missing_card_keys(board: Board, card: str) -> None:
    for key in ["title", "rank", "priority", "archived", "column"]:
        del raw(board, "cards")[card][key]
    projection = project(board.doc)
    row = projection.cards[0]
    assert (row.title, row.rank, row.priority, row.archived) == ("Untitled", "", "none", False)
    assert row.column_id == board.columns()[0].id and row.raw_column_id is None
    assert {f"cards/{card}/title", f"cards/{card}/archived"} <= paths(projection)


def test_unknown_column_shows_in_first_column(board: Board, card: str) -> None:
    ghost = new_id()
    raw(board, "cards")[card]["column"] = ghost
    row = project(board.doc).cards[0]
    assert (row.column_id, row.raw_column_id) == (board.columns()[0].id, ghost)


def test_malformed_entries_are_skipped(board: Board, card: str) -> None:
    raw(board, "cards")["not-a-uuid"] = Map({"title": Text("x")})
    raw(board, "cards")[new_id()] = "a string card"
    raw(board, "cards")[new_id()] = Array([1, 2])
    raw(board, "columns")[new_id()] = 5
    raw(board, "labels")[new_id()] = Map({"name": 5, "color": "red"})
    raw(board, "sprints")[new_id()] = Map({"start": "x", "capacity": -4, "goal": "g" * 600})
    raw(board, "comments")[card] = Array([5, Map({"id": 1, "body": Text("x")})])
    raw(board, "comments")[new_id()] = Array()
    projection = project(board.doc)
    assert [c.id for c in projection.cards] == [card]
    assert len(projection.columns) == 5
    assert projection.labels[0].name == "Untitled label"
    assert projection.labels[0].color == "#888888"
    sprint = projection.sprints[0]
    assert (sprint.start, sprint.capacity, sprint.goal) == (None, 40, "")
    assert len(projection.comments) == 1 and projection.comments[0].body == ""
    assert len(projection.warnings) >= 10


def test_wrong_root_types_and_board_fields() -> None:
    doc = new_board(new_id(), "B", new_id())
    doc["cards"] = Array([1, 2, 3])  # a client that made `cards` an Array
    board = doc.get("board", type=Map)
    board["schemaVersion"] = 2
    board["name"] = Map({"x": 1})
    board["cardPrefix"] = "lower"
    board["repo"] = "not a repo"
    projection = project(doc)
    assert projection.cards == []
    assert (projection.board.name, projection.board.card_prefix, projection.board.repo) == (
        "Untitled board", "TSK", None,
    )  # fmt: skip
    assert projection.board.schema_version == 2
    assert "board/schemaVersion" in paths(projection)


def test_project_card_of_missing_and_malformed() -> None:
    board = Board(new_board(new_id(), "B", new_id(), standard_columns=True))
    assert project_card(board.doc, new_id()).card is None
    bad = new_id()
    board.doc.get("cards", type=Map)[bad] = 5
    result = project_card(board.doc, bad)
    assert result.card is None and result.warnings


def test_projection_of_a_large_board_is_fast() -> None:
    board = Board(new_board(new_id(), "B", new_id(), standard_columns=True))
    column = board.columns()[0].id
    cards = board.doc.get("cards", type=Map)
    with board.doc.transaction():
        for i in range(2000):
            cards[new_id()] = Map(
                {"title": Text(f"c{i}"), "column": column, "rank": f"a{i % 10}V", "points": 3}
            )
    start = time.perf_counter()
    projection = project(board.doc)
    elapsed = time.perf_counter() - start
    assert len(projection.cards) == 2000
    assert elapsed < 5  # ~0.5 s here; generous for a busy CI box


# -- property: random corruption never makes the projection raise -------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "none", "urgent", "2026-01-01", "#ff00ff", "octo/repo#3", new_id()])
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


def _y_value(kind: str, payload: Any) -> object:
    if kind == "map":
        return Map(payload if isinstance(payload, dict) else {"k": payload})
    if kind == "array":
        return Array(payload if isinstance(payload, list) else [payload])
    if kind == "text":
        return Text(str(payload)[:20])
    return payload


any_value = st.builds(
    _y_value, st.sampled_from(["plain", "plain", "map", "array", "text"]), json_value
)
KEYS = {
    "board": ["id", "name", "workspaceId", "schemaVersion", "cardPrefix", "repo"],
    "column": ["name", "rank", "role", "wipLimit"],
    "card": [
        "title", "description", "column", "rank", "number", "priority", "points", "due",
        "labels", "assignees", "sprint", "createdBy", "createdAt", "archived", "git",
    ],
    "git": ["branch", "prs", "lastAutomation"],
    "pr": ["number", "title", "state", "url", "headBranch", "headSha", "ci", "approvals",
           "updatedAt"],
    "label": ["name", "color"],
    "sprint": ["name", "start", "end", "goal", "capacity"],
    "comment": ["id", "author", "body", "createdAt"],
}  # fmt: skip


def _map_at(container: object, *keys: str) -> Map[Any] | None:
    """Follow `keys` through nested Maps; None as soon as a step is not a Map."""
    for key in keys:
        if not isinstance(container, Map) or key not in container:
            return None
        container = container[key]
    return container if isinstance(container, Map) else None


def _corrupt(board: Board, card: str, target: str, key: str, value: object) -> None:
    cards = raw(board, "cards")
    columns = board.columns()
    labels = board.labels()
    sprints = board.sprints()
    destination: Map[Any] | None = None
    if target == "board":
        destination = raw(board, "board")
    elif target == "column" and columns:
        destination = _map_at(raw(board, "columns"), columns[0].id)
    elif target == "card":
        destination = _map_at(cards, card)
    elif target == "git":
        destination = _map_at(cards, card, "git")
    elif target == "pr":
        destination = _map_at(cards, card, "git", "prs", "octo/repo#1")
    elif target == "label" and labels:
        destination = _map_at(raw(board, "labels"), labels[0].id)
    elif target == "sprint" and sprints:
        destination = _map_at(raw(board, "sprints"), sprints[0].id)
    elif target == "comment":
        thread = raw(board, "comments").get(card)
        if isinstance(thread, Array) and len(thread) and isinstance(thread[0], Map):
            destination = thread[0]
    elif target == "entity":
        # Replace a whole entry, or a whole comment list, by anything.
        root = {"column": "columns", "card": "cards", "label": "labels"}.get(key, "comments")
        raw(board, root)[card if root in ("cards", "comments") else new_id()] = value
    if destination is not None:
        destination[key] = value


@given(
    st.lists(
        st.tuples(
            st.sampled_from([*KEYS, "entity"]),
            st.integers(0, 100),
            st.booleans(),
            any_value,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_projection_never_raises_on_corruption(
    edits: list[tuple[str, int, bool, object]],
) -> None:
    board = Board(new_board(new_id(), "B", new_id(), standard_columns=True))
    card = board.create_card("Card", created_by=USER)
    board.add_label(card, board.create_label("l", "#000000"))
    board.set_sprint(card, board.create_sprint("S", "2026-01-01", "2026-01-05"))
    board.add_comment(card, USER, "c")
    board.upsert_pr(card, "octo/repo#1")
    for target, index, random_key, value in edits:
        names = KEYS.get(target, ["column", "card", "label", "comments"])
        key = f"x{index}" if random_key and target != "entity" else names[index % len(names)]
        _corrupt(board, card, target, key, value)
    projection = project(board.doc)
    # Every row has the declared types: a msgspec round trip validates them all.
    assert msgspec.convert(msgspec.to_builtins(projection), Projection) == projection
    ids = [c.id for c in projection.cards]
    assert len(ids) == len(set(ids))
    for card_id in ids:
        assert project_card(board.doc, card_id).card is not None
