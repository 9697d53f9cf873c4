"""Cards dragged (and moved with the keyboard) by one person appear moved for the other, in
the right order, in the documents, the DOM and the server's tables."""

from __future__ import annotations

import asyncio

from ._board import (
    MEMBER,
    OWNER,
    Session,
    add_card,
    doc_board,
    doc_state,
    dom_board,
    sorted_cards,
    wait_dom_matches_doc,
    wait_same_cards,
)
from ._browser import Browser, Page, card_sel, column_sel, tid


async def wait_column(page: Page, column: str, cards: list[str]) -> None:
    """Wait until the page shows exactly `cards`, in this order, in `column`."""
    await page.wait_texts(
        f"{column_sel(column)} >> {tid('card')}", list(cards), attribute="data-card-id"
    )


async def test_dragged_cards_move_for_everyone(session: Session, browser: Browser) -> None:
    ada, bob = await session.signed_in_pages(browser, ("ada", OWNER), ("bob", MEMBER))
    await asyncio.gather(session.open_board(ada), session.open_board(bob))
    first, second = session.columns[0].id, session.columns[1].id

    c1 = await add_card(ada, first, "One")
    c2 = await add_card(ada, first, "Two")
    c3 = await add_card(ada, first, "Three")
    c4 = await add_card(ada, first, "Four")
    await wait_column(bob, first, [c1, c2, c3, c4])
    await ada.screenshot("drag-1-before")

    # Between columns: drop "Three" on the empty part of the second column (its end).
    await ada.mouse_drag(
        card_sel(c3), f"{column_sel(second)} >> {tid('column-cards')}", at=(0.5, 0.8)
    )
    await wait_column(ada, second, [c3])
    await wait_column(bob, second, [c3])
    await wait_column(bob, first, [c1, c2, c4])

    # Within a column, between two cards: "Four" dropped on the upper half of "Two" lands
    # between "One" and "Two".
    await ada.mouse_drag(card_sel(c4), card_sel(c2), at=(0.5, 0.2))
    await wait_column(ada, first, [c1, c4, c2])
    await wait_column(bob, first, [c1, c4, c2])
    in_bob = await doc_state(bob)
    assert sorted_cards(in_bob, first) == [c1, c4, c2], "Bob's document orders them by rank"
    assert in_bob["cards"][c4]["column"] == first

    # After a card, into the other column, with Playwright's dragTo: "One" dropped on the
    # lower half of "Three" lands after it.
    await ada.drag_to(card_sel(c1), card_sel(c3), at=(0.5, 0.8))
    await wait_column(ada, second, [c3, c1])
    await wait_column(bob, second, [c3, c1])
    await wait_column(bob, first, [c4, c2])

    doc = await wait_same_cards([ada, bob])
    assert sorted_cards(doc, first) == [c4, c2]
    assert sorted_cards(doc, second) == [c3, c1]
    ranks = {card: doc["cards"][card]["rank"] for card in (c4, c2)}
    assert ranks[c4].encode() < ranks[c2].encode(), f"ranks out of order: {ranks}"
    for page in (ada, bob):
        dom = await wait_dom_matches_doc(page)
        assert dom_board(dom) == doc_board(await doc_state(page))
    await bob.screenshot("drag-2-bob-sees-moves")

    # Keyboard: focus "Two" and Alt+ArrowUp moves it above "Four"; Bob sees it.
    await ada.focus(card_sel(c2))
    await ada.press("Alt+ArrowUp")
    await wait_column(ada, first, [c2, c4])
    await wait_column(bob, first, [c2, c4])
    focused = await ada.evaluate(
        "() => document.activeElement?.getAttribute('data-card-id') ?? null"
    )
    assert focused == c2, "focus stays on the card moved with the keyboard"
    # Enter opens the focused card's editor, Escape closes it.
    await ada.press("Enter")
    await ada.wait_for(f'[data-testid="card-editor"][data-card-id="{c2}"]')
    await ada.press("Escape")
    await ada.wait_for(tid("card-editor"), state="hidden")

    doc = await wait_same_cards([ada, bob])
    await session.wait_rest_cards(doc)
    rest = await session.api_board()
    by_column: dict[str, list[tuple[bytes, str]]] = {}
    for card in rest["cards"]:
        by_column.setdefault(card["column_id"], []).append((card["rank"].encode(), card["id"]))
    assert [card for _, card in sorted(by_column[first])] == [c2, c4]
    assert [card for _, card in sorted(by_column[second])] == sorted_cards(doc, second)
