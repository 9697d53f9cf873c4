"""Real Taskly servers on 127.0.0.1 (uvicorn in-process, port 0) over a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from crdt_model import new_board, new_id
from storage import SQLiteStore, Store, UpdateOrigin
from sync_server.app import create_app
from sync_server.auth import Authenticator, Principal
from sync_server.server import TasklyServer, bind_socket, display_url, uvicorn_config
from sync_server.settings import Settings


class Running:
    """A server under test."""

    def __init__(self, url: str, server: TasklyServer, store: Store) -> None:
        self.url = url
        self.ws = url.replace("http://", "ws://")
        self.server = server
        self.store = store

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(self.url + path)

    async def metric(self, name: str) -> float:
        text = (await self.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)


@asynccontextmanager
async def run_app(
    store: Store, authenticator: Authenticator | None = None, **settings: Any
) -> AsyncIterator[Running]:
    """Serve a Taskly app on a free port until the block ends."""
    config = Settings(host="127.0.0.1", port=0, **settings)
    kwargs: dict[str, Any] = {} if authenticator is None else {"authenticator": authenticator}
    app = create_app(config, store=store, **kwargs)
    sock = bind_socket("127.0.0.1", 0)
    server = TasklyServer(uvicorn_config(app, config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        yield Running(display_url(sock, "127.0.0.1"), server, store)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "taskly.db") as opened:
        yield opened


async def make_board(store: Store, name: str = "Board") -> str:
    """Create a board the way `taskly board create` does; return its id."""
    workspaces = await store.list_workspaces()
    workspace = workspaces[0] if workspaces else await store.create_workspace("Default")
    board_id = new_id()
    doc = new_board(board_id, name, workspace.id, standard_columns=True)
    await store.create_board(workspace.id, name, "TSK", id=board_id)
    await store.append(board_id, doc.get_update(), UpdateOrigin("server"))
    return board_id


@pytest.fixture
async def board(store: SQLiteStore) -> str:
    return await make_board(store)


@pytest.fixture
async def server(store: SQLiteStore) -> AsyncIterator[Running]:
    async with run_app(store) as running:
        yield running


class Wrapped:
    """A Store that delegates to a real one; tests override single methods."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def read_only_when_asked(scope: Any) -> Awaitable[Principal]:
    """An authenticator: `?ro=1` in the query string makes a read-only viewer."""

    async def decide() -> Principal:
        query = scope.get("query_string", b"").decode()
        if "ro=1" in query:
            return Principal(user_id="viewer", read_only=True)
        return Principal(user_id="editor", read_only=False)

    return decide()


Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


async def eventually(predicate: Callable[[], Any], seconds: float = 5.0) -> None:
    """Poll `predicate` (sync or async) until it is true."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
