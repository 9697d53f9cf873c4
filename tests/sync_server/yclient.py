"""A small y-websocket client for tests: the `websockets` library plus a pycrdt Doc."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import websockets
from pycrdt import Doc
from websockets.asyncio.client import ClientConnection

from crdt_model import Board
from sync_server import protocol as p


class YClient:
    """Connects, answers the server's step 1, applies what it receives, records every message."""

    def __init__(self, ws: ClientConnection, doc: Doc[Any]) -> None:
        self.ws = ws
        self.doc = doc
        self.received: list[p.Message] = []
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        base: str,
        board_id: str,
        *,
        doc: Doc[Any] | None = None,
        sync: bool = True,
        query: str = "",
    ) -> YClient:
        ws = await websockets.connect(f"{base}/sync/{board_id}{query}", max_size=None)
        client = cls(ws, doc if doc is not None else Doc())
        if sync:
            await client.send(p.encode_sync_step1(client.doc.get_state()))
            await client.wait_synced()
        return client

    async def wait_synced(self, seconds: float = 5) -> None:
        await asyncio.wait_for(self.synced.wait(), seconds)

    async def send(self, data: bytes | str) -> None:
        await self.ws.send(data)

    @property
    def board(self) -> Board:
        return Board(self.doc)

    async def edit(self, change: Callable[[Board], Any]) -> Any:
        """Run `change` on the local doc and send the resulting update."""
        before = self.doc.get_state()
        result = change(Board(self.doc))
        await self.send(p.encode_update(self.doc.get_update(before)))
        return result

    async def set_awareness(self, client_id: int, clock: int, state: Any) -> None:
        entry = p.AwarenessEntry(client_id, clock, json.dumps(state))
        await self.send(p.encode_awareness(p.encode_awareness_update([entry])))

    def messages(self, kind: type) -> list[Any]:
        return [m for m in self.received if isinstance(m, kind)]

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 5) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(until(), seconds)

    async def wait_closed(self, seconds: float = 5) -> int | None:
        await asyncio.wait_for(self.closed.wait(), seconds)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                assert isinstance(raw, bytes)
                message = p.decode_message(raw)
                self.received.append(message)
                if isinstance(message, p.SyncStep1):
                    await self.send(p.encode_sync_step2(self.doc.get_update(message.state_vector)))
                elif isinstance(message, p.SyncStep2 | p.SyncUpdate):
                    self.doc.apply_update(message.update)
                    if isinstance(message, p.SyncStep2):
                        self.synced.set()
                async with self._changed:
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()
