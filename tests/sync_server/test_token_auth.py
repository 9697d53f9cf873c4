"""The TokenAuthenticator on the real app: 4401, 4403, 4404, read-only viewers, PATs, JWTs."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from pycrdt import Doc

from crdt_model import Board, load_doc
from storage import PostgresStore, SQLiteStore, Store
from sync_server import protocol as p
from sync_server.access import AccessTokens, TokenConfig, new_personal_access_token
from sync_server.access.authenticator import TokenAuthenticator, pat_hash
from sync_server.auth import Credential, Principal
from sync_server.auth_api import issue_session, refresh_hash
from sync_server.errors import AUTH_REQUIRED, FORBIDDEN, NOT_FOUND, AuthRequired
from tests.storage.conftest import pg_database as pg_database
from tests.storage.conftest import pg_template as pg_template
from tests.sync_server.conftest import Running, make_board, run_app
from tests.sync_server.yclient import YClient

KEY = b"k" * 32
CONFIG = TokenConfig(signing_key=KEY)


@dataclass
class World:
    """A running server with a board and users of every kind."""

    server: Running
    store: Store
    board: str
    tokens: AccessTokens
    users: dict[str, str]  # login -> id

    def jwt(self, login: str) -> str:
        return self.tokens.issue(self.users[login]).token


async def populate(store: Store) -> tuple[str, dict[str, str]]:
    """Create a board and owner/member/viewer/outsider users; return the board id and users."""
    board = await make_board(store)
    workspace = (await store.get_board(board)).workspace_id
    users: dict[str, str] = {}
    for login in ("owner", "member", "viewer", "outsider"):
        users[login] = (await store.create_user(login, login.title())).id
    await store.add_member(workspace, users["owner"], "owner")
    await store.add_member(workspace, users["member"], "member")
    await store.add_member(workspace, users["viewer"], "viewer")
    return board, users


@pytest.fixture
async def world(store: SQLiteStore) -> AsyncIterator[World]:
    board, users = await populate(store)
    tokens = AccessTokens(CONFIG)
    async with run_app(store, authenticator=TokenAuthenticator(store, tokens)) as server:
        yield World(server, store, board, tokens, users)


async def first_frame(url: str, **options: Any) -> tuple[bytes | str | None, int | None, str]:
    """Connect raw; return the first frame (None if the close came first), the close code/reason."""
    async with websockets.connect(url, **options) as ws:
        try:
            frame: bytes | str | None = await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            frame = None
        else:
            await ws.close()
        return frame, ws.close_code, ws.close_reason or ""


async def refused(world: World, query: str, board: str | None = None, **options: Any) -> int:
    """Assert a connection is closed before any sync byte arrives; return the close code."""
    url = f"{world.server.ws}/sync/{board or world.board}{query}"
    frame, code, reason = await first_frame(url, **options)
    assert frame is None, f"received {frame!r} before the close"
    assert reason
    return code or 0


async def stored(store: Store, board_id: str) -> Board:
    return Board(load_doc(*(await store.load(board_id)).updates(), checked=False))


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_no_token_is_refused_with_4401_before_any_byte(world: World) -> None:
    assert await refused(world, "") == AUTH_REQUIRED
    assert await refused(world, "?token=") == AUTH_REQUIRED
    assert await refused(world, "?other=1") == AUTH_REQUIRED


async def test_bad_jwts_are_refused_with_4401_and_the_reason_never_holds_the_token(
    world: World,
) -> None:
    good = world.jwt("owner")
    header, payload, signature = good.split(".")
    past = AccessTokens(CONFIG, clock=lambda: time.time() - 3600).issue(world.users["owner"])
    wrong_key = AccessTokens(TokenConfig(signing_key=b"x" * 32)).issue(world.users["owner"])
    tampered_payload = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered_payload["sub"] = world.users["outsider"]
    alg_none = b64({"alg": "none", "typ": "JWT"}) + "." + payload + "."
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    bad = {
        "garbage": "not-a-token",
        "expired": past.token,
        "tampered signature": f"{header}.{payload}.{flipped}",
        "tampered claims": f"{header}.{b64(tampered_payload)}.{signature}",
        "alg none": alg_none,
        "wrong key": wrong_key.token,
        "unknown user": world.tokens.issue("no-such-user").token,
        "unknown pat": new_personal_access_token().token,
    }
    for case, token in bad.items():
        url = f"{world.server.ws}/sync/{world.board}?token={token}"
        frame, code, reason = await first_frame(url)
        assert frame is None, case
        assert code == AUTH_REQUIRED, case
        assert reason and token not in reason, case


async def test_pat_revoked_or_expired_is_refused_and_a_live_one_is_touched(world: World) -> None:
    store, owner = world.store, world.users["owner"]
    live = new_personal_access_token()
    record = await store.create_token(owner, "live", pat_hash(live.token))
    revoked = new_personal_access_token()
    gone = await store.create_token(owner, "revoked", pat_hash(revoked.token))
    await store.revoke_token(gone.id)
    expired = new_personal_access_token()
    await store.create_token(
        owner, "old", pat_hash(expired.token), expires_at=datetime.now(UTC) - timedelta(days=1)
    )
    assert await refused(world, f"?token={revoked.token}") == AUTH_REQUIRED
    assert await refused(world, f"?token={expired.token}") == AUTH_REQUIRED
    assert (await store.get_token_by_hash(pat_hash(live.token))).last_used_at is None
    client = await YClient.connect(world.server.ws, world.board, query=f"?token={live.token}")
    assert client.board.board().name == "Board"
    await client.close()
    touched = await store.get_token_by_hash(pat_hash(live.token))
    assert touched.id == record.id and touched.last_used_at is not None


async def test_non_member_gets_4403_and_unknown_board_4404(world: World) -> None:
    outsider = world.jwt("outsider")
    assert await refused(world, f"?token={outsider}") == FORBIDDEN
    owner = world.jwt("owner")
    assert await refused(world, f"?token={owner}", board="no-such-board") == NOT_FOUND
    # Without a token an unknown board says nothing about whether it exists.
    assert await refused(world, "", board="no-such-board") == AUTH_REQUIRED


async def test_member_edits_are_stored(world: World) -> None:
    member = await YClient.connect(
        world.server.ws, world.board, query=f"?token={world.jwt('member')}"
    )
    await member.edit(lambda b: b.rename("Renamed by a member"))

    async def renamed() -> bool:
        return (await stored(world.store, world.board)).board().name == "Renamed by a member"

    for _ in range(250):
        if await renamed():
            break
        await asyncio.sleep(0.02)
    assert await renamed()
    await member.close()


async def test_viewer_hand_crafted_frames_never_change_the_stored_document(world: World) -> None:
    viewer = await YClient.connect(
        world.server.ws, world.board, query=f"?token={world.jwt('viewer')}"
    )
    head = (await world.store.load(world.board)).head_seq
    # Updates built outside the synced doc: as a sync update, as step 2, and via the normal path.
    rogue: Doc[Any] = Doc()
    rogue.apply_update(viewer.doc.get_update())
    before = rogue.get_state()
    Board(rogue).rename("Viewer was here")
    update = rogue.get_update(before)
    await viewer.send(p.encode_update(update))
    await viewer.send(p.encode_sync_step2(update))
    await viewer.send(p.encode_sync_step2(rogue.get_update()))
    await viewer.edit(lambda b: b.set_repo("viewer/repo"))
    await asyncio.sleep(0.3)
    assert not viewer.closed.is_set()
    await viewer.close()
    assert (await world.store.load(world.board)).head_seq == head
    owner = await YClient.connect(
        world.server.ws, world.board, query=f"?token={world.jwt('owner')}"
    )
    assert owner.board.board().name == "Board"
    assert owner.board.board().repo is None
    await owner.close()
    assert (await stored(world.store, world.board)).board().name == "Board"


async def test_token_in_the_bearer_subprotocol_works_and_only_bearer_is_echoed(
    world: World,
) -> None:
    token = world.jwt("member")
    url = f"{world.server.ws}/sync/{world.board}"
    ws = await websockets.connect(url, subprotocols=["bearer", token])  # type: ignore[list-item]
    assert ws.subprotocol == "bearer"
    client = YClient(ws, Doc())
    await client.send(p.encode_sync_step1(client.doc.get_state()))
    await client.wait_synced()
    assert client.board.board().name == "Board"
    await client.close()
    # Refusals also complete the handshake so that browsers see the close code.
    frame, code, _ = await first_frame(url, subprotocols=["bearer", "tsk_pat_nope"])
    assert frame is None and code == AUTH_REQUIRED
    outsider = world.jwt("outsider")
    frame, code, _ = await first_frame(url, subprotocols=["bearer", outsider])
    assert frame is None and code == FORBIDDEN


async def test_two_different_tokens_are_refused(world: World) -> None:
    query = f"?token={world.jwt('owner')}"
    offered = ["bearer", world.jwt("member")]
    assert await refused(world, query, subprotocols=offered) == AUTH_REQUIRED


@pytest.mark.postgres
async def test_roles_on_postgres(pg_database: str) -> None:
    async with PostgresStore(pg_database) as store:
        board, users = await populate(store)
        tokens = AccessTokens(CONFIG)
        pat = new_personal_access_token()
        await store.create_token(users["member"], "ci", pat_hash(pat.token))
        async with run_app(store, authenticator=TokenAuthenticator(store, tokens)) as server:
            world = World(server, store, board, tokens, users)
            assert await refused(world, "") == AUTH_REQUIRED
            assert await refused(world, f"?token={world.jwt('outsider')}") == FORBIDDEN
            member = await YClient.connect(server.ws, board, query=f"?token={pat.token}")
            await member.edit(lambda b: b.rename("Postgres"))
            viewer = await YClient.connect(server.ws, board, query=f"?token={world.jwt('viewer')}")
            await viewer.wait_for(lambda: viewer.board.board().name == "Postgres")
            await viewer.edit(lambda b: b.rename("Viewer"))
            await asyncio.sleep(0.3)
            await member.close()
            await viewer.close()
        assert (await stored(store, board)).board().name == "Postgres"


async def test_the_principal_names_workspace_credential_and_epoch_for_the_watcher(
    world: World,
) -> None:
    authenticate = TokenAuthenticator(world.store, world.tokens)
    workspace = (await world.store.get_board(world.board)).workspace_id

    def scope(token: str) -> dict[str, Any]:
        return {
            "type": "websocket",
            "path_params": {"board_id": world.board},
            "query_string": f"token={token}".encode(),
        }

    pat = new_personal_access_token()
    record = await world.store.create_token(world.users["member"], "ci", pat_hash(pat.token))
    epoch = await world.store.access_epoch()
    assert await authenticate(scope(pat.token)) == Principal(
        user_id=world.users["member"],
        read_only=False,
        workspace_id=workspace,
        credential=Credential("pat", record.id),
        access_epoch=epoch,
    )
    session = await issue_session(world.store, CONFIG, world.users["viewer"])
    family = (await world.store.get_refresh_token(refresh_hash(session.refresh.token))).family_id
    viewer = await authenticate(scope(session.access.token))
    assert viewer.credential == Credential("session", family) and viewer.read_only
    # An access token issued without a session has nothing to revoke but the membership.
    assert (await authenticate(scope(world.jwt("owner")))).credential is None
    # Once the session ends, its access tokens open nothing, though they have not expired.
    await world.store.revoke_refresh_family(family)
    with pytest.raises(AuthRequired, match="session has ended"):
        await authenticate(scope(session.access.token))


async def test_a_personal_access_token_records_its_use_at_most_once_a_minute(world: World) -> None:
    """`taskly token list` shows when a token was last used, to the minute: a script making
    many requests does not write to the store on every one."""
    now = [time.time()]
    identify = TokenAuthenticator(world.store, world.tokens, clock=lambda: now[0]).identify
    pat = new_personal_access_token()
    await world.store.create_token(world.users["member"], "ci", pat_hash(pat.token))

    async def last_used() -> datetime | None:
        return (await world.store.get_token_by_hash(pat_hash(pat.token))).last_used_at

    await identify(pat.token)
    first = await last_used()
    assert first is not None and abs(first.timestamp() - now[0]) < 1e-3
    now[0] += 59
    await identify(pat.token)
    assert await last_used() == first
    now[0] += 2
    await identify(pat.token)
    later = await last_used()
    assert later is not None and abs(later.timestamp() - now[0]) < 1e-3
