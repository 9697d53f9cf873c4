"""Crash safety of the materialized tables, black-box: two users edit a board through a real
`taskly serve` while its materializer projects; the server is SIGKILLed at a random moment.

At the crash, the tables hold exactly the projection of the log up to the watermark (rows,
activity and watermark are written in one transaction). After a restart they catch up to
the whole log: equal to the projection of the stored document, no activity entry written
twice or rewritten, every card's creation attributed to the user who made it.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from crdt_model import load_doc, project
from storage import CardActivity, Store, open_store

from ._harness import StoreSpec, converge
from ._pyclient import PyClient
from .conftest import Clients, ServerFactory

WRITE_PAUSE = 0.01  # seconds between two edits of one writer


class Writer:
    """One user's client: creates cards and edits the ones it made, until stopped."""

    def __init__(self, client: PyClient, login: str) -> None:
        self.client = client
        self.login = login
        self.cards: list[str] = []
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self, seed: int) -> None:
        self.stop.clear()
        self.task = asyncio.create_task(self._write(random.Random(seed)))

    async def halt(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task

    async def _write(self, rng: random.Random) -> None:
        board = self.client.board
        while not self.stop.is_set():
            if not self.cards or rng.random() < 0.4:
                title = f"{self.login} {len(self.cards)}"
                self.cards.append(board.create_card(title, created_by=_NOBODY))
            elif rng.random() < 0.5:
                board.set_points(rng.choice(self.cards), rng.randrange(100))
            else:
                board.set_title(rng.choice(self.cards), f"{self.login} edit {rng.randrange(1000)}")
            await asyncio.sleep(WRITE_PAUSE)


_NOBODY = "00000000-0000-4000-8000-000000000000"  # `createdBy` is not what is checked here


async def materialized_state(store: Store, board: str) -> tuple[int, Any, Any]:
    """(watermark, the tables, the projection of the log up to the watermark)."""
    watermark = await store.get_watermark(board)
    loaded = await store.load(board)
    assert loaded.snapshot is None or loaded.snapshot_seq <= watermark, "compacted meanwhile"
    head = [loaded.snapshot] if loaded.snapshot is not None else []
    updates = head + [row.update for row in loaded.tail if row.seq <= watermark]
    return watermark, await store.read_materialized(board), project(load_doc(*updates))


def same_rows(tables: Any, expected: Any) -> None:
    assert tables.board == (expected.board if tables.board is not None else None)
    assert tables.columns == expected.columns
    assert tables.cards == expected.cards
    assert tables.labels == expected.labels
    assert tables.sprints == expected.sprints
    assert tables.comments == expected.comments


async def activity(store: Store, board: str, cards: set[str]) -> list[CardActivity]:
    entries: list[CardActivity] = []
    for card in sorted(cards):
        entries += await store.list_card_activity(board, card, limit=500)
    return entries


async def test_sigkill_mid_projection_then_restart_converges_with_no_activity_twice(
    any_store: StoreSpec, taskly: ServerFactory, clients: Clients
) -> None:
    server = taskly(any_store)  # its clients are the owner unless given another token
    owner, bob = any_store.owner, await any_store.auser("bob")
    board = await any_store.acreate_board("Materialized board")
    writers = [Writer(clients.py(who.login), who.login) for who in (owner, bob)]
    tokens = {owner.login: owner.token, bob.login: bob.token}
    for n, writer in enumerate(writers):
        await writer.client.connect_synced(server.board_url(board, tokens[writer.login]))
        writer.start(seed=n)

    delay = random.uniform(0.5, 1.2)
    await asyncio.sleep(delay)
    await server.akill()
    for writer in writers:
        await writer.client.wait_closed()
        await writer.halt()

    made = {card for writer in writers for card in writer.cards}
    async with open_store(
        database_url=any_store.database_url, data_dir=any_store.data_dir
    ) as store:
        crash_mark, tables, expected = await materialized_state(store, board)
        head = (await store.load(board)).head_seq
        assert crash_mark > 1, f"nothing projected in {delay:.2f} s of writing: proved nothing"
        same_rows(tables, expected)  # an exact projection at the watermark, nothing half-done
        before = await activity(store, board, made)
        assert all(e.seq <= crash_mark for e in before)
    print(f"killed after {delay:.2f} s: watermark {crash_mark} of {head} stored updates")

    # Restart; the writers reconnect (their offline edits go in) and write a little more.
    await server.astart()
    for n, writer in enumerate(writers):
        await writer.client.connect_synced(server.board_url(board, tokens[writer.login]))
        writer.start(seed=10 + n)
    await asyncio.sleep(0.3)
    for writer in writers:
        await writer.halt()
    await converge([writer.client for writer in writers])

    def numbered() -> bool:
        return all(card.number is not None for card in writers[0].client.projection().cards)

    await writers[0].client.wait_for(numbered, "every card numbered", 20)
    await converge([writer.client for writer in writers])
    assert await server.astop() == 0

    made = {card for writer in writers for card in writer.cards}
    async with open_store(
        database_url=any_store.database_url, data_dir=any_store.data_dir
    ) as store:
        loaded = await store.load(board)
        watermark = await store.get_watermark(board)
        assert watermark == loaded.head_seq >= crash_mark
        same_rows(await store.read_materialized(board), project(await store.load_doc(board)))
        after = await activity(store, board, made)
        ids = {login: (await store.get_user_by_login(login)).id for login in tokens}
    assert len({(e.card_id, e.seq, e.field) for e in after}) == len(after), "activity twice"
    assert [e for e in after if e.seq <= crash_mark] == before, "activity rewritten"
    creators = {card: ids[writer.login] for writer in writers for card in writer.cards}
    created = {e.card_id: e.origin.actor for e in after if e.field == "card" and e.new}
    assert created == {card: creators[card] for card in created}
    assert set(created) == {card.id for card in project(load_doc(*loaded.updates())).cards}
