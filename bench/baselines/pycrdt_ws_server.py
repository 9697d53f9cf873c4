"""The obvious Python pick, as shipped: pycrdt-websocket's `ASGIServer(WebsocketServer())`.

    .venv/bin/python bench/baselines/pycrdt_ws_server.py [--host 127.0.0.1] [--port 0]

In-memory rooms keyed by the URL path (`ws://HOST:PORT/{room}`), uvicorn with its default
settings (uvloop, httptools, websockets-sansio, permessage-deflate offered). No store is
attached and `auto_clean_rooms=True` drops a room when its last client leaves: this is the
baseline the benchmark compares Taskly with, not a server to deploy. Prints
`pycrdt-websocket listening on http://HOST:PORT` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvicorn
import uvloop
from pycrdt.websocket import ASGIServer, WebsocketServer


async def serve(host: str, port: int) -> None:
    """Run uvicorn on a socket bound here, so that port 0 yields a known real port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    websocket_server = WebsocketServer()
    config = uvicorn.Config(ASGIServer(websocket_server), log_level="warning")
    server = uvicorn.Server(config)
    async with websocket_server:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()  # startup failed: raise its error
            await asyncio.sleep(0.01)
        real_host, real_port = sock.getsockname()[:2]
        print(f"pycrdt-websocket listening on http://{real_host}:{real_port}", flush=True)
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # uvloop, as `uvicorn app:app` would pick (its loop="auto"); Python 3.11 has no
    # asyncio.run(loop_factory=...), hence the Runner.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
