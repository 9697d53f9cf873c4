"""The session and workspace HTTP API on a real uvicorn server over a real SQLite store."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt_model import new_id
from storage import PostgresStore, SQLiteStore, Store
from sync_server.access import new_personal_access_token
from sync_server.access.authenticator import pat_hash
from sync_server.access.permissions import (
    ROLES,
    Action,
    Role,
    allowed,
    may_change_role,
    may_invite,
    may_remove,
)
from sync_server.access.tokens import AccessTokens, TokenConfig
from sync_server.app import create_app
from sync_server.auth_api import issue_session
from sync_server.server import TasklyServer, bind_socket, display_url, uvicorn_config
from sync_server.session_cookie import REFRESH_COOKIE
from sync_server.settings import Settings
from tests.e2e._harness import create_pg_database, drop_pg_database, pg_url

CONFIG = TokenConfig(signing_key=b"k" * 32)
T = TypeVar("T")


@asynccontextmanager
async def serve(store: Store, tokens: TokenConfig | None = CONFIG) -> AsyncIterator[str]:
    """Serve the app with the auth API on a free port; yield its base URL."""
    settings = Settings(host="127.0.0.1", port=0)
    app = create_app(settings, store=store, tokens=tokens)
    sock = bind_socket("127.0.0.1", 0)
    server = TasklyServer(uvicorn_config(app, settings))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        yield display_url(sock, "127.0.0.1")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "taskly.db") as opened:
        yield opened


@pytest.fixture
async def api(sqlite: SQLiteStore) -> AsyncIterator[str]:
    async with serve(sqlite) as url:
        yield url


async def new_user(store: Store, login: str | None = None) -> str:
    """Create a local user; return their id."""
    login = login or "u" + secrets.token_hex(8)
    return (await store.create_user(login, login.title())).id


def bearer(user_id: str, tokens: AccessTokens | None = None) -> dict[str, str]:
    """Return an Authorization header with a fresh access token for `user_id`."""
    issued = (tokens or AccessTokens(CONFIG)).issue(user_id)
    return {"Authorization": f"Bearer {issued.token}"}


def set_cookie_value(response: httpx.Response) -> str | None:
    """Return the value the response sets for the refresh cookie, asserting its attributes."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(REFRESH_COOKIE + "="):
            attributes = {part.strip().lower() for part in header.split(";")[1:]}
            assert {"httponly", "secure", "samesite=lax", "path=/auth"} <= attributes
            value = header.split(";")[0].split("=", 1)[1].strip('"')
            return value
    return None


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 7807 problem with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# -- sessions -----------------------------------------------------------------------------------


