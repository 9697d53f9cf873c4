"""The parts of docs/sync.md every client leans on: the ready line, health and metrics, the
room name, unknown boards, no echo to the sender, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import pytest
import websockets
from pycrdt import Map

from crdt_model import new_id

from . import _wire as w
from ._harness import TasklyServer, card_update, cards_in, probe
from .conftest import Clients


async def test_ready_line_health_and_metrics(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    assert server.run.stdout == [f"Taskly listening on {server.http_url}"], (
        "stdout must hold exactly the one ready line"
    )
    livez = await server.get("/livez")
    assert (livez.status_code, livez.json()) == (200, {"status": "ok"})
    assert (await server.get("/readyz")).status_code == 200

    py = clients.py("python")
    await py.connect_synced(server.board_url(board))
    py.board.create_card("Counted", created_by=new_id())
    metrics = await server.metrics()
    for name in ("taskly_boards_loaded", "taskly_connections", "taskly_updates_per_second"):
        metrics.value(name)
    assert (metrics.value("taskly_boards_loaded"), metrics.value("taskly_connections")) == (1, 1)
    assert any(name == "taskly_updates_total" for name, _ in metrics.samples), metrics.text
    assert board in metrics.labels_of("taskly_board_bytes", "board"), metrics.text
    assert "# TYPE taskly_store_append_seconds summary" in metrics.text, metrics.text


@pytest.mark.parametrize("room", ["00000000-0000-4000-8000-000000000000", "not-a-board-id"])
async def test_unknown_board_is_closed_with_4404(server: TasklyServer, room: str) -> None:
    closed = await probe(server.board_url(room))
    assert closed is not None and closed[0] == 4404, f"expected 4404, got {closed}"
    assert closed[1].strip(), "4404 came without a reason"


@pytest.mark.node
async def test_stock_provider_stops_reconnecting_on_4404(
    server: TasklyServer, clients: Clients
) -> None:
    js = await clients.js("node")
    await js.open(server.sync_url, new_id())
    closed = await js.wait_event("closed")
    assert closed["code"] == 4404 and closed["reason"], closed
    status = await js.call("status")
    assert status["should_connect"] is False, status


async def test_query_string_is_not_part_of_the_room(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    # `plain` has no query string at all: its token goes in the subprotocols.
    plain, with_token = clients.py("plain"), clients.py("token")
    assert server.token is not None
    await plain.connect_synced(
        server.board_url(board, token=None), subprotocols=["bearer", server.token]
    )
    await with_token.connect_synced(server.board_url(board) + "&x=1&room=other")
    assert with_token.projection().board.id == board
    card = with_token.board.create_card("Same room", created_by=new_id())
    await plain.wait_cards([card])


async def test_update_is_broadcast_but_never_echoed_to_its_sender(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    observer = clients.py("observer")
    await observer.connect_synced(server.board_url(board))
    card, update = card_update()
    echoes = []
    async with websockets.connect(
        server.board_url(board), proxy=None, ping_interval=None, compression=None
    ) as ws:
        await ws.send(w.sync_message(w.SYNC_UPDATE, update))
        await observer.wait_cards([card])  # the server has broadcast it to the others
        # Frames to one connection go out in order: an echo of our update would arrive
        # before the observer's answer, which the server can only broadcast later.
        answer = observer.board.create_card("The answer", created_by=new_id())
        async with asyncio.timeout(10):
            async for message in ws:
                assert isinstance(message, bytes)
                kind, step, payload = w.parse_message(message)
                if kind != w.MSG_SYNC or step != w.SYNC_UPDATE:
                    continue
                created = cards_in(payload)
                if card in created:
                    echoes.append(payload)
                if answer in created:
                    break
    assert not echoes, f"the server echoed the sender's update back {len(echoes)} time(s)"


async def test_sigterm_closes_every_socket_with_1001_and_exits_0(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    py = clients.py("python")
    await py.connect_synced(server.board_url(board))
    card = py.board.create_card("Written before SIGTERM", created_by=new_id())
    await py.wait_for(
        lambda: py.projection().cards[0].number is not None, "the server to number the card"
    )
    assert await server.astop(signal.SIGTERM) == 0, server.output()
    assert (await py.wait_closed())[0] == 1001
    stored = await server.store.load_doc(board)
    assert card in stored.get("cards", type=Map).keys()


async def test_concurrent_first_joins_share_one_room(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    # All join a board nobody has loaded yet, at once: the server must load it once and put
    # them all in the same room, or edits would reach only some of them.
    joiners = [clients.py(f"joiner-{i}") for i in range(8)]
    async with asyncio.TaskGroup() as group:
        for joiner in joiners:
            group.create_task(joiner.connect_synced(server.board_url(board)))
    cards = [joiner.board.create_card(joiner.name, created_by=new_id()) for joiner in joiners]
    for joiner in joiners:
        await joiner.wait_cards(cards)
    assert (await server.metrics()).value("taskly_boards_loaded") == 1
