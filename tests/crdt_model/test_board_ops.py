"""Every Board operation, and every refusal."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest
from pycrdt import Map

from crdt_model import (
    STANDARD_COLUMNS,
    Board,
    NotFoundError,
    OriginConflictError,
    ValidationError,
    new_board,
    new_id,
    project,
)

from .conftest import BOARD_ID, OTHER_USER, USER, WORKSPACE_ID


def titles(board: Board, column_id: str) -> list[str]:
    return [card.title for card in board.cards(column_id)]


# -- new_board and board fields ---------------------------------------------------------


def test_new_board_writes_every_board_field() -> None:
    doc = new_board(BOARD_ID, "  Roadmap ", WORKSPACE_ID, "ABC", "octo/repo")
    row = Board(doc).board()
    assert (row.id, row.name, row.workspace_id) == (BOARD_ID, "Roadmap", WORKSPACE_ID)
    assert (row.schema_version, row.card_prefix, row.repo) == (1, "ABC", "octo/repo")
    assert Board(doc).columns() == []
    assert project(doc).warnings == []


def test_standard_columns() -> None:
    board = Board(new_board(BOARD_ID, "B", WORKSPACE_ID, standard_columns=True))
    assert [(c.name, c.role) for c in board.columns()] == list(STANDARD_COLUMNS)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"board_id": "not-a-uuid"}, "board_id"),
        ({"board_id": BOARD_ID.upper()}, "board_id"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 5}, "name"),
        ({"workspace_id": ""}, "workspace_id"),
        ({"card_prefix": "tsk"}, "card_prefix"),
        ({"card_prefix": "T-1"}, "card_prefix"),
        ({"repo": "no-slash"}, "repo"),
        ({"repo": "a/b/c"}, "repo"),
    ],
)
def test_new_board_refusals(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"board_id": BOARD_ID, "name": "B", "workspace_id": WORKSPACE_ID}
    args.update(kwargs)
    with pytest.raises(ValidationError) as info:
        new_board(**args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_rename_repo_and_prefix(board: Board) -> None:
    board.rename("New name")
    board.set_repo("octo-org/my.repo_1")
    board.set_card_prefix("OPS")
    row = board.board()
    assert (row.name, row.repo, row.card_prefix) == ("New name", "octo-org/my.repo_1", "OPS")
    board.set_repo(None)
    assert board.board().repo is None
    for bad in ["", "x" * 101, None]:
        with pytest.raises(ValidationError):
            board.rename(bad)  # type: ignore[arg-type]
    for bad_repo in ["octo", "-octo/repo", "octo/..", "octo/re po"]:
        with pytest.raises(ValidationError):
            board.set_repo(bad_repo)


# -- columns -----------------------------------------------------------------------------


def test_column_operations(board: Board) -> None:
    first, second, *_ = [c.id for c in board.columns()]
    added = board.add_column("QA", role="review", wip_limit=3, after=first)
    assert [c.name for c in board.columns()][:3] == ["Backlog", "QA", "To do"]
    assert board.column(added).wip_limit == 3
    board.rename_column(added, "Quality")
    board.set_column_role(added, None)
    board.set_wip_limit(added, None)
    column = board.column(added)
    assert (column.name, column.role, column.wip_limit) == ("Quality", None, None)
    board.move_column(added, position=0)
    assert board.columns()[0].id == added
    board.move_column(added, after=second)
    names = [c.name for c in board.columns()]
    assert names.index("Quality") == names.index("To do") + 1
    board.move_column(added, before=first)
    assert board.columns()[0].id == added
    board.remove_column(added)
    with pytest.raises(NotFoundError):
        board.column(added)


def test_column_refusals(board: Board) -> None:
    first = board.columns()[0].id
    with pytest.raises(ValidationError):
        board.add_column("")
    with pytest.raises(ValidationError):
        board.add_column("X", role="doing")
    for bad in [0, 1000, 2.5, True, math.nan, 2**70]:
        with pytest.raises(ValidationError):
            board.add_column("X", wip_limit=bad)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        board.add_column("X", after=new_id())
    with pytest.raises(ValidationError):
        board.add_column("X", position=99)
    with pytest.raises(ValidationError):
        board.add_column("X", column_id=first)
    with pytest.raises(ValidationError):
        board.move_column(first, after=first)
    with pytest.raises(NotFoundError):
        board.rename_column(new_id(), "X")
    with pytest.raises(NotFoundError):
        board.remove_column(new_id())
    with pytest.raises(ValidationError):
        board.set_wip_limit(first, -1)


def test_cards_of_a_removed_column_show_in_the_first(board: Board) -> None:
    columns = board.columns()
    card = board.create_card("Orphan", created_by=USER, column_id=columns[2].id)
    board.remove_column(columns[2].id)
    row = board.card(card)
    assert row.column_id == columns[0].id
    assert row.raw_column_id == columns[2].id


# -- cards -------------------------------------------------------------------------------


def test_create_card_writes_every_schema_field(board: Board) -> None:
    column = board.columns()[1].id
    now = datetime(2026, 11, 26, 16, 37, 42, tzinfo=UTC)
    card_id = board.create_card(
        "  Title ", created_by=USER, column_id=column, description="**md**", now=now
    )
    raw = board.doc.get("cards", type=Map)[card_id]
    assert set(raw.keys()) == {
        "title", "description", "column", "rank", "number", "priority", "points", "due",
        "labels", "assignees", "sprint", "createdBy", "createdAt", "archived", "git",
    }  # fmt: skip
    assert raw["createdAt"] == "2026-11-26T16:37:42Z"
    assert set(raw["git"].keys()) == {"branch", "prs", "lastAutomation"}
    row = board.card(card_id)
    assert (row.title, row.description, row.column_id) == ("Title", "**md**", column)
    assert (row.number, row.key, row.priority, row.points, row.due) == (
        None,
        None,
        "none",
        None,
        None,
    )
    assert (row.labels, row.assignees, row.sprint_id, row.archived) == ([], [], None, False)
    assert (row.created_by, row.created_at) == (USER, now)
    assert board.comments(card_id) == []


def test_create_card_placement(board: Board) -> None:
    column = board.columns()[0].id
    a = board.create_card("a", created_by=USER)
    c = board.create_card("c", created_by=USER)
    board.create_card("b", created_by=USER, after=a)
    board.create_card("0", created_by=USER, position=0)
    board.create_card("bb", created_by=USER, before=c)
    board.create_card("z", created_by=USER, position=5)
    assert titles(board, column) == ["0", "a", "b", "bb", "c", "z"]


def test_create_card_refusals(board: Board) -> None:
    for bad_title in ["", "   ", "x" * 256, 5, "\ud800"]:
        with pytest.raises(ValidationError):
            board.create_card(bad_title, created_by=USER)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        board.create_card("ok", created_by="bob")
    with pytest.raises(NotFoundError):
        board.create_card("ok", created_by=USER, column_id=new_id())
    with pytest.raises(ValidationError):
        board.create_card("ok", created_by=USER, now=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        board.create_card("ok", created_by=USER, position=1, after=new_id())
    empty = Board(new_board(BOARD_ID, "B", WORKSPACE_ID))
    with pytest.raises(ValidationError):
        empty.create_card("ok", created_by=USER)
    card = board.create_card("ok", created_by=USER)
    with pytest.raises(ValidationError):
        board.create_card("again", created_by=USER, card_id=card)
    # Nothing half-written by the refusals.
    assert len(board.project().cards) == 1


def test_titles_and_descriptions(board: Board, card: str) -> None:
    board.set_title(card, "Fix the login 🚀 page")
    board.insert_text(card, "title", 14, "ünï ")
    assert board.card(card).title == "Fix the login ünï 🚀 page"
    board.delete_text(card, "title", 0, 4)
    assert board.card(card).title == "the login ünï 🚀 page"
    board.set_description(card, "# Heading\nbody")
    board.insert_text(card, "description", 0, "> ")
    assert board.card(card).description == "> # Heading\nbody"
    with pytest.raises(ValidationError):
        board.set_title(card, " ")
    with pytest.raises(ValidationError):
        board.delete_text(card, "title", 0, len("the login ünï 🚀 page"))
    with pytest.raises(ValidationError):
        board.insert_text(card, "title", 999, "x")
    with pytest.raises(ValidationError):
        board.insert_text(card, "title", 0, "x" * 300)
    with pytest.raises(ValidationError):
        board.delete_text(card, "title", 3, 999)
    with pytest.raises(ValidationError):
        board.insert_text(card, "rank", 0, "x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        board.set_description(card, "x" * 100_001)
    with pytest.raises(NotFoundError):
        board.set_title(new_id(), "x")


def test_move_card(board: Board) -> None:
    first, second = board.columns()[0].id, board.columns()[1].id
    a, b, c = (board.create_card(t, created_by=USER) for t in "abc")
    board.move_card(a, after=c)
    assert titles(board, first) == ["b", "c", "a"]
    board.move_card(a, before=b)
    assert titles(board, first) == ["a", "b", "c"]
    board.move_card(b, column_id=second)
    assert titles(board, second) == ["b"]
    board.move_card(c, column_id=second, before=b)
    assert titles(board, second) == ["c", "b"]
    board.move_card(a, column_id=second, after=c, before=b)
    assert titles(board, second) == ["c", "a", "b"]
    board.move_card(b, position=0)
    assert titles(board, second) == ["b", "c", "a"]
    assert titles(board, first) == []


def test_move_card_refusals(board: Board, card: str) -> None:
    other = board.create_card("other", created_by=USER, column_id=board.columns()[1].id)
    with pytest.raises(ValidationError):
        board.move_card(card, after=card)
    with pytest.raises(NotFoundError):
        board.move_card(card, after=other)  # not in the target column
    with pytest.raises(NotFoundError):
        board.move_card(card, column_id=new_id())
    with pytest.raises(NotFoundError):
        board.move_card(new_id())
    with pytest.raises(ValidationError):
        board.move_card(card, position=-1)
    third = board.create_card("third", created_by=USER)
    fourth = board.create_card("fourth", created_by=USER)
    with pytest.raises(ValidationError):
        board.move_card(card, after=fourth, before=third)


def test_move_writes_column_and_rank_in_one_transaction(board: Board, card: str) -> None:
    updates: list[bytes] = []
    board.doc.observe(lambda event: updates.append(event.update))
    board.move_card(card, column_id=board.columns()[3].id, origin="drag")
    assert len(updates) == 1


def test_archived_cards_are_skipped_by_position(board: Board) -> None:
    column = board.columns()[0].id
    a, hidden, _c = (board.create_card(t, created_by=USER) for t in "abc")
    board.archive_card(hidden)
    new = board.create_card("new", created_by=USER, position=1)
    visible = [c.title for c in board.cards(column, include_archived=False)]
    assert visible == ["a", "new", "c"]
    assert board.card(a).archived is False
    board.unarchive_card(hidden)
    assert board.card(hidden).archived is False
    assert new in {c.id for c in board.cards(column)}
    with pytest.raises(ValidationError):
        board.set_archived(a, 1)  # type: ignore[arg-type]


def test_scalar_fields(board: Board, card: str) -> None:
    board.set_priority(card, "urgent")
    board.set_points(card, 13)
    board.set_points(card, 8.0)  # type: ignore[arg-type]  # integral floats are accepted
    board.set_due(card, date(2026, 12, 24))
    board.set_card_number(card, 42)
    row = board.card(card)
    assert (row.priority, row.points, row.due, row.number, row.key) == (
        "urgent", 8, date(2026, 12, 24), 42, "TSK-42",
    )  # fmt: skip
    assert isinstance(row.points, int) and isinstance(row.number, int)
    board.set_due(card, "2027-01-02")
    assert board.card(card).due == date(2027, 1, 2)
    board.set_points(card, None)
    board.set_due(card, None)
    assert (board.card(card).points, board.card(card).due) == (None, None)


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("set_priority", "extreme"),
        ("set_priority", None),
        ("set_points", 100),
        ("set_points", -1),
        ("set_points", 2.5),
        ("set_points", True),
        ("set_points", math.nan),
        ("set_points", math.inf),
        ("set_points", "5"),
        ("set_points", 2**63),
        ("set_due", "2026-02-30"),
        ("set_due", datetime(2026, 1, 1, tzinfo=UTC)),
        ("set_due", 20260101),
        ("set_card_number", 0),
        ("set_card_number", 2**53),
        ("set_card_number", 2**70),
        ("set_card_number", None),
        ("set_card_number", False),
    ],
)
def test_scalar_refusals(board: Board, card: str, method: str, value: object) -> None:
    before = board.doc.get_state()
    with pytest.raises(ValidationError):
        getattr(board, method)(card, value)
    assert board.doc.get_state() == before


def test_labels(board: Board, card: str) -> None:
    bug = board.create_label("bug", "#FF0000")
    ux = board.create_label("ux", "#00ff00")
    board.add_label(card, bug)
    board.add_label(card, bug)
    board.add_label(card, ux)
    assert board.card(card).labels == sorted([bug, ux])
    board.remove_label(card, ux)
    board.remove_label(card, ux)
    assert board.card(card).labels == [bug]
    board.rename_label(bug, "defect")
    board.recolor_label(bug, "#ABCDEF")
    assert [(lbl.name, lbl.color) for lbl in board.labels()] == [
        ("defect", "#abcdef"),
        ("ux", "#00ff00"),
    ]
    board.delete_label(bug)
    assert board.card(card).labels == []
    assert [lbl.id for lbl in board.labels()] == [ux]
    with pytest.raises(NotFoundError):
        board.add_label(card, bug)
    for bad in ["red", "#fff", "#12345g", None]:
        with pytest.raises(ValidationError):
            board.create_label("x", bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        board.create_label("", "#000000")
    with pytest.raises(NotFoundError):
        board.rename_label(new_id(), "x")
    with pytest.raises(NotFoundError):
        board.delete_label(bug)


def test_assignees(board: Board, card: str) -> None:
    board.add_assignee(card, USER)
    board.add_assignee(card, OTHER_USER)
    board.remove_assignee(card, USER)
    assert board.card(card).assignees == [OTHER_USER]
    with pytest.raises(ValidationError):
        board.add_assignee(card, "alice")
    with pytest.raises(NotFoundError):
        board.add_assignee(new_id(), USER)


def test_sprints(board: Board, card: str) -> None:
    sprint = board.create_sprint("Sprint 1", date(2026, 1, 5), "2026-01-16", goal="Ship")
    row = board.sprints()[0]
    assert (row.name, row.start, row.end, row.goal, row.capacity) == (
        "Sprint 1", date(2026, 1, 5), date(2026, 1, 16), "Ship", 40,
    )  # fmt: skip
    board.edit_sprint(sprint, name="S1", capacity=30, goal="", end="2026-01-20")
    row = board.sprints()[0]
    assert (row.name, row.capacity, row.goal, row.end) == ("S1", 30, "", date(2026, 1, 20))
    board.set_sprint(card, sprint)
    assert board.card(card).sprint_id == sprint
    board.set_sprint(card, None)
    assert board.card(card).sprint_id is None
    board.set_sprint(card, sprint)
    board.delete_sprint(sprint)
    assert board.card(card).sprint_id is None
    assert board.sprints() == []


def test_sprint_refusals(board: Board, card: str) -> None:
    with pytest.raises(ValidationError):
        board.create_sprint("S", "2026-01-10", "2026-01-01")
    with pytest.raises(ValidationError):
        board.create_sprint("S", "2026-01-01", "2026-01-10", goal="x" * 501)
    with pytest.raises(ValidationError):
        board.create_sprint("S", "2026-01-01", "2026-01-10", capacity=-1)
    with pytest.raises(ValidationError):
        board.create_sprint("S", "01/01/2026", "2026-01-10")
    sprint = board.create_sprint("S", "2026-01-01", "2026-01-10")
    with pytest.raises(ValidationError):
        board.edit_sprint(sprint, start="2026-02-01")
    with pytest.raises(ValidationError):
        board.edit_sprint(sprint, capacity=True)
    with pytest.raises(NotFoundError):
        board.edit_sprint(new_id(), name="x")
    with pytest.raises(NotFoundError):
        board.set_sprint(card, new_id())
    with pytest.raises(ValidationError):
        board.set_sprint(card, "sprint-1")


def test_comments(board: Board, card: str) -> None:
    first = board.add_comment(card, USER, "First!", now="2026-11-26T16:37:42Z")
    second = board.add_comment(card, OTHER_USER, "Second ünï")
    rows = board.comments(card)
    assert [(c.id, c.author, c.body, c.position) for c in rows] == [
        (first, USER, "First!", 0),
        (second, OTHER_USER, "Second ünï", 1),
    ]
    board.delete_comment(card, first)
    assert [c.id for c in board.comments(card)] == [second]
    with pytest.raises(NotFoundError):
        board.delete_comment(card, first)
    with pytest.raises(ValidationError):
        board.add_comment(card, USER, "  ")
    with pytest.raises(ValidationError):
        board.add_comment(card, "bob", "hi")
    with pytest.raises(NotFoundError):
        board.add_comment(new_id(), USER, "hi")


def test_hard_delete_removes_card_and_comments(board: Board, card: str) -> None:
    board.add_comment(card, USER, "bye")
    board.delete_card(card)
    assert card not in board.doc.get("cards", type=Map)
    assert card not in board.doc.get("comments", type=Map)
    with pytest.raises(NotFoundError):
        board.card(card)
    with pytest.raises(NotFoundError):
        board.delete_card(card)


# -- git ---------------------------------------------------------------------------------


def test_git_fields(board: Board, card: str) -> None:
    board.set_branch(card, "tsk-1-fix-login")
    board.upsert_pr(
        card,
        "octo/repo#12",
        title="Fix login",
        state="open",
        url="https://github.com/octo/repo/pull/12",
        head_branch="tsk-1-fix-login",
        head_sha="a" * 40,
        ci="pending",
        approvals=1,
        updated_at=datetime(2026, 11, 26, 16, 0, tzinfo=UTC),
    )
    board.upsert_pr(card, "octo/repo#12", ci="success", approvals=2)
    board.upsert_pr(card, "octo/other#3")
    board.set_last_automation(
        card, rule="pr_opened", pr="octo/repo#12", event="pull_request", delivery_id="d-1",
        at="2026-11-26T16:00:00Z",
    )  # fmt: skip
    git = board.card(card).git
    assert git.branch == "tsk-1-fix-login"
    assert [pr.key for pr in git.prs] == ["octo/other#3", "octo/repo#12"]
    pr = git.prs[1]
    assert (pr.number, pr.title, pr.state, pr.ci, pr.approvals) == (
        12,
        "Fix login",
        "open",
        "success",
        2,
    )
    assert pr.updated_at == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
    assert git.prs[0].state == "open" and git.prs[0].title == ""
    assert git.last_automation is not None and git.last_automation.delivery_id == "d-1"
    board.remove_pr(card, "octo/other#3")
    board.clear_last_automation(card)
    board.set_branch(card, None)
    git = board.card(card).git
    assert (git.branch, len(git.prs), git.last_automation) == (None, 1, None)


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {"state": "reopened"},
        {"ci": "green"},
        {"approvals": -1},
        {"approvals": 1.5},
        {"url": "javascript:alert(1)"},
        {"head_sha": "not hex"},
        {"head_branch": "bad..branch"},
        {"updated_at": "today"},
    ],
)
def test_upsert_pr_refusals(board: Board, card: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        board.upsert_pr(card, "octo/repo#1", **kwargs)  # type: ignore[arg-type]


def test_git_refusals(board: Board, card: str) -> None:
    for key in ["octo/repo", "octo/repo#0", "octo#1", "octo/repo#1x"]:
        with pytest.raises(ValidationError):
            board.upsert_pr(card, key)
    for branch in ["", "has space", "-x", "a..b", "x.lock", "a~1"]:
        with pytest.raises(ValidationError):
            board.set_branch(card, branch)
    with pytest.raises(NotFoundError):
        board.remove_pr(card, "octo/repo#9")
    with pytest.raises(ValidationError):
        board.set_last_automation(
            card, rule="", pr=None, event="e", delivery_id="d", at="2026-01-01T00:00:00Z"
        )
    with pytest.raises(ValidationError):
        board.set_last_automation(
            card, rule="r", pr="nope", event="e", delivery_id="d", at="2026-01-01T00:00:00Z"
        )


# -- transactions and origins -----------------------------------------------------------


def test_origin_is_visible_to_observers(board: Board, card: str) -> None:
    origins: list[object] = []
    cards = board.doc.get("cards", type=Map)
    cards.observe_deep(lambda events: origins.append(events[0].transaction.origin))
    board.set_priority(card, "low", origin="rest:alice")
    assert origins == ["rest:alice"]


def test_operations_join_an_outer_transaction(board: Board, card: str) -> None:
    updates: list[bytes] = []
    board.doc.observe(lambda event: updates.append(event.update))
    with board.doc.transaction(origin="bulk"):
        board.set_priority(card, "low")
        board.set_points(card, 3, origin="bulk")
        new = board.create_card("Second", created_by=USER, after=card)
        board.move_card(new, column_id=board.columns()[1].id)
    assert len(updates) == 1
    assert board.card(new).column_id == board.columns()[1].id


def test_conflicting_origin_in_outer_transaction(board: Board, card: str) -> None:
    with board.doc.transaction(origin="outer"):
        with pytest.raises(OriginConflictError):
            board.set_priority(card, "low", origin="inner")


def test_refusal_inside_outer_transaction_writes_nothing(board: Board, card: str) -> None:
    before = board.doc.get_update()
    with board.doc.transaction():
        with pytest.raises(ValidationError):
            board.set_points(card, 1000)
    assert board.doc.get_update() == before
