"""What the browser tests do on a board, in the terms of clients/web/TESTIDS.md: sign in with a
one-time link, open a board, add and edit cards, read the board back from the DOM, from the
page's Yjs document (`window.taskly.doc`) and from the server's REST API.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.e2e._harness import TasklyServer

from ._browser import ROOT, Browser, Page, card_sel, column_sel, tid

WEB_DIST = ROOT / "clients" / "web" / "dist"
OWNER = "e2e"  # the owner the harness makes (tests/e2e/_auth.py)
MEMBER = "bob"

# A card as the tests compare it in the document, the DOM and the REST API.
CardView = dict[str, Any]

# The page's document, reduced to what the tests compare: {"columns": {id: {name, rank}},
# "cards": {id: {title, description, column, rank, number, archived}}}.
DOC_STATE_JS = """
() => {
  const t = window.taskly
  if (!t || !t.doc) return null
  const text = (v) => (v === undefined || v === null) ? null : v.toString()
  const cards = {}
  t.doc.getMap('cards').forEach((card, id) => {
    if (!card || typeof card.get !== 'function') return
    cards[id] = {
      title: text(card.get('title')),
      description: text(card.get('description')),
      column: card.get('column') ?? null,
      rank: card.get('rank') ?? null,
      number: card.get('number') ?? null,
      archived: card.get('archived') ?? false,
    }
  })
  const columns = {}
  t.doc.getMap('columns').forEach((column, id) => {
    if (!column || typeof column.get !== 'function') return
    columns[id] = { name: column.get('name') ?? null, rank: column.get('rank') ?? null }
  })
  return { boardId: t.boardId, cards, columns }
}
"""

# The board as the DOM shows it: columns in order, each with its cards in order.
DOM_STATE_JS = """
() => {
  const board = document.querySelector('[data-testid="board"]')
  if (!board) return null
  const q = (root, id) => root.querySelector(`[data-testid="${id}"]`)
  return [...board.querySelectorAll('[data-testid="column"]')].map((column) => ({
    id: column.getAttribute('data-column-id'),
    name: (q(column, 'column-name')?.textContent ?? '').trim(),
    cards: [...column.querySelectorAll('[data-testid="card"]')].map((card) => ({
      id: card.getAttribute('data-card-id'),
      title: (q(card, 'card-title')?.textContent ?? '').trim(),
      key: (q(card, 'card-key')?.textContent ?? '').trim(),
      rank: card.getAttribute('data-rank'),
    })),
  }))
}
"""

# The card id shown with a given title (exactly one such card), or null.
CARD_BY_TITLE_JS = """
(title) => {
  const cards = [...document.querySelectorAll('[data-testid="card"]')].filter((card) =>
    (card.querySelector('[data-testid="card-title"]')?.textContent ?? '').trim() === title)
  return cards.length === 1 ? cards[0].getAttribute('data-card-id') : null
}
"""


def sorted_cards(doc: dict[str, Any], column: str) -> list[str]:
    """The unarchived cards of one column in board order (rank, then id; byte-wise)."""
    cards = [
        (str(c["rank"]).encode(), card_id.encode(), card_id)
        for card_id, c in doc["cards"].items()
        if c["column"] == column and not c["archived"]
    ]
    return [card_id for _, _, card_id in sorted(cards)]


def doc_board(doc: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(column id, its card ids in order) for every column in rank order, from a DOC_STATE."""
    columns = sorted(doc["columns"], key=lambda c: (str(doc["columns"][c]["rank"]).encode(), c))
    return [(column, sorted_cards(doc, column)) for column in columns]


