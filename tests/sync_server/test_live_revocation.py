"""Live revocation on the real server: access changes reach open connections within 5 seconds.

The server runs with a TokenAuthenticator, the auth API and an AccessWatcher at its default
poll interval (1 s); the clients are real WebSocket clients. Changes come from where they come
from in production: the store (as this server's API writes it), a second store object on the
same database (the `taskly` CLI, another server instance), the HTTP logout route. "Within 5 s"
is measured from the moment the change was committed.

Whether a connection may write is always observed from outside: `reaches_store` sends an
update from the connection, then a sync step 1 whose answer the server releases only once
everything applied before it is stored, and looks at the stored board.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc

from crdt_model import Board, load_doc
from storage import PostgresStore, SQLiteStore, StorageUnavailable, Store
from sync_server import protocol as p
from sync_server.access import AccessTokens, TokenConfig, new_personal_access_token
from sync_server.access.authenticator import TokenAuthenticator, pat_hash
from sync_server.access.permissions import Action, Role, allowed
from sync_server.access.watcher import (
    NOT_A_MEMBER,
    SESSION_ENDED,
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    AccessWatcher,
)
from sync_server.app import create_app
from sync_server.auth import Principal
from sync_server.auth_api import issue_session
from sync_server.connection import Connection
from sync_server.errors import AUTH_REQUIRED, FORBIDDEN
from sync_server.server import TasklyServer, bind_socket, display_url, uvicorn_config
from sync_server.settings import Settings
from tests.storage.conftest import pg_database as pg_database
from tests.storage.conftest import pg_template as pg_template
from tests.sync_server.conftest import Running, Wrapped, make_board
from tests.sync_server.yclient import YClient

CONFIG = TokenConfig(signing_key=b"r" * 32)
BOUND_SECONDS = 5.0
LOGINS = ("owner", "admin", "member", "viewer", "outsider")

ASGIApp = Callable[..., Awaitable[None]]
Message = MutableMapping[str, Any]


class WatchedApp:
    """The app plus an AccessWatcher started after its lifespan startup and stopped before its
    shutdown (which flushes the rooms), as the app's lifespan does with its own.
    """

    def __init__(self, app: ASGIApp, store: Store | None, options: dict[str, Any]) -> None:
        self.app = app
        self.store = store  # None: the app's own store
        self.options = options
        self.watcher: AccessWatcher | None = None

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def on_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                state = scope["state"]
                # Once the app runs its own watcher (State["access_watcher"]), stop it: the
                # tests drive this one (its store, clock and interval), and two watchers could
                # apply each other's stale decisions.
                own = state.get("access_watcher")
                if isinstance(own, AccessWatcher):
                    await own.aclose()
                store = self.store if self.store is not None else state["store"]
                self.watcher = AccessWatcher(store, state["rooms"], **self.options)
                self.watcher.start()
            await send(message)

        async def on_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.watcher is not None:
                await self.watcher.aclose()
            return message

        await self.app(scope, on_receive, on_send)


@dataclass
class World:
    """A running watched server, its store, a board and one user per role."""

    server: Running
    harness: WatchedApp
    store: Store
    board: str
    workspace: str
    users: dict[str, str]  # login -> user id
    families: dict[str, str] = field(default_factory=dict)  # access token -> its session

    @property
    def watcher(self) -> AccessWatcher:
        assert self.harness.watcher is not None
        return self.harness.watcher

    async def session(self, login: str) -> tuple[str, str]:
        """Sign `login` in (a new session); return the access token and the refresh token."""
        signed_in = await issue_session(self.store, CONFIG, self.users[login])
        return signed_in.access.token, signed_in.refresh.token

    async def pat(self, login: str, *, expires_at: datetime | None = None) -> tuple[str, str]:
        """Create a personal access token for `login`; return it and its record id."""
        secret = new_personal_access_token()
        record = await self.store.create_token(
            self.users[login], "test", pat_hash(secret.token), expires_at=expires_at
        )
        return secret.token, record.id

    async def connect(self, token: str) -> YClient:
        return await YClient.connect(self.server.ws, self.board, query=f"?token={token}")


async def populate(store: Store) -> tuple[str, str, dict[str, str]]:
    """Create a board and one user per role (and an outsider); return board, workspace, users."""
    board = await make_board(store)
    workspace = (await store.get_board(board)).workspace_id
    users = {login: (await store.create_user(login, login.title())).id for login in LOGINS}
    for login in LOGINS[:-1]:
        await store.add_member(workspace, users[login], login)  # type: ignore[arg-type]
    return board, workspace, users


@asynccontextmanager
async def watched_server(
    store: Store, *, watcher_store: Store | None = None, **watcher_options: Any
) -> AsyncIterator[tuple[Running, WatchedApp]]:
    """Serve the app with token auth, the auth API and a watcher on a free port."""
    config = Settings(host="127.0.0.1", port=0)
    authenticator = TokenAuthenticator(store, AccessTokens(CONFIG))
    app = create_app(config, store=store, authenticator=authenticator, tokens=CONFIG)
    harness = WatchedApp(app, watcher_store, watcher_options)
    sock = bind_socket("127.0.0.1", 0)
    server = TasklyServer(uvicorn_config(harness, config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        yield Running(display_url(sock, "127.0.0.1"), server, store), harness
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@asynccontextmanager
async def running_world(store: Store, **options: Any) -> AsyncIterator[World]:
    board, workspace, users = await populate(store)
    async with watched_server(store, **options) as (server, harness):
        yield World(server, harness, store, board, workspace, users)


@pytest.fixture
async def world(store: SQLiteStore) -> AsyncIterator[World]:
    async with running_world(store) as running:
        yield running


# -- observing a connection from outside --------------------------------------------------------


async def stored_board(store: Store, board_id: str) -> Board:
    return Board(load_doc(*(await store.load(board_id)).updates(), checked=False))


async def barrier(client: YClient) -> None:
    """Return once the server has stored everything `client` sent before (see module doc)."""
    answered = len(client.messages(p.SyncStep2))
    await client.send(p.encode_sync_step1(client.doc.get_state()))
    await client.wait_for(lambda: len(client.messages(p.SyncStep2)) > answered)


async def reaches_store(client: YClient, store: Store, board_id: str, label: str) -> bool:
    """Rename the board to `label` through `client`'s connection; return whether it was stored.

    The update is made on a fresh document (its own Yjs client id) built from what is stored,
    so it never depends on an earlier update that was dropped: each probe stands alone.
    """
    rogue: Doc[Any] = load_doc(*(await store.load(board_id)).updates(), checked=False)
    before = rogue.get_state()
    Board(rogue).rename(label)
    await client.send(p.encode_update(rogue.get_update(before)))
    await barrier(client)
    return (await stored_board(store, board_id)).board().name == label


async def seen_by(client: YClient, label: str) -> bool:
    """Return whether `client` has the board named `label`, after catching up with the server."""
    await barrier(client)
    return client.board.board().name == label


async def closed_within_bound(client: YClient, since: float) -> tuple[int | None, str]:
    """Wait for the server to close `client`; assert it happened within 5 s of `since`."""
    code = await client.wait_closed(BOUND_SECONDS)
    elapsed = asyncio.get_running_loop().time() - since
    assert elapsed < BOUND_SECONDS, f"closed after {elapsed:.2f}s"
    return code, client.close_reason or ""


async def until_within_bound(probe: Callable[[int], Awaitable[bool]], since: float) -> int:
    """Run `probe(n)` for n = 0, 1, ... until it is true; assert that happened within 5 s."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while not await probe(attempt):
        assert loop.time() - since < BOUND_SECONDS, "not in effect within 5 s"
        attempt += 1
        await asyncio.sleep(0.05)
    elapsed = loop.time() - since
    assert elapsed < BOUND_SECONDS, f"in effect after {elapsed:.2f}s"
    return attempt


