"""Awareness (presence) across Node and Python through the server: states travel both ways,
query-awareness is answered, and a client that vanishes is removed at once, not after 30 s."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from crdt_model import new_id

from . import _wire as w
from ._harness import TasklyServer
from .conftest import Clients

pytestmark = pytest.mark.node

REMOVAL_DEADLINE = 2.0  # seconds; the awareness timeout peers would otherwise wait for is 30


async def query_awareness(url: str) -> dict[int, object]:
    """Send message type 3 on a new connection; return the states of the type-1 answer."""
    async with websockets.connect(url, proxy=None, ping_interval=None, open_timeout=10) as ws:
        await ws.send(bytes([w.MSG_QUERY_AWARENESS]))
        async with asyncio.timeout(10):
            async for message in ws:
                assert isinstance(message, bytes)
                kind, _, payload = w.parse_message(message)
                if kind == w.MSG_AWARENESS:
                    entries = w.decode_awareness(payload)
                    # Ignore null states (removals the server may replay); keep live ones.
                    return {
                        client: json.loads(state)
                        for client, (_, state) in entries.items()
                        if state not in ("", "null")
                    }
    raise AssertionError("the connection closed without answering query-awareness")


async def test_presence_crosses_node_and_python_and_leaves_with_the_process(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    url = server.board_url(board)
    py = clients.py("python")
    await py.connect_synced(url)
    js = await clients.js("node")
    await js.open(server.sync_url, board)
    await js.wait_synced()
    node_id = js.client_id
    assert node_id is not None
    card = py.board.create_card("Looked at", created_by=new_id())
    await js.wait_cards([card])

    # Presence per board-schema.md, both ways.
    node_presence = {"user": {"id": new_id(), "name": "Nöde 🚀", "color": "#ff8800"}, "card": None}
    await js.set_awareness(node_presence)
    await py.wait_for(
        lambda: py.presence().get(node_id) == node_presence,
        f"Node's presence {node_presence}; Python sees {py.presence()}",
    )
    py_presence = {"user": {"id": new_id(), "name": "Pythön", "color": "#0088ff"}, "card": card}
    py.awareness.set_local_state(py_presence)
    await js.wait_awareness(py.awareness.client_id, True, state=py_presence)

    # Query-awareness (type 3) is answered with every state of the room.
    answered = await query_awareness(url)
    assert answered.get(node_id) == node_presence, answered
    assert answered.get(py.awareness.client_id) == py_presence, answered

    # SIGKILL: no farewell from the client; the server must announce the removal itself.
    loop = asyncio.get_running_loop()
    killed = loop.time()
    await js.kill()
    await py.wait_presence(node_id, False, within=REMOVAL_DEADLINE)
    elapsed = loop.time() - killed
    assert elapsed < REMOVAL_DEADLINE, f"removal took {elapsed:.2f} s"
    assert node_id not in await query_awareness(url)


async def test_python_client_dropping_its_socket_leaves_node_at_once(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    js = await clients.js("node")
    await js.open(server.sync_url, board)
    await js.wait_synced()
    py = clients.py("python")
    py.awareness.set_local_state({"user": {"id": new_id(), "name": "Py", "color": "#00aa00"}})
    await py.connect_synced(server.board_url(board))
    await js.wait_awareness(py.awareness.client_id, True, state=py.awareness.get_local_state())

    # y-websocket's provider relays every awareness change it applies, remote ones included,
    # so the Python client's state also arrives over the Node connection: the server must
    # still credit it to the connection that introduced it, or this removal never comes.
    # A TCP abort: no awareness farewell, no close frame, like a laptop lid closing.
    await py.abort()
    await js.wait_awareness(py.awareness.client_id, False, within=REMOVAL_DEADLINE)