def dom_board(dom: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(column id, its card ids in order) from a DOM_STATE."""
    return [(c["id"], [card["id"] for card in c["cards"]]) for c in dom]


@dataclass
class Column:
    """A column as the REST API lists it."""

    id: str
    name: str
    role: str | None


class Session:
    """A running server with a board and two users who can sign browsers in."""

    def __init__(self, server: TasklyServer) -> None:
        """Call setup() (blocking: it runs the CLI) before use."""
        self.server = server
        self.board_id = ""
        self.workspace_id = ""
        self.columns: list[Column] = []
        self.tokens: dict[str, str] = {}

    def setup(self, board_name: str = "Browser board") -> None:
        """Make `bob` (member of Default) unless made already, and a new board; read its
        columns over REST."""
        store = self.server.store
        owner = store.owner
        self.tokens[OWNER] = owner.token
        member = store.users.get(MEMBER) or store.user(MEMBER, role="member")
        self.tokens[MEMBER] = member.token
        # Over REST, as the app's "new board" does: the board's document and its tables exist
        # at once (a board made by `taskly board create` is materialized only once loaded).
        with httpx.Client(
            base_url=self.server.http_url,
            headers={"Authorization": f"Bearer {owner.token}"},
            trust_env=False,
            timeout=10,
        ) as http:
            workspaces = http.get("/api/workspaces")
            assert workspaces.status_code == 200, workspaces.text
            listed = workspaces.json()
            items = listed["workspaces"]
            workspace = next(w for w in items if w["name"] == "Default")
            created = http.post(
                f"/api/workspaces/{workspace['id']}/boards", json={"name": board_name}
            )
            assert created.status_code == 201, created.text
            board = created.json()
        self.board_id = board["id"]
        self.workspace_id = workspace["id"]
        body = board["columns"]
        columns = sorted(body, key=lambda c: (c["rank"].encode(), c["id"]))
        self.columns = [Column(c["id"], c["name"], c.get("role")) for c in columns]
        assert len(self.columns) >= 3, f"a new board should have its standard columns: {body}"

    @property
    def base_url(self) -> str:
        """http://HOST:PORT of the server."""
        return self.server.http_url

    @property
    def board_path(self) -> str:
        """The board page's path."""
        return f"/b/{self.board_id}"

    def sign_in_code(self, login: str) -> str:
        """A fresh one-time sign-in code for `login` from `taskly sign-in-link --user`."""
        out = self.server.store.taskly("sign-in-link", "--user", login).strip()
        query = parse_qs(urlsplit(out.splitlines()[-1]).query)
        assert "code" in query, f"`taskly sign-in-link` printed no link with a code: {out!r}"
        return query["code"][0]

    async def sign_in_url(self, login: str) -> str:
        """The server's /auth/link URL with a fresh code for `login`."""
        code = await asyncio.to_thread(self.sign_in_code, login)
        return f"/auth/link?code={code}"

    async def signed_in_page(self, browser: Browser, name: str, login: str) -> Page:
        """A new browser context signed in as `login` with a one-time link (it lands on `/`)."""
        page = await browser.page(name, self.base_url)
        await page.goto(await self.sign_in_url(login))
        await page.wait_for(tid("board-list"), within=15)
        await page.wait_text(tid("current-user"), login)
        return page

    async def signed_in_pages(self, browser: Browser, *who: tuple[str, str]) -> list[Page]:
        """signed_in_page() for each (context name, login), concurrently."""
        return list(
            await asyncio.gather(
                *(self.signed_in_page(browser, name, login) for name, login in who)
            )
        )

    async def open_board(self, page: Page) -> None:
        """Open the board from the home page's board list, and wait for its first sync."""
        link = f'[data-testid="board-link"][data-board-id="{self.board_id}"]'
        await page.click(link)
        await self.wait_board_synced(page)

    async def wait_board_synced(self, page: Page, within: float = 15.0) -> None:
        """Wait for the board with its columns, synced and online."""
        await page.wait_for(
            f'[data-testid="board"][data-board-id="{self.board_id}"]', within=within
        )
        await page.wait_for(tid("board") + '[data-synced="true"]', state="attached", within=within)
        await page.wait_texts(tid("connection-state"), ["online"], within=within)
        await page.wait_until(
            "() => window.taskly && window.taskly.doc.getMap('columns').size > 0",
            within=within,
            what="window.taskly with the board's columns",
        )

    async def api_board(self, login: str = OWNER) -> dict[str, Any]:
        """GET /api/boards/{id} with `login`'s personal access token."""
        async with httpx.AsyncClient(base_url=self.base_url, trust_env=False, timeout=10) as http:
            response = await http.get(
                f"/api/boards/{self.board_id}",
                headers={"Authorization": f"Bearer {self.tokens[login]}"},
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_rest_cards(
        self, doc: dict[str, Any], within: float = 15.0
    ) -> dict[str, dict[str, Any]]:
        """Wait until GET /api/boards/{id} lists exactly the document's unarchived cards with
        the same title, description, column, rank and number; return them by id.

        REST reads come from the materialized tables, projected shortly after each update.
        """
        expected = {
            card_id: {
                "title": c["title"],
                "description": c["description"],
                "column_id": c["column"],
                "rank": c["rank"],
                "number": c["number"],
            }
            for card_id, c in doc["cards"].items()
            if not c["archived"]
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            body = await self.api_board()
            cards = {c["id"]: c for c in body["cards"] if not c["archived"]}
            seen = {
                card_id: {field: c.get(field) for field in next(iter(expected.values()), {})}
                for card_id, c in cards.items()
            }
            if seen == expected:
                return cards
            if loop.time() >= deadline:
                raise AssertionError(
                    f"the REST API's cards differ from the browsers' document after {within} s\n"
                    f"document: {expected}\nREST:     {seen}"
                )
            await asyncio.sleep(0.2)


# -- page actions -----------------------------------------------------------------------------


async def add_card(page: Page, column_id: str, title: str) -> str:
    """Type a new card's title in a column's `new-card-title` and press Enter; return the id
    of the card that appears with that title."""
    field = f"{column_sel(column_id)} >> {tid('new-card-title')}"
    await page.fill(field, title)
    await page.press("Enter", field)
    card_id = await page.wait_until(
        CARD_BY_TITLE_JS, title, what=f"one card titled {title!r} after adding it"
    )
    await page.wait_for(f"{column_sel(column_id)} >> {card_sel(str(card_id))}")
    return str(card_id)


async def open_editor(page: Page, card_id: str) -> None:
    """Click the card and wait for its editor."""
    await page.click(f"{card_sel(card_id)} >> {tid('card-title')}")
    await page.wait_for(f'[data-testid="card-editor"][data-card-id="{card_id}"]')


async def close_editor(page: Page) -> None:
    """Close the card editor with its button."""
    await page.click(tid("card-editor-close"))
    await page.wait_for(tid("card-editor"), state="hidden")


async def set_title(page: Page, card_id: str, title: str) -> None:
    """Replace a card's title in its editor (the editor stays open)."""
    await open_editor(page, card_id)
    await page.fill(tid("card-editor-title"), title)
    await page.wait_texts(f"{card_sel(card_id)} >> {tid('card-title')}", [title])


async def wait_offline_ready(page: Page, within: float = 15.0) -> None:
    """Wait until the service worker controls the page and has cached the app's shell (what
    a reload without network needs; the app registers it on its first online visit)."""
    await page.wait_for(tid("app") + '[data-offline-ready="true"]', state="attached", within=within)
    await page.wait_until(
        """async () => {
          if (!navigator.serviceWorker || !navigator.serviceWorker.controller) return false
          const shell = await caches.match('/', { ignoreVary: true })
          const scripts = [...document.querySelectorAll('script[src]')].map((s) => s.src)
          const cached = await Promise.all(scripts.map((src) => caches.match(src)))
          return shell !== undefined && cached.every((r) => r !== undefined)
        }""",
        within=within,
        what="a service worker controlling the page with the app's shell cached",
    )


async def doc_state(page: Page) -> dict[str, Any]:
    """The page's Yjs document as DOC_STATE_JS reads it."""
    state = await page.evaluate(DOC_STATE_JS)
    assert state is not None, f"{page.name}: no window.taskly.doc on {await page.url()}"
    return dict(state)


async def dom_state(page: Page) -> list[dict[str, Any]]:
    """The board as the page shows it (DOM_STATE_JS)."""
    state = await page.evaluate(DOM_STATE_JS)
    assert state is not None, f"{page.name}: no board element on {await page.url()}"
    return list(state)


async def connection(page: Page) -> str:
    """The text of `connection-state`."""
    return await page.text(tid("connection-state"))


async def pending(page: Page) -> int:
    """The number shown by `pending-edits`."""
    return int(await page.text(tid("pending-edits")))


async def wait_dom_matches_doc(page: Page, within: float = 10.0) -> list[dict[str, Any]]:
    """Wait until the page shows exactly its document's columns and cards, in order, each
    card with its title; return the DOM state."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        doc = await doc_state(page)
        dom = await dom_state(page)
        titles = {c["id"]: c["title"] for col in dom for c in col["cards"]}
        expected_titles = {
            card_id: (c["title"] or "").strip()
            for card_id, c in doc["cards"].items()
            if not c["archived"]
        }
        if dom_board(dom) == doc_board(doc) and titles == expected_titles:
            return dom
        if loop.time() >= deadline:
            raise AssertionError(
                f"{page.name}: the DOM does not show the document after {within} s\n"
                f"document: {doc_board(doc)}\nDOM:      {dom_board(dom)}\n"
                f"titles in the document: {expected_titles}\ntitles in the DOM: {titles}"
            )
        await asyncio.sleep(0.1)


async def wait_same_cards(pages: list[Page], within: float = 20.0) -> dict[str, Any]:
    """Wait until every page's document holds the same cards with the same fields (numbers
    included, so the server's numbering has reached everyone); return one document state."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        states = [await doc_state(page) for page in pages]
        first = states[0]
        if all(s["cards"] == first["cards"] and s["columns"] == first["columns"] for s in states):
            if all(c["number"] is not None for c in first["cards"].values()):
                return first
        if loop.time() >= deadline:
            detail = "\n".join(
                f"{p.name}: {s['cards']}" for p, s in zip(pages, states, strict=True)
            )
            raise AssertionError(f"the pages' documents differ after {within} s:\n{detail}")
        await asyncio.sleep(0.1)
