"""Concurrent writers on one board: no update lost or reordered, seqs unique (real databases).

Writers are real asyncio tasks on one Store, and tasks spread over two Store instances (two
connections / two pools) on the same database, as two server processes would be.
"""

from __future__ import annotations

import asyncio
import random

from storage import Store, UpdateOrigin
from tests.storage._docs import Writer, content, content_of
from tests.storage.conftest import Backend
from tests.storage.test_contract import new_board

WRITERS = 6
PER_WRITER = 15


async def _write(store: Store, board_id: str, writer_no: int) -> list[tuple[int, bytes]]:
    """Append this writer's updates (singly and in bursts); return (seq, update) in order."""
    writer = Writer(client_id=1000 + writer_no)
    origin = UpdateOrigin("user", f"writer-{writer_no}")
    rng = random.Random(writer_no)
    done: list[tuple[int, bytes]] = []
    while len(done) < PER_WRITER:
        burst = [writer.set(f"k{writer_no}", len(done) + i) for i in range(rng.randint(1, 3))]
        burst = burst[: PER_WRITER - len(done)]
        if len(burst) == 1:
            seqs = [await store.append(board_id, burst[0], origin)]
        else:
            seqs = await store.append_many(board_id, [(u, origin) for u in burst])
        done.extend(zip(seqs, burst, strict=True))
        await asyncio.sleep(0)
    return done


def _check(results: list[list[tuple[int, bytes]]], log: list[tuple[int, bytes, str]]) -> None:
    total = WRITERS * PER_WRITER
    seqs = [seq for seq, _, _ in log]
    assert seqs == list(range(1, total + 1)), "seqs are unique and gap-free"
    by_seq = {seq: update for seq, update, _ in log}
    for writer_no, done in enumerate(results):
        # Every acknowledged update is stored under the seq it was given...
        assert all(by_seq[seq] == update for seq, update in done)
        # ...and each writer's updates keep their order.
        mine = [seq for seq, _, actor in log if actor == f"writer-{writer_no}"]
        assert mine == [seq for seq, _ in done]
        assert len(mine) == PER_WRITER


async def test_concurrent_tasks_on_one_store(db_store: Store) -> None:
    board = await new_board(db_store)
    results = await asyncio.gather(*(_write(db_store, board.id, n) for n in range(WRITERS)))
    log = [(r.seq, r.update, r.origin.actor or "") for r in await db_store.read_log(board.id)]
    _check(list(results), log)


async def test_concurrent_tasks_on_two_stores(db_backend: Backend) -> None:
    async with db_backend.make() as one, db_backend.make() as two:
        board = await new_board(one)
        stores = [one, two]
        results = await asyncio.gather(
            *(_write(stores[n % 2], board.id, n) for n in range(WRITERS))
        )
        rows = await two.read_log(board.id)
        _check(list(results), [(r.seq, r.update, r.origin.actor or "") for r in rows])
        updates = [u for done in results for _, u in done]
        assert content(await one.load_doc(board.id)) == content_of(*updates)


async def test_appends_racing_compaction_lose_nothing(db_backend: Backend) -> None:
    async with db_backend.make() as one, db_backend.make() as two:
        board = await new_board(one)

        async def compact_repeatedly() -> None:
            for _ in range(8):
                await two.compact(board.id)
                await asyncio.sleep(0.001)

        results, _ = await asyncio.gather(
            asyncio.gather(*(_write(one, board.id, n) for n in range(WRITERS))),
            compact_repeatedly(),
        )
        updates = [u for done in results for _, u in done]
        assert content(await two.load_doc(board.id)) == content_of(*updates)
        assert (await one.load(board.id)).head_seq == WRITERS * PER_WRITER


async def test_card_numbers_are_unique_across_stores(db_backend: Backend) -> None:
    async with db_backend.make() as one, db_backend.make() as two:
        board = await new_board(one)
        numbers = await asyncio.gather(
            *((one if i % 2 else two).next_card_number(board.id) for i in range(40))
        )
        assert sorted(numbers) == list(range(1, 41))
