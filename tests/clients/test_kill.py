"""A replica process killed with SIGKILL mid-edit reopens with every edit it acknowledged,
and a sync then brings them all to the server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from clients.python import BoardReplica, SyncSession, sync_url
from tests.e2e._harness import TasklyServer
from tests.e2e.conftest import Clients

USER = "01900000-0000-7000-8000-000000000002"
REPO = Path(__file__).resolve().parents[2]


def _edit_until_killed(path: Path, board: str, acks: int) -> tuple[set[str], set[str]]:
    """Run the edit loop, SIGKILL it after `acks` acknowledged card creations; return the
    acknowledged cards and the acknowledged priority edits (everything it printed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.clients._edit_loop", str(path), board, USER],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    created: set[str] = set()
    prioritized: set[str] = set()
    try:
        for line in proc.stdout:
            kind, _, card = line.strip().partition(" ")
            if kind == "acked":
                created.add(card)
            elif kind == "acked-priority":
                prioritized.add(card)
            if len(created) >= acks:
                proc.kill()  # SIGKILL, mid-loop: no cleanup runs
                break
        # Whatever it printed before dying was acknowledged too.
        for line in proc.stdout:
            kind, _, card = line.strip().partition(" ")
            if kind == "acked":
                created.add(card)
            elif kind == "acked-priority":
                prioritized.add(card)
    finally:
        proc.kill()
        proc.wait(10)
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -9, f"the loop ended by itself ({proc.returncode}): {stderr}"
    return created, prioritized


async def test_sigkill_mid_edit_keeps_every_acknowledged_edit(
    server: TasklyServer, board: str, clients: Clients, tmp_path: Path
) -> None:
    path = tmp_path / "replica.sqlite3"
    url = sync_url(server.http_url, board)
    assert server.token is not None
    with BoardReplica.open(path, board) as replica:
        await SyncSession(replica, url, server.token).sync_once()
        assert replica.has_board()

    created: set[str] = set()
    prioritized: set[str] = set()
    for acks in (25, 60):  # two kills at different points of the loop
        more, high = await asyncio.to_thread(_edit_until_killed, path, board, acks)
        created |= more
        prioritized |= high
        with BoardReplica.open(path, board) as reopened:
            cards = {c.id: c for c in reopened.board.cards()}
            assert created <= cards.keys(), f"lost {sorted(created - cards.keys())}"
            assert all(cards[c].priority == "high" for c in prioritized)
            assert reopened.pending_edits() >= len(created) + len(prioritized)

    with BoardReplica.open(path, board) as replica:
        result = await SyncSession(replica, url, server.token).sync_once()
        assert result.pending == 0 and result.unnumbered == 0
        assert all(c.key is not None for c in replica.board.cards())
    live = clients.py("observer")
    await live.connect_synced(server.board_url(board))
    await live.wait_cards(sorted(created))
    on_server = {c.id: c for c in live.projection().cards}
    assert all(on_server[c].priority == "high" for c in prioritized)
