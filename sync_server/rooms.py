"""The registry of loaded rooms: load once, unload when idle, stay within a memory budget.

- A board is loaded on its first join (snapshot + tail from the store, applied unchecked:
  the store checked every update on the way in). Concurrent first joins share one load (a
  future per board); a failed load is not cached, the next join tries again.
- A room with no connection for `idle_unload_seconds` is compacted (only when its log has
  rows since the snapshot) and unloaded, but never while it has writes pending or failed, or
  card numbers to assign: it stays and is tried again on a later sweep. A join during the
  compaction keeps the room.
- Memory budget: each room's estimate is 20 bytes per encoded byte (loaded snapshot + tail +
  every update applied since) plus 16 KiB (see room.py for the measurements). When the sum
  exceeds the budget, idle rooms are unloaded least recently used first, without waiting for
  their idle time. Rooms in use are never evicted: the budget can be exceeded by them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pycrdt import Doc

from crdt_model import apply_update
from storage import Store
from sync_server.metrics import Metrics
from sync_server.room import Room

log = logging.getLogger("taskly.sync")


class Rooms:
    """Every loaded room of this process."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        idle_unload_seconds: float,
        memory_budget_bytes: int,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.idle_unload_seconds = idle_unload_seconds
        self.memory_budget_bytes = memory_budget_bytes
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self._sweep_wake = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self.unloads = 0

    def start(self) -> None:
        """Start the background sweep (idle unload, memory budget)."""
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="taskly-rooms-sweep")

    # -- loading -----------------------------------------------------------------------------

    async def acquire(self, board_id: str) -> Room:
        """Return the board's room, loading it once; raise BoardNotFound.

        The caller must join the room before its next await, or the room may be unloaded.
        """
        while True:
            room = await self._acquire_once(board_id)
            if self.rooms.get(board_id) is room:  # not evicted while a waiter resumed
                return room

    async def _acquire_once(self, board_id: str) -> Room:
        room = self.rooms.get(board_id)
        if room is not None:
            return room
        pending = self._loading.get(board_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[board_id] = pending
            try:
                room = await self._load(board_id)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: waiters (if any) get it too
                raise
            else:
                self.rooms[board_id] = room
                pending.set_result(room)
                if self.total_bytes() > self.memory_budget_bytes:
                    self._sweep_wake.set()
                return room
            finally:
                del self._loading[board_id]
        return await asyncio.shield(pending)

    async def _load(self, board_id: str) -> Room:
        started = time.perf_counter()
        loaded = await self.store.load(board_id)
        doc: Doc[Any] = Doc()
        loaded_bytes = 0
        for update in loaded.updates():
            apply_update(doc, update, checked=False)
            loaded_bytes += len(update)
        room = Room(
            board_id,
            doc,
            self.store,
            self.metrics,
            loaded_bytes=loaded_bytes,
            dirty=bool(loaded.tail),
        )
        log.info(
            "board loaded board=%s bytes=%d tail=%d in %.3fs",
            board_id,
            loaded_bytes,
            len(loaded.tail),
            time.perf_counter() - started,
        )
        return room

    # -- unloading ---------------------------------------------------------------------------

    def total_bytes(self) -> int:
        """Return the estimated memory of every loaded room."""
        return sum(room.estimated_bytes for room in self.rooms.values())

    def board_bytes(self) -> dict[str, int]:
        """Return the estimated memory of each loaded room."""
        return {board_id: room.estimated_bytes for board_id, room in self.rooms.items()}

    @property
    def failing(self) -> list[str]:
        """Boards whose last store attempt failed."""
        return [board_id for board_id, room in self.rooms.items() if room.writer.failed]

    def _sweep_interval(self) -> float:
        return max(0.05, min(self.idle_unload_seconds / 4, 5.0))

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._sweep_wake.wait(), self._sweep_interval())
            except TimeoutError:
                pass
            self._sweep_wake.clear()
            try:
                await self.sweep()
            except Exception:
                log.exception("room sweep failed")

    async def sweep(self) -> None:
        """Unload idle rooms past their idle time, then LRU idle rooms over the budget."""
        now = time.monotonic()
        for room in list(self.rooms.values()):
            if room.idle and now - room.last_active >= self.idle_unload_seconds:
                await self.unload(room)
        total = self.total_bytes()
        if total <= self.memory_budget_bytes:
            return
        for room in sorted(self.rooms.values(), key=lambda r: r.last_active):
            if total <= self.memory_budget_bytes:
                break
            size = room.estimated_bytes
            if room.idle and await self.unload(room, reason="memory budget"):
                total -= size

    async def unload(self, room: Room, *, reason: str = "idle") -> bool:
        """Compact and unload `room` if it is idle and has nothing pending; return whether."""
        if not room.idle or room.busy or self.rooms.get(room.board_id) is not room:
            return False
        if room.dirty:
            try:
                await self.store.compact(room.board_id)
            except Exception as exc:
                log.warning("compaction failed board=%s, keeping it loaded: %s", room.board_id, exc)
                return False
            room.dirty = False
        if not room.idle or room.busy:  # a client joined or wrote meanwhile
            return False
        del self.rooms[room.board_id]
        await room.close()
        self.unloads += 1
        log.info("board unloaded board=%s (%s)", room.board_id, reason)
        return True

    async def shutdown(self, *, flush_seconds: float) -> None:
        """Store everything pending (waiting up to `flush_seconds`), compact, stop the rooms."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
        deadline = time.monotonic() + flush_seconds
        for room in list(self.rooms.values()):
            await room.numbers.stop()  # no new server writes from here on
            try:
                await asyncio.wait_for(room.writer.drain(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.error(
                    "shutdown: %d update(s) of board=%s could not be stored",
                    room.writer.applied_seq - room.writer.stored_seq,
                    room.board_id,
                )
                continue
            if room.dirty:
                try:
                    await self.store.compact(room.board_id)
                except Exception as exc:
                    log.warning("shutdown: compaction failed board=%s: %s", room.board_id, exc)
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()
