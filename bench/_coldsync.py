"""W4's client: one pycrdt client syncs a big board and times each step.

A Python client, because the floor W4 is measured against is a pycrdt apply: a Yjs client
would add its own apply time (Yjs applies the 10,000-card state about 5x slower than pycrdt,
pycrdt-findings Experiment 4) and measure the client library rather than the server.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pycrdt import (
    Decoder,
    Doc,
    Map,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from websockets.asyncio.client import connect

SYNC, STEP1, STEP2, UPDATE = 0, 0, 1, 2


async def _cold_sync(url: str) -> dict[str, Any]:
    started = time.perf_counter()
    doc: Doc[Any] = Doc()
    async with connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        opened = time.perf_counter()
        await ws.send(create_sync_message(doc))  # sync step 1: the (empty) state vector
        while True:
            message = await asyncio.wait_for(ws.recv(), 120)
            assert isinstance(message, bytes)
            if message[0] != SYNC:
                continue
            if message[1] == STEP1:
                reply = handle_sync_message(message[1:], doc)
                if reply is not None:
                    await ws.send(reply)
            elif message[1] == UPDATE:
                # Applied as y-websocket does, also before the step 2 (Taskly sends a cold
                # board's stored tail first, then its snapshot as the step 2).
                doc.apply_update(Decoder(message[2:]).read_message() or b"")
            elif message[1] == STEP2:
                payload = Decoder(message[2:]).read_message() or b""
                received = time.perf_counter()
                doc.apply_update(payload)
                applied = time.perf_counter()
                break
    return {
        "connect_ms": (opened - started) * 1000,
        "step2_received_ms": (received - started) * 1000,
        "synced_ms": (applied - started) * 1000,
        "client_apply_ms": (applied - received) * 1000,
        "step2_bytes": len(payload),
        "cards": len(doc.get("cards", type=Map)),
        "state": doc.get_state(),
    }


def cold_sync(url: str) -> dict[str, Any]:
    """Connect, send sync step 1 with an empty state, time until step 2 is applied."""
    return asyncio.run(_cold_sync(url))


async def _push_and_hold(
    url: str, update: bytes, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    async with connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        await ws.send(create_update_message(update))
        # The baselines drop a room when its last client leaves: stay until told to go.
        ready.set()
        await stop.wait()


async def _warm_sync(url: str, update: bytes, runs: int) -> list[dict[str, Any]]:
    ready, stop = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_push_and_hold(url, update, ready, stop))
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(1.0)  # let the server apply the pushed state before timing
    results = [await _cold_sync(url) for _ in range(runs)]
    stop.set()
    await holder
    return results


def warm_sync(url: str, update: bytes, runs: int) -> list[dict[str, Any]]:
    """Baselines (no storage): push the board through one client, time fresh clients' syncs."""
    return asyncio.run(_warm_sync(url, update, runs))
