"""A y-websocket client in Python: a pycrdt Doc edited through crdt_model.Board, synced over
the `websockets` library, with awareness, and able to go offline and reconnect.

pycrdt's own Provider has no awareness and no reconnect, so the protocol is spoken here:
on connect the client sends sync step 1 (its state vector) and its awareness state, answers
the server's step 1 with step 2 (whatever the server lacks: this is how edits made offline,
or lost in a server crash, reach the server again), applies step 2 and updates, and sends each
local transaction as an update while connected.

Its token is in the URL it is given (`TasklyServer.board_url()` puts the owner's there), or
in the `["bearer", TOKEN]` subprotocols.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import websockets
from pycrdt import Awareness, Doc, Map, TransactionEvent
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from crdt_model import Board, Projection, apply_update, project

from . import _wire as w

DEFAULT_TIMEOUT = 10.0


class PyClient:
    """One replica of one board: its document survives disconnects."""

    def __init__(self, name: str, *, client_id: int | None = None) -> None:
        """Create an empty replica called `name` in failure messages."""
        self.name = name
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.board = Board(self.doc)
        self.awareness = Awareness(self.doc)
        self.url: str | None = None
        self.ws: ClientConnection | None = None
        self.synced = asyncio.Event()
        # (code, reason) of the last connection's end, None while connected or never connected.
        self.close: tuple[int, str] | None = None
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._applying_remote = False
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.doc.observe(self._on_local_update)
        self.awareness.observe(self._on_awareness)

    # -- connection --------------------------------------------------------------------------

    async def connect(
        self,
        url: str,
        within: float = DEFAULT_TIMEOUT,
        *,
        subprotocols: Sequence[str] | None = None,
    ) -> None:
        """Open ws `url` (ws://HOST:PORT/sync/BOARD?token=...) and start syncing; see
        wait_synced(). `subprotocols` are offered in the handshake (["bearer", TOKEN])."""
        assert self.ws is None, f"{self.name} is already connected"
        self.url = url
        self.synced.clear()
        self.closed.clear()
        self.close = None
        state = self.awareness.get_local_state()
        if state is not None:
            # A new clock (sent below), so that peers that saw our farewell take the state
            # again: the awareness protocol ignores a re-sent state with an unchanged clock.
            self.awareness.set_local_state(state)
        # proxy=None: the tests talk to 127.0.0.1 and must not go through an HTTP proxy.
        self.ws = await websockets.connect(
            url,
            open_timeout=within,
            max_size=None,
            ping_interval=None,
            proxy=None,
            subprotocols=None if subprotocols is None else [Subprotocol(s) for s in subprotocols],
        )
        self._outbox = asyncio.Queue()
        await self.ws.send(w.sync_message(w.SYNC_STEP1, self.doc.get_state()))
        if self.awareness.get_local_state() is not None:
            await self.ws.send(self._awareness_frame([self.awareness.client_id]))
        self._tasks = [
            asyncio.create_task(self._receive(self.ws)),
            asyncio.create_task(self._send(self.ws, self._outbox)),
        ]

    async def wait_synced(self, within: float = DEFAULT_TIMEOUT) -> None:
        """Wait for the server's sync step 2; fail if the connection closes first."""

        def synced() -> bool:
            if self.closed.is_set():
                raise AssertionError(f"{self.name}: {self.url} closed before syncing: {self.close}")
            return self.synced.is_set()

        await self.wait_for(synced, f"sync step 2 from {self.url}", within=within)

    async def connect_synced(
        self,
        url: str,
        within: float = DEFAULT_TIMEOUT,
        *,
        subprotocols: Sequence[str] | None = None,
    ) -> None:
        """connect() then wait_synced()."""
        await self.connect(url, within, subprotocols=subprotocols)
        await self.wait_synced(within)

    async def disconnect(self) -> None:
        """Go offline cleanly: say goodbye in awareness (as y-websocket does) and close."""
        ws = self.ws
        if ws is None:
            return
        with contextlib.suppress(websockets.ConnectionClosed):
            state = self.awareness.get_local_state()
            if state is not None:
                # A null state at the current clock, like y-websocket's disconnectBc().
                clock = self.awareness.meta[self.awareness.client_id]["clock"]
                farewell = w.var_uint(1) + w.var_uint(self.awareness.client_id) + w.var_uint(clock)
                await ws.send(w.awareness_message(farewell + w.var_bytes(b"null")))
            await ws.close()
        await self._finish()

    async def abort(self) -> None:
        """Drop the TCP connection with no close frame, like a crashed or unplugged client."""
        if self.ws is not None:
            self.ws.transport.abort()
        await self._finish()

    async def wait_closed(self, within: float = DEFAULT_TIMEOUT) -> tuple[int, str]:
        """Wait until the server ends the connection; return (code, reason)."""
        await self.wait_for(lambda: self.closed.is_set(), "the connection to close", within)
        assert self.close is not None
        return self.close

    async def _finish(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._mark_closed()

    def _mark_closed(self) -> None:
        ws = self.ws
        if ws is None:
            return
        self.ws = None
        self.synced.clear()
        code = ws.close_code if ws.close_code is not None else 1006
        self.close = (code, ws.close_reason or "")
        self.closed.set()
        # As y-websocket does: peers' presence is unknown while offline.
        others = [c for c in self.awareness.states if c != self.awareness.client_id]
        self.awareness.remove_awareness_states(others, "offline")
        self._changed.set()

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                assert isinstance(frame, bytes), f"{self.name}: the server sent a text frame"
                await self._handle(ws, frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            # Wait for the closing handshake to finish so that close_code is known.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 5)
            if self.ws is ws:
                self._mark_closed()

    async def _send(self, ws: ClientConnection, outbox: asyncio.Queue[bytes]) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.send(await outbox.get())

    async def _handle(self, ws: ClientConnection, frame: bytes) -> None:
        kind, step, payload = w.parse_message(frame)
        if kind == w.MSG_SYNC:
            if step == w.SYNC_STEP1:
                await ws.send(w.sync_message(w.SYNC_STEP2, self.doc.get_update(payload)))
            elif step in (w.SYNC_STEP2, w.SYNC_UPDATE):
                self._apply_remote(payload)
                if step == w.SYNC_STEP2:
                    self.synced.set()
        elif kind == w.MSG_AWARENESS:
            self.awareness.apply_awareness_update(payload, "remote")
        elif kind == w.MSG_QUERY_AWARENESS:
            await ws.send(self._awareness_frame(list(self.awareness.states)))
        self._changed.set()

    def _apply_remote(self, update: bytes) -> None:
        # The flag keeps _on_local_update from sending the server its own update back.
        self._applying_remote = True
        try:
            apply_update(self.doc, update, origin="remote", checked=False)
        finally:
            self._applying_remote = False

    def _on_local_update(self, event: TransactionEvent) -> None:
        self._changed.set()
        if self._applying_remote or self.ws is None:
            # Offline edits stay in the doc; the next connection's sync step 2 carries them.
            return
        self._outbox.put_nowait(w.sync_message(w.SYNC_UPDATE, event.update))

    def _awareness_frame(self, clients: list[int]) -> bytes:
        return w.awareness_message(self.awareness.encode_awareness_update(clients))

    def _on_awareness(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        self._changed.set()
        changes, origin = change
        if topic != "update" or origin != "local" or self.ws is None:
            return
        clients = changes["added"] + changes["updated"] + changes["removed"]
        self._outbox.put_nowait(self._awareness_frame(clients))

    # -- reads and waits -----------------------------------------------------------------------

    def state_vector(self) -> bytes:
        """This replica's state vector."""
        return self.doc.get_state()

    def card_ids(self) -> set[str]:
        """The keys of the `cards` root."""
        return set(self.doc.get("cards", type=Map).keys())

    def projection(self) -> Projection:
        """The whole board through crdt_model.project."""
        return project(self.doc)

    def presence(self) -> dict[int, Any]:
        """Every awareness state this replica knows, by client id."""
        return dict(self.awareness.states)

    async def wait_for(
        self, predicate: Callable[[], bool], what: str, within: float = DEFAULT_TIMEOUT
    ) -> None:
        """Wait until predicate() holds, re-checking after every change; fail saying `what`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.name}: timed out after {within} s waiting for {what} "
                    f"(connected={self.ws is not None}, last close={self.close})"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_covers(self, state_vector: bytes, within: float = DEFAULT_TIMEOUT) -> None:
        """Wait until this replica holds everything `state_vector` names."""
        await self.wait_for(
            lambda: not w.missing(self.state_vector(), state_vector),
            f"the state vector to cover {w.decode_state_vector(state_vector)}; missing "
            f"(have, want): {w.missing(self.state_vector(), state_vector)}",
            within,
        )

    async def wait_cards(self, ids: list[str], within: float = DEFAULT_TIMEOUT) -> None:
        """Wait until every card in `ids` is in the document."""
        await self.wait_for(
            lambda: set(ids) <= self.card_ids(),
            f"cards {sorted(set(ids) - self.card_ids())} to arrive",
            within,
        )

    async def wait_presence(
        self, client_id: int, present: bool, within: float = DEFAULT_TIMEOUT
    ) -> None:
        """Wait until `client_id` is (or is no longer) among the awareness states."""
        await self.wait_for(
            lambda: (client_id in self.awareness.states) == present,
            f"awareness of client {client_id} to be {'present' if present else 'gone'}; "
            f"states: {self.awareness.states}",
            within,
        )
