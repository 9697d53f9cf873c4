"""Drive tests/js/yws_client.mjs (npm yjs + y-websocket under node) from asyncio tests."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest

from crdt_model import Projection, load_doc, project

from ._auth import DEFAULT, TokenChoice, resolve
from ._jsonlines import JsonLinesProcess

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "yws_client.mjs"
DEFAULT_TIMEOUT = 10.0


def require_node() -> str:
    """Return the node executable, failing (never skipping) when node or the npm packages lack."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the e2e Node tests need Node 20+ on PATH")
    for package in ("yjs", "y-websocket", "ws"):
        if not (ROOT / "node_modules" / package / "package.json").exists():
            pytest.fail(f"node_modules/{package} is missing: run `npm ci` in {ROOT} first")
    return node


class NodeClientError(AssertionError):
    """A command the Node client answered with ok=false (a failed wait, a bad edit...)."""


class NodeClient(JsonLinesProcess):
    """One node process holding one Y.Doc and one WebsocketProvider."""

    error = NodeClientError

    def __init__(self, name: str) -> None:
        """Prepare a client called `name` in failure messages; `start()` launches node."""
        super().__init__(name)
        self.client_id: int | None = None

    async def start(self) -> None:
        """Launch `node tests/js/yws_client.mjs` from the repository root."""
        await self.launch(require_node(), SCRIPT)

    async def call(self, cmd: str, within: float = DEFAULT_TIMEOUT, **args: Any) -> dict[str, Any]:
        """Send one command and return its reply; raise NodeClientError if it failed."""
        # Commands queue behind each other in node, so allow for the ones before this one.
        reply = await self.request(cmd, within + 5, **args)
        if not reply.get("ok"):
            raise NodeClientError(f"{self.name}: {cmd} failed: {reply.get('error')}")
        return reply

    # -- commands ----------------------------------------------------------------------------

    async def open(self, server_url: str, room: str, *, token: TokenChoice = DEFAULT) -> None:
        """Create the WebsocketProvider(server_url, room, {params: {token}}) and start connecting.

        The token is the one the harness gave the server at `server_url` (its owner's), or
        `token`; None connects with no token (no params).
        """
        reply = await self.call(
            "open", server_url=server_url, room=room, token=resolve(token, server_url)
        )
        self.client_id = int(reply["client_id"])

    async def connect(self, server_url: str | None = None) -> None:
        """provider.connect(), optionally to a new server URL."""
        await self.call("connect", server_url=server_url)

    async def disconnect(self) -> None:
        """provider.disconnect(): go offline, keep the document."""
        await self.call("disconnect")

    async def wait_synced(self, within: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the provider is connected and has received the server's sync step 2."""
        await self.call("wait_synced", within, timeout_ms=int(within * 1000))

    async def create_card(
        self,
        card_id: str,
        title: str,
        *,
        column: str,
        rank: str,
        created_by: str,
        created_at: str = "2026-11-26T12:00:00Z",
    ) -> None:
        """Create a card with every schema field, in one transaction."""
        await self.call(
            "create_card",
            card_id=card_id,
            title=title,
            column=column,
            rank=rank,
            created_by=created_by,
            created_at=created_at,
        )

    async def set_title(self, card_id: str, title: str) -> str:
        """Edit a card's Y.Text title to read `title` (minimal diff); return the result."""
        return str((await self.call("set_title", card_id=card_id, title=title))["title"])

    async def insert_title(self, card_id: str, index: int, text: str) -> str:
        """Insert into a card's title at UTF-16 `index`; return the result."""
        reply = await self.call("insert_title", card_id=card_id, index=index, text=text)
        return str(reply["title"])

    async def move_card(self, card_id: str, column: str, rank: str) -> None:
        """Set a card's column and rank in one transaction."""
        await self.call("move_card", card_id=card_id, column=column, rank=rank)

    async def dump(self) -> dict[str, Any]:
        """Return {json, update (bytes), state_vector (bytes), client_id}."""
        reply = await self.call("dump")
        reply["update"] = base64.b64decode(reply["update"])
        reply["state_vector"] = base64.b64decode(reply["state_vector"])
        return reply

    async def projection(self) -> Projection:
        """The Node document as crdt_model sees it (its full state applied to a pycrdt Doc)."""
        return project(load_doc((await self.dump())["update"]))

    async def card_ids(self) -> set[str]:
        """The keys of the `cards` root."""
        return set((await self.dump())["json"]["cards"])

    async def state_vector(self) -> bytes:
        """Y.encodeStateVector(doc)."""
        return bytes((await self.dump())["state_vector"])

    async def wait_covers(self, state_vector: bytes, within: float = DEFAULT_TIMEOUT) -> None:
        """Wait until this document holds everything `state_vector` names."""
        await self.call(
            "wait_covers",
            within,
            state_vector=base64.b64encode(state_vector).decode(),
            timeout_ms=int(within * 1000),
        )

    async def wait_cards(self, ids: list[str], within: float = DEFAULT_TIMEOUT) -> None:
        """Wait until every card in `ids` is in the document."""
        await self.call("wait_cards", within, ids=ids, timeout_ms=int(within * 1000))

    async def set_awareness(self, state: dict[str, Any] | None) -> None:
        """awareness.setLocalState(state)."""
        await self.call("set_awareness", state=state)

    async def awareness_states(self) -> dict[int, Any]:
        """Every awareness state this client knows, by client id."""
        states = (await self.call("awareness"))["states"]
        return {int(client): state for client, state in states.items()}

    async def wait_awareness(
        self,
        client_id: int,
        present: bool,
        within: float = DEFAULT_TIMEOUT,
        *,
        state: dict[str, Any] | None = None,
    ) -> dict[int, Any]:
        """Wait until `client_id` is gone, or present (with exactly `state`, if given)."""
        extra = {} if state is None else {"state": state}
        reply = await self.call(
            "wait_awareness",
            within,
            client_id=client_id,
            present=present,
            timeout_ms=int(within * 1000),
            **extra,
        )
        return {int(client): state for client, state in reply["states"].items()}

    # -- ending ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Ask node to exit (provider.destroy()); kill it if it has not exited within 5 s."""
        await self.stop(5)
