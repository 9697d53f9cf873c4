"""Signing in with a one-time link (refresh tokens, rotated and persisted) and continuous sync
(`taskly sync --watch`) across a server restart, with the real `taskly` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e._harness import StoreSpec, TasklyServer, taskly_bin

from ._cli import FixedPortServer, ok


def sign_in_link(server_url: str, store: StoreSpec) -> str:
    """A fresh one-time link for the store's owner, pointed at the running server."""
    printed = store.taskly("sign-in-link", "--user", store.owner.login).strip()
    code = parse_qs(urlsplit(printed).query)["code"][0]
    return f"{server_url}/auth/link?code={code}"


def test_login_with_a_sign_in_link_rotates_and_keeps_the_refresh_token(
    server: TasklyServer, home: Path
) -> None:
    store = server.store
    store.create_board("Linked")
    out = ok(home, "login", sign_in_link(server.http_url, store))
    assert "logged in" in out and "1 board " in out
    config = json.loads((home / "config.json").read_text())
    assert config["credentials"]["kind"] == "session" and config["user_id"]
    first_refresh = config["credentials"]["refresh_token"]
    assert (home / "config.json").stat().st_mode & 0o777 == 0o600

    ok(home, "boards")  # the cached access token: no rotation
    assert json.loads((home / "config.json").read_text()) == config

    config["credentials"]["access_expires_at"] = 0  # as if 15 minutes went by
    (home / "config.json").write_text(json.dumps(config))
    assert "Linked" in ok(home, "boards")
    rotated = json.loads((home / "config.json").read_text())["credentials"]
    assert rotated["refresh_token"] != first_refresh and rotated["access_expires_at"] > time.time()
    assert "added TSK-1" in ok(home, "card", "add", "Linked", "Through a session")
    # The stored token is the live one: spending it works (and rotates it once more).
    with httpx.Client(base_url=server.http_url, trust_env=False) as http:
        answer = http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def fixed_server(sqlite_store: StoreSpec) -> Iterator[FixedPortServer]:
    """A server on a fixed port (stopped with SIGINT at teardown, exit status 0)."""
    server = FixedPortServer(sqlite_store)
    server.start()
    yield server
    assert server.stop() == 0


class Watcher:
    """`taskly sync --watch` in the background, its output collected line by line."""

    def __init__(self, home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLY_")}
        env["TASKLY_CLIENT_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [taskly_bin(), "sync", "--watch"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, after: int = 0, within: float = 30) -> int:
        """Wait for a line containing `text` at index >= after; return its index."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for index in range(after, len(self.lines)):
                if text in self.lines[index]:
                    return index
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} within {within} s:\n" + "\n".join(self.lines))

    def stop(self) -> int:
        """Ctrl-C; return the exit status."""
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(15)
        finally:
            self.proc.kill()
            self.proc.wait()
            self.thread.join(5)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
        return code


def test_watch_syncs_other_processes_edits_and_reconnects(
    fixed_server: FixedPortServer, home: Path
) -> None:
    store = fixed_server.store
    board_id = store.create_board("Watched")
    token = store.owner.token
    ok(home, "login", fixed_server.url, "--token", token)
    watcher = Watcher(home)
    try:
        seen = watcher.wait_for("Watched: synced, 0 edits pending")
        # Another process edits the replica file; the watcher sends it and sees it confirmed.
        ok(home, "card", "add", "Watched", "Added beside the watcher", "--no-sync")
        seen = watcher.wait_for("Watched: sent an edit", seen + 1)
        seen = watcher.wait_for("Watched: received an update", seen + 1)  # its number

        assert fixed_server.stop() == 0  # the watcher sees 1001 and retries with backoff
        seen = watcher.wait_for("reconnecting in", seen + 1)
        ok(home, "card", "add", "Watched", "Added while the server is down", "--no-sync")
        fixed_server.start()
        seen = watcher.wait_for("Watched: synced, 0 edits pending", seen + 1, within=60)
    finally:
        code = watcher.stop()
    assert code == 0 and watcher.lines[-1] == "stopped", "\n".join(watcher.lines)
    with httpx.Client(base_url=fixed_server.url, trust_env=False) as http:
        cards = http.get(
            f"/api/boards/{board_id}/cards", headers={"Authorization": f"Bearer {token}"}
        ).json()["items"]
    assert sorted(c["title"] for c in cards) == [
        "Added beside the watcher",
        "Added while the server is down",
    ]
    assert all(c["key"] for c in cards)
