"""SyncSession against a real server: refusals stop with SyncRefused (4401, 4403, 4404), an
unreachable server is an OfflineError, a viewer's edits stay pending, and what the server
confirmed is recorded (watermark and state vector)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.python import BoardReplica, OfflineError, SyncRefused, SyncSession, sync_url
from crdt_model import new_id
from sync_server.protocol import decode_state_vector
from tests.e2e._harness import TasklyServer

from ._cli import free_port

USER = "01900000-0000-7000-8000-00000000000c"


async def test_refusals_stop_with_the_close_code(
    server: TasklyServer, board: str, tmp_path: Path
) -> None:
    outsider = await server.store.auser("outsider", workspace="Elsewhere")
    cases = [
        (board, "tsk_pat_not_a_real_token", 4401, "run `taskly login` again"),
        (board, outsider.token, 4403, "not a member"),
        (new_id(), server.token, 4404, "no such board"),
    ]
    for board_id, token, code, words in cases:
        assert token is not None
        with BoardReplica.open(tmp_path / f"{code}.sqlite3", board_id) as replica:
            session = SyncSession(replica, sync_url(server.http_url, board_id), token)
            with pytest.raises(SyncRefused) as refused:
                await session.sync_once()
            assert refused.value.code == code and words in str(refused.value)


async def test_unreachable_server_is_offline(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with BoardReplica.open(tmp_path / "r.sqlite3", new_id()) as replica:
        with pytest.raises(OfflineError, match="connection refused"):
            await SyncSession(replica, sync_url(dead, replica.board_id), "t").sync_once()


async def test_confirmation_and_a_viewers_pending_edits(
    server: TasklyServer, board: str, tmp_path: Path
) -> None:
    assert server.token is not None
    url = sync_url(server.http_url, board)
    with BoardReplica.open(tmp_path / "owner.sqlite3", board) as replica:
        assert replica.server_state_vector() is None and replica.last_synced_at() is None
        await SyncSession(replica, url, server.token).sync_once()
        card = replica.board.create_card("Confirmed", created_by=USER)
        assert replica.pending_edits() == 1
        result = await SyncSession(replica, url, server.token).sync_once()
        assert result.pending == 0 and replica.board.card(card).key == "TSK-1"
        confirmed = replica.server_state_vector()
        assert confirmed is not None
        # A lower bound of what the server has: at least every edit this replica made.
        own = replica.doc.client_id
        assert (
            decode_state_vector(confirmed)[own] == decode_state_vector(replica.doc.get_state())[own]
        )

    viewer = await server.store.auser("viewer", role="viewer")
    with BoardReplica.open(tmp_path / "viewer.sqlite3", board) as replica:
        await SyncSession(replica, url, viewer.token).sync_once()
        replica.board.create_card("Dropped", created_by=USER)
        result = await SyncSession(replica, url, viewer.token).sync_once(numbers_within=0.5)
        assert result.read_only and result.pending == 1