async def still_writes(world: World, client: YClient, label: str) -> None:
    assert not client.closed.is_set()
    assert await reaches_store(client, world.store, world.board, label)


# -- the cases -------------------------------------------------------------------------------------


async def test_a_removed_member_is_closed_with_4403_and_others_carry_on(world: World) -> None:
    member = await world.connect((await world.session("member"))[0])
    owner = await world.connect((await world.session("owner"))[0])
    await world.store.remove_member(world.workspace, world.users["member"])
    since = asyncio.get_running_loop().time()
    assert await closed_within_bound(member, since) == (FORBIDDEN, NOT_A_MEMBER)
    await still_writes(world, owner, "owner carries on")
    await owner.close()


async def test_a_member_lowered_to_viewer_stays_open_read_only_then_writes_again(
    world: World,
) -> None:
    member = await world.connect((await world.pat("member"))[0])
    owner = await world.connect((await world.session("owner"))[0])
    assert await reaches_store(member, world.store, world.board, "member writes")

    await world.store.set_member_role(world.workspace, world.users["member"], "viewer")
    since = asyncio.get_running_loop().time()

    async def dropped(n: int) -> bool:
        return not await reaches_store(member, world.store, world.board, f"before {n}")

    await until_within_bound(dropped, since)
    # From then on: still connected, and its updates reach neither storage nor anyone else.
    assert not await reaches_store(member, world.store, world.board, "viewer was here")
    assert not await seen_by(owner, "viewer was here")
    assert not member.closed.is_set()
    # It still receives everything.
    await owner.edit(lambda b: b.rename("owner renamed it"))
    await member.wait_for(lambda: member.board.board().name == "owner renamed it")

    await world.store.set_member_role(world.workspace, world.users["member"], "member")
    since = asyncio.get_running_loop().time()

    async def stored(n: int) -> bool:
        return await reaches_store(member, world.store, world.board, f"member again {n}")

    attempt = await until_within_bound(stored, since)
    assert await seen_by(owner, f"member again {attempt}")
    await member.close()
    await owner.close()


