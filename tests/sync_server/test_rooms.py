"""Room lifecycle: load once, idle unload and reload, memory budget, store failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from storage import SQLiteStore, StorageUnavailable
from sync_server.metrics import Metrics
from sync_server.rooms import Rooms
from tests.sync_server.conftest import Running, Wrapped, eventually, make_board, run_app
from tests.sync_server.yclient import YClient


class CountingLoads(Wrapped):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.loads = 0
        self.compactions = 0

    async def load(self, board_id: str) -> Any:
        self.loads += 1
        await asyncio.sleep(0.1)  # let every concurrent join arrive while loading
        return await self._inner.load(board_id)

    async def compact(self, board_id: str, **kw: Any) -> Any:
        self.compactions += 1
        return await self._inner.compact(board_id, **kw)


async def test_concurrent_first_joins_load_the_board_once(store: SQLiteStore, board: str) -> None:
    counting = CountingLoads(store)
    async with run_app(counting) as server:
        clients = await asyncio.gather(*(YClient.connect(server.ws, board) for _ in range(8)))
        assert counting.loads == 1
        assert {c.board.board().name for c in clients} == {"Board"}
        await clients[0].edit(lambda b: b.rename("one doc"))
        for client in clients[1:]:
            await client.wait_for(renamed(client, "one doc"))
        for client in clients:
            await client.close()


async def test_an_idle_board_is_compacted_unloaded_and_reloads_with_the_same_content(
    store: SQLiteStore, board: str
) -> None:
    counting = CountingLoads(store)
    async with run_app(counting, idle_unload_seconds=0.3) as server:
        client = await YClient.connect(server.ws, board)
        card = await client.edit(lambda b: b.create_card("kept", created_by=board))
        await client.wait_for(lambda: client.board.card(card).number == 1)
        await client.close()
        assert await server.metric("taskly_boards_loaded") == 1
        await eventually(_unloaded(server))
        assert counting.compactions == 1
        loaded = await store.load(board)
        assert loaded.tail == [] and loaded.snapshot is not None  # compacted first
        again = await YClient.connect(server.ws, board)
        assert counting.loads == 2
        assert again.board.card(card).title == "kept"
        assert again.board.card(card).number == 1
        await again.close()


def renamed(client: YClient, name: str) -> Callable[[], bool]:
    return lambda: client.board.board().name == name


def _unloaded(server: Running) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await server.metric("taskly_boards_loaded") == 0

    return check


async def test_a_board_in_use_is_not_unloaded(store: SQLiteStore, board: str) -> None:
    async with run_app(store, idle_unload_seconds=0.1) as server:
        client = await YClient.connect(server.ws, board)
        await asyncio.sleep(0.5)
        assert await server.metric("taskly_boards_loaded") == 1
        await client.close()


async def test_a_failing_store_keeps_the_room_retries_and_never_broadcasts_unstored(
    store: SQLiteStore, board: str
) -> None:
    failing = asyncio.Event()
    failing.set()

    class Flaky(Wrapped):
        async def append_many(self, board_id: str, updates: Any, **kw: Any) -> Any:
            if failing.is_set():
                raise StorageUnavailable("disk on fire")
            return await store.append_many(board_id, updates, **kw)

    async with run_app(Flaky(store), idle_unload_seconds=0.1) as server:
        alice = await YClient.connect(server.ws, board)
        bob = await YClient.connect(server.ws, board)
        await alice.edit(lambda b: b.rename("pending"))
        await alice.close()
        await asyncio.sleep(0.5)
        assert bob.board.board().name == "Board"
        ready = await server.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert ready.json()["status"] == 503
        await bob.close()
        await asyncio.sleep(0.4)  # idle, but writes pending: stays loaded
        assert await server.metric("taskly_boards_loaded") == 1
        failing.clear()
        await eventually(_unloaded(server))
        assert (await server.get("/readyz")).status_code == 200
    stored = await store.load(board)
    assert any(row.origin.kind == "user" for row in stored.tail) or stored.snapshot is not None
    from crdt_model import Board, load_doc

    assert Board(load_doc(*stored.updates(), checked=False)).board().name == "pending"


async def test_the_memory_budget_unloads_least_recently_used_idle_boards(
    store: SQLiteStore,
) -> None:
    boards = [await make_board(store, f"b{i}") for i in range(4)]
    rooms = Rooms(store, Metrics(), idle_unload_seconds=3600, memory_budget_bytes=10**9)
    loaded = [await rooms.acquire(board_id) for board_id in boards]
    size = loaded[0].estimated_bytes
    # Recent times (monotonic clock), so that the idle-time rule unloads none of them.
    now = time.monotonic()
    for index, room in enumerate(loaded):
        room.last_active = now + index
    loaded[0].last_active = now + 100  # most recently used
    rooms.memory_budget_bytes = size * 2 + size // 2  # room for two
    await eventually(lambda: not any(r.busy for r in loaded))
    await rooms.sweep()
    assert set(rooms.rooms) == {boards[0], boards[3]}
    await rooms.shutdown(flush_seconds=5)


async def test_a_failed_load_is_not_cached(store: SQLiteStore, board: str) -> None:
    attempts = 0

    class FailsOnce(Wrapped):
        async def load(self, board_id: str) -> Any:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise StorageUnavailable("not now")
            return await store.load(board_id)

    async with run_app(FailsOnce(store)) as server:
        first = await YClient.connect(server.ws, board, sync=False)
        assert await first.wait_closed() == 1011
        second = await YClient.connect(server.ws, board)
        assert second.board.board().name == "Board"
        await second.close()
