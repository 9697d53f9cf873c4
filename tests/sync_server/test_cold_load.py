"""Cold load: a board that is not loaded yet is sent from its stored bytes, once.

The server sends a connection the board's stored bytes (tail merged, then the snapshot as
the sync step 2) before it applies them itself, and then answers the client's step 1 with
only what lies beyond them. What is observable: the content at "synced", the byte count (no
second full copy), the number of store loads, and that later edits still arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Map, Text

from crdt_model import Board, NotFoundError, Projection, load_doc, project
from storage import SQLiteStore, UpdateOrigin
from sync_server import protocol as p
from sync_server import rooms as rooms_module
from tests.sync_server.conftest import Wrapped, make_board, run_app
from tests.sync_server.yclient import YClient

SERVER = UpdateOrigin("server")


class SlowLoads(Wrapped):
    """Counts loads; each takes a while, so that concurrent joins all arrive meanwhile."""

    def __init__(self, inner: Any, delay: float = 0.2) -> None:
        super().__init__(inner)
        self.loads = 0
        self.delay = delay

    async def load(self, board_id: str) -> Any:
        self.loads += 1
        await asyncio.sleep(self.delay)
        return await self._inner.load(board_id)


class BigBoard:
    """A board with `cards` cards compacted into a snapshot, plus a tail of later edits."""

    def __init__(self, board_id: str, history: list[bytes], cards: list[str]) -> None:
        self.board_id = board_id
        self.history = history  # every update stored, in order (snapshot part, then tail)
        self.cards = cards


async def big_board(store: SQLiteStore, cards: int, *, description: int = 0) -> BigBoard:
    board_id = await make_board(store, "Big")
    doc = load_doc(*(await store.load(board_id)).updates(), checked=False)
    history = list((await store.load(board_id)).updates())
    ids: list[str] = []

    async def edit(change: Any) -> None:
        before = doc.get_state()
        change(Board(doc))
        update = doc.get_update(before)
        history.append(update)
        await store.append(board_id, update, SERVER)

    for batch in range(0, cards, 50):

        def add(board: Board, first: int = batch) -> None:
            for n in range(first, min(first + 50, cards)):
                card = board.create_card(
                    f"card {n}", created_by=board_id, description=f"{n} " + "d" * description
                )
                board.set_card_number(card, n + 1)
                ids.append(card)

        await edit(add)
    await store.compact(board_id)
    await edit(lambda b: b.rename("renamed in the tail"))
    await edit(lambda b: b.set_title(ids[0], "retitled in the tail"))
    await edit(lambda b: b.move_card(ids[1], column_id=b.columns()[-1].id))
    return BigBoard(board_id, history, ids)


def title_of(client: YClient, card_id: str) -> str | None:
    try:
        return client.board.card(card_id).title
    except NotFoundError:
        return None


def stored_size(loaded: Any) -> int:
    return sum(len(u) for u in loaded.updates())


def received_bytes(client: YClient) -> int:
    return sum(len(p.encode_message(m)) for m in client.received)


class Replica(NamedTuple):
    """What makes two replicas of a board identical, in a form that compares by value."""

    state_vector: dict[int, int]  # client id -> clock: every struct the replica holds
    deleted: dict[int, list[tuple[int, int]]]  # client id -> merged [start, end) clock ranges
    board: Projection  # the whole board as rows (display order)


def replica_of(doc: Doc[Any]) -> Replica:
    """Return `doc`'s structs, deletions and content as values.

    Never compare `doc.get_state()` bytes: pycrdt (yrs) writes a state vector's clients in the
    iteration order of its hash map, which depends on the order in which the clients' structs
    were integrated; two identical replicas (a client that loaded its history in order, the
    server that loaded a compacted snapshot plus a tail) often encode the same clocks in a
    different order. Equal state vectors and equal delete sets make equal Yjs documents.
    """
    return Replica(
        p.decode_state_vector(doc.get_state()),
        _delete_set(doc.get_update(doc.get_state())),  # no structs, only the delete set
        project(doc),
    )


def _delete_set(update: bytes) -> dict[int, list[tuple[int, int]]]:
    pos = 0

    def var_uint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = update[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    assert var_uint() == 0, "expected an update without structs"
    deleted: dict[int, list[tuple[int, int]]] = {}
    for _ in range(var_uint()):
        client = var_uint()
        ranges = deleted.setdefault(client, [])
        for _ in range(var_uint()):
            start = var_uint()
            ranges.append((start, start + var_uint()))
    assert pos == len(update)
    for client, ranges in deleted.items():
        merged: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        deleted[client] = merged
    return {client: ranges for client, ranges in deleted.items() if ranges}


async def stored_replica(store: SQLiteStore, board_id: str) -> Replica:
    return replica_of(load_doc(*(await store.load(board_id)).updates(), checked=False))


async def same_as_store(client: YClient, store: SQLiteStore, board_id: str) -> bool:
    return replica_of(client.doc) == await stored_replica(store, board_id)


def answered(client: YClient) -> Callable[[], bool]:
    """Whether the client got the answer to its step 1 (after the early step 2)."""
    return lambda: len(client.messages(p.SyncStep2)) == 2


@pytest.fixture
def presend_small_boards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rooms_module, "PRESEND_MIN_BYTES", 0)


# -- the state vector helper ---------------------------------------------------------------------

clocks = st.dictionaries(st.integers(0, 2**53 - 1), st.integers(0, 2**40), max_size=8)


@given(clocks, clocks)
def test_merged_state_vectors_hold_each_clients_highest_clock(
    first: dict[int, int], second: dict[int, int]
) -> None:
    merged = p.decode_state_vector(
        p.merge_state_vectors(p.encode_state_vector(first), p.encode_state_vector(second))
    )
    assert merged == {c: max(first.get(c, 0), second.get(c, 0)) for c in first.keys() | second}


def test_merging_with_pycrdt_state_vectors() -> None:
    # Two clients' documents: b has everything a has, and more.
    a: Doc[Any] = Doc()
    b: Doc[Any] = Doc()
    a["t"] = Text("hello")
    b.apply_update(a.get_update())
    b.get("t", type=Text).insert(0, "> ")
    merged = p.merge_state_vectors(a.get_state(), b.get_state())
    assert p.decode_state_vector(merged) == p.decode_state_vector(b.get_state())
    assert p.merge_state_vectors(b"\x00", a.get_state()) == p.encode_state_vector(
        p.decode_state_vector(a.get_state())
    )


# -- comparing replicas ------------------------------------------------------------------------


def _independent_edits() -> list[bytes]:
    """Four clients' edits of a root map (none depends on another), then a deletion."""
    history: list[bytes] = []
    # With these ids, pycrdt 0.14.13 lists the clients of the state vector in another order
    # for each of the load orders below than for the history order (get_state() bytes differ).
    for n, client_id in enumerate((2, 4, 8, 16)):
        doc: Doc[Any] = Doc(client_id=client_id)
        for update in history:
            doc.apply_update(update)
        before = doc.get_state()
        if not history:
            doc["t"] = Text("hello world")
        doc.get("m", type=Map)[f"by {n}"] = n
        history.append(doc.get_update(before))
    doc = load_doc(*history, checked=False)
    before = doc.get_state()
    del doc.get("t", type=Text)[0:6]
    history.append(doc.get_update(before))
    return history


