"""Drive tests/web/browser_driver.mjs (npm playwright-core + Debian's Chromium) from asyncio.

One `Browser` is one node process holding one headless Chromium; `await browser.page(name,
base_url)` opens a new browser context (its own profile: cookies, IndexedDB, service worker)
with one page, and returns a `Page` whose methods are the driver's commands.

Selectors are Playwright selectors; `tid("board", "card")` builds
`[data-testid="board"] >> [data-testid="card"]` (see clients/web/TESTIDS.md for the contract).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._jsonlines import JsonLinesProcess

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "web" / "browser_driver.mjs"
CHROMIUM = Path(os.environ.get("TASKLY_CHROMIUM", "/usr/bin/chromium"))
#: Screenshots are also copied here (gitignored), named by scenario and step.
ARTIFACTS = ROOT / "test-artifacts" / "web"
DEFAULT_TIMEOUT = 10.0


def tid(*testids: str) -> str:
    """A selector for nested data-testid values: tid("column", "card")."""
    return " >> ".join(f'[data-testid="{t}"]' for t in testids)


def card_sel(card_id: str) -> str:
    """The `card` element of one card id."""
    return f'[data-testid="card"][data-card-id="{card_id}"]'


def column_sel(column_id: str) -> str:
    """The `column` element of one column id."""
    return f'[data-testid="column"][data-column-id="{column_id}"]'


def require_browser() -> str:
    """Return node's path; fail (never skip) when Chromium, node or playwright-core is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(`apt-get install -y chromium`; .ci/run installs it)"
        )
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the browser tests need Node 20+ on PATH")
    if not (ROOT / "node_modules" / "playwright-core" / "package.json").exists():
        pytest.fail(f"node_modules/playwright-core is missing: run `npm ci` in {ROOT} first")
    return node


class BrowserError(AssertionError):
    """A command the driver answered with ok=false (a failed wait, a missing element...)."""


class Browser(JsonLinesProcess):
    """One node process running the driver, holding one headless Chromium."""

    error = BrowserError

    def __init__(self, artifacts: Path) -> None:
        """Screenshots go to `artifacts` (and are copied to ARTIFACTS); start() launches."""
        super().__init__("browser")
        self.artifacts = artifacts
        self.version = ""
        self.pages: dict[str, Page] = {}

    async def start(self) -> None:
        """Launch node and Chromium (fail with the driver's words if Chromium does not start)."""
        node = require_browser()
        await self.launch(node, SCRIPT, {**os.environ, "TASKLY_CHROMIUM": str(CHROMIUM)})
        reply = await self.call("launch", 60)
        self.version = str(reply["version"])

    def page_log(self, ctx: str | None = None, last: int = 20) -> str:
        """The last console errors/warnings and page errors (of one context), for failures."""
        lines = [
            f"[{e['ctx']}] {e['event']}: {e.get('text', '')}"
            for e in self.events
            if ctx is None or e.get("ctx") == ctx
        ]
        return "\n".join(lines[-last:])

    async def call(self, cmd: str, within: float = DEFAULT_TIMEOUT, **args: Any) -> dict[str, Any]:
        """Send one command; return its reply; raise BrowserError if it failed."""
        reply = await self.request(cmd, within + 10, timeout_ms=int(within * 1000), **args)
        if not reply.get("ok"):
            ctx = args.get("ctx")
            raise BrowserError(
                f"{ctx or 'browser'}: {cmd} failed: {reply.get('error')}\n"
                f"page log:\n{self.page_log(ctx)}"
            )
        return reply

    async def page(self, name: str, base_url: str) -> Page:
        """A new browser context called `name` with one page (relative URLs on `base_url`)."""
        await self.call("newContext", ctx=name, base_url=base_url)
        page = self.pages[name] = Page(self, name)
        return page

    async def screenshot_all(self, prefix: str) -> list[Path]:
        """Screenshot every page still open as `<prefix>-<context>` (after a failure)."""
        shots = []
        for name, page in self.pages.items():
            with contextlib.suppress(BrowserError):
                shots.append(await page.screenshot(f"{prefix}-{name}"))
        return shots

    async def close(self) -> None:
        """Close Chromium and end node (killed if it has not exited within 10 s)."""
        await self.stop(10)


