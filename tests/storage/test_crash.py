"""Crash safety with real processes killed by SIGKILL (both databases).

* Durability: a child appends, prints the seq the moment append() returns, and is killed as
  soon as the parent reads it; after reopening, the update is there under that seq.
* Compaction: a child compacts a board with a long history and is killed at a random moment
  (before, during, after); after reopening, the board and its history equal the expected
  state, and the log and checkpoints are either all old or all new.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import crdt_model
from storage import Store
from tests.storage._docs import Writer, content, content_of
from tests.storage.conftest import Backend
from tests.storage.test_contract import new_board
from tests.storage.test_history import DAY0, EOD, USER, expected_at, seed_days

ROOT = Path(__file__).resolve().parents[2]


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage._crash_worker",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert proc.stdout is not None
    await proc.stdout.read()  # drain, so the pipe transport closes cleanly


async def test_an_acknowledged_append_survives_sigkill(db_backend: Backend) -> None:
    async with db_backend.make() as store:
        board = await new_board(store)
    writer = Writer(client_id=3)
    updates = [writer.set("k", i) for i in range(3)]
    for expected_seq, update in enumerate(updates, start=1):
        proc = await _spawn("append", db_backend.kind, db_backend.target, board.id, update.hex())
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        proc.send_signal(signal.SIGKILL)  # the instant after append() returned
        await _kill(proc)
        assert int(line) == expected_seq
        async with db_backend.make() as store:
            rows = await store.read_log(board.id)
            assert rows[-1].seq == expected_seq and rows[-1].update == update
    async with db_backend.make() as store:
        assert content(await store.load_doc(board.id)) == content(writer.doc)


async def _history(store: Store, board_id: str) -> list[bytes | None]:
    return [await store.load_as_of(board_id, DAY0 + timedelta(days=d) + EOD) for d in range(-1, 31)]


async def _seed_heavy(store: Store, board_id: str) -> list[tuple[datetime, bytes]]:
    """30 days of 25 edits of ~1 KB values each: compaction takes long enough to be hit."""
    writer = Writer(client_id=11)
    timeline: list[tuple[datetime, bytes]] = []
    for day in range(30):
        at = DAY0 + timedelta(days=day, hours=9)
        burst = [
            writer.set(f"card{(day * 7 + i) % 60}", f"{day}:{i}:" + "x" * 1000) for i in range(25)
        ]
        await store.append_many(board_id, [(u, USER) for u in burst], at=at)
        timeline += [(at, u) for u in burst]
    return timeline


async def test_compaction_killed_at_random_moments_loses_nothing(db_backend: Backend) -> None:
    rng = random.Random(20261126)
    retention = timedelta(days=10)
    now = DAY0 + timedelta(days=31)
    rounds = 6
    outcomes: list[str] = []
    # How long one compaction takes here, to spread the kills over it.
    async with db_backend.make() as store:
        board = await new_board(store)
        await _seed_heavy(store, board.id)
        started = time.perf_counter()
        await store.compact(board.id, now=now, retention=retention)
        duration = time.perf_counter() - started
    for index in range(rounds):
        async with db_backend.make() as store:
            board = await new_board(store)
            timeline = await _seed_heavy(store, board.id)
            rows_before = len(await store.read_log(board.id))
        proc = await _spawn(
            "compact", db_backend.kind, db_backend.target, board.id, now.isoformat(), "10"
        )
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), timeout=30) == b"ready\n"
        # Stratified: round i kills somewhere in the i-th slice of [0, 1.5 x duration].
        await asyncio.sleep(1.5 * duration * (index + rng.random()) / rounds)
        await _kill(proc)

        async with db_backend.make() as store:
            everything = content_of(*(u for _, u in timeline))
            assert content(await store.load_doc(board.id)) == everything
            rows_after = len(await store.read_log(board.id))
            loaded = await store.load(board.id)
            if loaded.snapshot is None:  # killed before COMMIT: all old
                outcomes.append("old")
                assert rows_after == rows_before
            else:  # committed: all new
                outcomes.append("new")
                assert loaded.snapshot_seq == rows_before and loaded.tail == []
                folded = [t for t, _ in timeline if t < DAY0 + timedelta(days=21)]
                assert rows_after == rows_before - len(folded)
            for day, state in zip(range(-1, 31), await _history(store, board.id), strict=True):
                expected = expected_at(timeline, DAY0 + timedelta(days=day) + EOD)
                got = None if state is None else content(crdt_model.load_doc(state))
                assert got == expected, day
            # Whatever happened, compaction can run again and everything still holds.
            await store.compact(board.id, now=now, retention=retention)
            assert content(await store.load_doc(board.id)) == everything
    print(f"compaction {duration * 1000:.0f} ms; outcomes by kill time: {outcomes}")


async def test_killed_compaction_then_more_appends(db_backend: Backend) -> None:
    """After a kill mid-compaction the store accepts appends with the next seqs."""
    async with db_backend.make() as store:
        board = await new_board(store)
        await seed_days(store, board.id, days=5, per_day=4)
        head = (await store.load(board.id)).head_seq
    proc = await _spawn(
        "compact", db_backend.kind, db_backend.target, board.id, DAY0.isoformat(), "0"
    )
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    await _kill(proc)
    async with db_backend.make() as store:
        assert await store.append(board.id, Writer(8).set("a", 1), USER) == head + 1