def test_replicas_loaded_in_any_order_compare_equal() -> None:
    # The same updates integrated in different orders: the state vectors' bytes may list the
    # clients in a different order (hash-map order), the replicas must still compare equal.
    history = _independent_edits()
    in_order = load_doc(*history, checked=False)
    for order in ([3, 2, 1, 0, 4], [4, 3, 2, 1, 0], [1, 0, 3, 2, 4]):
        other = load_doc(*(history[i] for i in order), checked=False)
        merged = load_doc(other.get_update(), checked=False)
        assert replica_of(other) == replica_of(in_order) == replica_of(merged)
    assert replica_of(in_order).deleted == {2: [(0, 6)]}  # the helper does see deletions


def test_a_replica_lacking_only_a_deletion_differs() -> None:
    # A deletion adds no struct (no clock moves): only the delete set tells the replicas apart.
    doc: Doc[Any] = Doc()
    doc["t"] = Text("hello")
    before = load_doc(doc.get_update(), checked=False)
    del doc.get("t", type=Text)[0:1]
    assert replica_of(before).state_vector == replica_of(doc).state_vector
    assert replica_of(before) != replica_of(doc)


# -- cold loads over the wire -------------------------------------------------------------------


async def test_a_fresh_client_gets_the_whole_stored_board_once(store: SQLiteStore) -> None:
    board = await big_board(store, 100, description=4000)  # above the default threshold
    loaded = await store.load(board.board_id)
    size = stored_size(loaded)
    assert size >= rooms_module.PRESEND_MIN_BYTES and loaded.tail and loaded.snapshot
    async with run_app(store) as server:
        client = await YClient.connect(server.ws, board.board_id)
        # At "synced" (the first step 2) the client has the snapshot and the tail.
        assert client.board.board().name == "renamed in the tail"
        assert client.board.card(board.cards[0]).title == "retitled in the tail"
        assert len(client.board.cards()) == 100
        # The stored bytes came first, before the server's step 1.
        assert isinstance(client.received[0], p.SyncUpdate)
        assert isinstance(client.received[1], p.SyncStep2)
        assert client.received[1].update == loaded.snapshot
        await client.wait_for(lambda: len(client.messages(p.SyncStep2)) == 2)
        assert await same_as_store(client, store, board.board_id)
        # The answer to the client's step 1 did not repeat the board.
        answer = client.messages(p.SyncStep2)[1]
        assert len(answer.update) < size / 10
        assert received_bytes(client) < 1.5 * size
        # Later edits still arrive.
        other = await YClient.connect(server.ws, board.board_id)
        await other.edit(lambda b: b.rename("after the load"))
        await client.wait_for(lambda: client.board.board().name == "after the load")
        await client.close()
        await other.close()


