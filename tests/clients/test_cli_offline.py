"""The offline story end to end with the real `taskly` command (README "Work offline from the
terminal"): log in, list boards, stop the server, add and move cards, show the board, start
the server again, sync: the offline card gets its key and the server has it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e._harness import StoreSpec

from ._cli import FixedPortServer, ok


@pytest.fixture
def fixed_server(sqlite_store: StoreSpec) -> Iterator[FixedPortServer]:
    """A server on a fixed port (stopped with SIGINT at teardown, exit status 0)."""
    server = FixedPortServer(sqlite_store)
    server.start()
    yield server
    assert server.stop() == 0


def test_offline_story(fixed_server: FixedPortServer, home: Path) -> None:
    store = fixed_server.store
    board_id = store.create_board("Demo")
    token = store.owner.token

    out = ok(home, "login", fixed_server.url, "--token", token)
    assert "logged in" in out and "1 board " in out
    assert (home / "config.json").stat().st_mode & 0o777 == 0o600
    listed = ok(home, "boards")
    assert listed.split("\t")[0] == "Demo" and board_id in listed

    online = ok(home, "card", "add", "Demo", "Made online")
    assert re.match(r"added TSK-1 'Made online' to Backlog; synced", online), online

    assert fixed_server.stop() == 0
    added = ok(home, "card", "add", "Demo", "Made on the train", "--column", "To do")
    assert "saved locally, will sync" in added, added
    short = added.split()[1]
    assert re.fullmatch(r"[0-9a-f]{6}", short), added
    moved = ok(home, "card", "move", "Demo", "TSK-1", "In progress")
    assert "saved locally" in moved
    edited = ok(home, "card", "edit", "Demo", short, "--priority", "high", "--points", "3")
    assert "saved locally" in edited
    shown = ok(home, "board", "show", "Demo")
    assert "3 edits not yet on the server" in shown, shown
    assert short in shown and "Made on the" in shown and "!high 3pt" in shown

    fixed_server.start()
    synced = ok(home, "sync")
    assert "Demo: synced" in synced and "3 edits confirmed" in synced, synced
    shown = ok(home, "board", "show", "Demo")
    assert "all on the server" in shown, shown
    assert "TSK-2 Made on the" in shown and short not in shown, shown

    with httpx.Client(base_url=fixed_server.url, trust_env=False) as http:
        cards = http.get(
            f"/api/boards/{board_id}/cards",
            params={"q": "train"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["items"]
    assert [(c["key"], c["priority"], c["points"]) for c in cards] == [("TSK-2", "high", 3)]
    # A PAT is opaque: `login` asked GET /api/me whose it is, so cards name their real creator.
    with httpx.Client(base_url=fixed_server.url, trust_env=False) as http:
        auth = {"Authorization": f"Bearer {token}"}
        (workspace,) = http.get("/api/workspaces", headers=auth).json()["workspaces"]
        members = http.get(f"/api/workspaces/{workspace['id']}/members", headers=auth).json()
    (owner_id,) = [m["user_id"] for m in members["members"] if m["login"] == store.owner.login]
    assert cards[0]["created_by"] == owner_id
