"""Malformed input closes only the offending connection, with its 44xx code and a reason."""

from __future__ import annotations

import asyncio
import os

import pytest
import websockets

from storage import SQLiteStore
from sync_server import protocol as p
from tests.sync_server.conftest import Running, run_app
from tests.sync_server.yclient import YClient

# Yjs 13.6.33 (tests/js/v2_update.mjs): one card, as update format v1 and v2.
V1 = bytes.fromhex(
    "01049d91d7f2040027010563617264730263310127009d91d7f20400057469746c650204009d91d7f2040110c3bc"
    "6ec3af63c3b664c3a920f09f9a8028009d91d7f2040006706f696e7473017d0300"
)
V2 = bytes.fromhex(
    "000006dda2aee5090203000242000527010400282822636172647363317469746c65c3bc6ec3af63c3b664c3a9"
    "20f09f9a80706f696e74730502050a060301000002010201010104007d0300"
)


async def assert_room_still_works(server: Running, board: str, witness: YClient) -> None:
    """Another client in the same room still syncs both ways."""
    writer = await YClient.connect(server.ws, board)
    name = f"still alive {os.urandom(4).hex()}"
    await writer.edit(lambda b: b.rename(name))
    await witness.wait_for(lambda: witness.board.board().name == name)
    await writer.close()


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        (p.encode_update(V2), 4415, "format v2"),
        (p.encode_update(b"\x01\x02\x03garbage"), 4400, "not a Yjs v1 update"),
        (p.encode_sync_step2(V1[:-5]), 4400, "not a Yjs v1 update"),
        (p.encode_update(V1)[:-7], 4400, "runs past the end"),  # truncated frame
        (p.encode_update(V1) + b"\x00", 4400, "left over"),
        (b"", 4400, "empty frame"),
        (b"\x00\x07\x00", 4400, "unknown sync message type"),
        (b"\x00\x00\x05\xff\xff\xff\xff\xff", 4400, "state vector"),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff", 4400, "number"),
        (b"\x01\x04\x01\x01\x01\x05", 4400, "awareness"),
        (p.encode_awareness(b"\x01\x07\x01\x03{x}"), 4400, "not JSON"),
    ],
)
async def test_malformed_messages_close_only_that_connection(
    server: Running, board: str, frame: bytes, code: int, reason: str
) -> None:
    witness = await YClient.connect(server.ws, board)
    offender = await YClient.connect(server.ws, board)
    await offender.send(frame)
    assert await offender.wait_closed() == code
    assert offender.close_reason is not None and reason in offender.close_reason
    await assert_room_still_works(server, board, witness)
    await witness.close()


async def test_text_frames_are_refused(server: Running, board: str) -> None:
    witness = await YClient.connect(server.ws, board)
    offender = await YClient.connect(server.ws, board)
    await offender.send("hello")
    assert await offender.wait_closed() == 4400
    assert "text frame" in (offender.close_reason or "")
    await assert_room_still_works(server, board, witness)
    await witness.close()


async def test_random_bytes_never_hurt_the_room(server: Running, board: str) -> None:
    witness = await YClient.connect(server.ws, board)
    rng = __import__("random").Random(7)
    for _ in range(40):
        client = await YClient.connect(server.ws, board, sync=False)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        await client.send(junk)
        await client.send(p.encode_update(b"\x00\x01"))  # a bad update in any case
        code = await client.wait_closed()
        assert code is not None and 4400 <= code <= 4499, (junk, code)
    await assert_room_still_works(server, board, witness)
    await witness.close()


async def test_unknown_message_types_are_ignored(server: Running, board: str) -> None:
    witness = await YClient.connect(server.ws, board)
    client = await YClient.connect(server.ws, board)
    for frame in (b"\x02\x00\x00", b"\x05", b"\x7f\x01\x02\x03", b"\x80\x01abc"):
        await client.send(frame)
    await client.edit(lambda b: b.rename("after unknown types"))
    await witness.wait_for(lambda: witness.board.board().name == "after unknown types")
    assert not client.closed.is_set()
    await client.close()
    await witness.close()


async def test_an_oversized_message_is_refused_with_4413(store: SQLiteStore, board: str) -> None:
    async with run_app(store, max_message_bytes=64 * 1024) as server:
        witness = await YClient.connect(server.ws, board)
        offender = await YClient.connect(server.ws, board)
        await offender.send(p.encode_update(b"\x00" * (64 * 1024 + 1)))
        assert await offender.wait_closed() == 4413
        assert "larger than 65536 bytes" in (offender.close_reason or "")
        await assert_room_still_works(server, board, witness)
        # Just below the limit is a normal (here: malformed) message.
        other = await YClient.connect(server.ws, board)
        await other.send(p.encode_update(b"\xff" * (60 * 1024)))
        assert await other.wait_closed() == 4400
        await witness.close()


async def test_a_client_still_sending_a_huge_message_reads_4413_not_a_reset(
    server: Running, board: str
) -> None:
    """The default limit (8 MiB): the server lingers, discarding, until the client read it."""
    witness = await YClient.connect(server.ws, board)
    offender = await YClient.connect(server.ws, board)
    try:
        await offender.send(p.encode_update(b"\x07" * (9 * 1024 * 1024)))
    except websockets.ConnectionClosed:
        pass
    assert await offender.wait_closed(seconds=15) == 4413
    await assert_room_still_works(server, board, witness)
    await witness.close()


async def test_an_oversized_frame_is_refused_from_its_header(
    store: SQLiteStore, board: str
) -> None:
    """The server closes before the payload arrives: it does not buffer what it refuses."""
    async with run_app(store, max_message_bytes=64 * 1024) as server:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", int(server.url.rsplit(":", 1)[1])
        )
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        writer.write(
            (
                f"GET /sync/{board} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        # A masked binary frame header announcing 1 GiB, and no payload.
        writer.write(bytes([0x82, 0xFF]) + (1 << 30).to_bytes(8, "big") + b"\x00\x00\x00\x00")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
        # Skip our greeting frames; the last frame is the close frame with 4413.
        assert (4413).to_bytes(2, "big") in data
        writer.close()
        await writer.wait_closed()


async def test_unknown_board_is_refused_with_4404_before_any_document_byte(
    server: Running,
) -> None:
    ws = await websockets.connect(f"{server.ws}/sync/01a21906-0000-7000-8000-000000000000")
    with pytest.raises(websockets.ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 4404
    assert "no board" in (ws.close_reason or "")
