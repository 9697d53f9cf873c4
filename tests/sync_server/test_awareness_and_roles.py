"""Awareness relay, query and removal on close; read-only connections."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from storage import SQLiteStore
from sync_server import protocol as p
from sync_server.room import READ_ONLY_REASON
from tests.sync_server.conftest import Running, read_only_when_asked, run_app
from tests.sync_server.yclient import YClient

PRESENCE = {"user": {"id": "u1", "name": "Ada", "color": "#ff0000"}, "card": None}


def states(client: YClient) -> dict[int, str]:
    """The awareness states a client has been told about, latest first wins."""
    seen: dict[int, str] = {}
    for message in client.messages(p.Awareness):
        for entry in message.entries:
            seen[entry.client_id] = entry.state
    return {k: v for k, v in seen.items() if v != "null"}


async def test_awareness_is_relayed_and_removed_at_once_when_its_connection_closes(
    server: Running, board: str
) -> None:
    watcher = await YClient.connect(server.ws, board)
    ada = await YClient.connect(server.ws, board)
    await ada.set_awareness(1111, 1, PRESENCE)
    await ada.set_awareness(2222, 3, {"user": {"id": "u2"}, "card": "c"})
    await watcher.wait_for(lambda: set(states(watcher)) == {1111, 2222})
    assert json.loads(states(watcher)[1111]) == PRESENCE
    # The sender gets its own awareness back (the keep-alive y-websocket clients need).
    await ada.wait_for(lambda: set(states(ada)) == {1111, 2222})
    started = asyncio.get_running_loop().time()
    await ada.close()
    await watcher.wait_for(lambda: not states(watcher), seconds=1.0)
    assert asyncio.get_running_loop().time() - started < 1.0
    removal = watcher.messages(p.Awareness)[-1]
    assert {(e.client_id, e.clock, e.state) for e in removal.entries} == {
        (1111, 1, "null"),
        (2222, 3, "null"),
    }
    await watcher.close()


async def test_a_state_relayed_by_another_client_stays_owned_by_its_author(
    server: Running, board: str
) -> None:
    """y-websocket providers re-send every awareness change they apply, remote ones too."""
    relayer = await YClient.connect(server.ws, board)
    author = await YClient.connect(server.ws, board)
    await author.set_awareness(777, 2, PRESENCE)
    await relayer.wait_for(lambda: 777 in states(relayer))
    await relayer.set_awareness(777, 2, PRESENCE)  # the relay, same clock
    await asyncio.sleep(0.1)
    author.ws.transport.abort()  # no close frame, no farewell
    await relayer.wait_for(lambda: 777 not in states(relayer), seconds=1.0)
    await author.wait_closed()
    await relayer.close()


async def test_query_awareness_is_answered_with_every_state(server: Running, board: str) -> None:
    ada = await YClient.connect(server.ws, board)
    await ada.set_awareness(1111, 1, PRESENCE)
    asker = await YClient.connect(server.ws, board)
    # A newcomer is greeted with the current states...
    await asker.wait_for(lambda: set(states(asker)) == {1111})
    count = len(asker.messages(p.Awareness))
    # ... and a query is answered with them.
    await asker.send(p.encode_query_awareness())
    await asker.wait_for(lambda: len(asker.messages(p.Awareness)) == count + 1)
    answer = asker.messages(p.Awareness)[-1]
    assert [(e.client_id, json.loads(e.state)) for e in answer.entries] == [(1111, PRESENCE)]
    await ada.close()
    await asker.close()


async def test_query_awareness_in_an_empty_room_gets_an_empty_answer(
    server: Running, board: str
) -> None:
    asker = await YClient.connect(server.ws, board)
    await asker.send(p.encode_query_awareness())
    await asker.wait_for(lambda: bool(asker.messages(p.Awareness)))
    assert asker.messages(p.Awareness)[0].entries == ()
    await asker.close()


async def test_a_reconnecting_client_with_its_old_clock_is_visible_again(
    server: Running, board: str
) -> None:
    watcher = await YClient.connect(server.ws, board)
    first = await YClient.connect(server.ws, board)
    await first.set_awareness(4242, 5, PRESENCE)
    await watcher.wait_for(lambda: 4242 in states(watcher))
    await first.close()
    await watcher.wait_for(lambda: 4242 not in states(watcher))
    again = await YClient.connect(server.ws, board)
    await again.set_awareness(4242, 5, PRESENCE)  # same clock as the removed state
    await watcher.wait_for(lambda: 4242 in states(watcher))
    # y-protocols peers ignore clock 5 after its removal at clock 5: the server bumped it.
    assert watcher.messages(p.Awareness)[-1].entries[0].clock == 6
    await again.close()
    await watcher.close()


async def test_read_only_updates_never_reach_storage_or_others(
    store: SQLiteStore, board: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_app(store, authenticator=read_only_when_asked) as server:
        editor = await YClient.connect(server.ws, board)
        viewer = await YClient.connect(server.ws, board, query="?ro=1")
        head = (await store.load(board)).head_seq
        with caplog.at_level(logging.INFO, logger="taskly.sync"):
            await viewer.edit(lambda b: b.rename("Viewer was here"))
            await asyncio.sleep(0.3)
        assert any(
            "read-only" in r.getMessage() and board in r.getMessage() and "viewer" in r.getMessage()
            for r in caplog.records
        )
        assert (await store.load(board)).head_seq == head
        assert editor.board.board().name == "Board"
        assert not viewer.closed.is_set()
        # The viewer still receives edits and its awareness is relayed.
        await editor.edit(lambda b: b.set_repo("octo/cat"))
        await viewer.wait_for(lambda: viewer.board.board().repo == "octo/cat")
        await viewer.set_awareness(9, 1, PRESENCE)
        await editor.wait_for(lambda: 9 in states(editor))
        # A read-only newcomer's step 1 is answered like anyone's.
        late = await YClient.connect(server.ws, board, query="?ro=1")
        assert late.board.board().repo == "octo/cat"
        for client in (editor, viewer, late):
            await client.close()


async def test_a_read_only_connection_is_told_once_with_the_standard_auth_message(
    store: SQLiteStore, board: str
) -> None:
    async with run_app(store, authenticator=read_only_when_asked) as server:
        viewer = await YClient.connect(server.ws, board, query="?ro=1")
        editor = await YClient.connect(server.ws, board)
        await viewer.edit(lambda b: b.rename("one"))
        await viewer.edit(lambda b: b.rename("two"))
        await viewer.edit(lambda b: b.rename("three"))
        # Sync step 1 after the edits is answered after them: everything has been handled.
        await viewer.send(p.encode_sync_step1(viewer.doc.get_state()))
        await viewer.wait_for(lambda: len(viewer.messages(p.SyncStep2)) >= 2)
        denied = [m for m in viewer.received if isinstance(m, p.Ignored)]
        # y-protocols' auth message (type 2), "permission denied" (0), with a reason: once.
        assert [m.message_type for m in denied] == [p.MESSAGE_AUTH]
        frame = p.encode_permission_denied(READ_ONLY_REASON)
        assert frame[:2] == bytes((p.MESSAGE_AUTH, p.AUTH_PERMISSION_DENIED))
        assert frame.endswith(READ_ONLY_REASON.encode())
        # The editor got none of it, and nothing was stored.
        assert not [m for m in editor.received if isinstance(m, p.Ignored)]
        assert editor.board.board().name == "Board"
        await viewer.close()
        await editor.close()
