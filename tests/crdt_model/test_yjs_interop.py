"""Interop with Yjs (npm `yjs` from the root node_modules): both directions, field by field."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from crdt_model import Board, apply_update, load_doc, new_board, project

from .conftest import BOARD_ID, OTHER_USER, USER, WORKSPACE_ID

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"
pytestmark = pytest.mark.node


def run_node(script: str, stdin: str = "") -> Any:
    """Run a tests/js script with node from the repository root and parse its JSON output."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the interop tests need Node 20+ on PATH")
    if not (ROOT / "node_modules" / "yjs" / "package.json").exists():
        pytest.fail("node_modules/yjs is missing: run `npm ci` in the repository root first")
    result = subprocess.run(
        ["node", str(JS / script)],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"node {script} failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)


def test_board_built_by_yjs_projects_field_by_field() -> None:
    built = run_node("build_board.mjs")
    ids = built["ids"]
    doc = load_doc()
    apply_update(doc, base64.b64decode(built["update"]), origin="yjs")
    view = project(doc)
    assert view.warnings == []

    board = view.board
    assert (board.id, board.workspace_id, board.schema_version) == (
        ids["board"],
        ids["workspace"],
        1,
    )
    assert board.name == "Sprint board ✓ — ünïcödé 🚀"
    assert (board.card_prefix, board.repo) == ("TSK", "octo/taskly")

    assert [(c.id, c.name, c.role, c.wip_limit) for c in view.columns] == [
        (ids["todo"], "To do", "todo", None),
        (ids["doing"], "Doing", "in_progress", 3),
        (ids["done"], "Done", "done", None),
    ]
    assert type(view.columns[1].wip_limit) is int

    [label] = view.labels
    assert (label.id, label.name, label.color) == (ids["label"], "bug 🐛", "#d73a4a")
    [sprint] = view.sprints
    assert (sprint.name, sprint.start, sprint.end) == (
        "Sprint 1",
        date(2026, 11, 23),
        date(2026, 12, 4),
    )
    assert (sprint.goal, sprint.capacity) == ("Ship ünïcödé", 40)
    assert type(sprint.capacity) is int

    second, first = view.cards  # "To do" comes before "Doing"
    assert first.id == ids["card1"]
    assert (first.title, first.description) == ("Fix ünïcödé 🚀 login", "# Steps\n- open 🚀")
    assert (first.column_id, first.raw_column_id, first.rank) == (ids["doing"], ids["doing"], "a0V")
    assert (first.number, first.key) == (42, "TSK-42")
    assert type(first.number) is int and type(first.points) is int
    assert (first.priority, first.points, first.due) == ("high", 5, date(2026, 12, 1))
    assert (first.labels, first.assignees) == ([ids["label"]], [ids["alice"]])
    assert (first.sprint_id, first.created_by) == (ids["sprint"], ids["alice"])
    assert first.created_at == datetime(2026, 11, 26, 16, 37, 42, tzinfo=UTC)
    assert first.archived is False
    assert first.git.branch == "tsk-42-fix-login"
    [pr] = first.git.prs
    assert (pr.key, pr.repo, pr.number, pr.title) == (
        "octo/taskly#12", "octo/taskly", 12, "TSK-42 Fix login 🚀",
    )  # fmt: skip
    assert (pr.state, pr.url, pr.head_branch, pr.head_sha) == (
        "open", "https://github.com/octo/taskly/pull/12", "tsk-42-fix-login", "a" * 40,
    )  # fmt: skip
    assert (pr.ci, pr.approvals) == ("success", 2) and type(pr.approvals) is int
    assert pr.updated_at == datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    assert first.git.last_automation is None

    assert (second.id, second.title, second.archived, second.number, second.key) == (
        ids["card2"], "Second card", True, None, None,
    )  # fmt: skip
    assert second.created_at == datetime(2026, 11, 26, 16, 40, tzinfo=UTC)  # ms dropped

    [comment] = view.comments
    assert (comment.card_id, comment.id, comment.author) == (
        ids["card1"],
        ids["comment"],
        ids["alice"],
    )
    assert (comment.body, comment.position) == ("Looks good 👍 ünï", 0)

    # Python can keep editing the Yjs-built board.
    board_ops = Board(doc)
    board_ops.move_card(ids["card2"], column_id=ids["done"])
    board_ops.set_points(ids["card1"], 8)
    assert board_ops.card(ids["card2"]).column_id == ids["done"]


def test_board_built_by_python_reads_in_yjs() -> None:
    doc = new_board(BOARD_ID, "Python ünïcödé 🚀", WORKSPACE_ID, "PY", "octo/repo")
    board = Board(doc)
    todo, done = board.add_column("To do", role="todo"), board.add_column("Done", wip_limit=4)
    card = board.create_card(
        "Card 🚀 ünï",
        created_by=USER,
        column_id=todo,
        description="desc",
        now="2026-11-26T16:37:42Z",
    )
    board.set_points(card, 5)
    board.set_card_number(card, 7)
    board.set_due(card, "2026-12-24")
    label = board.create_label("bug", "#FF0000")
    board.add_label(card, label)
    board.add_assignee(card, OTHER_USER)
    sprint = board.create_sprint("S1", "2026-11-23", "2026-12-04", capacity=30)
    board.set_sprint(card, sprint)
    comment = board.add_comment(card, USER, "hello 👋", now="2026-11-26T16:40:00Z")
    board.upsert_pr(card, "octo/repo#12", title="PR", state="merged", approvals=1, ci=None)
    board.set_last_automation(
        card, rule="pr_merged", pr="octo/repo#12", event="pull_request", delivery_id="d1",
        at="2026-11-26T17:00:00Z",
    )  # fmt: skip

    seen = run_node("read_board.mjs", base64.b64encode(doc.get_update()).decode())

    b = seen["board"]["$map"]
    assert b["name"] == "Python ünïcödé 🚀" and b["schemaVersion"] == {"$number": 1}
    assert (b["id"], b["workspaceId"], b["cardPrefix"], b["repo"]) == (
        BOARD_ID, WORKSPACE_ID, "PY", "octo/repo",
    )  # fmt: skip
    columns = seen["columns"]["$map"]
    assert columns[todo]["$map"]["role"] == "todo"
    assert columns[done]["$map"]["wipLimit"] == {"$number": 4}
    assert columns[done]["$map"]["role"] is None
    c = seen["cards"]["$map"][card]["$map"]
    assert c["title"] == {"$text": "Card 🚀 ünï"}
    assert c["description"] == {"$text": "desc"}
    assert (c["column"], c["priority"], c["due"], c["sprint"], c["archived"]) == (
        todo, "none", "2026-12-24", sprint, False,
    )  # fmt: skip
    assert c["points"] == {"$number": 5} and c["number"] == {"$number": 7}
    assert c["labels"] == {"$map": {label: True}}
    assert c["assignees"] == {"$map": {OTHER_USER: True}}
    assert (c["createdBy"], c["createdAt"]) == (USER, "2026-11-26T16:37:42Z")
    git = c["git"]["$map"]
    assert git["branch"] is None
    pr = git["prs"]["$map"]["octo/repo#12"]["$map"]
    assert pr["number"] == {"$number": 12} and pr["approvals"] == {"$number": 1}
    assert (pr["state"], pr["title"], pr["ci"]) == ("merged", "PR", None)
    assert git["lastAutomation"]["$map"]["deliveryId"] == "d1"
    label_map = seen["labels"]["$map"][label]["$map"]
    assert label_map == {"name": "bug", "color": "#ff0000"}
    sprint_map = seen["sprints"]["$map"][sprint]["$map"]
    assert sprint_map["capacity"] == {"$number": 30} and sprint_map["start"] == "2026-11-23"
    [thread] = [seen["comments"]["$map"][card]["$array"]]
    assert thread == [
        {
            "$map": {
                "id": comment,
                "author": USER,
                "body": "hello 👋",
                "createdAt": "2026-11-26T16:40:00Z",
            }
        }
    ]
