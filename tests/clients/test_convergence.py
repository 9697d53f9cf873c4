"""Edits made offline in two replicas converge after sync, with the server also receiving
edits from a third, live client (the e2e suite's Python y-websocket client) and over REST."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clients.python import BoardReplica, SyncSession, TasklyClient, sync_url
from crdt_model import PRIORITIES, Projection, project
from tests.e2e._harness import StoreSpec, TasklyServer
from tests.e2e.conftest import Clients

USER_A = "01900000-0000-7000-8000-00000000000a"
USER_B = "01900000-0000-7000-8000-00000000000b"


def same(*views: Projection) -> None:
    """Assert every projection equals the first."""
    first = msgspec.to_builtins(views[0])
    for view in views[1:]:
        assert msgspec.to_builtins(view) == first


async def sync(replica: BoardReplica, server: TasklyServer) -> None:
    """One sync of `replica` with the owner's token."""
    assert server.token is not None
    url = sync_url(server.http_url, replica.board_id)
    await SyncSession(replica, url, server.token).sync_once()


async def test_offline_replicas_and_a_live_client_converge(
    server: TasklyServer, board: str, clients: Clients, tmp_path: Path
) -> None:
    assert server.token is not None
    rest = TasklyClient(server.http_url, server.token)
    shared = rest.create_card(board, "Shared card")["id"]
    a = BoardReplica.open(tmp_path / "a.sqlite3", board)
    b = BoardReplica.open(tmp_path / "b.sqlite3", board)
    for replica in (a, b):
        await sync(replica, server)
    live = clients.py("live")
    await live.connect_synced(server.board_url(board))
    columns = [c.id for c in a.board.columns()]

    # Offline: both replicas edit, including the same card; meanwhile the server gets edits
    # from a live client and from REST.
    a_card = a.board.create_card("From A", created_by=USER_A, column_id=columns[1])
    a.board.set_title(shared, "Shared card, renamed by A")
    a.board.move_card(shared, column_id=columns[2])
    b_card = b.board.create_card("From B", created_by=USER_B)
    b.board.set_priority(shared, "urgent")
    b.board.move_card(shared, column_id=columns[3])
    b.board.set_description(shared, "B wrote this")
    live_card = live.board.create_card("From live", created_by=USER_A, column_id=columns[4])
    rest_card = rest.create_card(board, "From REST")["id"]
    assert a.pending_edits() == 3 and b.pending_edits() == 4

    await sync(a, server)
    await sync(b, server)
    await sync(a, server)  # A takes B's edits
    assert a.pending_edits() == 0 and b.pending_edits() == 0
    await live.wait_covers(a.doc.get_state())
    await live.wait_covers(b.doc.get_state())
    same(project(a.doc), project(b.doc), live.projection())
    view = project(a.doc)
    cards = {c.id: c for c in view.cards}
    assert {a_card, b_card, live_card, rest_card, shared} <= cards.keys()
    assert all(c.key is not None for c in view.cards)  # the server numbered the offline cards
    assert cards[shared].title == "Shared card, renamed by A"
    assert cards[shared].priority == "urgent" and cards[shared].description == "B wrote this"
    assert cards[shared].column_id in (columns[2], columns[3])  # one of the two moves won

    # What each replica received is in its file too.
    a.close()
    b.close()
    with BoardReplica.open(tmp_path / "b.sqlite3", board) as reopened:
        same(view, project(reopened.doc))
    rest.close()


# -- property: random offline edit sequences ------------------------------------------------

Op = tuple[int, str, int, int]  # (replica 0/1, kind, card index, column or value index)
ops = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.sampled_from(["add", "move", "title", "priority", "archive", "points"]),
        st.integers(0, 20),
        st.integers(0, 20),
    ),
    max_size=8,
)


def apply_op(replica: BoardReplica, op: Op, user: str) -> None:
    """Apply one generated operation to a replica (card/column indexes taken modulo)."""
    _, kind, card_index, value = op
    board = replica.board
    columns = board.columns()
    cards = board.cards()
    if kind == "add" or not cards:
        board.create_card(f"card {value}", created_by=user, column_id=columns[value % 5].id)
        return
    card = cards[card_index % len(cards)].id
    if kind == "move":
        board.move_card(card, column_id=columns[value % len(columns)].id)
    elif kind == "title":
        board.set_title(card, f"title {value}")
    elif kind == "priority":
        board.set_priority(card, PRIORITIES[value % len(PRIORITIES)])
    elif kind == "archive":
        board.set_archived(card, value % 2 == 0)
    else:
        board.set_points(card, value)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasklyServer]:
    """One server for every example (hypothesis reruns the test body, not the fixtures)."""
    store = StoreSpec("sqlite", tmp_path_factory.mktemp("convergence") / "taskly-data")
    # Every example creates a board over REST: lift the per-user limit of 100 calls a minute.
    limits = {"TASKLY_RATE_LIMIT_PER_USER": "100000", "TASKLY_RATE_LIMIT_PER_IP": "100000"}
    server = TasklyServer(store, limits)
    server.start()
    yield server
    assert server.stop() == 0


@given(ops=ops)
def test_random_offline_edits_converge(
    shared_server: TasklyServer, tmp_path_factory: pytest.TempPathFactory, ops: list[Op]
) -> None:
    assert shared_server.token is not None
    with TasklyClient(shared_server.http_url, shared_server.token) as rest:
        workspace = rest.workspaces()[0]["id"]
        board = rest.request("POST", f"/api/workspaces/{workspace}/boards", json={"name": "P"})
    folder = tmp_path_factory.mktemp("replicas")

    async def scenario() -> tuple[Any, Any]:
        a = BoardReplica.open(folder / "a.sqlite3", board["id"])
        b = BoardReplica.open(folder / "b.sqlite3", board["id"])
        try:
            await asyncio.gather(sync(a, shared_server), sync(b, shared_server))
            for op in ops:
                apply_op((a, b)[op[0]], op, (USER_A, USER_B)[op[0]])
            await sync(a, shared_server)
            await sync(b, shared_server)
            await sync(a, shared_server)
            assert a.pending_edits() == 0 and b.pending_edits() == 0
            return msgspec.to_builtins(project(a.doc)), msgspec.to_builtins(project(b.doc))
        finally:
            a.close()
            b.close()

    view_a, view_b = asyncio.run(scenario())
    assert view_a == view_b
