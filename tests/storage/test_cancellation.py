"""Cancelled calls: a task cancelled at any point of a store call leaves the store usable.

A caller's task can be cancelled anywhere (a client goes away, a timeout fires, the server
shuts down). Whatever the call had started is rolled back or, if its commit was already under
way, committed; either way the next call succeeds, on the same store and on another store on
the same database (no transaction left open, no write lock left held).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from storage import SQLiteStore, Store, UpdateOrigin
from tests.storage._docs import Writer, content, content_of
from tests.storage.conftest import Backend
from tests.storage.test_contract import new_board

USER = UpdateOrigin("user", "user-1")
#: Cancel after this many event loop iterations (0..TICKS-1), then after these sleeps.
TICKS = 30
DELAYS = (0.0002, 0.0005, 0.001, 0.002, 0.005)

Call = Callable[[], Awaitable[Any]]


async def cancel_after(call: Call, ticks: int, delay: float) -> bool:
    """Start `call` in a task and cancel it after `ticks` loop iterations and `delay` seconds;
    return whether it was still running when cancelled (False: it had finished)."""
    task = asyncio.ensure_future(call())
    for _ in range(ticks):
        await asyncio.sleep(0)
    if delay:
        await asyncio.sleep(delay)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


class Log:
    """The updates a test sends to one board, each a new value of one key."""

    def __init__(self, store: Store, board_id: str) -> None:
        self.store = store
        self.board_id = board_id
        self.writer = Writer(client_id=5)
        self.sent: list[bytes] = []
        self.count = 0

    def next(self) -> bytes:
        self.count += 1
        update = self.writer.set(f"k{self.count % 7}", self.count)
        self.sent.append(update)
        return update

    def calls(self) -> list[Call]:
        """One call of each kind of transaction: a write, a read, a compaction, a counter."""
        store, board = self.store, self.board_id
        return [
            lambda: store.append_many(board, [(self.next(), USER), (self.next(), USER)]),
            lambda: store.load(board),
            lambda: store.compact(board),
            lambda: store.next_card_number(board),
        ]

    async def check(self, store: Store | None = None) -> None:
        """Append one update and read the board back: the store works, the log is whole."""
        store = store or self.store
        head = (await store.load(self.board_id)).head_seq
        assert await store.append(self.board_id, self.next(), USER) == head + 1
        rows = await store.read_log(self.board_id)
        assert [row.seq for row in rows] == list(range(1, head + 2))
        # Every stored update is one we sent (a call cancelled during its commit may or may
        # not have stored its burst), and the document is exactly what they make.
        assert {row.update for row in rows} <= set(self.sent)
        want = content_of(*(row.update for row in rows))
        assert content(await store.load_doc(self.board_id)) == want


async def test_calls_cancelled_at_any_point_leave_the_store_usable(
    store: Store, backend: Backend
) -> None:
    board = await new_board(store)
    log = Log(store, board.id)
    cancelled = 0
    for call in log.calls():
        for ticks in range(TICKS):
            cancelled += await cancel_after(call, ticks, 0)
            await log.check()
        for delay in DELAYS:
            cancelled += await cancel_after(call, 0, delay)
            await log.check()
    if backend.kind != "memory":  # (the fake's calls mostly finish within a few ticks)
        assert cancelled > len(log.calls()) * TICKS // 2  # most calls were cut short
        # No transaction or write lock is left behind for another connection either.
        options: dict[str, Any] = {"migrate_on_open": False}
        if backend.kind == "sqlite":
            options["busy_timeout"] = timedelta(seconds=2)
        async with backend.make(**options) as other:
            await log.check(other)


class StatementHook:
    """Cancels a task when SQLite starts the n-th statement (sqlite3's trace callback, which
    runs in aiosqlite's worker thread just before each statement runs)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.statements: list[str] = []
        self.target: asyncio.Task[Any] | None = None
        self.cancel_at = 0

    def __call__(self, statement: str) -> None:
        with self.lock:
            self.statements.append(statement)
            if self.target is not None and len(self.statements) == self.cancel_at:
                # Scheduled before the statement's result: the task is cancelled while it
                # awaits this very statement, which still runs to its end in the thread.
                self.loop.call_soon_threadsafe(self.target.cancel)

    async def run(self, call: Call, cancel_at: int) -> tuple[bool, list[str]]:
        """Run `call`, cancelled at its `cancel_at`-th statement (0: never); return whether it
        was cancelled and the statements it ran."""
        with self.lock:
            self.statements = []
            self.cancel_at = cancel_at
            task = self.target = asyncio.ensure_future(call())
        try:
            await task
        except asyncio.CancelledError:
            pass
        with self.lock:
            self.target = None
            return task.cancelled(), self.statements


@pytest.mark.parametrize("kind", ["append_many", "load", "compact", "next_card_number"])
async def test_sqlite_cancelled_at_each_statement_rolls_back(tmp_path: Path, kind: str) -> None:
    """Cancel one call at each of its statements in turn (BEGIN, the body, COMMIT)."""
    async with SQLiteStore(tmp_path / "taskly.db", busy_timeout=timedelta(seconds=2)) as store:
        board = await new_board(store)
        log = Log(store, board.id)
        await store.append_many(board.id, [(log.next(), USER) for _ in range(3)])
        call = log.calls()[["append_many", "load", "compact", "next_card_number"].index(kind)]
        hook = StatementHook(asyncio.get_running_loop())
        assert store._conn is not None
        await store._conn.set_trace_callback(hook)
        _, statements = await hook.run(call, 0)
        assert statements[0].startswith("BEGIN") and statements[-1] == "COMMIT"
        for cancel_at in range(1, len(statements) + 1):
            cancelled, ran = await hook.run(call, cancel_at)
            assert cancelled, f"not cancelled at statement {cancel_at}: {ran}"
            await log.check()
        async with SQLiteStore(tmp_path / "taskly.db", migrate_on_open=False) as other:
            await log.check(other)
