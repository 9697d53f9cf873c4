"""The `taskly` command as a user runs it: a real process, real stores, one-line failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_serve_prepares_the_store(tmp_path: Path) -> None:
    result = run(["serve", "--data-dir", "d"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "store ready" in result.stdout
    assert (tmp_path / "d" / "taskly.db").is_file()


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
