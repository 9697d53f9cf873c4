"""Syncing a BoardReplica with the server over y-websocket, with reconnect and backoff.

One connection (`_Link`) speaks the protocol of docs/sync.md: the server sends its sync step 1
on connect; we answer with step 2 (everything it lacks: every edit made offline, whatever
happened meanwhile) followed by our own step 1. The server answers a step 1 only once every
update it applied before is stored, and handles one connection's messages in order, so the
answer to a step 1 sent after our updates proves those updates are stored: that step 1 is a
*barrier*. Each barrier remembers the replica's row watermark and state vector when it was
sent; its answer moves the replica's confirmed watermark (what `pending_edits` counts from).
Edits made while connected are sent at once and followed by a barrier (debounced).

Close codes (docs/sync.md): 4400–4499 stop with SyncRefused (4401 is first retried once with
a renewed token when the login is a session); anything else (1001, 1006, 1011, 1012, 1013,
network errors) reconnects after a backoff delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

import websockets
from pycrdt import Map
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from clients.python._auth import StaticToken, TokenSource
from clients.python._backoff import Backoff
from clients.python._errors import OfflineError, SyncRefused
from clients.python._http import is_loopback
from clients.python._render import count
from clients.python._replica import BoardReplica
from crdt_model import sync_protocol as p

log = logging.getLogger("taskly.client.sync")

BARRIER_DELAY: Final = 0.05  # batch a burst of edits under one barrier
FILE_POLL: Final = 0.3  # how often other processes' rows are picked up
OPEN_TIMEOUT: Final = 10.0
PING_INTERVAL: Final = 20.0

EventSink = Callable[[str, str], None]


@dataclass(frozen=True)
class SyncResult:
    """What one `sync_once` did."""

    received: int  # updates applied from the server
    sent: int  # updates sent (local edits while connected, other processes' rows)
    pending: int  # local edits still unconfirmed at the end
    unnumbered: int  # cards still without a server number at the end
    read_only: bool  # the server dropped our edits (viewer)


class _Closed(Exception):
    """The connection ended with a close code that allows reconnecting."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed ({code} {reason})".strip())
        self.code = code
        self.reason = reason


def _is_terminal(code: int) -> bool:
    return 4400 <= code <= 4499


class _Link:
    """One WebSocket connection of a replica; its tasks end when the connection does."""

    def __init__(self, replica: BoardReplica, ws: ClientConnection, events: EventSink) -> None:
        self.replica = replica
        self.ws = ws
        self.events = events
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.barriers: deque[tuple[int, bytes]] = deque()
        self.server_state: bytes | None = None  # the server's step 1
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()
        self.received = 0
        self.sent = 0
        self.read_only = False
        self.error: BaseException | None = None  # why receiving stopped, if not a close
        self._barrier_timer: asyncio.TimerHandle | None = None

    # -- outgoing ------------------------------------------------------------------------

    def on_update(self, update: bytes) -> None:
        """A replica sink: send local edits once the server's step 1 has arrived."""
        if self.server_state is None:
            return  # the step 2 answering the server's step 1 will carry it
        self.outbox.put_nowait(p.encode_update(update))
        self.sent += 1
        self.events("sent", "sent an edit to the server")
        if self._barrier_timer is None:
            loop = asyncio.get_running_loop()
            self._barrier_timer = loop.call_later(BARRIER_DELAY, self._send_barrier)

    def _send_barrier(self) -> None:
        self._barrier_timer = None
        # The watermark catches up with the file first, so it never names a row whose update
        # was not queued before this barrier.
        seq = self.replica.watermark()
        state = self.replica.doc.get_state()
        self.barriers.append((seq, state))
        self.outbox.put_nowait(p.encode_sync_step1(state))

    async def send_loop(self) -> None:
        """Send queued frames in order."""
        while True:
            await self.ws.send(await self.outbox.get())

    async def poll_file(self) -> None:
        """Pick up rows other processes append to the replica file (they are then sent)."""
        while True:
            await asyncio.sleep(FILE_POLL)
            self.replica.refresh()

    # -- incoming ------------------------------------------------------------------------

    async def receive_loop(self) -> None:
        """Handle frames until the connection ends; a frame we cannot handle ends it."""
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    continue  # the server never sends text; ignore rather than die
                self.handle(frame)
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:  # a malformed frame, an unusable update, a full disk
            self.error = exc
            await self.ws.close(1002, "client could not handle a message")
        finally:
            self.changed.set()

    def handle(self, frame: bytes) -> None:
        """Handle one message from the server."""
        message = p.decode_message(frame)
        if isinstance(message, p.SyncStep1):
            # Other processes' rows first, while sinks still hold back: the step 2 carries them.
            self.replica.refresh()
            self.server_state = message.state_vector
            diff = self.replica.doc.get_update(message.state_vector)
            self.outbox.put_nowait(p.encode_sync_step2(diff))
            self._send_barrier()
        elif isinstance(message, p.SyncStep2):
            self._apply(message.update)
            # Step 2s that come before the server's step 1 were sent unasked (a cold load
            # sends the stored board early); only later ones answer our barriers, in order.
            if self.server_state is not None and self.barriers:
                seq, state = self.barriers.popleft()
                if not self.read_only:
                    self.replica.confirm(seq, p.merge_state_vectors(self.server_state, state))
                self.synced.set()
        elif isinstance(message, p.SyncUpdate):
            self._apply(message.update)
        elif isinstance(message, p.Ignored) and message.message_type == p.MESSAGE_AUTH:
            self.read_only = True
            self.events("read_only", "the server drops our edits: this user is a viewer")

    def _apply(self, update: bytes) -> None:
        before = self.replica.doc.get_state()
        self.replica.apply_remote(update)
        if self.replica.doc.get_state() != before:
            self.received += 1
            self.events("received", "applied an update from the server")

    def cancel_timer(self) -> None:
        """Forget a scheduled barrier (the connection is gone)."""
        if self._barrier_timer is not None:
            self._barrier_timer.cancel()
            self._barrier_timer = None


