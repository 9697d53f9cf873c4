"""Sign-in and access on `/sync` against the real `taskly serve` (docs/sync.md, close codes):
no or a bad token is refused with 4401 before the server sends a byte, a user outside the
board's workspace with 4403, a viewer reads but never writes, and the first start on an empty
store prints a one-time sign-in link.

Users and tokens are made as an operator makes them: `taskly user create NAME --workspace W
--role R` and `taskly token create --user NAME` (StoreSpec.user).
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import websockets
from pycrdt import Map
from websockets.typing import Subprotocol

from crdt_model import new_id, project

from . import _wire as w
from ._harness import Refusal, StoreSpec, TasklyServer, card_update, refusal, wait_metrics
from .conftest import Clients, ServerFactory

SIGN_IN = re.compile(r"^Sign in: (?P<url>http://\S+/auth/link\?code=\S+)$")


def assert_refused(
    found: Refusal | None, code: int, token: str | None = None, case: str = ""
) -> None:
    """A refusal with `code`, a reason, no frame before the close, and no token in the reason."""
    case = f"{case}: " if case else ""
    assert found is not None, f"{case}the server admitted a connection it must refuse ({code})"
    assert found.code == code, f"{case}expected {code}, got {found.code} {found.reason!r}"
    assert found.reason.strip(), f"{case}close code {code} came without a reason"
    assert found.frames == [], f"{case}the server sent {found.frames!r} before refusing"
    if token:
        assert token not in found.reason, f"{case}the close reason repeats the token"


# -- 4401: no token, or one that identifies nobody ----------------------------------------------


async def test_no_token_is_refused_with_4401_before_any_byte(
    server: TasklyServer, board: str
) -> None:
    assert_refused(await refusal(server.board_url(board, token=None)), 4401)
    # An empty `token=` is no token either; nor is a lone "bearer" subprotocol.
    assert_refused(await refusal(server.board_url(board, token="")), 4401)
    bare = await refusal(server.board_url(board, token=None), subprotocols=["bearer"])
    assert_refused(bare, 4401)
    # The refusal does not depend on the board existing: nobody learns which ids exist.
    assert_refused(await refusal(server.board_url(new_id(), token=None)), 4401)


BAD_TOKENS = {
    "unknown PAT": "tsk_pat_" + "A" * 43,  # the shape of a PAT, but never issued
    "garbage": "not-a-token",
    "foreign JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",  # signed by someone else
}


async def test_bad_token_is_refused_with_4401(server: TasklyServer, board: str) -> None:
    for kind, token in BAD_TOKENS.items():
        by_query = await refusal(server.board_url(board, token=token))
        assert_refused(by_query, 4401, token, kind)
        bearer = await refusal(server.board_url(board, token=None), subprotocols=["bearer", token])
        assert_refused(bearer, 4401, token, f"{kind} (subprotocol)")


async def test_revoked_token_is_refused_with_4401(server: TasklyServer, board: str) -> None:
    ada = await server.store.auser("ada", role="owner")
    assert await refusal(server.board_url(board, ada.token)) is None, "a fresh token was refused"
    listed = server.store.taskly("token", "list", "--user", "ada").splitlines()
    assert len(listed) == 1, listed
    server.store.taskly("token", "revoke", listed[0].split("\t")[0])
    assert_refused(await refusal(server.board_url(board, ada.token)), 4401, ada.token)


@pytest.mark.node
async def test_stock_provider_without_a_token_stops_at_4401(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    js = await clients.js("node")
    await js.open(server.sync_url, board, token=None)
    closed = await js.wait_event("closed")
    assert closed["code"] == 4401 and closed["reason"], closed
    status = await js.call("status")
    assert status["should_connect"] is False, status
    assert await js.card_ids() == set(), "a refused provider received the board"


# -- 4403: a real user, but not a member of the board's workspace --------------------------------


async def test_user_outside_the_workspace_is_refused_with_4403(
    server: TasklyServer, board: str
) -> None:
    elsewhere = await server.store.auser("elsewhere", workspace="Other", role="owner")
    nowhere = await server.store.auser("nowhere", workspace=None)
    for user in (elsewhere, nowhere):
        assert_refused(await refusal(server.board_url(board, user.token)), 4403, user.token)
        bearer = await refusal(
            server.board_url(board, token=None), subprotocols=["bearer", user.token]
        )
        assert_refused(bearer, 4403, user.token)
    # The owner of the other workspace gets in there: the refusal was about membership.
    other = await server.store.acreate_board("Their board", "--workspace", "Other")
    assert await refusal(server.board_url(other, elsewhere.token)) is None


@pytest.mark.node
async def test_stock_provider_of_a_non_member_stops_at_4403(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    outsider = await server.store.auser("outsider", workspace="Other")
    js = await clients.js("node")
    await js.open(server.sync_url, board, token=outsider.token)
    closed = await js.wait_event("closed")
    assert closed["code"] == 4403 and closed["reason"], closed
    assert (await js.call("status"))["should_connect"] is False


async def test_every_member_role_connects_by_query_or_subprotocol(
    server: TasklyServer, board: str
) -> None:
    for role in ("admin", "member", "viewer"):
        user = await server.store.auser(f"a-{role}", role=role)
        assert await refusal(server.board_url(board, user.token)) is None, f"{role} was refused"
    # And the bearer subprotocol is accepted as "bearer" (never echoing the token).
    assert server.token is not None
    async with websockets.connect(
        server.board_url(board, token=None),
        subprotocols=[Subprotocol("bearer"), Subprotocol(server.token)],
        proxy=None,
        ping_interval=None,
    ) as ws:
        assert ws.subprotocol == "bearer", "the server must echo `bearer`, never the token"


# -- viewers: read everything, write nothing ------------------------------------------------------


async def test_viewer_reads_everything_but_its_edits_never_reach_storage(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    viewer = await server.store.auser("v", role="viewer")
    owner = clients.py("owner")
    await owner.connect_synced(server.board_url(board))
    user = new_id()
    before = owner.board.create_card("Made by the owner", created_by=user)

    reader = clients.py("viewer")
    await reader.connect_synced(server.board_url(board, viewer.token))
    await reader.wait_cards([before])
    # Live edits reach the viewer too.
    live = owner.board.create_card("Made while the viewer watches", created_by=user)
    await reader.wait_cards([live])

    # The viewer edits its replica: a new card, a title change, a move, a rename.
    forbidden = reader.board.create_card("Written by a viewer", created_by=user)
    reader.board.insert_text(before, "title", 0, "[viewer] ")
    reader.board.move_card(before, column_id=reader.board.columns()[4].id)
    reader.board.rename("Renamed by a viewer")
    # A raw connection with the viewer's token sends an update too; sync step 1 after it is
    # answered (the connection is kept: dropping is silent), so the update was handled.
    raw_card, raw_update = card_update("from a raw viewer connection")
    viewer_url = server.board_url(board, viewer.token)
    async with (
        websockets.connect(viewer_url, proxy=None, ping_interval=None) as ws,
        asyncio.timeout(10),
    ):
        await ws.send(w.sync_message(w.SYNC_UPDATE, raw_update))
        await ws.send(w.sync_message(w.SYNC_STEP1, w.encode_state_vector({})))
        async for message in ws:
            assert isinstance(message, bytes)
            if message[:2] == bytes([w.MSG_SYNC, w.SYNC_STEP2]):
                break
    # Closing makes the server read everything the viewer sent before the close.
    await reader.disconnect()
    await wait_metrics(
        server, lambda m: m.value("taskly_connections") == 1, "only the owner to stay connected"
    )

    # Reconnecting as the owner: none of the viewer's edits is there.
    fresh = clients.py("owner again")
    await fresh.connect_synced(server.board_url(board))
    seen = fresh.projection()
    assert {c.id for c in seen.cards} == {before, live}, "a viewer's card reached the board"
    made = {c.id: c for c in seen.cards}[before]
    assert made.title == "Made by the owner" and made.column_id == seen.columns[0].id
    assert seen.board.name == "E2E board"
    assert forbidden not in fresh.card_ids() and raw_card not in fresh.card_ids()
    assert forbidden not in owner.card_ids(), "a viewer's card reached a connected owner"

    # And in the store, after a clean stop (which compacts the board).
    assert await server.astop() == 0, server.output()
    stored = await server.store.load_doc(board)
    stored_ids = set(stored.get("cards", type=Map).keys())
    assert stored_ids == {before, live}, f"the store holds {stored_ids - {before, live}}"
    view = project(stored)
    assert view.board.name == "E2E board"
    assert {c.id: c.title for c in view.cards}[before] == "Made by the owner"


@pytest.mark.node
async def test_node_viewer_edits_are_dropped(
    server: TasklyServer, board: str, clients: Clients
) -> None:
    viewer = await server.store.auser("v", role="viewer")
    owner = clients.py("owner")
    await owner.connect_synced(server.board_url(board))
    js = await clients.js("viewer")
    await js.open(server.sync_url, board, token=viewer.token)
    await js.wait_synced()
    column = owner.projection().columns[0].id
    card = new_id()
    await js.create_card(card, "Node viewer card", column=column, rank="a0", created_by=new_id())
    await js.disconnect()
    await wait_metrics(
        server, lambda m: m.value("taskly_connections") == 1, "the viewer's connection to end"
    )
    fresh = clients.py("owner again")
    await fresh.connect_synced(server.board_url(board))
    assert card not in fresh.card_ids() and card not in owner.card_ids()
    assert await server.astop() == 0, server.output()
    assert card not in (await server.store.load_doc(board)).get("cards", type=Map).keys()


# -- the first start ------------------------------------------------------------------------------


def sign_in_lines(server: TasklyServer, run: int) -> list[str]:
    """The `Sign in: ...` lines run `run` (0-based) printed on stdout."""
    return [line for line in server.runs[run].stdout if line.startswith("Sign in: ")]


async def test_first_start_on_an_empty_store_prints_a_sign_in_link_once(
    any_store: StoreSpec, taskly: ServerFactory
) -> None:
    server = taskly(any_store, provision=False)
    assert await server.astop() == 0, server.output()  # stdout is complete once it exited
    lines = sign_in_lines(server, 0)
    assert len(lines) == 1, f"the first start must print one sign-in line:\n{server.output()}"
    assert SIGN_IN.match(lines[0]), f"not a `Sign in: http://...` line: {lines[0]!r}"
    # The owner it made is a user now: a second start prints no link.
    await server.astart()
    assert await server.astop() == 0, server.output()
    assert sign_in_lines(server, 1) == [], server.output()
    assert server.runs[1].stdout == [f"Taskly listening on {server.http_url}"]


async def test_no_sign_in_link_when_users_exist(
    sqlite_store: StoreSpec, taskly: ServerFactory
) -> None:
    # The harness made its owner before the start: the store was not empty.
    server = taskly(sqlite_store)
    assert await server.astop() == 0, server.output()
    assert server.runs[0].stdout == [f"Taskly listening on {server.http_url}"]


# -- live changes reach open connections within 5 seconds ---------------------------------------

LIVE_WITHIN = 5.0


async def test_revoking_a_token_with_the_cli_closes_its_live_connection_within_5_s(
    any_store: StoreSpec, taskly: ServerFactory, clients: Clients
) -> None:
    server = taskly(any_store)
    board = await server.store.acreate_board("Live")
    ada = await server.store.auser("ada", role="member")
    bob = await server.store.auser("bob", role="member")
    ada_client, bob_client = clients.py("ada"), clients.py("bob")
    await ada_client.connect_synced(server.board_url(board, ada.token))
    await bob_client.connect_synced(server.board_url(board, bob.token))
    listed = await asyncio.to_thread(server.store.taskly, "token", "list", "--user", "ada")
    await asyncio.to_thread(server.store.taskly, "token", "revoke", listed.split("\t")[0])
    revoked_at = asyncio.get_running_loop().time()
    code, reason = await ada_client.wait_closed(within=LIVE_WITHIN)
    took = asyncio.get_running_loop().time() - revoked_at
    assert code == 4401 and "revoked" in reason, (code, reason)
    assert took < LIVE_WITHIN, f"closed {took:.1f} s after the revocation"
    assert ada.token not in reason
    # Bob's connection is untouched and still writes.
    card = bob_client.board.create_card("still here", created_by=new_id())
    fresh = clients.py("owner")
    await fresh.connect_synced(server.board_url(board))
    await fresh.wait_cards([card])
    assert not bob_client.closed.is_set()


async def test_demoting_and_removing_a_member_through_the_api_reaches_the_live_connection(
    server: TasklyServer, clients: Clients
) -> None:
    board = await server.store.acreate_board("Live roles")
    cy = await server.store.auser("cy", role="member")
    cy_client, owner = clients.py("cy"), clients.py("owner")
    await cy_client.connect_synced(server.board_url(board, cy.token))
    await owner.connect_synced(server.board_url(board))
    written = cy_client.board.create_card("written as a member", created_by=new_id())
    await owner.wait_cards([written])

    headers = {"Authorization": f"Bearer {server.store.owner.token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as api:
        (workspace,) = (await api.get("/api/workspaces")).json()["workspaces"]
        members = (await api.get(f"/api/workspaces/{workspace['id']}/members")).json()
        cy_id = next(m["user_id"] for m in members["members"] if m["login"] == "cy")
        member_url = f"/api/workspaces/{workspace['id']}/members/{cy_id}"

        # Demoted to viewer while connected: the connection stays open, its edits are dropped.
        demoted = await api.patch(member_url, json={"role": "viewer"})
        assert demoted.status_code == 200, demoted.text
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIVE_WITHIN
        dropped = None
        while dropped is None and loop.time() < deadline:
            probe = cy_client.board.create_card("written as a viewer?", created_by=new_id())
            await asyncio.sleep(0.5)
            if probe not in owner.card_ids():
                dropped = probe
        assert dropped is not None, "the demotion did not reach the connection within 5 s"
        await asyncio.sleep(1.0)
        assert dropped not in owner.card_ids()
        assert not cy_client.closed.is_set()

        # Removed: the connection is closed with 4403 within 5 s.
        removed = await api.delete(member_url)
        assert removed.status_code == 204, removed.text
        removed_at = loop.time()
        code, reason = await cy_client.wait_closed(within=LIVE_WITHIN)
        assert code == 4403 and reason, (code, reason)
        assert loop.time() - removed_at < LIVE_WITHIN
    # Nothing cy wrote as a viewer was stored.
    assert await server.astop() == 0, server.output()
    stored = set((await server.store.load_doc(board)).get("cards", type=Map).keys())
    assert written in stored and dropped not in stored
