"""The durable write pipeline of one room: store every applied update, in order, then release it.

Updates applied to a room's doc are queued here with a sequence number. One writer task
per room drains the queue: whatever accumulated while the previous append was in flight goes
to the store in one `append_many` transaction (group commit), in order. Only after the commit
does the writer release the batch: first the callbacks waiting for "everything applied up to
seq N is stored" (sync step 2 replies), then `on_stored` (the room's callback: the broadcast,
then the materializer's flag); each released write knows its seq in the log. If the store fails,
the batch stays queued and the append is retried with exponential backoff (50 ms doubling to
5 s); nothing unstored is ever released. An update the store refuses as invalid (it cannot be:
pycrdt encoded it) is isolated by retrying one at a time, logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Final

from storage import InvalidUpdate, Store, UpdateOrigin
from sync_server.metrics import Metrics

log = logging.getLogger("taskly.sync")

MAX_BATCH: Final = 1024
FIRST_BACKOFF: Final = 0.05
MAX_BACKOFF: Final = 5.0


class PendingWrite:
    """An update applied to the doc and not yet stored."""

    __slots__ = ("origin", "seq", "source", "store_seq", "update")

    def __init__(self, seq: int, update: bytes, origin: UpdateOrigin, source: object) -> None:
        self.seq = seq
        self.update = update
        self.origin = origin
        self.source = source  # the connection it came from (not echoed to), or None
        self.store_seq: int | None = None  # its seq in the board's log, once stored


class DurableWriter:
    """The single writer of one board's updates."""

    def __init__(
        self,
        board_id: str,
        store: Store,
        metrics: Metrics,
        on_stored: Callable[[list[PendingWrite]], None],
        *,
        high_water_bytes: int = 64 * 1024 * 1024,
        head_seq: int = 0,
    ) -> None:
        self.board_id = board_id
        self.store = store
        self.metrics = metrics
        self.on_stored = on_stored
        self.high_water_bytes = high_water_bytes
        self.applied_seq = 0
        self.stored_seq = 0
        # The board's log head as far as this writer knows: the seq of the last update it
        # stored, or the head the board was loaded at.
        self.head_seq = head_seq
        self.last_enqueued: PendingWrite | None = None
        self.failed = False
        self.pending_bytes = 0
        self._pending: deque[PendingWrite] = deque()
        self._waiters: deque[tuple[int, Callable[[], None]]] = deque()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._below_high_water = asyncio.Event()
        self._below_high_water.set()
        self._one_at_a_time = False
        self._task = asyncio.create_task(self._run(), name=f"taskly-writer-{board_id}")

    @property
    def busy(self) -> bool:
        """Whether updates wait to be stored (or a store attempt failed)."""
        return bool(self._pending) or self.failed

    def enqueue(self, update: bytes, origin: UpdateOrigin, source: object) -> int:
        """Queue an applied update for storing; return its sequence number."""
        self.applied_seq += 1
        write = PendingWrite(self.applied_seq, update, origin, source)
        self.last_enqueued = write
        self._pending.append(write)
        self.pending_bytes += len(update)
        if self.pending_bytes > self.high_water_bytes:
            self._below_high_water.clear()
        self._drained.clear()
        self._wake.set()
        return self.applied_seq

    def when_stored(self, callback: Callable[[], None]) -> None:
        """Call `callback` once everything applied so far is stored (now, if it is)."""
        if self.stored_seq >= self.applied_seq:
            callback()
        else:
            self._waiters.append((self.applied_seq, callback))

    async def stored(self) -> None:
        """Wait until everything applied so far is stored (or dropped as invalid)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def release() -> None:
            if not done.done():
                done.set_result(None)

        self.when_stored(release)
        await done

    async def below_high_water(self) -> None:
        """Wait while too many bytes wait to be stored (backpressure on the readers)."""
        await self._below_high_water.wait()

    async def drain(self) -> None:
        """Wait until everything applied so far is stored."""
        await self._drained.wait()

    async def stop(self) -> None:
        """Stop the writer task (pending writes stay queued)."""
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            if not self._pending:
                self._drained.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            size = 1 if self._one_at_a_time else MAX_BATCH
            batch = list(islice(self._pending, size))
            started = time.perf_counter()
            try:
                seqs = await self.store.append_many(
                    self.board_id, [(w.update, w.origin) for w in batch]
                )
            except asyncio.CancelledError:
                raise
            except InvalidUpdate as exc:
                if len(batch) > 1:
                    self._one_at_a_time = True
                    continue
                log.error("dropping an update the store refuses board=%s: %s", self.board_id, exc)
                self._release(batch, stored=False)
                continue
            except Exception as exc:
                self.failed = True
                self.metrics.store_failures += 1
                log.error(
                    "storing %d update(s) failed board=%s, retrying in %.2fs: %s",
                    len(batch),
                    self.board_id,
                    backoff,
                    exc,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            self.metrics.observe_append(time.perf_counter() - started, len(batch))
            if self.failed:
                log.info("storing works again board=%s", self.board_id)
            self.failed = False
            self._one_at_a_time = False
            backoff = FIRST_BACKOFF
            for write, store_seq in zip(batch, seqs, strict=True):
                write.store_seq = store_seq
            if seqs:
                self.head_seq = max(self.head_seq, seqs[-1])
            self._release(batch, stored=True)

    def _release(self, batch: list[PendingWrite], *, stored: bool) -> None:
        for write in batch:
            self._pending.popleft()
            self.pending_bytes -= len(write.update)
        if self.pending_bytes <= self.high_water_bytes:
            self._below_high_water.set()
        self.stored_seq = batch[-1].seq
        while self._waiters and self._waiters[0][0] <= self.stored_seq:
            _, callback = self._waiters.popleft()
            callback()
        if stored:
            self.on_stored(batch)
