"""Card numbers: assigned once by the server, unique per board, across restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from crdt_model import Board, load_doc, new_id
from storage import SQLiteStore, UpdateOrigin
from sync_server import protocol as p
from tests.sync_server.conftest import run_app
from tests.sync_server.yclient import YClient

USER = new_id()


def all_numbered(client: YClient, count: int) -> Callable[[], bool]:
    def check() -> bool:
        found = numbers(client.board)
        return len(found) == count and None not in found.values()

    return check


def card_maker(title: str) -> Callable[[Board], str]:
    return lambda b: b.create_card(title, created_by=USER)


def assigned(board: Board) -> list[int]:
    return sorted(n for n in numbers(board).values() if n is not None)


def numbers(board: Board) -> dict[str, int | None]:
    return {
        card.id: (None if card.number is None else int(card.number))
        for card in board.cards(include_archived=True)
    }


async def test_two_clients_creating_cards_get_unique_numbers_across_restarts(
    store: SQLiteStore, board: str
) -> None:
    async with run_app(store) as server:
        alice = await YClient.connect(server.ws, board)
        bob = await YClient.connect(server.ws, board)

        async def create(client: YClient, count: int) -> None:
            for i in range(count):
                await client.edit(card_maker(f"card {i}"))
                await asyncio.sleep(0)

        await asyncio.gather(create(alice, 15), create(bob, 15))
        for client in (alice, bob):
            await client.wait_for(all_numbered(client, 30))
        assert assigned(alice.board) == list(range(1, 31))
        assert numbers(alice.board) == numbers(bob.board)
        # Each card's number was set exactly once (one server update per number at most).
        await asyncio.sleep(0.2)
        assert assigned(alice.board) == list(range(1, 31))
        await alice.close()
        await bob.close()
    stored = Board(load_doc(*(await store.load(board)).updates(), checked=False))
    assert assigned(stored) == list(range(1, 31))

    async with run_app(store) as server:
        carol = await YClient.connect(server.ws, board)
        card = await carol.edit(lambda b: b.create_card("after restart", created_by=USER))
        await carol.wait_for(lambda: carol.board.card(card).number is not None)
        assert carol.board.card(card).number == 31
        await carol.close()


async def test_the_number_reaches_every_connection_including_the_creator(
    store: SQLiteStore, board: str
) -> None:
    async with run_app(store) as server:
        creator = await YClient.connect(server.ws, board)
        other = await YClient.connect(server.ws, board)
        card = await creator.edit(lambda b: b.create_card("numbered", created_by=USER))
        await creator.wait_for(lambda: creator.board.card(card).number == 1)
        await other.wait_for(lambda: other.board.card(card).number == 1)
        await creator.close()
        await other.close()


async def test_cards_unnumbered_in_the_stored_doc_are_numbered_on_load(
    store: SQLiteStore, board: str
) -> None:
    doc = load_doc(*(await store.load(board)).updates(), checked=False)
    before = doc.get_state()
    card = Board(doc).create_card("written while no server ran", created_by=USER)
    await store.append(board, doc.get_update(before), UpdateOrigin("import"))
    async with run_app(store) as server:
        client = await YClient.connect(server.ws, board)
        await client.wait_for(lambda: client.board.card(card).number is not None)
        assert client.board.card(card).number == 1
        assert client.messages(p.SyncUpdate) or client.board.card(card).number == 1
        await client.close()
