"""The `taskly` command as a user runs it: a real process, real stores, one-line failures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crdt_model import Board, load_doc
from storage import SQLiteStore, StoredUpdate

TASKLY = [sys.executable, "-m", "sync_server"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TASKLY_")}
    environ.update(env)
    return subprocess.run(
        TASKLY + args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )


def test_migrate_creates_the_embedded_store_and_is_idempotent(tmp_path: Path) -> None:
    first = run(["migrate", "--data-dir", "data"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "0001_init" in first.stdout
    assert (tmp_path / "data" / "taskly.db").is_file()
    second = run(["migrate", "--data-dir", "data"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "nothing to apply" in second.stdout


def test_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    result = run(["migrate"], tmp_path, TASKLY_DATA_DIR=str(tmp_path / "envdir"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "envdir" / "taskly.db").is_file()


def test_board_create_prints_the_id_and_list_shows_it(tmp_path: Path) -> None:
    created = run(["board", "create", "Roadmap", "--prefix", "RM"], tmp_path)
    assert created.returncode == 0, created.stderr
    board_id = created.stdout.strip()
    assert len(created.stdout.splitlines()) == 1 and len(board_id) == 36
    full = run(["board", "create", "Ops", "--workspace", "Team", "--json"], tmp_path)
    record = json.loads(full.stdout)
    assert record["name"] == "Ops" and record["card_prefix"] == "TSK"
    listed = run(["board", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t") for line in listed.stdout.splitlines()] == [
        [board_id, "RM", "Default", "Roadmap"],
        [record["id"], "TSK", "Team", "Ops"],
    ]
    as_json = json.loads(run(["board", "list", "--json"], tmp_path).stdout)
    assert [b["id"] for b in as_json] == [board_id, record["id"]]


def test_board_create_stores_the_first_document_as_update_1(tmp_path: Path) -> None:
    board_id = run(["board", "create", "Doc", "--data-dir", "d"], tmp_path).stdout.strip()

    async def read() -> list[StoredUpdate]:
        async with SQLiteStore(tmp_path / "d" / "taskly.db") as store:
            return await store.read_log(board_id)

    (first,) = asyncio.run(read())
    assert first.seq == 1 and first.origin.kind == "server"
    board = Board(load_doc(first.update))
    assert board.board().name == "Doc" and board.board().card_prefix == "TSK"
    assert [c.role for c in board.columns()] == ["backlog", "todo", "in_progress", "review", "done"]


def test_board_create_refuses_a_bad_prefix_in_one_line(tmp_path: Path) -> None:
    result = run(["board", "create", "X", "--prefix", "not a prefix!"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("taskly: ") and len(result.stderr.splitlines()) == 1
    assert run(["board", "list"], tmp_path).stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["serve"], {"TASKLY_PORT": "eighty"}, "TASKLY_PORT must be a number"),
        (["migrate", "--data-dir", "/proc/no/such/dir"], {}, "cannot create the data directory"),
        (
            ["migrate"],
            {"TASKLY_DATABASE_URL": "postgresql://someone:hunter2@127.0.0.1:1/x"},
            "cannot connect to Postgres",
        ),
    ],
)
def test_failures_end_with_one_clear_line(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run(args, tmp_path, **env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("taskly: ")
    assert expected in lines[0]
    # A password in the database URL never reaches the terminal.
    assert "hunter2" not in result.stderr + result.stdout


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["frobnicate"], tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
