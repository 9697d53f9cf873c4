"""Idle unload: a board with no connections leaves memory after TASKLY_IDLE_UNLOAD_SECONDS and
loads again, unchanged, when a client comes back; a board with a connection stays loaded."""

from __future__ import annotations

import asyncio

import msgspec

from crdt_model import new_id

from ._harness import Metrics, wait_metrics
from .conftest import Clients, ServerFactory

IDLE_SECONDS = 1.0


def loaded(metrics: Metrics) -> float:
    """taskly_boards_loaded."""
    return metrics.value("taskly_boards_loaded")


async def test_idle_board_unloads_and_reloads_with_the_same_content(
    taskly: ServerFactory, clients: Clients
) -> None:
    server = taskly(TASKLY_IDLE_UNLOAD_SECONDS=str(IDLE_SECONDS))
    board = await server.store.acreate_board("Idle board")
    assert loaded(await server.metrics()) == 0, "a board was loaded before anyone joined it"

    editor = clients.py("editor")
    await editor.connect_synced(server.board_url(board))
    user = new_id()
    first = editor.board.create_card("Survives unloading 🚀", created_by=user)
    second = editor.board.create_card("Moved before unloading", created_by=user)
    editor.board.move_card(second, column_id=editor.board.columns()[3].id)
    editor.board.rename("Renamed before unloading")
    await editor.wait_for(
        lambda: all(card.number is not None for card in editor.projection().cards),
        "the server to number both cards",
    )
    metrics = await server.metrics()
    assert (loaded(metrics), metrics.value("taskly_connections")) == (1, 1)
    before = editor.projection()

    await editor.disconnect()
    loop = asyncio.get_running_loop()
    left = loop.time()
    metrics = await wait_metrics(server, lambda m: loaded(m) == 0, "the idle board to unload")
    idle_for = loop.time() - left
    # Not before the idle time (a little slack for the two clocks involved).
    assert idle_for >= IDLE_SECONDS - 0.2, f"unloaded after {idle_for:.2f} s, before the idle time"
    assert metrics.value("taskly_connections") == 0
    held = [
        value
        for (name, labels), value in metrics.samples.items()
        if name == "taskly_board_bytes" and dict(labels).get("board") == board
    ]
    assert all(value == 0 for value in held), (
        f"an unloaded board still holds bytes:\n{metrics.text}"
    )

    reader = clients.py("reader")
    await reader.connect_synced(server.board_url(board))
    assert msgspec.to_builtins(reader.projection()) == msgspec.to_builtins(before)
    assert {first, second} <= reader.card_ids()
    assert loaded(await server.metrics()) == 1


async def test_board_with_a_connection_stays_loaded(
    taskly: ServerFactory, clients: Clients
) -> None:
    server = taskly(TASKLY_IDLE_UNLOAD_SECONDS=str(IDLE_SECONDS))
    kept_board = await server.store.acreate_board("Kept")
    idle_board = await server.store.acreate_board("Left")
    kept, leaving = clients.py("kept"), clients.py("leaving")
    await kept.connect_synced(server.board_url(kept_board))
    await leaving.connect_synced(server.board_url(idle_board))
    assert loaded(await server.metrics()) == 2

    await leaving.disconnect()
    await wait_metrics(server, lambda m: loaded(m) == 1, "the board nobody is in to unload")
    # Both connections were equally quiet; give the server one more idle period in which it
    # must not unload the board that still has a connection (an absence: nothing to await).
    await asyncio.sleep(IDLE_SECONDS * 1.5)
    metrics = await server.metrics()
    assert loaded(metrics) == 1, f"a board with a live connection was unloaded:\n{metrics.text}"

    # And the kept board still syncs with a newcomer.
    newcomer = clients.py("newcomer")
    await newcomer.connect_synced(server.board_url(kept_board))
    card = newcomer.board.create_card("Still live", created_by=new_id())
    await kept.wait_cards([card])
