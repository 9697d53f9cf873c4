"""The sync endpoint with real clients: sync, broadcast without echo, durability order."""

from __future__ import annotations

import asyncio
from typing import Any

from pycrdt import Map

from crdt_model import Board, load_doc
from storage import SQLiteStore
from sync_server import protocol as p
from tests.sync_server.conftest import Running, Wrapped, make_board, run_app
from tests.sync_server.yclient import YClient


async def stored_board(store: Any, board_id: str) -> Board:
    loaded = await store.load(board_id)
    return Board(load_doc(*loaded.updates(), checked=False))


async def test_server_greets_with_step1_and_answers_step1_with_the_board(
    server: Running, board: str
) -> None:
    client = await YClient.connect(server.ws, board)
    assert isinstance(client.received[0], p.SyncStep1)
    assert client.board.board().name == "Board"
    assert len(client.board.columns()) == 5
    await client.close()


async def test_edits_reach_other_clients_and_are_never_echoed(
    server: Running, store: SQLiteStore, board: str
) -> None:
    alice = await YClient.connect(server.ws, board)
    bob = await YClient.connect(server.ws, board)
    before = len(alice.messages(p.SyncUpdate))
    await alice.edit(lambda b: b.rename("Renamed by Alice"))
    await bob.wait_for(lambda: bob.board.board().name == "Renamed by Alice")
    await bob.edit(lambda b: b.set_repo("octo/cat"))
    await alice.wait_for(lambda: alice.board.board().repo == "octo/cat")
    await asyncio.sleep(0.2)
    # Alice got exactly one update (Bob's), never her own rename back.
    assert len(alice.messages(p.SyncUpdate)) == before + 1
    assert len(bob.messages(p.SyncUpdate)) == 1
    stored = await stored_board(store, board)
    assert stored.board().name == "Renamed by Alice"
    assert stored.board().repo == "octo/cat"
    await alice.close()
    await bob.close()


async def test_a_stock_client_step2_reply_is_stored_and_broadcast(
    server: Running, store: SQLiteStore, board: str
) -> None:
    """A client with offline edits sends them in its step 2 (the answer to our step 1)."""
    offline = load_doc(*(await store.load(board)).updates(), checked=False)
    Board(offline).rename("Edited offline")
    watcher = await YClient.connect(server.ws, board)
    client = await YClient.connect(server.ws, board, doc=offline)
    await watcher.wait_for(lambda: watcher.board.board().name == "Edited offline")
    assert (await stored_board(store, board)).board().name == "Edited offline"
    await client.close()
    await watcher.close()


async def test_updates_are_broadcast_only_after_they_are_stored_and_step2_waits_too(
    store: SQLiteStore, board: str
) -> None:
    gate = asyncio.Event()
    appended: list[int] = []

    class Gated(Wrapped):
        async def append_many(self, board_id: str, updates: Any, **kw: Any) -> list[int]:
            await gate.wait()
            seqs: list[int] = await store.append_many(board_id, updates, **kw)
            appended.extend(seqs)
            return seqs

    async with run_app(Gated(store)) as server:
        alice = await YClient.connect(server.ws, board)
        bob = await YClient.connect(server.ws, board)
        await alice.edit(lambda b: b.rename("Not yet stored"))
        await asyncio.sleep(0.3)
        assert bob.board.board().name == "Board"  # not broadcast: not stored
        # A newcomer's step 1 is answered only once the rename is stored.
        carol = await YClient.connect(server.ws, board, sync=False)
        await carol.send(p.encode_sync_step1(carol.doc.get_state()))
        await asyncio.sleep(0.3)
        assert not carol.synced.is_set()
        assert appended == []
        gate.set()
        await carol.wait_synced()
        assert carol.board.board().name == "Not yet stored"
        await bob.wait_for(lambda: bob.board.board().name == "Not yet stored")
        assert appended, "stored before anyone saw it"
        for client in (alice, bob, carol):
            await client.close()


async def test_a_burst_is_group_committed_in_order(store: SQLiteStore, board: str) -> None:
    calls: list[int] = []

    class Counting(Wrapped):
        async def append_many(self, board_id: str, updates: Any, **kw: Any) -> list[int]:
            calls.append(len(updates))
            await asyncio.sleep(0.05)  # a slow disk: updates pile up meanwhile
            seqs: list[int] = await store.append_many(board_id, updates, **kw)
            return seqs

    async with run_app(Counting(store)) as server:
        alice = await YClient.connect(server.ws, board)
        bob = await YClient.connect(server.ws, board)
        frames = []
        for i in range(50):
            before = alice.doc.get_state()
            alice.board.rename(f"name {i}")
            frames.append(p.encode_update(alice.doc.get_update(before)))
        for frame in frames:
            await alice.send(frame)
        await bob.wait_for(lambda: bob.board.board().name == "name 49")
        assert sum(calls) == 50
        assert len(calls) < 10, calls
        # Bob received the renames in the order they were made.
        names = []
        probe = load_doc((await store.load(board)).updates()[0], checked=False)
        for message in bob.messages(p.SyncUpdate):
            probe.apply_update(message.update)
            names.append(probe.get("board", type=Map).get("name"))
        assert names == [f"name {i}" for i in range(50)]
        await alice.close()
        await bob.close()


async def test_boards_are_separate_rooms(server: Running, store: SQLiteStore) -> None:
    first, second = await make_board(store, "First"), await make_board(store, "Second")
    a = await YClient.connect(server.ws, first)
    b = await YClient.connect(server.ws, second)
    await a.edit(lambda board: board.rename("First, renamed"))
    await asyncio.sleep(0.2)
    assert b.board.board().name == "Second"
    assert not b.messages(p.SyncUpdate)
    await a.close()
    await b.close()


async def test_query_string_is_not_part_of_the_room(server: Running, board: str) -> None:
    a = await YClient.connect(server.ws, board, query="?token=abc")
    b = await YClient.connect(server.ws, board)
    await a.edit(lambda x: x.rename("Via query"))
    await b.wait_for(lambda: b.board.board().name == "Via query")
    await a.close()
    await b.close()
