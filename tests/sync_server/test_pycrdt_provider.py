"""pycrdt's own Provider (what pycrdt-websocket's clients use) syncs with the server."""

from __future__ import annotations

import asyncio
from typing import Any

import websockets
from pycrdt import Doc, Map, Provider
from websockets.asyncio.client import ClientConnection

from crdt_model import Board
from tests.sync_server.conftest import Running
from tests.sync_server.yclient import YClient


class WebsocketsChannel:
    """The `websockets` client as a pycrdt Channel."""

    def __init__(self, ws: ClientConnection, path: str) -> None:
        self._ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> WebsocketsChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except websockets.ConnectionClosed:
            raise StopAsyncIteration() from None

    async def send(self, message: bytes) -> None:
        await self._ws.send(message)

    async def recv(self) -> bytes:
        data = await self._ws.recv()
        assert isinstance(data, bytes)
        return data


async def test_pycrdt_provider_syncs_and_edits(server: Running, board: str) -> None:
    watcher = await YClient.connect(server.ws, board)
    url = f"{server.ws}/sync/{board}"
    async with websockets.connect(url) as ws:
        doc: Doc[Any] = Doc()
        async with Provider(doc, WebsocketsChannel(ws, board)) as provider:
            await asyncio.wait_for(provider.synced.wait(), 5)
            assert doc.get("board", type=Map).get("name") == "Board"
            Board(doc).rename("from pycrdt's Provider")
            await watcher.wait_for(lambda: watcher.board.board().name == "from pycrdt's Provider")
            await watcher.edit(lambda b: b.set_repo("py/crdt"))
            deadline = asyncio.get_running_loop().time() + 5
            while doc.get("board", type=Map).get("repo") != "py/crdt":
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
    await watcher.close()
