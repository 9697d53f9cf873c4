"""Two people on one board in two real browsers: each sees the other's edits and presence."""

from __future__ import annotations

import asyncio
import re
import time

from ._board import (
    MEMBER,
    OWNER,
    Session,
    add_card,
    close_editor,
    open_editor,
    wait_dom_matches_doc,
    wait_same_cards,
)
from ._browser import Browser, card_sel, tid

KEY = re.compile(r"^[A-Z][A-Z0-9]*-\d+$")
# Whether the input/textarea matched by a CSS selector holds a value: ([selector, value]).
VALUE_IS = "([selector, value]) => document.querySelector(selector)?.value === value"


def presence_of(login: str) -> str:
    """The `presence-user` entry of one user."""
    return f'[data-testid="presence-user"][data-user="{login}"]'


async def test_two_browsers_see_each_others_edits_and_presence(
    session: Session, browser: Browser
) -> None:
    ada, bob = await session.signed_in_pages(browser, ("ada", OWNER), ("bob", MEMBER))
    await asyncio.gather(session.open_board(ada), session.open_board(bob))

    # Presence: each sees the other (and themselves, marked as such).
    await ada.wait_for(presence_of(MEMBER))
    await bob.wait_for(presence_of(OWNER))
    assert await ada.texts(presence_of(OWNER), attribute="data-self") == ["true"]
    assert await ada.texts(presence_of(MEMBER), attribute="data-self") != ["true"]

    # A card Ada adds appears for Bob with its title, then with the key the server gave it.
    backlog = session.columns[0].id
    card = await add_card(ada, backlog, "Write the release notes")
    on_bob = f'[data-testid="column"][data-column-id="{backlog}"] >> {card_sel(card)}'
    await bob.wait_texts(f"{on_bob} >> {tid('card-title')}", ["Write the release notes"])
    key = await bob.wait_until(
        """(id) => {
          const card = document.querySelector(`[data-testid="card"][data-card-id="${id}"]`)
          const el = card && card.querySelector('[data-testid="card-key"]')
          const text = el ? el.textContent.trim() : ''
          return text !== '' ? text : null
        }""",
        card,
        what="the card's key (numbered by the server)",
    )
    assert KEY.match(str(key)), f"card-key should read like TSK-1, got {key!r}"
    await ada.wait_texts(f"{card_sel(card)} >> {tid('card-key')}", [str(key)])

    # Both open the card; Ada sees that Bob has it open, and Bob that Ada has.
    await open_editor(bob, card)
    await ada.wait_texts(presence_of(MEMBER), [card], attribute="data-card-id")
    await open_editor(ada, card)
    await bob.wait_texts(presence_of(OWNER), [card], attribute="data-card-id")

    # The title is collaborative text: typed at the same time at both ends, both keep
    # their words (a form field that overwrites would lose one side).
    title = tid("card-editor-title")
    await ada.press("End", title)
    await bob.press("Home", title)
    await asyncio.gather(ada.type(title, " (draft)", 20), bob.type(title, "[1.0] ", 20))
    both = "[1.0] Write the release notes (draft)"
    for page in (ada, bob):
        await page.wait_until(VALUE_IS, [title, both], what=f"the editor's title to read {both}")
        await page.wait_texts(f"{card_sel(card)} >> {tid('card-title')}", [both])
    await ada.screenshot("live-1-ada-editor-after-both-typed")
    await bob.screenshot("live-2-bob-editor-after-both-typed")

    # Bob replaces the title; Ada sees it on the card and in her open editor. Ada writes the
    # description; Bob's open editor shows it.
    await bob.fill(title, "Write the release notes for 1.0")
    await ada.wait_texts(
        f"{card_sel(card)} >> {tid('card-title')}", ["Write the release notes for 1.0"]
    )
    await ada.wait_until(VALUE_IS, [title, "Write the release notes for 1.0"])
    description = tid("card-editor-description")
    await ada.fill(description, "Highlights, upgrade notes, thanks.")
    await bob.wait_until(
        VALUE_IS,
        [description, "Highlights, upgrade notes, thanks."],
        what="Ada's description in Bob's open editor",
    )
    await close_editor(ada)
    await ada.wait_texts(presence_of(MEMBER), [card], attribute="data-card-id")
    await ada.screenshot("live-3-ada-board-while-bob-edits")

    # Bob closes the editor: his presence no longer names a card.
    await close_editor(bob)
    await ada.wait_until(
        """(login) => {
          const el = document.querySelector(`[data-testid="presence-user"][data-user="${login}"]`)
          return el !== null && !el.getAttribute('data-card-id')
        }""",
        MEMBER,
        what="Bob's presence without a card",
    )

    # Both documents hold the same cards, and each page shows exactly its document.
    doc = await wait_same_cards([ada, bob])
    assert doc["cards"][card]["title"] == "Write the release notes for 1.0"
    assert doc["cards"][card]["description"] == "Highlights, upgrade notes, thanks."
    await wait_dom_matches_doc(ada)
    await wait_dom_matches_doc(bob)

    # The server agrees (REST reads the materialized tables, which may lag a little).
    rest = await session.wait_rest_cards(doc)
    assert rest[card]["key"] == key

    # Bob leaves (closes his page): Ada's presence list drops him within a few seconds.
    left = time.monotonic()
    await bob.close_page()
    await ada.wait_for(presence_of(MEMBER), state="detached", within=5)
    print(f"Bob left Ada's presence list {time.monotonic() - left:.2f} s after closing his page")
    await ada.wait_for(presence_of(OWNER))
    await ada.screenshot("live-4-ada-after-bob-left")