async def test_a_pat_revoked_by_another_process_closes_its_connections_with_4401(
    world: World, store: SQLiteStore
) -> None:
    token, record_id = await world.pat("member")
    first, second = await world.connect(token), await world.connect(token)
    session = await world.connect((await world.session("member"))[0])  # same user, other login
    owner = await world.connect((await world.pat("owner"))[0])
    async with SQLiteStore(store.path) as cli:  # what `taskly token revoke ID` does
        await cli.revoke_token(record_id)
    since = asyncio.get_running_loop().time()
    assert await closed_within_bound(first, since) == (AUTH_REQUIRED, TOKEN_REVOKED)
    assert await closed_within_bound(second, since) == (AUTH_REQUIRED, TOKEN_REVOKED)
    await still_writes(world, session, "the member's session is another credential")
    await still_writes(world, owner, "owner carries on")
    for client in (session, owner):
        await client.close()


async def test_logout_closes_that_sessions_connections_and_no_other(world: World) -> None:
    access, refresh = await world.session("member")
    other_access, _ = await world.session("member")  # the same user on another device
    phone = await world.connect(access)
    laptop = await world.connect(other_access)
    async with httpx.AsyncClient(base_url=world.server.url) as http:
        response = await http.post("/auth/logout", json={"refresh_token": refresh})
    assert response.status_code == 204
    since = asyncio.get_running_loop().time()
    assert await closed_within_bound(phone, since) == (AUTH_REQUIRED, SESSION_ENDED)
    await still_writes(world, laptop, "the other session carries on")
    # The access token has not expired, but its session has: no new connection either.
    query = f"?token={access}"
    again = await YClient.connect(world.server.ws, world.board, query=query, sync=False)
    assert await again.wait_closed() == AUTH_REQUIRED
    await laptop.close()


@pytest.mark.postgres
async def test_on_postgres_another_instance_removes_and_demotes(pg_database: str) -> None:
    async with PostgresStore(pg_database) as store, running_world(store) as world:
        member = await world.connect((await world.session("member"))[0])
        admin = await world.connect((await world.pat("admin"))[0])
        owner = await world.connect((await world.session("owner"))[0])
        async with PostgresStore(pg_database) as other_instance:
            await other_instance.remove_member(world.workspace, world.users["member"])
            removed_at = asyncio.get_running_loop().time()
            await other_instance.set_member_role(world.workspace, world.users["admin"], "viewer")
            demoted_at = asyncio.get_running_loop().time()
        assert await closed_within_bound(member, removed_at) == (FORBIDDEN, NOT_A_MEMBER)

        async def dropped(n: int) -> bool:
            return not await reaches_store(admin, store, world.board, f"admin {n}")

        await until_within_bound(dropped, demoted_at)
        assert not admin.closed.is_set()
        await still_writes(world, owner, "owner carries on")
        await admin.close()
        await owner.close()


# -- expiry, and the watcher's own robustness ------------------------------------------------------


