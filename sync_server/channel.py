"""The transport seam: a connection's binary message stream, whatever carries it.

`Channel` is what a room needs from a client connection; `WebSocketChannel` adapts
Starlette's WebSocket to it. A text frame is a protocol error (y-websocket is binary only);
a closed socket ends the stream with ChannelClosed carrying the close code.
"""

from __future__ import annotations

from typing import Protocol

from starlette.websockets import WebSocket

from sync_server.errors import MalformedMessage, clip_reason


class ChannelClosed(Exception):
    """The peer closed the connection (or it was lost, or the server closed it)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed with code {code}")
        self.code = code
        self.reason = reason


class Channel(Protocol):
    """A bidirectional stream of binary messages."""

    @property
    def path(self) -> str:
        """The path the connection was opened on."""
        ...

    async def send(self, message: bytes) -> None:
        """Send one binary message."""
        ...

    async def recv(self) -> bytes:
        """Return the next binary message; raise ChannelClosed or MalformedMessage."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with `code`."""
        ...


class WebSocketChannel:
    """A Starlette WebSocket (already accepted) as a Channel."""

    __slots__ = ("_ws",)

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    @property
    def path(self) -> str:
        """The request path (without the query string)."""
        return str(self._ws.scope.get("path", ""))

    async def send(self, message: bytes) -> None:
        """Send one binary frame."""
        await self._ws.send({"type": "websocket.send", "bytes": message})

    async def recv(self) -> bytes:
        """Return the next binary frame."""
        event = await self._ws.receive()
        if event["type"] == "websocket.disconnect":
            raise ChannelClosed(int(event.get("code", 1005)), str(event.get("reason") or ""))
        data = event.get("bytes")
        if data is None:
            raise MalformedMessage("malformed message: text frame (y-websocket sends binary)")
        return bytes(data)

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame."""
        await self._ws.close(code, clip_reason(reason))
