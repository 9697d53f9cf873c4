"""Two Python replicas (clients/python BoardReplica, each in its own SQLite file) and a
browser all edit one board while disconnected; after they sync, all three and the server hold
the same cards."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from clients.python import BoardReplica, SyncSession, sync_url

from ._board import (
    MEMBER,
    OWNER,
    Session,
    add_card,
    close_editor,
    open_editor,
    pending,
    wait_dom_matches_doc,
    wait_same_cards,
)
from ._browser import Browser, Page, card_sel, tid


def replica_cards(replica: BoardReplica) -> dict[str, dict[str, Any]]:
    """The replica's unarchived cards, in the fields DOC_STATE_JS reads."""
    return {
        card.id: {
            "title": card.title,
            "description": card.description,
            "column": card.column_id,
            "rank": card.rank,
            "number": card.number,
            "archived": card.archived,
        }
        for card in replica.board.cards(include_archived=False)
    }


async def user_ids(session: Session) -> dict[str, str]:
    """Login -> user id of the workspace's members (over REST)."""
    async with httpx.AsyncClient(base_url=session.base_url, trust_env=False, timeout=10) as http:
        response = await http.get(
            f"/api/workspaces/{session.workspace_id}/members",
            headers={"Authorization": f"Bearer {session.tokens[OWNER]}"},
        )
    assert response.status_code == 200, response.text
    return {m["login"]: m["user_id"] for m in response.json()["members"]}


async def sync(session: SyncSession, name: str) -> None:
    """One sync_once; everything the replica edited must be confirmed at the end."""
    result = await session.sync_once(within=20)
    assert result.pending == 0, f"{name}: {result.pending} edits still unconfirmed: {result}"
    assert not result.read_only, f"{name}: the server treated this replica as read-only"


async def wait_browser_has(page: Page, cards: dict[str, dict[str, Any]], within: float) -> None:
    """Wait until the page's document holds exactly `cards` (unarchived), field for field."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        state = await page.evaluate(
            "() => { const t = window.taskly; if (!t) return null;"
            " const out = {}; t.doc.getMap('cards').forEach((c, id) => {"
            " if (c.get('archived')) return;"
            " out[id] = { title: c.get('title').toString(),"
            " description: c.get('description').toString(), column: c.get('column'),"
            " rank: c.get('rank'), number: c.get('number') ?? null, archived: false } });"
            " return out }"
        )
        if state == cards:
            return
        if loop.time() >= deadline:
            raise AssertionError(
                f"{page.name}'s document differs from the replicas after {within} s\n"
                f"browser:  {state}\nreplicas: {cards}"
            )
        await asyncio.sleep(0.1)


async def test_replicas_and_browser_edit_offline_and_converge(
    session: Session, browser: Browser, tmp_path: Path
) -> None:
    ids = await user_ids(session)
    url = sync_url(session.base_url, session.board_id)
    one = BoardReplica.open(tmp_path / "one.db", session.board_id)
    two = BoardReplica.open(tmp_path / "two.db", session.board_id)
    try:
        sync_one = SyncSession(one, url, session.tokens[OWNER])
        sync_two = SyncSession(two, url, session.tokens[MEMBER])
        await sync(sync_one, "replica one")
        await sync(sync_two, "replica two")
        backlog, todo, doing = (c.id for c in session.columns[:3])

        # Everyone starts from one shared card, made by replica one.
        shared = one.board.create_card("Shared card", created_by=ids[OWNER], column_id=backlog)
        await sync(sync_one, "replica one")
        await sync(sync_two, "replica two")
        assert shared in replica_cards(two)

        ada = await session.signed_in_page(browser, "ada", OWNER)
        await session.open_board(ada)
        await ada.wait_texts(f"{card_sel(shared)} >> {tid('card-title')}", ["Shared card"])

        # All three disconnected: the replicas simply do not sync, the browser goes offline.
        await ada.set_offline(True)
        await ada.wait_texts(tid("connection-state"), ["offline"])
        from_one = one.board.create_card("From replica one", created_by=ids[OWNER], column_id=todo)
        one.board.set_title(shared, "Shared card, renamed by replica one")
        from_two = two.board.create_card(
            "From replica two", created_by=ids[MEMBER], column_id=backlog
        )
        two.board.move_card(shared, column_id=doing)
        assert one.pending_edits() > 0 and two.pending_edits() > 0
        from_browser = await add_card(ada, backlog, "From the browser")
        await open_editor(ada, shared)
        await ada.fill(tid("card-editor-description"), "Described in the browser, offline.")
        await close_editor(ada)
        assert await pending(ada) > 0
        await ada.screenshot("replicas-1-browser-offline")

        # Reconnect in turn; a second round brings each replica what the others sent later.
        await sync(sync_one, "replica one")
        await sync(sync_two, "replica two")
        await ada.set_offline(False)
        await ada.wait_texts(tid("pending-edits"), ["0"], within=20)
        await wait_same_cards([ada], within=20)  # every card numbered, as the browser sees it
        await sync(sync_one, "replica one")
        await sync(sync_two, "replica two")

        cards = replica_cards(one)
        assert replica_cards(two) == cards
        assert set(cards) == {shared, from_one, from_two, from_browser}
        assert cards[shared]["title"] == "Shared card, renamed by replica one"
        assert cards[shared]["column"] == doing
        assert cards[shared]["description"] == "Described in the browser, offline."
        assert sorted(c["number"] for c in cards.values()) == [1, 2, 3, 4]
        await wait_browser_has(ada, cards, within=15)
        await wait_dom_matches_doc(ada)
        await ada.wait_texts(tid("connection-state"), ["online"])
        await ada.screenshot("replicas-2-browser-converged")

        rest = await session.wait_rest_cards({"cards": cards})
        assert {card_id: c["key"] for card_id, c in rest.items()} == {
            card_id: f"TSK-{c['number']}" for card_id, c in cards.items()
        }
    finally:
        one.close()
        two.close()