async def test_refresh_rotates_via_the_body(api: str, sqlite: SQLiteStore) -> None:
    user = await new_user(sqlite)
    session = await issue_session(sqlite, CONFIG, user)
    async with httpx.AsyncClient(base_url=api) as client:
        first = await client.post("/auth/refresh", json={"refresh_token": session.refresh.token})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["token_type"] == "bearer" and 0 < body["expires_in"] <= 900
        assert body["refresh_token"] != session.refresh.token
        assert set_cookie_value(first) is None
        assert first.headers["cache-control"] == "no-store"
        assert AccessTokens(CONFIG).verify(body["access_token"]).sub == user
        mine = await client.get(
            "/api/workspaces", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert mine.status_code == 200 and mine.json() == {"workspaces": []}
        second = await client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
        assert second.status_code == 200, second.text


async def test_refresh_rotates_via_the_cookie(api: str, sqlite: SQLiteStore) -> None:
    user = await new_user(sqlite)
    session = await issue_session(sqlite, CONFIG, user)
    async with httpx.AsyncClient(base_url=api) as client:
        cookie = session.refresh.token
        for _ in range(3):
            response = await client.post(
                "/auth/refresh", headers={"Cookie": f"{REFRESH_COOKIE}={cookie}"}
            )
            assert response.status_code == 200, response.text
            assert "refresh_token" not in response.json()
            rotated = set_cookie_value(response)
            assert rotated is not None and rotated != cookie
            cookie = rotated


async def test_reuse_revokes_the_whole_family(api: str, sqlite: SQLiteStore) -> None:
    user = await new_user(sqlite)
    session = await issue_session(sqlite, CONFIG, user)
    old = session.refresh.token
    async with httpx.AsyncClient(base_url=api) as client:
        rotated = await client.post("/auth/refresh", json={"refresh_token": old})
        newest = rotated.json()["refresh_token"]
        reused = await client.post("/auth/refresh", headers={"Cookie": f"{REFRESH_COOKIE}={old}"})
        body = assert_problem(reused, 401)
        assert "already used" in body["detail"]
        assert old not in reused.text
        assert set_cookie_value(reused) == ""  # the cookie is cleared
        # The thief's newest token is dead too.
        assert_problem(await client.post("/auth/refresh", json={"refresh_token": newest}), 401)


async def test_unknown_missing_and_malformed_refresh_tokens(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as client:
        assert_problem(await client.post("/auth/refresh", json={"refresh_token": "nope"}), 401)
        assert_problem(await client.post("/auth/refresh"), 401)
        bad = assert_problem(await client.post("/auth/refresh", json={"refresh_token": 3}), 422)
        assert bad["field"] == "refresh_token"
        assert_problem(await client.post("/auth/refresh", content=b"{not json"), 422)


async def test_expired_refresh_token_is_refused(api: str, sqlite: SQLiteStore) -> None:
    user = await new_user(sqlite)
    long_ago = time.time() - 8 * 24 * 3600
    session = await issue_session(sqlite, CONFIG, user, clock=lambda: long_ago)
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.post("/auth/refresh", json={"refresh_token": session.refresh.token})
        assert "expired" in assert_problem(response, 401)["detail"]


async def test_logout_revokes_the_family_and_clears_the_cookie(
    api: str, sqlite: SQLiteStore
) -> None:
    user = await new_user(sqlite)
    session = await issue_session(sqlite, CONFIG, user)
    async with httpx.AsyncClient(base_url=api) as client:
        rotated = await client.post("/auth/refresh", json={"refresh_token": session.refresh.token})
        newest = rotated.json()["refresh_token"]
        out = await client.post("/auth/logout", headers={"Cookie": f"{REFRESH_COOKIE}={newest}"})
        assert out.status_code == 204
        assert set_cookie_value(out) == ""
        assert_problem(await client.post("/auth/refresh", json={"refresh_token": newest}), 401)
        # Logging out again, or with nothing, is harmless.
        assert (
            await client.post("/auth/logout", json={"refresh_token": newest})
        ).status_code == 204
        assert (await client.post("/auth/logout")).status_code == 204


async def test_bearer_refusals(api: str, sqlite: SQLiteStore) -> None:
    user = await new_user(sqlite)
    expired = AccessTokens(CONFIG, clock=lambda: time.time() - 3600)
    foreign = AccessTokens(TokenConfig(signing_key=b"x" * 32))
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        bearer(user, expired),
        bearer(user, foreign),
        {"Authorization": "Bearer tsk_pat_unknown"},
        bearer("no-such-user"),
    ]
    async with httpx.AsyncClient(base_url=api) as client:
        for headers in cases:
            response = await client.get("/api/workspaces", headers=headers)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
        expired_response = await client.get("/api/workspaces", headers=bearer(user, expired))
        assert "expired" in expired_response.json()["detail"]


async def test_me_says_whose_token_it_is(api: str, sqlite: SQLiteStore) -> None:
    """A script holding a PAT (or an access token) learns its user id from GET /api/me."""
    user = await new_user(sqlite, "ada")
    pat = new_personal_access_token()
    await sqlite.create_token(user, "cli", pat_hash(pat.token))
    async with httpx.AsyncClient(base_url=api) as client:
        for headers in (bearer(user), {"Authorization": f"Bearer {pat.token}"}):
            response = await client.get("/api/me", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json() == {
                "id": user,
                "login": "ada",
                "name": "Ada",
                "email": None,
                "github_login": None,
                "local": True,
            }
        assert_problem(await client.get("/api/me"), 401)
        assert_problem(await client.get("/api/me", headers=bearer("no-such-user")), 401)


async def test_routes_are_absent_without_a_token_config(sqlite: SQLiteStore) -> None:
    async with serve(sqlite, tokens=None) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/api/workspaces")).status_code == 404
        assert (await client.post("/auth/refresh")).status_code == 404


# -- workspaces and members -------------------------------------------------------------------


async def test_workspace_lifecycle(api: str, sqlite: SQLiteStore) -> None:
    alice = await new_user(sqlite, "alice")
    bob = await new_user(sqlite, "bob")
    async with httpx.AsyncClient(base_url=api, headers=bearer(alice)) as client:
        created = await client.post("/api/workspaces", json={"name": "  Team  "})
        assert created.status_code == 201, created.text
        workspace = created.json()
        assert workspace["name"] == "Team" and workspace["role"] == "owner"
        ws = f"/api/workspaces/{workspace['id']}"
        assert (await client.get("/api/workspaces")).json()["workspaces"] == [workspace]
        renamed = await client.patch(ws, json={"name": "Crew"})
        assert renamed.json()["name"] == "Crew"
        invited = await client.post(ws + "/members", json={"login": "BOB", "role": "viewer"})
        assert invited.status_code == 201 and invited.json()["user_id"] == bob
        again = await client.post(ws + "/members", json={"login": "bob", "role": "member"})
        assert_problem(again, 409)
        nobody = await client.post(ws + "/members", json={"login": "carol", "role": "member"})
        assert assert_problem(nobody, 422)["field"] == "login"
        members = (await client.get(ws + "/members")).json()["members"]
        assert [(m["login"], m["role"]) for m in members] == [("alice", "owner"), ("bob", "viewer")]
        # The last owner can neither be demoted nor leave.
        assert_problem(await client.patch(f"{ws}/members/{alice}", json={"role": "admin"}), 409)
        assert_problem(await client.delete(f"{ws}/members/{alice}"), 409)
        assert (await client.delete(ws)).status_code == 204
        assert_problem(await client.get(ws), 404)
    async with httpx.AsyncClient(base_url=api, headers=bearer(bob)) as client:
        assert (await client.get("/api/workspaces")).json() == {"workspaces": []}


async def test_bad_bodies_name_the_field(api: str, sqlite: SQLiteStore) -> None:
    alice = await new_user(sqlite)
    async with httpx.AsyncClient(base_url=api, headers=bearer(alice)) as client:
        for body, field in [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": 7}, "name"),
            ({"name": "x", "extra": 1}, "extra"),
        ]:
            response = await client.post("/api/workspaces", json=body)
            assert assert_problem(response, 422)["field"] == field, body
        ws = (await client.post("/api/workspaces", json={"name": "W"})).json()["id"]
        bad_role = await client.post(
            f"/api/workspaces/{ws}/members", json={"login": "x", "role": "god"}
        )
        assert assert_problem(bad_role, 422)["field"] == "role"
        assert (await client.get("/api/workspaces")).json()["workspaces"][0]["id"] == ws


async def test_non_members_see_nothing(api: str, sqlite: SQLiteStore) -> None:
    alice = await new_user(sqlite)
    mallory = await new_user(sqlite)
    async with httpx.AsyncClient(base_url=api) as client:
        created = await client.post("/api/workspaces", json={"name": "W"}, headers=bearer(alice))
        ws = f"/api/workspaces/{created.json()['id']}"
        missing = "/api/workspaces/" + new_id()
        for path in (ws, missing):
            response = await client.get(path, headers=bearer(mallory))
            assert assert_problem(response, 404)["detail"] == "no such workspace"


# -- the permission matrix, through HTTP ----------------------------------------------------------

OPERATIONS = ("read", "rename", "delete", "list", "invite", "change_role", "remove", "leave")
NOT_A_MEMBER = None


class ThreadedServer:
    """A server with its store on its own event loop thread, for synchronous hypothesis tests."""

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str, store: Store) -> None:
        self.loop = loop
        self.url = url
        self.store = store

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@contextmanager
def threaded_server(path: Path) -> Iterator[ThreadedServer]:
    """Run a SQLite-backed server with the auth API in a background thread."""
    ready: list[ThreadedServer] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with SQLiteStore(path) as store, serve(store) as url:
            ready.append(ThreadedServer(loop, url, store))
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert started.wait(20), "the server did not start"
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(40)
        loop.close()


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    with threaded_server(tmp_path_factory.mktemp("matrix") / "taskly.db") as running:
        yield running


async def _scenario(store: Store, actor_role: Role | None, target_role: Role) -> dict[str, str]:
    """Create a workspace with a spare owner, the actor, a target member and an outsider."""
    workspace = await store.create_workspace("W")
    ids = {"workspace": workspace.id}
    for name in ("owner", "actor", "target", "outsider"):
        ids[name] = await new_user(store)
    await store.add_member(workspace.id, ids["owner"], "owner")
    await store.add_member(workspace.id, ids["target"], target_role.value)
    if actor_role is not None:
        await store.add_member(workspace.id, ids["actor"], actor_role.value)
    ids["outsider_login"] = (await store.get_user(ids["outsider"])).login
    return ids


def _expected(op: str, actor: Role | None, target: Role, new: Role) -> int:
    """Return the status the permission rules demand."""
    if actor is None:
        return 404
    decisions = {
        "read": (allowed(actor, Action.WORKSPACE_READ), 200),
        "rename": (allowed(actor, Action.WORKSPACE_RENAME), 200),
        "delete": (allowed(actor, Action.WORKSPACE_DELETE), 204),
        "list": (allowed(actor, Action.MEMBER_LIST), 200),
        "invite": (may_invite(actor, new), 201),
        "change_role": (may_change_role(actor, target, new), 200),
        "remove": (may_remove(actor, target), 204),
        "leave": (allowed(actor, Action.MEMBER_LEAVE), 204),
    }
    ok, status = decisions[op]
    return status if ok else 403


@given(
    op=st.sampled_from(OPERATIONS),
    actor=st.sampled_from((*ROLES, NOT_A_MEMBER)),
    target=st.sampled_from(ROLES),
    new=st.sampled_from(ROLES),
)
def test_every_role_and_action_answers_as_the_matrix_says(
    matrix_server: ThreadedServer, op: str, actor: Role | None, target: Role, new: Role
) -> None:
    ids = matrix_server.run(_scenario(matrix_server.store, actor, target))
    ws = f"/api/workspaces/{ids['workspace']}"
    requests: dict[str, tuple[str, str, dict[str, Any] | None]] = {
        "read": ("GET", ws, None),
        "rename": ("PATCH", ws, {"name": "Renamed"}),
        "delete": ("DELETE", ws, None),
        "list": ("GET", ws + "/members", None),
        "invite": ("POST", ws + "/members", {"login": ids["outsider_login"], "role": new}),
        "change_role": ("PATCH", f"{ws}/members/{ids['target']}", {"role": new}),
        "remove": ("DELETE", f"{ws}/members/{ids['target']}", None),
        "leave": ("DELETE", f"{ws}/members/{ids['actor']}", None),
    }
    method, path, body = requests[op]
    with httpx.Client(base_url=matrix_server.url, headers=bearer(ids["actor"])) as client:
        response = client.request(method, path, json=body)
    expected = _expected(op, actor, target, new)
    assert response.status_code == expected, (op, actor, target, new, response.text)
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    # What the store holds afterwards agrees with the answer.
    store = matrix_server.store
    if op == "change_role":
        now = matrix_server.run(store.get_member_role(ids["workspace"], ids["target"]))
        assert now == (new if expected == 200 else target)
    if op == "invite":
        now = matrix_server.run(store.get_member_role(ids["workspace"], ids["outsider"]))
        assert now == (new if expected == 201 else None)
    if op == "remove":
        now = matrix_server.run(store.get_member_role(ids["workspace"], ids["target"]))
        assert now == (None if expected == 204 else target)


# -- one run on Postgres ------------------------------------------------------------------------


@pytest.fixture
def pg_url_for_test() -> Iterator[str]:
    """A fresh, empty Postgres database (migrated on open); fails, never skips, if unreachable."""
    name = create_pg_database()
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


async def test_sessions_and_workspaces_on_postgres(pg_url_for_test: str) -> None:
    async with (
        PostgresStore(pg_url_for_test, migrate_on_open=True) as store,
        serve(store) as url,
    ):
        alice = await new_user(store)
        session = await issue_session(store, CONFIG, alice)
        async with httpx.AsyncClient(base_url=url) as client:
            old = session.refresh.token
            rotated = await client.post("/auth/refresh", json={"refresh_token": old})
            assert rotated.status_code == 200, rotated.text
            newest = rotated.json()["refresh_token"]
            assert_problem(await client.post("/auth/refresh", json={"refresh_token": old}), 401)
            assert_problem(await client.post("/auth/refresh", json={"refresh_token": newest}), 401)
            created = await client.post(
                "/api/workspaces", json={"name": "PG"}, headers=bearer(alice)
            )
            assert created.status_code == 201, created.text
            ws = f"/api/workspaces/{created.json()['id']}"
            assert_problem(await client.delete(f"{ws}/members/{alice}", headers=bearer(alice)), 409)
            assert (await client.delete(ws, headers=bearer(alice))).status_code == 204
