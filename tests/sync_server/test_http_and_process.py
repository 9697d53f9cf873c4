"""HTTP endpoints, and `taskly serve` as a process: ready line, SIGTERM/SIGINT, exit 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from crdt_model import Board, load_doc
from storage import SQLiteStore, StorageUnavailable
from tests.sync_server.conftest import Running, Wrapped, run_app
from tests.sync_server.yclient import YClient


async def test_livez(server: Running) -> None:
    response = await server.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_503_problem_json_when_the_store_does_not_answer(
    store: SQLiteStore,
) -> None:
    down = False

    class Pinging(Wrapped):
        async def ping(self) -> None:
            if down:
                raise StorageUnavailable("database is down")

    async with run_app(Pinging(store)) as server:
        assert (await server.get("/readyz")).status_code == 200
        down = True
        response = await server.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == 503 and body["title"] == "Service Unavailable"
        assert "database is down" in body["detail"]


async def test_unknown_paths_are_problem_json(server: Running) -> None:
    response = await server.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


async def test_metrics_in_prometheus_text_format(server: Running, board: str) -> None:
    client = await YClient.connect(server.ws, board)
    await client.edit(lambda b: b.rename("counted"))
    await asyncio.sleep(0.1)
    response = await server.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    for name, kind in [
        ("taskly_boards_loaded", "gauge"),
        ("taskly_connections", "gauge"),
        ("taskly_updates_total", "counter"),
        ("taskly_updates_per_second", "gauge"),
        ("taskly_board_bytes", "gauge"),
        ("taskly_store_append_seconds", "summary"),
    ]:
        assert f"# TYPE {name} {kind}" in text
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eEaNInf]+$')
    for line in text.splitlines():
        assert line.startswith("#") or sample.match(line), line
    assert await server.metric("taskly_boards_loaded") == 1
    assert await server.metric("taskly_connections") == 1
    assert await server.metric("taskly_updates_total") >= 1
    assert f'taskly_board_bytes{{board="{board}"}}' in text
    assert 'taskly_store_append_seconds{quantile="0.99"}' in text
    assert await server.metric("taskly_store_append_seconds_count") >= 1
    await client.close()


async def test_materialization_lag_is_a_metric(server: Running, board: str) -> None:
    """Every projected update adds one lag sample: from stored to visible in the tables."""
    client = await YClient.connect(server.ws, board)
    for name in ("one", "two", "three"):
        await client.edit(partial(Board.rename, name=name))
    deadline = asyncio.get_running_loop().time() + 10
    while await server.metric("taskly_materialization_lag_seconds_count") < 3:
        assert asyncio.get_running_loop().time() < deadline, "updates were never projected"
        await asyncio.sleep(0.05)
    text = (await server.get("/metrics")).text
    assert "# TYPE taskly_materialization_lag_seconds summary" in text
    p99 = await server.metric('taskly_materialization_lag_seconds{quantile="0.99"}')
    assert 0 < p99 < 10
    assert await server.metric("taskly_materializer_batches_total") >= 1
    assert await server.metric("taskly_materializer_failing_boards") == 0
    await client.close()


# -- the process ---------------------------------------------------------------------------------


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLY_")}
    env["TASKLY_DATA_DIR"] = str(data_dir)
    return env


def _board_create(data_dir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "sync_server", "board", "create", "Proc"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def _owner_token(data_dir: Path) -> str:
    """Create a local owner of the Default workspace with the CLI; return their token."""

    def taskly(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "sync_server", *args],
            env=_env(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout.strip()

    taskly("user", "create", "proc", "--workspace", "Default", "--role", "owner")
    return taskly("token", "create", "--user", "proc")


async def _start(data_dir: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sync_server",
        "serve",
        "--port",
        "0",
        env=_env(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    match = re.fullmatch(r"Taskly listening on (http://127\.0\.0\.1:(\d+))\n", line)
    assert match, line
    assert match.group(2) != "0"
    return proc, match.group(1).replace("http://", "ws://")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_stops_gracefully_closing_with_1001_and_storing_everything(
    tmp_path: Path, sig: signal.Signals
) -> None:
    board = await asyncio.to_thread(_board_create, tmp_path)
    token = await asyncio.to_thread(_owner_token, tmp_path)
    proc, base = await _start(tmp_path)
    try:
        client = await YClient.connect(base, board, query=f"?token={token}")
        card = await client.edit(lambda b: b.create_card("before shutdown", created_by=board))
        await client.edit(lambda b: b.rename("last words"))
        proc.send_signal(sig)
        assert await client.wait_closed(10) == 1001
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert proc.stdout is not None
        assert await proc.stdout.read() == b""  # exactly one line on stdout
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    async with SQLiteStore(tmp_path / "taskly.db") as store:
        loaded = await store.load(board)
        assert loaded.tail == []  # compacted on shutdown
        stored = Board(load_doc(*loaded.updates(), checked=False))
        assert stored.board().name == "last words"
        assert stored.card(card).title == "before shutdown"


async def test_serve_reports_a_port_in_use_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "sync_server", "serve", "--port", str(port)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("taskly: ")
    ]
    assert "cannot listen" in result.stderr