class Clock:
    """A settable clock for the watcher."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


async def test_pat_expiry_closes_on_a_full_check_and_jwt_expiry_does_not(
    store: SQLiteStore,
) -> None:
    clock = Clock()
    async with running_world(store, clock=clock) as world:
        expires = datetime.now(UTC) + timedelta(hours=1)
        pat = await world.connect((await world.pat("member", expires_at=expires))[0])
        jwt = await world.connect((await world.session("owner"))[0])
        clock.now += 2 * 3600  # past both the PAT's expiry and the access token's `exp`
        since = asyncio.get_running_loop().time()
        await world.watcher.check(full=True)
        assert await closed_within_bound(pat, since) == (AUTH_REQUIRED, TOKEN_EXPIRED)
        # Its session and membership are still good: the access token's age does not matter.
        await still_writes(world, jwt, "a long-lived connection")
        await jwt.close()


async def test_store_failures_are_logged_and_retried(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    failing = Wrapped(store)
    broken = False
    failures = 0
    failed_twice = asyncio.Event()

    async def access_epoch() -> int:
        nonlocal failures
        if broken:
            failures += 1
            if failures == 2:  # the first failure has been logged by now
                failed_twice.set()
            raise StorageUnavailable("the database is down")
        return await store.access_epoch()

    failing.access_epoch = access_epoch  # type: ignore[attr-defined]
    async with running_world(store, watcher_store=failing, poll_seconds=0.05) as world:
        member = await world.connect((await world.session("member"))[0])
        with caplog.at_level(logging.WARNING, logger="taskly.access"):
            broken = True
            await world.store.remove_member(world.workspace, world.users["member"])
            await asyncio.wait_for(failed_twice.wait(), BOUND_SECONDS)
        warnings = [r for r in caplog.records if "retrying" in r.getMessage()]
        assert len(warnings) == 1, "one warning per outage, not one per tick"
        assert not member.closed.is_set()  # nothing decided on a failed tick
        broken = False
        since = asyncio.get_running_loop().time()
        assert await closed_within_bound(member, since) == (FORBIDDEN, NOT_A_MEMBER)


def test_set_principal_keeps_the_user() -> None:
    class Idle:
        path = "/sync/b"

        async def send(self, message: bytes) -> None: ...

        async def recv(self) -> bytes:
            raise AssertionError

        async def close(self, code: int, reason: str) -> None: ...

    async def run() -> None:
        conn = Connection(Idle(), Principal(user_id="u", workspace_id="w"), "b")
        conn.set_principal(Principal(user_id="u", workspace_id="w", read_only=True))
        assert conn.read_only
        with pytest.raises(ValueError, match="user"):
            conn.set_principal(Principal(user_id="someone else"))
        conn.abort()

    asyncio.run(run())


# -- the permission matrix through the real WebSocket ---------------------------------------------

ROLE_OR_NONE = st.sampled_from([*LOGINS[:-1], None])


@dataclass
class MatrixWorld:
    world: World
    subject: str  # the user whose role the examples change
    tokens: dict[str, str]  # "session" | "pat" -> the subject's token
    probes: int = 0


@pytest.fixture
async def matrix(store: SQLiteStore) -> AsyncIterator[MatrixWorld]:
    """One server for every example. Its watcher only runs when an example calls `check`."""
    async with running_world(store, poll_seconds=3600) as world:
        tokens = {
            "session": (await world.session("outsider"))[0],
            "pat": (await world.pat("outsider"))[0],
        }
        yield MatrixWorld(world, world.users["outsider"], tokens)


async def set_role(store: Store, workspace: str, user: str, role: str | None) -> None:
    current = await store.get_member_role(workspace, user)
    if role is None:
        if current is not None:
            await store.remove_member(workspace, user)
    elif current is None:
        await store.add_member(workspace, user, role)  # type: ignore[arg-type]
    elif current != role:
        await store.set_member_role(workspace, user, role)  # type: ignore[arg-type]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["session", "pat"]),
    roles=st.lists(ROLE_OR_NONE, min_size=1, max_size=4),
)
async def test_a_connection_may_do_what_the_matrix_says_for_its_current_role(
    matrix: MatrixWorld, kind: str, roles: list[str | None]
) -> None:
    """Connect with a role, then change it live: after the handshake and after each re-check,
    a role without board.read is closed 4403, and the connection's update reaches storage
    exactly when the role has board.write."""
    world = matrix.world
    await set_role(world.store, world.workspace, matrix.subject, roles[0])
    client = await YClient.connect(
        world.server.ws, world.board, query=f"?token={matrix.tokens[kind]}", sync=False
    )
    for step, role in enumerate(roles):
        if step:
            await set_role(world.store, world.workspace, matrix.subject, role)
            await world.watcher.check()
        if role is None or not allowed(Role(role), Action.BOARD_READ):
            assert await client.wait_closed() == FORBIDDEN
            assert step or not client.received, "a refused handshake is sent nothing"
            return
        if step == 0:
            await client.send(p.encode_sync_step1(client.doc.get_state()))
            await client.wait_synced()
        matrix.probes += 1
        label = f"{role} via {kind} #{matrix.probes}"
        wrote = await reaches_store(client, world.store, world.board, label)
        assert wrote == allowed(Role(role), Action.BOARD_WRITE), (step, role)
        assert not client.closed.is_set()
    await client.close()
