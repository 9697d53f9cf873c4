"""The REST API on a real uvicorn server (127.0.0.1, a free port) over a real store.

`world` is one workspace with a user of each role plus an outsider, and a board the owner
created through the API; `Api` sends requests as one of them. Live clients are y-websocket
clients (tests/sync_server/yclient.py) connected with the user's token.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage import Role, SQLiteStore, Store
from sync_server.access.authenticator import TokenAuthenticator
from sync_server.access.tokens import AccessTokens, TokenConfig
from sync_server.app import create_app
from sync_server.server import TasklyServer, bind_socket, display_url, uvicorn_config
from sync_server.settings import Settings
from tests.sync_server.yclient import YClient

CONFIG = TokenConfig(signing_key=b"k" * 32)
ROLES: tuple[Role, ...] = ("owner", "admin", "member", "viewer")


@asynccontextmanager
async def serve(store: Store, **settings: Any) -> AsyncIterator[str]:
    """Serve the whole app (API, sync with token auth) on a free port; yield its base URL."""
    config = Settings(host="127.0.0.1", port=0, **settings)
    app = create_app(
        config,
        store=store,
        tokens=CONFIG,
        authenticator=TokenAuthenticator(store, AccessTokens(CONFIG)),
    )
    sock = bind_socket("127.0.0.1", 0)
    server = TasklyServer(uvicorn_config(app, config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        yield display_url(sock, "127.0.0.1")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


def token_for(user_id: str) -> str:
    """A fresh access token for `user_id`."""
    return AccessTokens(CONFIG).issue(user_id).token


class Api:
    """Requests as one user (or anonymously), returning httpx responses."""

    def __init__(self, client: httpx.AsyncClient, user_id: str | None) -> None:
        self.client = client
        self.user_id = user_id
        self.headers = {} if user_id is None else {"Authorization": f"Bearer {token_for(user_id)}"}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers, **kwargs)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.request("POST", path, json=body)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.request("PATCH", path, json=body)

    async def delete(self, path: str) -> httpx.Response:
        return await self.request("DELETE", path)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Send a request that must succeed with `status`; return its JSON (None for 204)."""
        response = await self.request(method, path, json=body)
        assert response.status_code == status, response.text
        return None if status == 204 else response.json()


@dataclass
class World:
    """One workspace, a user per role and an outsider, a board made through the API."""

    url: str
    store: Store
    client: httpx.AsyncClient
    workspace_id: str
    users: dict[str, str]
    board: dict[str, Any] = field(default_factory=dict)
    clients: list[YClient] = field(default_factory=list)

    def as_(self, who: str | None) -> Api:
        """Requests as `who`: a role, "outsider", or None (no token)."""
        return Api(self.client, None if who is None else self.users[who])

    @property
    def owner(self) -> Api:
        return self.as_("owner")

    @property
    def member(self) -> Api:
        return self.as_("member")

    @property
    def board_id(self) -> str:
        return str(self.board["id"])

    @property
    def base(self) -> str:
        return f"/api/boards/{self.board_id}"

    def column(self, role: str) -> str:
        """The id of the board's column with `role`."""
        return str(next(c["id"] for c in self.board["columns"] if c["role"] == role))

    async def live(self, who: str = "member") -> YClient:
        """A y-websocket client of the board, synced, signed in as `who`."""
        ws = self.url.replace("http://", "ws://")
        client = await YClient.connect(
            ws, self.board_id, query=f"?token={token_for(self.users[who])}"
        )
        self.clients.append(client)
        return client


async def new_user(store: Store, login: str | None = None) -> str:
    login = login or "u" + secrets.token_hex(6)
    return (await store.create_user(login, login.title())).id


async def make_world(store: Store, url: str, client: httpx.AsyncClient) -> World:
    workspace = await store.create_workspace("Acme")
    users: dict[str, str] = {}
    for role in ROLES:
        users[role] = await new_user(store, f"{role}-{secrets.token_hex(3)}")
        await store.add_member(workspace.id, users[role], role)
    users["outsider"] = await new_user(store)
    world = World(url=url, store=store, client=client, workspace_id=workspace.id, users=users)
    world.board = await world.owner.ok(
        "POST", f"/api/workspaces/{workspace.id}/boards", {"name": "Launch"}, status=201
    )
    return world


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "taskly.db") as opened:
        yield opened


@pytest.fixture
async def world(sqlite: SQLiteStore) -> AsyncIterator[World]:
    async with serve(sqlite) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        made = await make_world(sqlite, url, client)
        try:
            yield made
        finally:
            for live in made.clients:
                await live.close()


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> Any:
    """Assert an RFC 7807 problem with `status` (and `field`); return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body
