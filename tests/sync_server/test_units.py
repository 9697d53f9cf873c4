"""Units with no server: the slow-client policy, awareness bookkeeping, close codes."""

from __future__ import annotations

import asyncio

from crdt_model import UnsupportedUpdateFormat, UpdateDecodeError
from storage import BoardNotFound
from sync_server.auth import Principal
from sync_server.awareness import RoomAwareness
from sync_server.connection import Connection
from sync_server.errors import MalformedMessage, clip_reason, close_for
from sync_server.protocol import AwarenessEntry


class StuckChannel:
    """A client that never reads: every send blocks."""

    path = "/sync/x"

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed_with: tuple[int, str] | None = None
        self.unblock = asyncio.Event()

    async def send(self, message: bytes) -> None:
        await self.unblock.wait()
        self.sent.append(message)

    async def recv(self) -> bytes:
        raise AssertionError

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


async def test_a_client_whose_queue_overflows_is_closed_with_1013() -> None:
    channel = StuckChannel()
    conn = Connection(channel, Principal(), "b", max_queue_frames=10, max_queue_bytes=10**6)
    for _ in range(11):
        conn.send(b"x" * 10)
    await asyncio.sleep(0)
    assert conn.closing is not None and conn.closing[0] == 1013
    conn.send(b"more")  # ignored once closing
    channel.unblock.set()
    await conn.wait_closed(grace=1)
    assert channel.closed_with is not None and channel.closed_with[0] == 1013
    assert len(channel.sent) <= 1  # the frame in flight, the rest was dropped


async def test_the_byte_limit_applies_but_one_large_frame_always_fits() -> None:
    channel = StuckChannel()
    conn = Connection(channel, Principal(), "b", max_queue_frames=100, max_queue_bytes=100)
    conn.send(b"x" * 1000)  # alone in the queue: accepted
    await asyncio.sleep(0)
    conn.send(b"y" * 1000)  # in flight: queue empty again, accepted
    assert conn.closing is None
    conn.send(b"z")  # over the byte limit
    assert conn.closing is not None and conn.closing[0] == 1013
    conn.abort()


def test_awareness_ownership_and_release() -> None:
    room = RoomAwareness()
    assert (
        room.apply((AwarenessEntry(1, 1, '{"a":1}'), AwarenessEntry(2, 1, "{}")), owner=10) is None
    )
    assert room.apply((AwarenessEntry(3, 4, "{}"),), owner=11) is None
    # A stale clock is recorded as ownership but does not change the state.
    room.apply((AwarenessEntry(1, 0, '{"old":1}'),), owner=10)
    assert {e.client_id: e.state for e in room.snapshot()} == {1: '{"a":1}', 2: "{}", 3: "{}"}
    removed = room.release(10)
    assert sorted((e.client_id, e.clock, e.state) for e in removed) == [
        (1, 1, "null"),
        (2, 1, "null"),
    ]
    assert [e.client_id for e in room.snapshot()] == [3]
    assert room.release(10) == []
    # A client removing itself is no longer owned.
    room.apply((AwarenessEntry(3, 5, "null"),), owner=11)
    assert room.release(11) == [] and room.snapshot() == []


def test_close_codes_are_mapped_in_one_place() -> None:
    assert close_for(MalformedMessage("bad"))[0] == 4400
    assert close_for(UnsupportedUpdateFormat("v2"))[0] == 4415
    assert close_for(UpdateDecodeError("junk"))[0] == 4400
    assert close_for(BoardNotFound("b")) == (4404, "no board with id 'b'")
    assert close_for(RuntimeError("secret detail")) == (1011, "internal error; reconnect later")
    assert len(clip_reason("é" * 200).encode()) <= 123