class SyncSession:
    """Keeps one BoardReplica in sync with one server."""

    def __init__(
        self,
        replica: BoardReplica,
        url: str,
        token: str | TokenSource,
        *,
        events: EventSink | None = None,
        backoff: Backoff | None = None,
        open_timeout: float = OPEN_TIMEOUT,
    ) -> None:
        """Sync `replica` with the board at `url` (ws://HOST:PORT/sync/BOARD_ID)."""
        self.replica = replica
        self.url = url
        # For messages: the server as the user typed it at login (http://HOST:PORT).
        self.server = url.split("/sync/", 1)[0].replace("ws", "http", 1)
        self.tokens: TokenSource = StaticToken(token) if isinstance(token, str) else token
        self.events: EventSink = events or (lambda kind, text: None)
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self.link: _Link | None = None

    # -- one connection ------------------------------------------------------------------

    async def _open(self, fresh: bool) -> ClientConnection:
        token = await asyncio.to_thread(self.tokens.token, fresh=fresh)
        self.events("connecting", f"connecting to {self.url}")
        try:
            # The token travels as a subprotocol, never in the URL (URLs end up in logs).
            return await websockets.connect(
                self.url,
                subprotocols=[Subprotocol("bearer"), Subprotocol(token)],
                open_timeout=self.open_timeout,
                ping_interval=PING_INTERVAL,
                max_size=None,
                proxy=None if is_loopback(self.url.replace("ws", "http", 1)) else True,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise OfflineError(self.server, _network_cause(exc)) from None

    @contextlib.asynccontextmanager
    async def _connected(self, fresh: bool = False) -> AsyncIterator[_Link]:
        ws = await self._open(fresh)
        link = _Link(self.replica, ws, self.events)
        self.link = link
        self.replica.add_sink(link.on_update)
        tasks = [
            asyncio.create_task(link.receive_loop()),
            asyncio.create_task(link.send_loop()),
            asyncio.create_task(link.poll_file()),
        ]
        try:
            yield link
        finally:
            link.cancel_timer()
            self.replica.remove_sink(link.on_update)
            self.link = None
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await task
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)

    def _ended(self, link: _Link) -> _Closed | SyncRefused:
        code = link.ws.close_code if link.ws.close_code is not None else 1006
        reason = link.ws.close_reason or ""
        if _is_terminal(code):
            return SyncRefused(code, reason, self.replica.board_id)
        return _Closed(code, reason)

    async def _wait(self, link: _Link, done: Callable[[], bool], within: float) -> bool:
        """Wait until `done()` or the timeout; raise if the connection ends first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not done():
            if link.error is not None:
                raise link.error
            if link.ws.close_code is not None or link.ws.state.name == "CLOSED":
                raise self._ended(link)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            link.changed.clear()
            closed = asyncio.ensure_future(link.ws.wait_closed())
            changed = asyncio.ensure_future(link.changed.wait())
            await asyncio.wait(
                {closed, changed}, timeout=min(remaining, 0.25), return_when="FIRST_COMPLETED"
            )
            for future in (closed, changed):
                future.cancel()
        return True

    # -- public --------------------------------------------------------------------------

    async def sync_once(self, *, within: float = 15.0, numbers_within: float = 3.0) -> SyncResult:
        """Connect, exchange everything, wait for our edits to be confirmed and for the server
        to number new cards (at most `numbers_within` seconds), then disconnect.

        Raises OfflineError when the server cannot be reached, SyncRefused on a 44xx close.
        """
        fresh = False
        for attempt in range(3):
            try:
                return await self._once(fresh, within, numbers_within)
            except SyncRefused as refused:
                if refused.code != 4401 or fresh or isinstance(self.tokens, StaticToken):
                    raise
                fresh = True  # an expired access token: renew it once
            except _Closed as closed:
                if attempt == 2:
                    raise OfflineError(self.server, str(closed)) from None
                await asyncio.sleep(self.backoff.next_delay())
        raise OfflineError(self.server, "gave up")

    async def _once(self, fresh: bool, within: float, numbers_within: float) -> SyncResult:
        async with self._connected(fresh) as link:
            if not await self._wait(link, link.synced.is_set, within):
                raise OfflineError(self.server, f"no sync answer within {within} s")
            # Edits made while we waited (another process) get their own barrier answered.
            await self._wait(link, lambda: not link.barriers, within)
            await self._wait(link, lambda: _unnumbered(self.replica) == 0, numbers_within)
            await self._wait(link, lambda: not link.barriers, within)
            return SyncResult(
                received=link.received,
                sent=link.sent,
                pending=self.replica.pending_edits(),
                unnumbered=_unnumbered(self.replica),
                read_only=link.read_only,
            )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Stay in sync until `stop` is set: reconnect with backoff whenever the link drops.

        Returns when stopped; raises SyncRefused on a 44xx close (after one renewed-token
        retry for 4401 with a session login).
        """
        stop = stop or asyncio.Event()
        fresh = False
        while not stop.is_set():
            try:
                async with self._connected(fresh) as link:
                    if await self._wait(link, link.synced.is_set, OPEN_TIMEOUT):
                        self.backoff.reset()
                        fresh = False
                        self.events(
                            "synced",
                            f"synced, {count(self.replica.pending_edits(), 'edit')} pending",
                        )
                    await self._serve(link, stop)
                    if stop.is_set():
                        return
            except SyncRefused as refused:
                if refused.code == 4401 and not fresh and not isinstance(self.tokens, StaticToken):
                    fresh = True
                    continue
                raise
            except (OfflineError, _Closed) as gone:
                self.events("offline", str(gone))
            delay = self.backoff.next_delay()
            self.events("retry", f"reconnecting in {delay:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _serve(self, link: _Link, stop: asyncio.Event) -> None:
        """Report confirmations until the connection ends or `stop` is set."""
        reported = self.replica.pending_edits()
        while not stop.is_set():
            await self._wait(link, stop.is_set, 0.5)  # raises when the connection ends
            pending = self.replica.pending_edits()
            if pending != reported:
                reported = pending
                self.events("pending", f"{count(pending, 'edit')} pending")


def _unnumbered(replica: BoardReplica) -> int:
    """Cards without a server number yet (the server numbers each on first sight)."""
    cards = replica.doc.get("cards", type=Map)
    count = 0
    for card in cards.values():
        if isinstance(card, Map) and card.get("number") is None:
            count += 1
    return count


def _network_cause(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, websockets.InvalidStatus):
        return f"the server answered HTTP {exc.response.status_code} (not a Taskly sync endpoint?)"
    return str(exc) or type(exc).__name__
