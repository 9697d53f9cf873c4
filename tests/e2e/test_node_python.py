"""A stock y-websocket client (npm, under node) and a pycrdt client edit one board through the
real server: live, concurrently, and with the Node client offline; all converge, and what the
server stored equals what the clients hold."""

from __future__ import annotations

import msgspec
import pytest

from crdt_model import STANDARD_COLUMNS, new_id, project, rank_between

from ._harness import TasklyServer, assert_same_board
from ._pyclient import PyClient
from .conftest import Clients

pytestmark = pytest.mark.node


async def wait_numbered(client: PyClient, card_ids: list[str]) -> dict[str, int]:
    """Wait until the server has numbered every card; return {card id: number}."""

    def numbers() -> dict[str, int | None]:
        return {card.id: card.number for card in client.projection().cards if card.id in card_ids}

    await client.wait_for(
        lambda: len(numbers()) == len(card_ids) and None not in numbers().values(),
        f"the server to number cards {card_ids}; now {numbers()}",
    )
    return {card_id: number for card_id, number in numbers().items() if number is not None}


async def test_node_and_python_converge_live_and_after_offline_edits(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    py = clients.py("python")
    await py.connect_synced(server.board_url(board))
    js = await clients.js("node")
    await js.open(server.sync_url, board)
    await js.wait_synced()
    witness = clients.py("witness")
    await witness.connect_synced(server.board_url(board))

    # Both start from what `taskly board create` stored: the board fields and five columns.
    start = await assert_same_board([py, js, witness])
    assert start.board.id == board
    assert [(c.name, c.role) for c in start.columns] == list(STANDARD_COLUMNS)
    assert start.cards == []
    _backlog, todo, doing, review, done = (c.id for c in start.columns)
    user = new_id()

    # Live: each side creates a card at the same time.
    py_card = py.board.create_card("Python card", created_by=user, column_id=todo)
    js_card = new_id()
    await js.create_card(
        js_card, "Node card", column=todo, rank=rank_between(None, None), created_by=user
    )
    await js.wait_cards([py_card])
    await py.wait_cards([js_card])

    # Live: both edit the same title and move each other's card, without waiting in between.
    py.board.insert_text(js_card, "title", len("Node card"), " [py]")
    py.board.move_card(js_card, column_id=doing)
    await js.insert_title(js_card, 0, "[js] ")
    await js.move_card(py_card, review, rank_between(None, None))
    live = await assert_same_board([py, js, witness])
    cards = {card.id: card for card in live.cards}
    assert cards[js_card].title == "[js] Node card [py]"
    assert (cards[js_card].column_id, cards[py_card].column_id) == (doing, review)

    # Offline: provider.disconnect(); both keep editing.
    await js.disconnect()
    py_card2 = py.board.create_card("Python while Node is offline", created_by=user)
    py.board.insert_text(py_card, "title", 0, "(py) ")
    py.board.move_card(js_card, column_id=review)
    py_move = (review, py.board.card(js_card).rank)
    js_card2 = new_id()
    await js.create_card(
        js_card2,
        "Node card made offline",
        column=done,
        rank=rank_between(None, None),
        created_by=user,
    )
    await js.insert_title(py_card, len("Python card"), " (node offline)")
    js_move = (done, rank_between(None, None))
    await js.move_card(js_card, *js_move)
    # The witness got Python's offline-time edit from the server; Node must not have.
    await witness.wait_cards([py_card2])
    assert py_card2 not in await js.card_ids(), "a disconnected provider received an update"
    assert js_card2 not in witness.card_ids(), "an offline Node edit reached the server"

    # Back online: everything merges, in every replica.
    await js.connect()
    await js.wait_synced()
    all_cards = [py_card, js_card, py_card2, js_card2]
    numbers = await wait_numbered(py, all_cards)
    final = await assert_same_board([py, js, witness])
    cards = {card.id: card for card in final.cards}
    assert set(cards) == set(all_cards)
    assert cards[py_card].title == "(py) Python card (node offline)"
    assert cards[js_card].title == "[js] Node card [py]"
    # Concurrent moves of one card: one whole move wins (column and rank together).
    assert (cards[js_card].column_id, cards[js_card].rank) in (py_move, js_move)
    assert (cards[js_card2].column_id, cards[py_card2].column_id) == (done, start.columns[0].id)
    # The server numbered every card, each with its own number and key.
    assert len(set(numbers.values())) == len(all_cards), f"duplicate card numbers: {numbers}"
    assert all(n >= 1 for n in numbers.values()), numbers
    assert {cards[c].key for c in all_cards} == {f"TSK-{n}" for n in numbers.values()}

    # Ctrl-C: every WebSocket is closed with 1001 and the process exits 0.
    seen = len(js.events)
    assert await server.astop() == 0, server.output()
    assert (await py.wait_closed())[0] == 1001
    close = await js.wait_event("connection-close", after=seen)
    assert close["code"] == 1001, close

    # What the server stored is exactly what the clients hold.
    stored = await server.store.load_doc(board)
    assert msgspec.to_builtins(project(stored)) == msgspec.to_builtins(final)
