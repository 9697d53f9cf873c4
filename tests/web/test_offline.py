"""A browser goes offline, keeps working (a reload included), and converges when it is back."""

from __future__ import annotations

import asyncio
import time

from ._board import (
    MEMBER,
    OWNER,
    Session,
    add_card,
    close_editor,
    connection,
    doc_state,
    pending,
    set_title,
    wait_dom_matches_doc,
    wait_offline_ready,
    wait_same_cards,
)
from ._browser import Browser, card_sel, column_sel, tid


async def test_offline_edits_survive_a_reload_and_converge(
    session: Session, browser: Browser
) -> None:
    ada, bob = await session.signed_in_pages(browser, ("ada", OWNER), ("bob", MEMBER))
    await asyncio.gather(session.open_board(ada), session.open_board(bob))
    backlog, todo = session.columns[0].id, session.columns[1].id

    # Two cards everyone has before Ada loses the network.
    shared = await add_card(bob, backlog, "Shared card")
    other = await add_card(bob, todo, "Bob's card")
    await ada.wait_for(card_sel(shared))
    await ada.wait_for(card_sel(other))
    await ada.wait_texts(tid("pending-edits"), ["0"])
    await wait_offline_ready(ada)

    # Offline: the page says so, and edits are kept as pending.
    await ada.set_offline(True)
    await ada.wait_texts(tid("connection-state"), ["offline"], within=10)
    offline_1 = await add_card(ada, backlog, "Written on the train")
    await set_title(ada, shared, "Shared card, renamed offline")
    await close_editor(ada)
    assert await pending(ada) > 0, "edits made offline must be counted as not yet confirmed"
    # Bob does not see them: they have not left Ada's browser.
    assert await bob.count(card_sel(offline_1)) == 0
    await ada.screenshot("offline-1-ada-offline-with-edits")

    # A reload while offline shows the board from the browser's own storage, with the
    # offline edits and the pending count.
    await ada.reload(within=20)
    await ada.wait_for(f'[data-testid="board"][data-board-id="{session.board_id}"]', within=15)
    # The page came from the service worker's cache, not from the network.
    delivery = await ada.evaluate(
        "() => performance.getEntriesByType('navigation')[0]?.deliveryType ?? null"
    )
    assert delivery == "cache-storage", f"the offline reload was delivered by {delivery!r}"
    await ada.wait_texts(tid("connection-state"), ["offline"])
    await ada.wait_texts(f"{card_sel(offline_1)} >> {tid('card-title')}", ["Written on the train"])
    await ada.wait_texts(
        f"{card_sel(shared)} >> {tid('card-title')}", ["Shared card, renamed offline"]
    )
    await ada.wait_for(card_sel(other))
    assert await pending(ada) > 0, "the pending count must survive a reload"
    await wait_dom_matches_doc(ada)
    await ada.screenshot("offline-2-ada-reloaded-offline")

    # More offline edits after the reload, while Bob edits online.
    offline_2 = await add_card(ada, todo, "Also written on the train")
    bob_card = await add_card(bob, backlog, "Bob, online meanwhile")
    await set_title(bob, other, "Bob's card, renamed online")
    await close_editor(bob)
    # Once the server holds Bob's card, Ada (offline) still has not got it, nor Bob hers.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while bob_card not in {c["id"] for c in (await session.api_board())["cards"]}:
        assert loop.time() < deadline, "the server never listed Bob's new card"
        await asyncio.sleep(0.2)
    assert await connection(ada) == "offline"
    assert await ada.count(card_sel(bob_card)) == 0
    assert await bob.count(card_sel(offline_2)) == 0

    # Back online: both converge, nothing is pending, the state is online again.
    back = time.monotonic()
    await ada.set_offline(False)
    doc = await wait_same_cards([ada, bob], within=30)
    await ada.wait_texts(tid("pending-edits"), ["0"], within=15)
    print(f"converged, numbered and confirmed {time.monotonic() - back:.2f} s after going online")
    await ada.wait_texts(tid("connection-state"), ["online"], within=15)
    await bob.wait_texts(tid("connection-state"), ["online"])
    titles = {card_id: c["title"] for card_id, c in doc["cards"].items()}
    assert titles == {
        shared: "Shared card, renamed offline",
        other: "Bob's card, renamed online",
        offline_1: "Written on the train",
        offline_2: "Also written on the train",
        bob_card: "Bob, online meanwhile",
    }
    assert doc["cards"][offline_1]["column"] == backlog
    assert doc["cards"][offline_2]["column"] == todo
    numbers = [c["number"] for c in doc["cards"].values()]
    assert sorted(numbers) == list(range(1, 6)), f"each card numbered once: {numbers}"

    # Each page shows exactly its document, keys included.
    for page in (ada, bob):
        dom = await wait_dom_matches_doc(page)
        keys = {card["id"]: card["key"] for column in dom for card in column["cards"]}
        assert all(keys.values()), f"{page.name}: every card shows its key once synced: {keys}"
    assert (await doc_state(ada))["cards"] == (await doc_state(bob))["cards"]
    await ada.wait_for(f"{column_sel(todo)} >> {card_sel(offline_2)}")
    await ada.screenshot("offline-3-ada-back-online")
    await bob.screenshot("offline-4-bob-after-merge")

    # The server holds the same board.
    await session.wait_rest_cards(doc)
