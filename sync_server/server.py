"""Running the app on uvicorn, in-process: bind, announce the real port, stop gracefully.

`run_server` binds the listening socket itself (so a port in use is one clear error and
`--port 0` resolves to the real port), starts uvicorn on it with Taskly's WebSocket protocol
(4413 for oversized messages, 1001 on shutdown), and calls `on_ready` with the bound address
once uvicorn accepts connections. SIGINT/SIGTERM stop it gracefully: listening stops, every
WebSocket is closed with 1001, the app's lifespan then stores every pending update and
compacts the loaded boards, and `run_server` returns normally (exit status 0). A second
SIGINT forces the exit.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from sync_server.settings import Settings
from sync_server.ws_protocol import TasklyWebSocketProtocol

GRACEFUL_SHUTDOWN_SECONDS = 10


class BindError(Exception):
    """The listening socket could not be opened."""


class TasklyServer(uvicorn.Server):
    """uvicorn's server, minus re-raising the stop signal after a graceful shutdown."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then signal readiness."""
        await super().startup(sockets)
        self.ready.set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop gracefully on the first signal, force on a second SIGINT."""
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """Return the uvicorn configuration Taskly runs with."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=TasklyWebSocketProtocol,
        ws_max_size=settings.max_message_bytes,
        # Yjs updates are small binary deltas; deflate would cost CPU per recipient and
        # defeat sending the same bytes to every socket.
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """Return a listening-ready TCP socket bound to host:port; raise BindError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def display_url(sock: socket.socket, host: str) -> str:
    """Return http://HOST:PORT for the bound socket (the real port)."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def run_server(
    app: ASGIApp,
    settings: Settings,
    *,
    on_ready: Callable[[str], None],
    sock: socket.socket | None = None,
) -> TasklyServer:
    """Serve `app` until stopped; call `on_ready(url)` once connections are accepted."""
    sock = sock or bind_socket(settings.host, settings.port)
    server = TasklyServer(uvicorn_config(app, settings))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait([ready, serving], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if server.ready.is_set() and not serving.done():
            on_ready(display_url(sock, settings.host))
        await serving
    finally:
        sock.close()
    return server
