"""One client connection: its identity, its awareness ids, and its bounded outgoing queue.

The room never awaits a socket. It hands every frame to `Connection.send`, which appends
the (shared, encoded-once) bytes to this connection's queue; one sender task per connection
writes them out in order. A client that reads too slowly, so that its queue grows beyond
`max_queue_frames` frames or `max_queue_bytes` bytes, is closed with 1013 (try again later):
y-websocket reconnects and resynchronises, and the room never waits for it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from typing import Final

from sync_server.auth import Principal
from sync_server.channel import Channel
from sync_server.errors import TRY_AGAIN_LATER, clip_reason
from sync_server.origins import ClientOrigin

log = logging.getLogger("taskly.sync")

DEFAULT_MAX_QUEUE_FRAMES: Final = 65_536
DEFAULT_MAX_QUEUE_BYTES: Final = 16 * 1024 * 1024

_ids = itertools.count(1)


class Connection:
    """A client of one room."""

    def __init__(
        self,
        channel: Channel,
        principal: Principal,
        board_id: str,
        *,
        max_queue_frames: int = DEFAULT_MAX_QUEUE_FRAMES,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
    ) -> None:
        self.id = next(_ids)
        self.channel = channel
        self.principal = principal
        self.board_id = board_id
        self.origin = ClientOrigin(self.id, principal.user_id)
        self.max_queue_frames = max_queue_frames
        self.max_queue_bytes = max_queue_bytes
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        # The state vector of what this connection was sent before it joined (the board's
        # stored bytes, on a cold load; see rooms.py), or None: its sync step 1 is answered
        # with what it lacks beyond both its own state vector and this one.
        self.presented_state: bytes | None = None
        self.closing: tuple[int, str] | None = None
        # Whether this read-only connection was told so (once: its edits are dropped silently
        # afterwards, so a client retrying in a loop cannot make the server talk in a loop).
        self.told_read_only = False
        self.closed = asyncio.Event()
        self._sender = asyncio.create_task(self._send_loop(), name=f"taskly-send-{self.id}")

    @property
    def read_only(self) -> bool:
        """Whether this connection's document updates are dropped."""
        return self.principal.read_only

    def set_principal(self, principal: Principal) -> None:
        """Change what this connection may do (the access watcher narrows or widens it).

        The room reads `read_only` on every message, so the change applies from the next one.
        The user never changes: it is part of the origin of everything the connection wrote.
        """
        if principal.user_id != self.principal.user_id:
            raise ValueError("a connection's user cannot change")
        if principal.read_only != self.principal.read_only:
            self.told_read_only = False  # a new downgrade is announced again
        self.principal = principal

    @property
    def queued_frames(self) -> int:
        """How many frames wait to be sent."""
        return len(self._queue)

    def send(self, frame: bytes) -> None:
        """Queue `frame` for sending; close the connection with 1013 if it lags too far."""
        if self.closing is not None:
            return
        if self._queue and (
            len(self._queue) >= self.max_queue_frames
            or self._queued_bytes + len(frame) > self.max_queue_bytes
        ):
            log.warning(
                "closing slow client board=%s conn=%d: %d frames (%d bytes) queued",
                self.board_id,
                self.id,
                len(self._queue),
                self._queued_bytes,
            )
            self.close(TRY_AGAIN_LATER, "client too slow: outgoing queue overflowed")
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
        """Drop whatever is queued and close the socket with `code` (once)."""
        if self.closing is not None:
            return
        self.closing = (code, clip_reason(reason))
        self._queue.clear()
        self._queued_bytes = 0
        self._wake.set()

    async def wait_closed(self, *, grace: float) -> None:
        """Wait until the sender has sent the close frame (or `grace` seconds passed)."""
        try:
            await asyncio.wait_for(self.closed.wait(), grace)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        """Stop the sender task now (the socket is gone)."""
        if self.closing is None:
            self.closing = (1006, "")
        self._sender.cancel()

    async def _send_loop(self) -> None:
        try:
            while True:
                while self._queue:
                    frame = self._queue.popleft()
                    self._queued_bytes -= len(frame)
                    await self.channel.send(frame)
                if self.closing is not None:
                    code, reason = self.closing
                    if code != 1006:
                        await self.channel.close(code, reason)
                    return
                self._wake.clear()
                await self._wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away under us: the receive side sees it
            log.debug("send failed board=%s conn=%d: %r", self.board_id, self.id, exc)
            if self.closing is None:
                self.closing = (1006, "")
            self._queue.clear()
        finally:
            self.closed.set()
