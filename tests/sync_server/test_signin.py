"""Browser sign-in as a user lives it: one-time links, `/auth/session`, and GitHub sign-in.

Real servers on 127.0.0.1 (the app `taskly serve` runs, `secure_app`, under uvicorn), a fake
GitHub speaking GitHub's wire format (also uvicorn), and an httpx "browser" that follows
redirects across both and keeps cookies the way browsers do on loopback (see `browser`).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import secrets
import sqlite3
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from starlette.types import ASGIApp

from storage import SQLiteStore, Store, User
from sync_server.access.crypto import DecryptionFailed, EncryptionConfig, TokenCipher
from sync_server.access.server_keys import ServerKeys
from sync_server.access.tokens import AccessTokens, TokenConfig
from sync_server.app import create_app
from sync_server.auth_api import issue_session
from sync_server.bootstrap import LINK_TTL_SECONDS, new_sign_in_code, sign_in_url
from sync_server.github_oauth import GitHubOAuthConfig
from sync_server.secure_app import secure_app
from sync_server.server import TasklyServer, bind_socket, display_url, uvicorn_config
from sync_server.session_cookie import REFRESH_COOKIE
from sync_server.settings import Settings
from tests.fakes.github import FakeEmail, FakeGitHub

LOGIN = "/auth/github/login"
CALLBACK = "/auth/github/callback"
SESSION = "/auth/session"
APP = "/"  # where a signed-in browser lands: the web app
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
GITHUB_ID = 583231


# -- harness ------------------------------------------------------------------------------------


@asynccontextmanager
async def serve(app: ASGIApp, settings: Settings | None = None) -> AsyncIterator[str]:
    """Serve `app` with Taskly's uvicorn configuration on a free port; yield its base URL."""
    config = settings or Settings(host="127.0.0.1", port=0)
    sock = bind_socket("127.0.0.1", 0)
    server = TasklyServer(uvicorn_config(app, config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        yield display_url(sock, "127.0.0.1")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


class LoopbackCookiePolicy(http.cookiejar.DefaultCookiePolicy):
    """What browsers do: http://127.0.0.1 and http://localhost are secure contexts, so Secure
    cookies are sent there (the stdlib policy, which httpx uses, sends them over https only)."""

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        assert isinstance(request, urllib.request.Request)
        if urlsplit(request.get_full_url()).hostname in LOOPBACK_HOSTS:
            return True
        return bool(super().return_ok_secure(cookie, request))


def new_browser() -> httpx.AsyncClient:
    """An httpx client that follows redirects and keeps cookies like a browser on loopback.

    httpx copies its jar into a fresh stdlib `CookieJar` for every request, so a policy cannot
    be installed on it; a request hook adds the Secure cookies a browser would send. A Cookie
    header the test set itself wins for the names it carries.
    """
    client = httpx.AsyncClient(follow_redirects=True, trust_env=False, timeout=15)

    async def add_secure_cookies(request: httpx.Request) -> None:
        jar = http.cookiejar.CookieJar(LoopbackCookiePolicy())
        for cookie in client.cookies.jar:
            jar.set_cookie(cookie)
        compat = urllib.request.Request(str(request.url), method=request.method)
        jar.add_cookie_header(compat)
        wanted = compat.get_header("Cookie") or compat.unredirected_hdrs.get("Cookie")
        if not wanted:
            return
        present = request.headers.get("cookie")
        names = {part.split("=", 1)[0].strip() for part in (present or "").split(";")}
        extra = [part.strip() for part in wanted.split(";")]
        extra = [part for part in extra if part.split("=", 1)[0] not in names]
        if extra:
            request.headers["Cookie"] = "; ".join(([present] if present else []) + extra)

    client.event_hooks["request"].append(add_secure_cookies)
    return client


def random_keys() -> ServerKeys:
    return ServerKeys(
        tokens=TokenConfig(signing_key=secrets.token_bytes(32)),
        encryption=EncryptionConfig(key=secrets.token_bytes(32)),
        source="the test",
    )


def refresh_cookie_set(response: httpx.Response) -> str | None:
    """The value the response sets for the refresh cookie ("" when it clears it), or None.

    Asserts the cookie's attributes whenever it is set.
    """
    found = None
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(REFRESH_COOKIE + "="):
            attributes = {part.strip().lower() for part in header.split(";")[1:]}
            assert {"httponly", "secure", "samesite=lax", "path=/auth"} <= attributes, header
            found = header.split(";")[0].split("=", 1)[1].strip('"')
    return found


def cookie_sets(response: httpx.Response) -> list[str | None]:
    """The refresh-cookie values set by every response of a redirect chain, in order."""
    return [refresh_cookie_set(r) for r in [*response.history, response]]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 7807 problem with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def with_cookie(token: str) -> dict[str, str]:
    """The Cookie header a browser sends to /auth/* once it holds `token`."""
    return {"Cookie": f"{REFRESH_COOKIE}={token}"}


def refresh_token_rows(db: Path) -> int:
    """How many refresh tokens the SQLite store holds (read beside the running server)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM refresh_tokens").fetchone()
    return int(count)


def raw_store_bytes(db: Path) -> bytes:
    """Every byte of the SQLite store on disk: the database file and its WAL."""
    return b"".join(
        path.read_bytes() for path in sorted(db.parent.glob(db.name + "*")) if path.is_file()
    )


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the servers logged (the browser's own httpx/httpcore records left out)."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )


# -- fixtures -----------------------------------------------------------------------------------


@dataclass
class Taskly:
    """A running secure app on a SQLite store."""

    url: str
    store: Store
    keys: ServerKeys
    db: Path

    async def link_for(self, user_id: str, **kwargs: Any) -> str:
        return sign_in_url(
            self.url, await new_sign_in_code(self.store, self.keys.tokens, user_id, **kwargs)
        )


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "taskly.db") as opened:
        yield opened


@pytest.fixture
async def taskly(sqlite: SQLiteStore, tmp_path: Path) -> AsyncIterator[Taskly]:
    keys = random_keys()
    settings = Settings(host="127.0.0.1", port=0)
    async with serve(secure_app(settings, sqlite, keys), settings) as url:
        yield Taskly(url, sqlite, keys, tmp_path / "taskly.db")


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with new_browser() as client:
        yield client


async def local_user(store: Store, login: str, *, workspace: str | None = None) -> User:
    user = await store.create_user(login, login.title(), email=f"{login}@example.com")
    if workspace is not None:
        created = await store.create_workspace(workspace)
        await store.add_member(created.id, user.id, "owner")
    return user


# -- one-time links -------------------------------------------------------------------------------


async def test_a_link_signs_in_and_opens_the_web_app(
    taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    ada = await local_user(taskly.store, "ada", workspace="Team")
    other = await taskly.store.create_workspace("Other")
    await taskly.store.add_member(other.id, ada.id, "viewer")
    link = await taskly.link_for(ada.id)

    landed = await browser.get(link)

    [redirect] = landed.history
    assert redirect.status_code == 303
    assert redirect.headers["location"] == APP
    assert redirect.headers["cache-control"] == "no-store"
    cookie = refresh_cookie_set(redirect)
    assert cookie
    assert landed.url == taskly.url + APP
    # The app then asks who is signed in.
    session = await browser.get(taskly.url + SESSION)
    assert session.status_code == 200, session.text
    assert session.headers["cache-control"] == "no-store"
    body = session.json()
    assert body["signed_in"] is True
    assert body["user"] == {
        "id": ada.id,
        "login": "ada",
        "name": "Ada",
        "email": "ada@example.com",
        "github_login": None,
        "local": True,
    }
    assert [(w["name"], w["role"]) for w in body["workspaces"]] == [
        ("Team", "owner"),
        ("Other", "viewer"),
    ]
    # The session page only reads the cookie: the same cookie still holds the session.
    again = await browser.get(taskly.url + SESSION)
    assert again.status_code == 200 and refresh_cookie_set(again) is None


async def test_the_link_cookie_gets_an_access_token_from_refresh(
    taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    ada = await local_user(taskly.store, "ada")
    landed = await browser.get(await taskly.link_for(ada.id))
    cookie = refresh_cookie_set(landed.history[0])
    assert cookie is not None

    refreshed = await browser.post(taskly.url + "/auth/refresh")

    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert AccessTokens(taskly.keys.tokens).verify(body["access_token"]).sub == ada.id
    assert "refresh_token" not in body  # a cookie session stays in the cookie
    rotated = refresh_cookie_set(refreshed)
    assert rotated and rotated != cookie
    mine = await browser.get(
        taskly.url + "/api/workspaces",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert mine.status_code == 200, mine.text
    # The browser now holds the rotated cookie, which still shows the session.
    assert (await browser.get(taskly.url + SESSION)).json()["user"]["id"] == ada.id


async def test_a_second_use_of_a_link_is_refused_and_ends_its_session(
    taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    ada = await local_user(taskly.store, "ada")
    link = await taskly.link_for(ada.id)
    first = await browser.get(link)
    assert first.url == taskly.url + APP
    started = refresh_cookie_set(first.history[0])
    assert started
    refreshed = await browser.post(taskly.url + "/auth/refresh")
    assert refreshed.status_code == 200
    newest = refresh_cookie_set(refreshed)
    assert newest

    async with new_browser() as thief:  # e.g. the link copied from a shared terminal
        reused = await thief.get(link)
        body = assert_problem(reused, 401)
        assert reused.history == []  # no redirect to the session page
        assert "already used" in body["detail"]
        assert cookie_sets(reused) == [""]  # nothing set but the clearing of the cookie
        assert REFRESH_COOKIE not in thief.cookies
        assert link.split("code=")[1] not in reused.text

    # The session the link started is over, however far it was rotated.
    for token in (started, newest):
        assert_problem(
            await browser.post(taskly.url + "/auth/refresh", headers=with_cookie(token)), 401
        )
        assert_problem(await browser.get(taskly.url + SESSION, headers=with_cookie(token)), 401)


@pytest.mark.parametrize("reason", ["used", "unknown", "invalid"])
async def test_a_browser_opening_a_refused_link_is_sent_to_the_app_with_the_reason(
    taskly: Taskly, browser: httpx.AsyncClient, reason: str
) -> None:
    """A page load (Accept: text/html) lands on the web app, which explains the refusal."""
    ada = await local_user(taskly.store, "ada")
    link = await taskly.link_for(ada.id)
    if reason == "used":
        async with new_browser() as first:
            await first.get(link)
    elif reason == "unknown":
        link = taskly.url + "/auth/link?code=" + secrets.token_urlsafe(32)
    else:
        link = taskly.url + "/auth/link?code="

    refused = await browser.get(
        link, headers={"Accept": "text/html,*/*;q=0.8"}, follow_redirects=False
    )

    assert refused.status_code == 303
    assert refused.headers["location"] == f"/?signin_error={reason}"
    assert refused.headers["cache-control"] == "no-store"
    assert all(not value for value in cookie_sets(refused))  # never a session cookie
    assert REFRESH_COOKIE not in browser.cookies


async def test_an_expired_link_is_refused(taskly: Taskly, browser: httpx.AsyncClient) -> None:
    ada = await local_user(taskly.store, "ada")
    issued_at = time.time() - LINK_TTL_SECONDS - 60
    link = await taskly.link_for(ada.id, clock=lambda: issued_at)

    response = await browser.get(link)

    body = assert_problem(response, 401)
    assert "expired" in body["detail"] and "taskly sign-in-link" in body["detail"]
    assert cookie_sets(response) == [""]
    assert REFRESH_COOKIE not in browser.cookies
    assert_problem(await browser.get(taskly.url + SESSION), 401)
    assert refresh_token_rows(taskly.db) == 1  # only the link itself: no session was made


@pytest.mark.parametrize(
    "query",
    [
        "?code=" + secrets.token_urlsafe(32),  # made up
        "?code=",
        "",
        "?code=" + "A" * 600,
        "?code=%00%FF",
    ],
    ids=["made-up", "empty", "missing", "too-long", "binary"],
)
async def test_a_made_up_code_is_refused(
    taskly: Taskly, browser: httpx.AsyncClient, query: str
) -> None:
    await local_user(taskly.store, "ada")
    response = await browser.get(taskly.url + "/auth/link" + query)
    assert_problem(response, 401)
    assert all(not value for value in cookie_sets(response))
    assert REFRESH_COOKIE not in browser.cookies
    assert refresh_token_rows(taskly.db) == 0


async def test_a_revoked_link_is_refused(taskly: Taskly, browser: httpx.AsyncClient) -> None:
    ada = await local_user(taskly.store, "ada")
    link = await taskly.link_for(ada.id)
    assert await taskly.store.revoke_user_sessions(ada.id) == 1
    response = await browser.get(link)
    assert "revoked" in assert_problem(response, 401)["detail"]
    assert cookie_sets(response) == [""]


async def test_session_without_a_cookie_is_401(taskly: Taskly, browser: httpx.AsyncClient) -> None:
    response = await browser.get(taskly.url + SESSION)
    assert_problem(response, 401)
    assert not refresh_cookie_set(response)
    unknown = await browser.get(
        taskly.url + SESSION, headers=with_cookie(secrets.token_urlsafe(32))
    )
    assert_problem(unknown, 401)
    assert refresh_cookie_set(unknown) == ""  # the browser is told to forget a dead cookie


async def test_session_with_a_rotated_away_cookie_is_401(
    taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    ada = await local_user(taskly.store, "ada")
    session = await issue_session(taskly.store, taskly.keys.tokens, ada.id)
    old = session.refresh.token
    shown = await browser.get(taskly.url + SESSION, headers=with_cookie(old))
    assert shown.status_code == 200 and shown.json()["user"]["login"] == "ada"
    rotated = await browser.post(taskly.url + "/auth/refresh", headers=with_cookie(old))
    newest = refresh_cookie_set(rotated)
    assert newest
    fine = await browser.get(taskly.url + SESSION, headers=with_cookie(newest))
    assert fine.status_code == 200, fine.text

    stale = await browser.get(taskly.url + SESSION, headers=with_cookie(old))

    assert "ended" in assert_problem(stale, 401)["detail"]
    assert refresh_cookie_set(stale) == ""


async def test_session_after_logout_or_expiry_is_401(
    taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    ada = await local_user(taskly.store, "ada")
    session = await issue_session(taskly.store, taskly.keys.tokens, ada.id)
    out = await browser.post(
        taskly.url + "/auth/logout", headers=with_cookie(session.refresh.token)
    )
    assert out.status_code == 204
    ended = await browser.get(taskly.url + SESSION, headers=with_cookie(session.refresh.token))
    assert_problem(ended, 401)
    long_ago = time.time() - taskly.keys.tokens.refresh_ttl_seconds - 60
    old = await issue_session(taskly.store, taskly.keys.tokens, ada.id, clock=lambda: long_ago)
    expired = await browser.get(taskly.url + SESSION, headers=with_cookie(old.refresh.token))
    assert "expired" in assert_problem(expired, 401)["detail"]


# -- GitHub ---------------------------------------------------------------------------------------


@dataclass
class GitHubWorld:
    """Taskly with GitHub sign-in configured, pointed at a running fake GitHub."""

    taskly: Taskly
    github: FakeGitHub

    @property
    def url(self) -> str:
        return self.taskly.url

    @property
    def store(self) -> Store:
        return self.taskly.store

    def cipher(self) -> TokenCipher:
        return TokenCipher(self.taskly.keys.encryption)


def github_settings(github: FakeGitHub) -> Settings:
    return Settings(
        host="127.0.0.1",
        port=0,
        github_client_id=github.client_id,
        github_client_secret=github.client_secret,
        github_authorize_url=github.authorize_url,
        github_access_token_url=github.access_token_url,
        github_api_url=github.api_base_url,
    )


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        fake.add_user(
            "octocat",
            id=GITHUB_ID,
            name="The Octocat",
            emails=[
                FakeEmail(email="old@example.com", primary=False, verified=True),
                FakeEmail(email="octo@example.com", primary=True, verified=True),
            ],
        )
        yield fake


@pytest.fixture
async def world(
    sqlite: SQLiteStore, tmp_path: Path, github: FakeGitHub
) -> AsyncIterator[GitHubWorld]:
    keys = random_keys()
    settings = github_settings(github)
    async with serve(secure_app(settings, sqlite, keys), settings) as url:
        yield GitHubWorld(Taskly(url, sqlite, keys, tmp_path / "taskly.db"), github)


async def sign_in_with_github(world: GitHubWorld, browser: httpx.AsyncClient) -> httpx.Response:
    """Click "Sign in with GitHub" and follow every redirect; return the final answer."""
    return await browser.get(world.url + LOGIN)


def assert_landed_in_app(landed: httpx.Response, base: str) -> None:
    """The sign-in ended with a 303 to the web app (whose own answer depends on its build)."""
    assert landed.history, landed.text
    assert landed.history[-1].status_code == 303, landed.text
    assert landed.history[-1].headers["location"] == APP
    assert landed.url == base + APP


async def session_of(browser: httpx.AsyncClient, base: str) -> dict[str, Any]:
    """What `/auth/session` says about this browser's cookie (asserting it is signed in)."""
    response = await browser.get(base + SESSION)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_github_sign_in_creates_the_user_and_stores_the_token_encrypted(
    world: GitHubWorld, browser: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    landed = await sign_in_with_github(world, browser)

    assert_landed_in_app(landed, world.url)
    # login -> github authorize -> callback -> the web app
    assert [r.status_code for r in landed.history] == [302, 302, 303]
    cookie = refresh_cookie_set(landed.history[-1])
    assert cookie
    user = await world.store.get_user_by_github_id(GITHUB_ID)
    body = await session_of(browser, world.url)
    assert body["user"] == {
        "id": user.id,
        "login": "octocat",
        "name": "The Octocat",
        "email": "octo@example.com",
        "github_login": "octocat",
        "local": False,
    }
    assert body["workspaces"] == []  # nobody invited them yet
    assert (user.login, user.name, user.email, user.is_local) == (
        "octocat",
        "The Octocat",
        "octo@example.com",
        False,
    )
    assert await world.store.count_users() == 1
    # The token GitHub issued is stored encrypted, bound to this user.
    [issued] = world.github.tokens
    assert user.github_token_encrypted is not None
    assert world.cipher().decrypt(user.github_token_encrypted, user_id=user.id) == issued
    with pytest.raises(DecryptionFailed):
        world.cipher().decrypt(user.github_token_encrypted, user_id="someone-else")
    # ... and is nowhere in plain text: not on disk, not in the log, not in any answer.
    on_disk = raw_store_bytes(world.taskly.db)
    assert issued.encode() not in on_disk
    assert issued not in caplog.text
    assert world.github.client_secret not in caplog.text
    assert cookie not in server_log(caplog)
    assert all(issued not in r.text for r in [*landed.history, landed])
    # The session works: an access token for this user.
    refreshed = await browser.post(world.url + "/auth/refresh")
    assert refreshed.status_code == 200, refreshed.text
    claims = AccessTokens(world.taskly.keys.tokens).verify(refreshed.json()["access_token"])
    assert claims.sub == user.id


async def test_signing_in_again_updates_the_same_user(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    assert_landed_in_app(await sign_in_with_github(world, browser), world.url)
    first = await world.store.get_user_by_github_id(GITHUB_ID)
    octocat = world.github.users["octocat"]
    octocat.name = "Mona Lisa Octocat"
    octocat.emails = [FakeEmail(email="mona@example.com", primary=True, verified=True)]

    async with new_browser() as laptop:
        landed = await sign_in_with_github(world, laptop)
        assert_landed_in_app(landed, world.url)
        on_laptop = await session_of(laptop, world.url)

    second = await world.store.get_user_by_github_id(GITHUB_ID)
    assert second.id == first.id
    assert (second.name, second.email) == ("Mona Lisa Octocat", "mona@example.com")
    assert await world.store.count_users() == 1
    newest = list(world.github.tokens)[-1]
    assert len(world.github.tokens) == 2
    assert second.github_token_encrypted is not None
    assert world.cipher().decrypt(second.github_token_encrypted, user_id=second.id) == newest
    assert on_laptop["user"]["name"] == "Mona Lisa Octocat"
    # Both sessions (two browsers) live on.
    assert (await browser.get(world.url + SESSION)).status_code == 200


async def test_a_github_rename_updates_the_same_user(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    assert_landed_in_app(await sign_in_with_github(world, browser), world.url)
    before = await world.store.get_user_by_github_id(GITHUB_ID)
    account = world.github.users.pop("octocat")
    account.login = "octo-renamed"
    world.github.users["octo-renamed"] = account
    world.github.signed_in = "octo-renamed"

    async with new_browser() as laptop:
        landed = await sign_in_with_github(world, laptop)
        assert_landed_in_app(landed, world.url)
        on_laptop = await session_of(laptop, world.url)

    after = await world.store.get_user_by_github_id(GITHUB_ID)
    assert after.id == before.id and after.github_login == "octo-renamed"
    assert on_laptop["user"]["github_login"] == "octo-renamed"
    assert await world.store.count_users() == 1


async def test_two_first_sign_ins_at_once_make_one_user(world: GitHubWorld) -> None:
    """A double click, or two tabs: both finish signed in as the same, single user."""
    async with new_browser() as one, new_browser() as two:
        callbacks = [await callback_url(world, one), await callback_url(world, two)]
        landed = await asyncio.gather(one.get(callbacks[0]), two.get(callbacks[1]))
        for response in landed:
            assert_landed_in_app(response, world.url)
        sessions = [await session_of(one, world.url), await session_of(two, world.url)]
    assert await world.store.count_users() == 1
    user = await world.store.get_user_by_github_id(GITHUB_ID)
    assert {s["user"]["id"] for s in sessions} == {user.id}
    assert user.github_token_encrypted is not None
    stored = world.cipher().decrypt(user.github_token_encrypted, user_id=user.id)
    assert stored in world.github.tokens


async def test_a_local_user_with_the_github_login_is_not_merged(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    local = await local_user(world.store, "octocat", workspace="Private")

    landed = await sign_in_with_github(world, browser)

    assert_landed_in_app(landed, world.url)
    github_user = await world.store.get_user_by_github_id(GITHUB_ID)
    assert github_user.id != local.id
    assert github_user.login == f"octocat-{GITHUB_ID}"
    assert github_user.github_login == "octocat"
    body = await session_of(browser, world.url)
    assert body["user"]["id"] == github_user.id and body["workspaces"] == []
    untouched = await world.store.get_user_by_login("octocat")
    assert untouched.id == local.id and untouched.github_id is None
    assert untouched.github_token_encrypted is None and untouched.is_local
    assert await world.store.count_users() == 2


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def callback_url(world: GitHubWorld, browser: httpx.AsyncClient) -> str:
    """Run the sign-in up to GitHub's redirect back to Taskly; return that URL, unopened."""
    login = await browser.get(world.url + LOGIN, follow_redirects=False)
    assert login.status_code == 302
    authorize = await browser.get(login.headers["location"], follow_redirects=False)
    assert authorize.status_code == 302
    location = authorize.headers["location"]
    assert location.startswith(world.url + CALLBACK)
    return str(location)


async def assert_nobody_signed_in(
    world: GitHubWorld, browser: httpx.AsyncClient, response: httpx.Response
) -> None:
    assert all(value is None for value in cookie_sets(response))
    assert REFRESH_COOKIE not in browser.cookies
    assert await world.store.count_users() == 0
    assert refresh_token_rows(world.taskly.db) == 0


async def test_a_state_mismatch_signs_nobody_in(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    callback = await callback_url(world, browser)
    response = await browser.get(with_query(callback, state="forged-by-an-attacker"))
    assert assert_problem(response, 400)["error"] == "state_mismatch"
    await assert_nobody_signed_in(world, browser, response)


async def test_a_callback_opened_in_another_browser_signs_nobody_in(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    callback = await callback_url(world, browser)
    async with new_browser() as victim:
        response = await victim.get(callback)
        assert assert_problem(response, 400)["error"] == "state_mismatch"
        await assert_nobody_signed_in(world, victim, response)


async def test_a_denied_authorization_signs_nobody_in(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    world.github.deny_next = True
    response = await sign_in_with_github(world, browser)
    assert assert_problem(response, 403)["error"] == "access_denied"
    await assert_nobody_signed_in(world, browser, response)


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        ("/login/oauth/access_token", 503),
        ("/login/oauth/access_token", "drop"),
        ("/user", 502),
        ("/user/emails", 503),
    ],
)
async def test_a_github_outage_signs_nobody_in(
    world: GitHubWorld,
    browser: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    mode: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    world.github.outage(path, mode)
    response = await sign_in_with_github(world, browser)
    assert assert_problem(response, 502)["error"] == "github_unavailable"
    await assert_nobody_signed_in(world, browser, response)
    for token in world.github.tokens:  # issued when only the API failed; never logged
        assert token not in caplog.text


async def test_an_already_used_code_signs_nobody_in(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    callback = await callback_url(world, browser)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    # Someone (an interceptor, a double submit) exchanged the code first.
    async with httpx.AsyncClient(trust_env=False) as other:
        spent = await other.post(
            world.github.access_token_url,
            data={
                "client_id": world.github.client_id,
                "client_secret": world.github.client_secret,
                "code": code,
            },
            headers={"Accept": "application/json"},
        )
        assert "access_token" in spent.json()

    response = await browser.get(callback)

    assert assert_problem(response, 400)["error"] == "bad_verification_code"
    await assert_nobody_signed_in(world, browser, response)


async def test_replaying_a_finished_callback_starts_no_new_session(
    world: GitHubWorld, browser: httpx.AsyncClient
) -> None:
    callback = await callback_url(world, browser)
    landed = await browser.get(callback)
    assert_landed_in_app(landed, world.url)
    sessions = refresh_token_rows(world.taskly.db)

    replay = await browser.get(callback)  # the back button, or a leaked URL

    assert replay.status_code == 400, replay.text
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert all(value is None for value in cookie_sets(replay))
    assert await world.store.count_users() == 1
    assert refresh_token_rows(world.taskly.db) == sessions


async def test_without_a_github_app_the_login_says_it_is_not_configured(
    taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    response = await browser.get(taskly.url + LOGIN)
    assert "not configured" in assert_problem(response, 404)["detail"]


async def test_a_half_configured_github_app_is_not_mounted(
    sqlite: SQLiteStore, browser: httpx.AsyncClient
) -> None:
    settings = Settings(host="127.0.0.1", port=0, github_client_id="Iv1.only-the-id")
    async with serve(secure_app(settings, sqlite, random_keys()), settings) as url:
        response = await browser.get(url + LOGIN)
    assert "not configured" in assert_problem(response, 404)["detail"]


def test_github_needs_tokens_and_encryption() -> None:
    config = GitHubOAuthConfig(client_id="id", client_secret="secret")
    with pytest.raises(ValueError, match="token config"):
        create_app(Settings(), github=config)