async def test_a_small_board_keeps_the_plain_greeting(store: SQLiteStore, board: str) -> None:
    async with run_app(store) as server:
        client = await YClient.connect(server.ws, board)
        assert isinstance(client.received[0], p.SyncStep1)
        await client.close()


async def test_a_client_with_a_partial_replica_ends_identical_and_its_offline_edits_spread(
    store: SQLiteStore, presend_small_boards: None
) -> None:
    board = await big_board(store, 120)
    slow = SlowLoads(store)
    async with run_app(slow) as server:
        # A replica that has the compacted part but not the tail, plus an offline card.
        replica = load_doc(*board.history[:-3], checked=False)
        offline = Board(replica).create_card("made offline", created_by=board.board_id)
        watcher_task = asyncio.create_task(YClient.connect(server.ws, board.board_id))
        client = await YClient.connect(server.ws, board.board_id, doc=replica)
        watcher = await watcher_task
        assert slow.loads == 1
        await watcher.wait_for(lambda: title_of(watcher, offline) == "made offline")
        await client.wait_for(lambda: client.board.card(offline).number is not None)

        async def settled() -> bool:
            stored = await stored_replica(store, board.board_id)
            return replica_of(client.doc) == stored and replica_of(watcher.doc) == stored

        for _ in range(300):  # up to 15 s: CI machines are slow when both cores are busy
            if await settled():
                break
            await asyncio.sleep(0.05)
        expected = await stored_replica(store, board.board_id)
        for name, peer in (("client", client), ("watcher", watcher)):
            got = replica_of(peer.doc)
            # Field by field, so that a failure says which side lacks what.
            assert got.state_vector == expected.state_vector, f"{name}: structs differ"
            assert got.deleted == expected.deleted, f"{name}: deletions differ"
            assert got.board == expected.board, f"{name}: content differs"
        stored = Board(load_doc(*(await store.load(board.board_id)).updates(), checked=False))
        assert stored.card(offline).title == "made offline"
        assert stored.board().name == "renamed in the tail"
        await client.close()
        await watcher.close()


async def test_concurrent_first_joiners_share_one_load_and_each_get_the_board_once(
    store: SQLiteStore, presend_small_boards: None
) -> None:
    board = await big_board(store, 200)
    size = stored_size(await store.load(board.board_id))
    slow = SlowLoads(store)
    async with run_app(slow) as server:
        clients = await asyncio.gather(
            *(YClient.connect(server.ws, board.board_id) for _ in range(6))
        )
        assert slow.loads == 1
        for client in clients:
            assert client.board.board().name == "renamed in the tail"
            assert len(client.board.cards()) == 200
            assert not isinstance(client.received[0], p.SyncStep1)  # sent early
            await client.wait_for(answered(client))
            assert await same_as_store(client, store, board.board_id)
            assert received_bytes(client) < 1.5 * size
        for client in clients:
            await client.close()


async def test_an_edit_made_while_the_stored_bytes_are_in_flight_reaches_the_new_client(
    store: SQLiteStore,
) -> None:
    board = await big_board(store, 200, description=6000)  # > 1 MB: more than a socket buffer
    slow = SlowLoads(store)
    async with run_app(slow) as server:
        # The late reader asks for the board but reads nothing for now.
        url = f"{server.ws}/sync/{board.board_id}"
        raw = await websockets.connect(url, max_size=None)
        await raw.send(p.encode_sync_step1(b"\x00"))
        editor = await YClient.connect(server.ws, board.board_id)
        assert slow.loads == 1
        await editor.edit(lambda b: b.set_title(board.cards[7], "edited meanwhile"))

        async def stored_edit() -> bool:
            loaded = load_doc(*(await store.load(board.board_id)).updates(), checked=False)
            return bool(Board(loaded).card(board.cards[7]).title == "edited meanwhile")

        for _ in range(300):  # up to 15 s: CI machines are slow when both cores are busy
            if await stored_edit():
                break
            await asyncio.sleep(0.05)
        late = YClient(raw, Doc())  # now it reads: stored bytes, then whatever came after
        await late.send(p.encode_sync_step1(b"\x00"))  # a second step 1 is answered too
        await late.wait_for(lambda: title_of(late, board.cards[7]) == "edited meanwhile")
        await late.wait_for(lambda: len(late.messages(p.SyncStep2)) == 3)
        assert await same_as_store(late, store, board.board_id)
        await late.close()
        await editor.close()
