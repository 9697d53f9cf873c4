"""Bad input on /sync: the offending connection gets its documented close code and a reason;
the other connections in the room keep syncing and the server keeps serving.

All cases share one server (module scope): a bad frame that hurt the server would also show
up in the cases after it.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt_model import new_id

from . import _wire as w
from ._harness import StoreSpec, TasklyServer, card_update, converge, probe
from ._nodeclient import ROOT, require_node
from ._pyclient import PyClient

MAX_MESSAGE_BYTES = 65536
REJECT_CODES = {4400, 4413, 4415}


@dataclass(frozen=True)
class Room:
    """The shared server and a board on it."""

    server: TasklyServer
    board: str

    @property
    def url(self) -> str:
        """ws://HOST:PORT/sync/BOARD."""
        return self.server.board_url(self.board)


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    """One server with a small TASKLY_MAX_MESSAGE_BYTES and one board, for the whole module."""
    store = StoreSpec("sqlite", tmp_path_factory.mktemp("bad-input") / "taskly-data")
    server = TasklyServer(store, {"TASKLY_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)})
    server.start()
    try:
        yield Room(server, store.create_board("Bad input"))
    finally:
        if server.running:
            code = server.stop()
            assert code == 0, f"`taskly serve` exited {code} on SIGINT\n{server.output()}"


@dataclass
class Peers:
    """Two well-behaved clients in the room: one writes, one watches."""

    writer: PyClient
    observer: PyClient


@pytest.fixture
async def peers(room: Room) -> AsyncIterator[Peers]:
    """A writer and an observer connected and synced to the room."""
    writer, observer = PyClient("writer"), PyClient("observer")
    await writer.connect_synced(room.url)
    await observer.connect_synced(room.url)
    try:
        yield Peers(writer, observer)
    finally:
        await writer.disconnect()
        await observer.disconnect()


async def assert_room_alive(room: Room, peers: Peers) -> None:
    """An edit after the bad input reaches the other client; the server takes new clients."""
    assert peers.writer.ws is not None and peers.observer.ws is not None, (
        f"a well-behaved connection was closed: writer {peers.writer.close}, "
        f"observer {peers.observer.close}"
    )
    card = peers.writer.board.create_card("after the bad input", created_by=new_id())
    await peers.observer.wait_cards([card])
    assert (await room.server.get("/livez")).status_code == 200
    fresh = PyClient("fresh")
    await fresh.connect_synced(room.url)
    try:
        await fresh.wait_cards([card])
    finally:
        await fresh.disconnect()


def v2_update() -> bytes:
    """A card edit encoded as Yjs update v2 (tests/js/v2_update.mjs)."""
    result = subprocess.run(
        [require_node(), str(ROOT / "tests" / "js" / "v2_update.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return bytes.fromhex(json.loads(result.stdout)["v2"])


VALID = w.sync_message(w.SYNC_UPDATE, card_update()[1])
GARBAGE = random.Random(3).randbytes(48)
OVERSIZED = card_update("x" * MAX_MESSAGE_BYTES)[1]  # a valid update, only too large

# (case, frame, close code). Every frame is what a broken or hostile client could send.
REJECTED: list[tuple[str, bytes | str, int]] = [
    ("empty frame", b"", 4400),
    ("message type var-int cut short", b"\x80", 4400),
    ("sync message with no step", b"\x00", 4400),
    ("update length beyond the frame", bytes([0, 2]) + w.var_uint(100) + b"\x01\x02\x03", 4400),
    ("valid update frame cut in half", VALID[: len(VALID) // 2], 4400),
    ("random bytes as an update", w.sync_message(w.SYNC_UPDATE, GARBAGE), 4400),
    ("random bytes as sync step 2", w.sync_message(w.SYNC_STEP2, GARBAGE), 4400),
    (
        "corrupt update (a valid one cut short)",
        w.sync_message(w.SYNC_UPDATE, card_update()[1][:-3]),
        4400,
    ),
    ("awareness message cut short", bytes([w.MSG_AWARENESS]) + w.var_uint(40) + b"\x01", 4400),
    ("text frame", "hello, I am text", 4400),
    (
        "oversized message",
        w.sync_message(w.SYNC_UPDATE, card_update("x" * MAX_MESSAGE_BYTES)[1]),
        4413,
    ),
]


@pytest.mark.parametrize(("frame", "code"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
async def test_bad_frame_closes_only_that_connection(
    room: Room, peers: Peers, frame: bytes | str, code: int
) -> None:
    closed = await probe(room.url, frame)
    assert closed is not None, "the server kept a connection that sent a bad frame"
    assert closed[0] == code, f"expected close code {code}, got {closed}"
    assert closed[1].strip(), f"close code {code} came without a reason"
    await assert_room_alive(room, peers)


@pytest.mark.node
@pytest.mark.parametrize("step", [w.SYNC_UPDATE, w.SYNC_STEP2], ids=["update", "sync step 2"])
async def test_yjs_v2_update_is_refused_with_4415(room: Room, peers: Peers, step: int) -> None:
    closed = await probe(room.url, w.sync_message(step, v2_update()))
    assert closed is not None, "the server kept a connection that sent a Yjs v2 update"
    assert closed[0] == 4415, f"expected 4415 for a v2 update, got {closed}"
    assert closed[1].strip(), "4415 came without a reason"
    await assert_room_alive(room, peers)


@pytest.mark.parametrize(
    "frame",
    [bytes([9, 1, 2, 3]), bytes([w.MSG_AUTH, 0]) + w.var_bytes(b"token"), w.var_uint(300) + b"x"],
    ids=["type 9", "auth (type 2)", "type 300 (two-byte var-int)"],
)
async def test_unknown_message_type_is_ignored(room: Room, peers: Peers, frame: bytes) -> None:
    assert await probe(room.url, frame) is None, "an unknown message type must be ignored"
    await assert_room_alive(room, peers)


async def test_valid_update_right_at_the_limit_is_accepted(room: Room, peers: Peers) -> None:
    # The limit is on the message, inclusive: fill a valid update up to exactly the maximum.
    base = len(w.sync_message(w.SYNC_UPDATE, card_update("")[1]))
    filler = MAX_MESSAGE_BYTES - base
    frame = w.sync_message(w.SYNC_UPDATE, card_update("y" * filler)[1])
    while len(frame) > MAX_MESSAGE_BYTES:  # var-int lengths grew by a byte or two
        filler -= len(frame) - MAX_MESSAGE_BYTES
        frame = w.sync_message(w.SYNC_UPDATE, card_update("y" * filler)[1])
    assert len(frame) <= MAX_MESSAGE_BYTES
    assert await probe(room.url, frame) is None, f"a valid {len(frame)}-byte message was refused"
    await assert_room_alive(room, peers)


# -- random frames (hypothesis) -----------------------------------------------------------------

FRAMES = st.one_of(
    st.binary(max_size=300),
    st.builds(w.sync_message, st.integers(min_value=0, max_value=3), st.binary(max_size=200)),
    st.builds(w.awareness_message, st.binary(max_size=120)),
    st.integers(min_value=0, max_value=len(VALID)).map(lambda cut: VALID[:cut]),
    st.tuples(st.integers(min_value=0, max_value=len(VALID) - 1), st.integers(0, 255)).map(
        lambda flip: VALID[: flip[0]] + bytes([flip[1]]) + VALID[flip[0] + 1 :]
    ),
)


def test_random_frames_never_hurt_the_room(room: Room) -> None:
    # One event loop for every example, so that the writer and observer stay connected
    # throughout: each example is followed by an edit that must still reach the observer.
    loop = asyncio.new_event_loop()
    writer, observer = PyClient("writer"), PyClient("observer")
    outcomes: dict[str, int] = {}
    try:
        loop.run_until_complete(writer.connect_synced(room.url))
        loop.run_until_complete(observer.connect_synced(room.url))

        @given(frame=FRAMES)
        def example(frame: bytes) -> None:
            closed = loop.run_until_complete(probe(room.url, frame))
            if closed is not None:
                assert closed[0] in REJECT_CODES, f"{frame!r} closed the connection with {closed}"
                assert closed[1].strip(), f"{frame!r}: close code {closed[0]} without a reason"
            outcome = "kept" if closed is None else str(closed[0])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            card = writer.board.create_card("after a random frame", created_by=new_id())
            loop.run_until_complete(observer.wait_cards([card]))

        example()
        # Whatever random updates were accepted, a fresh client loads the same document.
        fresh = PyClient("fresh")
        loop.run_until_complete(fresh.connect_synced(room.url))
        loop.run_until_complete(converge([observer, fresh]))
        loop.run_until_complete(fresh.disconnect())
        assert loop.run_until_complete(room.server.get("/livez")).status_code == 200
    finally:
        loop.run_until_complete(writer.disconnect())
        loop.run_until_complete(observer.disconnect())
        loop.close()
    assert outcomes, "hypothesis ran no example"