class Page:
    """One browser context (a separate profile) and its page."""

    def __init__(self, browser: Browser, name: str) -> None:
        """Use Browser.page() to make one."""
        self.browser = browser
        self.name = name

    async def _call(self, cmd: str, within: float = DEFAULT_TIMEOUT, **args: Any) -> dict[str, Any]:
        return await self.browser.call(cmd, within, ctx=self.name, **args)

    # -- navigation and network ----------------------------------------------------------------

    async def goto(self, url: str, within: float = 20.0) -> int | None:
        """Open `url`; return the main response's HTTP status (None when none, e.g. offline
        from the service worker's cache returns its status)."""
        status = (await self._call("goto", within, url=url))["status"]
        return None if status is None else int(status)

    async def reload(self, within: float = 20.0) -> int | None:
        """Reload the page; return the main response's status."""
        status = (await self._call("reload", within))["status"]
        return None if status is None else int(status)

    async def url(self) -> str:
        """The page's current URL."""
        return str((await self._call("url"))["url"])

    async def set_offline(self, offline: bool) -> None:
        """Network emulation for the whole context (Playwright's context.setOffline)."""
        await self._call("setOffline", offline=offline)

    async def close_page(self) -> None:
        """Close the page (running beforeunload), keeping the context (its profile)."""
        await self._call("closePage")

    async def new_page(self) -> None:
        """Open a new page in the context after close_page()."""
        await self._call("newPage")

    async def close(self) -> None:
        """Close the whole context."""
        await self._call("closeContext", 20)

    # -- input ---------------------------------------------------------------------------------

    async def click(self, selector: str, within: float = DEFAULT_TIMEOUT) -> None:
        """Click the element (waits until it is visible, stable and enabled)."""
        await self._call("click", within, selector=selector)

    async def fill(self, selector: str, value: str) -> None:
        """Set an input's value as a user would paste it."""
        await self._call("fill", selector=selector, value=value)

    async def type(self, selector: str, text: str, delay_ms: int = 0) -> None:
        """Type `text` key by key into the element."""
        await self._call("type", selector=selector, text=text, delay_ms=delay_ms)

    async def press(self, key: str, selector: str | None = None) -> None:
        """Press a key (on an element, or wherever the focus is)."""
        await self._call("press", key=key, selector=selector)

    async def focus(self, selector: str) -> None:
        """Focus the element."""
        await self._call("focus", selector=selector)

    async def drag_to(
        self, source: str, target: str, at: tuple[float, float] | None = None
    ) -> None:
        """Playwright's locator.dragTo(), dropping at the point `at` (fractions of the
        target's box; default its middle)."""
        await self._call(
            "dragTo", source=source, target=target, at=None if at is None else list(at)
        )

    async def mouse_drag(
        self, source: str, target: str, at: tuple[float, float] = (0.5, 0.5), steps: int = 12
    ) -> None:
        """Press on `source`, move in `steps` to the point `at` (fractions of the box) of
        `target`, release."""
        await self._call("mouseDrag", source=source, target=target, at=list(at), steps=steps)

    # -- reading -------------------------------------------------------------------------------

    async def wait_for(
        self, selector: str, state: str = "visible", within: float = DEFAULT_TIMEOUT
    ) -> None:
        """Wait until the element is visible / hidden / attached / detached."""
        await self._call("waitForSelector", within, selector=selector, state=state)

    async def texts(self, selector: str, attribute: str | None = None) -> list[str | None]:
        """The trimmed text (or one attribute) of every element matching, in DOM order."""
        values = (await self._call("texts", selector=selector, attribute=attribute))["values"]
        return list(values)

    async def text(self, selector: str) -> str:
        """The trimmed text of the one element matching (fails unless exactly one)."""
        values = await self.texts(selector)
        assert len(values) == 1, f"{self.name}: {selector} matched {len(values)} elements"
        return str(values[0])

    async def wait_texts(
        self,
        selector: str,
        equals: list[str | None],
        *,
        attribute: str | None = None,
        within: float = DEFAULT_TIMEOUT,
    ) -> list[str | None]:
        """Wait until texts(selector, attribute) equals `equals` exactly."""
        reply = await self._call(
            "waitForTexts", within, selector=selector, equals=equals, attribute=attribute
        )
        return list(reply["values"])

    async def wait_text(
        self,
        selector: str,
        text: str,
        *,
        attribute: str | None = None,
        within: float = DEFAULT_TIMEOUT,
    ) -> list[str | None]:
        """Wait until one of the elements matching reads `text` (or has it as `attribute`)."""
        reply = await self._call(
            "waitForTexts", within, selector=selector, text=text, attribute=attribute
        )
        return list(reply["values"])

    async def count(self, selector: str) -> int:
        """How many elements match now."""
        return int((await self._call("count", selector=selector))["count"])

    async def is_visible(self, selector: str) -> bool:
        """Whether the first element matching is visible now."""
        return bool((await self._call("isVisible", selector=selector))["visible"])

    async def evaluate(self, expression: str, arg: Any = None, within: float = 20.0) -> Any:
        """Call the JS function `expression` with `arg` in the page; return its JSON value
        (a returned promise is awaited)."""
        return (await self._call("evaluate", within, expression=expression, arg=arg))["value"]

    async def wait_until(
        self, expression: str, arg: Any = None, *, within: float = DEFAULT_TIMEOUT, what: str = ""
    ) -> Any:
        """Poll the JS function `expression(arg)` until it returns a truthy value; return it."""
        try:
            reply = await self._call("waitForFunction", within, expression=expression, arg=arg)
        except BrowserError as exc:
            raise BrowserError(f"{self.name}: waiting for {what or expression}: {exc}") from None
        return reply["value"]

    async def screenshot(self, name: str) -> Path:
        """Save a full-page PNG as `<name>.png` in the test's artefacts and in ARTIFACTS."""
        path = self.browser.artifacts / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await self._call("screenshot", 20, path=str(path), full_page=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, ARTIFACTS / path.name)
        return ARTIFACTS / path.name
