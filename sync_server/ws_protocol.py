"""uvicorn's WebSocket protocol with Taskly's close codes for two cases uvicorn decides alone.

- A message larger than `ws_max_size`: the websockets parser refuses the frame from its
  header (nothing of the payload is buffered) and fails the connection with 1009; here it
  fails it with 4413 instead, as docs/sync.md promises (y-websocket stops reconnecting on
  4400-4499, and would otherwise retry the same oversized message forever).
- Server shutdown: uvicorn closes open WebSockets with 1012 (service restart); Taskly's
  contract is 1001 (going away). The app sees the same code in its disconnect event.

After failing a connection (4413, or a WebSocket protocol error) the socket lingers briefly
instead of closing at once, so that the client reads the close frame (see
`handle_parser_exception`). All hook points are small overrides of uvicorn 0.54's sans-I/O
implementation (the one `ws="auto"` picks when `websockets` is installed); tests/sync_server
checks each behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import CloseCode
from websockets.server import ServerProtocol

from sync_server.errors import GOING_AWAY, TOO_LARGE

SHUTDOWN_REASON = "server shutting down; reconnect later"
LINGER_IDLE_SECONDS = 0.25
LINGER_MAX_SECONDS = 10.0


class _TasklyServerProtocol(ServerProtocol):
    """websockets' server protocol, failing oversized messages with 4413."""

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        """Fail the connection; "message too big" becomes Taskly's 4413."""
        if code == CloseCode.MESSAGE_TOO_BIG:
            code = TOO_LARGE
            reason = f"message larger than {self.max_message_size} bytes"
        super().fail(code, reason)


class TasklyWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with Taskly's close codes."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _TasklyServerProtocol(
            extensions=self.conn.available_extensions,
            max_size=config.ws_max_size,
            logger=logging.getLogger("uvicorn.error"),
        )
        self._linger_until: float | None = None

    def handle_parser_exception(self) -> None:
        """Send the close frame, then linger, discarding input, before closing the socket.

        uvicorn closes the socket at once; a client still sending the rest of an oversized
        message then gets a TCP reset instead of our close frame (1006 instead of 4413). The
        websockets parser discards everything after a failure, so lingering buffers nothing:
        the socket is closed once the client has been quiet for LINGER_IDLE_SECONDS (or
        closes itself), and after LINGER_MAX_SECONDS at the latest.
        """
        now = self.loop.time()
        if self._linger_until is None:
            close = self.conn.close_sent
            if close is None:  # failed before the handshake: nothing to say
                self.transport.write(b"".join(self.conn.data_to_send()))
                self.transport.close()
                return
            self._linger_until = now + LINGER_MAX_SECONDS
            self.queue.put_nowait(
                {"type": "websocket.disconnect", "code": close.code, "reason": close.reason}
            )
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            if self.read_paused:
                self.read_paused = False
                self.transport.resume_reading()
        if self.close_timer is not None:
            self.close_timer.cancel()
        delay = max(0.0, min(LINGER_IDLE_SECONDS, self._linger_until - now))
        self.close_timer = self.loop.call_later(delay, self.transport.close)

    def shutdown(self) -> None:
        """Close an open WebSocket with 1001 (uvicorn's default is 1012)."""
        if self.handshake_complete and not self.close_sent and not self.disconnected:
            self.stop_keepalive()
            self.queue.put_nowait(
                {"type": "websocket.disconnect", "code": GOING_AWAY, "reason": SHUTDOWN_REASON}
            )
            self.conn.send_close(GOING_AWAY, SHUTDOWN_REASON)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.close()
            return
        super().shutdown()
