"""What a person sees before signing in, and when a sign-in link no longer works."""

from __future__ import annotations

from ._board import OWNER, Session
from ._browser import Browser, tid


async def test_signed_out_page_shows_the_sign_in_panel(session: Session, browser: Browser) -> None:
    page = await browser.page("stranger", session.base_url)
    status = await page.goto("/")
    assert status == 200
    await page.wait_for(tid("signin"))
    text = await page.text(tid("signin"))
    assert "taskly sign-in-link" in text, f"the panel should say how to get a link: {text!r}"
    assert await page.count(tid("board-list")) == 0
    assert await page.count(tid("current-user")) == 0 or not await page.is_visible(
        tid("current-user")
    )
    await page.screenshot("signin-1-signed-out")

    # A board URL without a session shows the panel too, not a broken board.
    await page.goto(session.board_path)
    await page.wait_for(tid("signin"))
    assert await page.count(tid("board")) == 0


async def test_used_or_unknown_link_shows_an_error(session: Session, browser: Browser) -> None:
    link = await session.sign_in_url(OWNER)
    first = await browser.page("first", session.base_url)
    await first.goto(link)
    await first.wait_for(tid("board-list"), within=15)
    assert (await first.url()).rstrip("/") == session.base_url.rstrip("/"), (
        "the link lands on the home page"
    )

    # The same link in another browser: refused, and the person reads why.
    second = await browser.page("second", session.base_url)
    await second.goto(link)
    await second.wait_for(tid("error"), within=15)
    message = await second.text(tid("error"))
    assert "used" in message.lower(), f"the error should say the link was used: {message!r}"
    await second.wait_for(tid("signin"))
    assert await second.count(tid("board-list")) == 0
    await second.screenshot("signin-2-used-link")

    # A code nobody issued.
    third = await browser.page("third", session.base_url)
    await third.goto("/auth/link?code=not-a-code")
    await third.wait_for(tid("error"), within=15)
    assert (await third.text(tid("error"))).strip() != ""
    await third.wait_for(tid("signin"))
    await third.screenshot("signin-3-unknown-link")
