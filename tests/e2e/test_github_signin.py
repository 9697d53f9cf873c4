"""Browser sign-in against the real `taskly serve`, black-box: the one-time link it prints on
an empty store, and "Sign in with GitHub" against a fake GitHub running in the test (the server
is pointed at it with the documented TASKLY_GITHUB_* variables).

The "browser" is httpx following redirects and keeping cookies as browsers do on loopback
(`tests.sync_server.test_signin.new_browser`); what it then does with its session is what the
web app will do: POST /auth/refresh for an access token, open `/sync/{board}?token=...`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from tests.fakes.github import FakeEmail, FakeGitHub
from tests.sync_server.test_signin import new_browser, refresh_cookie_set

from ._harness import StoreSpec, TasklyServer
from .conftest import ServerFactory

SIGN_IN = re.compile(r"^Sign in: (?P<url>http://\S+/auth/link\?code=\S+)$")
FORBIDDEN = 4403
GITHUB_ID = 1_000_001


async def sync_refusal(url: str) -> int | None:
    """Open a y-websocket connection; return its close code if it is refused before the
    server's first sync message, None if that message arrives (the connection was accepted)."""
    async with websockets.connect(url, proxy=None, open_timeout=10, compression=None) as ws:
        try:
            first = await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed:
            return ws.close_code
        assert isinstance(first, bytes) and first[:1] == b"\x00", first  # a sync message
        return None


async def access_token(server: TasklyServer, browser: httpx.AsyncClient) -> str:
    """What the web app does with a signed-in browser: trade the cookie for an access token."""
    refreshed = await browser.post(server.http_url + "/auth/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert refresh_cookie_set(refreshed)  # rotated
    token = refreshed.json()["access_token"]
    assert isinstance(token, str)
    return token


async def printed_sign_in_link(server: TasklyServer) -> str:
    """The `Sign in: URL` line `taskly serve` prints (just after its ready line)."""
    for _ in range(200):
        for line in server.run.stdout:
            if match := SIGN_IN.match(line):
                return match["url"]
        await asyncio.sleep(0.025)
    raise AssertionError(f"no `Sign in: http://...` line on stdout:\n{server.output()}")


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        fake.add_user(
            "mona",
            id=GITHUB_ID,
            name="Mona Lisa",
            emails=[FakeEmail(email="mona@example.com", primary=True, verified=True)],
        )
        yield fake


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with new_browser() as client:
        yield client


async def test_the_printed_link_signs_the_owner_in_and_syncs(
    sqlite_store: StoreSpec, taskly: ServerFactory, browser: httpx.AsyncClient
) -> None:
    server = await asyncio.to_thread(taskly, sqlite_store, provision=False)
    link = await printed_sign_in_link(server)
    assert link.startswith(server.http_url + "/auth/link?code=")
    board = await sqlite_store.acreate_board("Roadmap")  # into the owner's `Default`

    landed = await browser.get(link)

    # The link opens the web app, signed in; the app then reads the session.
    assert str(landed.url) == server.http_url + "/", landed.text
    session = await browser.get(server.http_url + "/auth/session")
    assert session.status_code == 200, session.text
    body = session.json()
    assert body["signed_in"] is True and body["user"]["local"] is True
    owner = body["user"]["login"]
    assert any(line.startswith(f"Created the local owner {owner!r}.") for line in server.run.stdout)
    assert [(w["name"], w["role"]) for w in body["workspaces"]] == [("Default", "owner")]
    token = await access_token(server, browser)
    assert await sync_refusal(f"{server.sync_url}/{board}?token={token}") is None
    # The link was for one use.
    async with new_browser() as again:
        reused = await again.get(link)
        assert reused.status_code == 401, reused.text
    # ... and that second use ended the session it had started.
    assert (await browser.post(server.http_url + "/auth/refresh")).status_code == 401
    code = link.split("code=", 1)[1]
    assert not any(code in line for line in server.run.stderr), "the code reached the log"


async def test_github_sign_in_then_membership_by_the_cli_opens_the_board(
    sqlite_store: StoreSpec,
    taskly: ServerFactory,
    github: FakeGitHub,
    browser: httpx.AsyncClient,
) -> None:
    server = await asyncio.to_thread(
        taskly,
        sqlite_store,
        TASKLY_GITHUB_CLIENT_ID=github.client_id,
        TASKLY_GITHUB_CLIENT_SECRET=github.client_secret,
        TASKLY_GITHUB_AUTHORIZE_URL=github.authorize_url,
        TASKLY_GITHUB_ACCESS_TOKEN_URL=github.access_token_url,
        TASKLY_GITHUB_API_URL=github.api_base_url,
    )
    board = await sqlite_store.acreate_board("Roadmap")

    landed = await browser.get(server.http_url + "/auth/github/login")

    assert str(landed.url) == server.http_url + "/", landed.text
    [authorize] = github.requests_to("/login/oauth/authorize")
    assert authorize.query["redirect_uri"] == server.http_url + "/auth/github/callback"
    session = await browser.get(server.http_url + "/auth/session")
    assert session.status_code == 200, session.text
    body = session.json()
    assert body["user"]["login"] == "mona" and body["user"]["github_login"] == "mona"
    assert (body["user"]["name"], body["user"]["email"]) == ("Mona Lisa", "mona@example.com")
    assert body["user"]["local"] is False and body["workspaces"] == []
    token = await access_token(server, browser)
    sync = f"{server.sync_url}/{board}?token={token}"
    # Signed in, but nobody made mona a member of the board's workspace.
    assert await sync_refusal(sync) == FORBIDDEN

    added = await asyncio.to_thread(
        sqlite_store.taskly, "user", "add", "mona", "--workspace", "Default", "--role", "member"
    )

    assert "mona" in added and "Default" in added
    assert await sync_refusal(sync) is None
    now = await browser.get(server.http_url + "/auth/session")
    assert [(w["name"], w["role"]) for w in now.json()["workspaces"]] == [("Default", "member")]
    # The GitHub token the server holds never reached its output.
    [issued] = github.tokens
    assert not any(issued in line for line in server.run.stdout + server.run.stderr)
    assert github.client_secret not in "\n".join(server.run.stdout + server.run.stderr)
