"""The registry of loaded rooms: load once, unload when idle, stay within a memory budget.

- A board is loaded on its first join (snapshot + tail from the store, applied unchecked:
  the store checked every update on the way in). Concurrent first joins share one load (a
  future per board); a failed load is not cached, the next join tries again.
- A room with no connection for `idle_unload_seconds` is compacted (only when its log has
  rows since the snapshot) and unloaded, but never while it has writes pending or failed, or
  card numbers to assign: it stays and is tried again on a later sweep. A join during the
  compaction keeps the room.
- Cold load, early send: a connection that asks for a board that is not loaded yet (and whose
  stored bytes reach PRESEND_MIN_BYTES) is sent those stored bytes as soon as the store has
  read them, before the room applies them, so that the client's apply and ours run at the
  same time: the tail rows merged into one update message, then the snapshot as a sync step
  2 (a client keeps the tail pending until the snapshot arrives, so at "synced" it has the
  whole stored board), then an empty awareness update whose send waits until the big frame
  has left the process (the apply holds the event loop for a while). The loader waits for
  those sends (at most PRESEND_WAIT_SECONDS), then applies. The connection remembers the
  room's state vector right after that apply (`presented_state`): its sync step 1 is then
  answered with only what lies beyond. Nothing unstored is sent early: these bytes come from
  the store. One store.load serves the room and every early send; the bytes are referenced
  only until sent.
- Projection before compaction: with a materializer, a room about to be compacted (idle
  unload, shutdown) first waits, briefly, until the materializer has projected everything
  the room stored: compaction merges the log into the snapshot, and updates merged before
  they were projected can no longer be attributed one by one (materializer.py).
- REST writes: `Rooms.write(board_id, fn, origin)` loads the board if needed and runs
  `Room.write` on it (one transaction on the live doc, stored, broadcast).
- Memory budget: each room's estimate is 20 bytes per encoded byte (loaded snapshot + tail +
  every update applied since) plus 16 KiB (see room.py for the measurements). When the sum
  exceeds the budget, idle rooms are unloaded least recently used first, without waiting for
  their idle time. Rooms in use are never evicted: the budget can be exceeded by them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pycrdt import Doc, merge_updates

from crdt_model import Board, apply_update
from storage import LoadedBoard, Store
from sync_server import protocol as p
from sync_server.connection import Connection
from sync_server.metrics import Metrics
from sync_server.origins import ApiOrigin
from sync_server.room import Room

if TYPE_CHECKING:
    from sync_server.materializer import Materializer

log = logging.getLogger("taskly.sync")

# Early sends pay off for big boards only; small ones keep the plain greeting order.
PRESEND_MIN_BYTES: Final = 256 * 1024
# How long the loader lets early sends leave the process before it applies (and blocks).
PRESEND_WAIT_SECONDS: Final = 0.5
_EMPTY_UPDATE: Final = b"\x00\x00"
_EMPTY_AWARENESS: Final = p.encode_awareness(p.encode_awareness_update([]))
_PROPAGATE: Final = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)
# How long an idle unload waits for the board's projection before compacting anyway.
UNLOAD_PROJECTION_WAIT_SECONDS: Final = 2.0
# The same at shutdown (bounded by the flush time as well).
SHUTDOWN_PROJECTION_WAIT_SECONDS: Final = 10.0

Send = Callable[[bytes], Awaitable[None]]
T = TypeVar("T")


class PreSend:
    """One connection's early copy of a board's stored bytes (cold load; see above)."""

    __slots__ = ("_loaded_state", "_send", "task")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._loaded_state: bytes | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self, frames: list[bytes]) -> None:
        """Start sending `frames` (referenced until sent)."""
        self.task = asyncio.create_task(self._send_all(frames), name="taskly-presend")

    async def _send_all(self, frames: list[bytes]) -> None:
        while frames:
            await self._send(frames.pop(0))
        await self._send(_EMPTY_AWARENESS)  # waits until the frames above left the process

    async def finish(self) -> None:
        """Wait until the early send ended (sent, or failed with the connection)."""
        if self.task is None:
            return
        try:
            await self.task
        except asyncio.CancelledError:
            if not self.task.cancelled():
                raise  # we were cancelled, not the send
        except Exception as exc:  # the connection went away: its reader sees it
            log.debug("early send failed: %r", exc)

    def cancel(self) -> None:
        """Stop an unfinished early send."""
        if self.task is not None:
            self.task.cancel()

    def loaded(self, state_vector: bytes) -> None:
        """Record the room's state right after it applied the stored bytes."""
        self._loaded_state = state_vector

    @property
    def state_vector(self) -> bytes | None:
        """The state vector of what the client was sent in full, or None."""
        task = self.task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return self._loaded_state


class _Loading:
    """A board being loaded: its room to be, and the early sends waiting for its bytes."""

    __slots__ = ("presends", "room")

    def __init__(self) -> None:
        self.room: asyncio.Future[Room] = asyncio.get_running_loop().create_future()
        self.presends: list[PreSend] | None = []  # None once the stored bytes went out


def stored_frames(loaded: LoadedBoard) -> list[bytes]:
    """Return the messages carrying a board's stored bytes: the tail merged, the snapshot.

    The tail goes first as one update (a client keeps what it cannot integrate yet pending)
    so that the sync step 2, which y-websocket takes as "synced", completes the board.
    """
    tail = [row.update for row in loaded.tail]
    merged = merge_updates(*tail) if len(tail) > 1 else tail[0] if tail else None
    if loaded.snapshot is None:
        return [p.encode_sync_step2(merged if merged is not None else _EMPTY_UPDATE)]
    frames = [] if merged is None else [p.encode_update(merged)]
    frames.append(p.encode_sync_step2(loaded.snapshot))
    return frames


class Rooms:
    """Every loaded room of this process."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        idle_unload_seconds: float,
        memory_budget_bytes: int,
        materializer: Materializer | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.materializer = materializer
        self.idle_unload_seconds = idle_unload_seconds
        self.memory_budget_bytes = memory_budget_bytes
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, _Loading] = {}
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
        room, _ = await self.acquire_sending(board_id, None)
        return room

    async def acquire_sending(self, board_id: str, send: Send | None) -> tuple[Room, bytes | None]:
        """Like `acquire`; if the board is not loaded yet, send its stored bytes early.

        The stored bytes go through `send` before the room applies them (see above); the
        second value is then the state vector of what was sent in full, else None.
        """
        presend = PreSend(send) if send is not None else None
        try:
            while True:
                room = await self._acquire_once(board_id, presend)
                if presend is not None:
                    await presend.finish()
                if self.rooms.get(board_id) is room:  # not evicted while a waiter resumed
                    return room, presend.state_vector if presend is not None else None
        except BaseException:
            if presend is not None:
                presend.cancel()
            raise

    async def _acquire_once(self, board_id: str, presend: PreSend | None) -> Room:
        room = self.rooms.get(board_id)
        if room is not None:
            return room
        if presend is not None and presend.task is not None:
            presend = None  # sent once already (the room was evicted meanwhile)
        loading = self._loading.get(board_id)
        if loading is None:
            loading = _Loading()
            self._loading[board_id] = loading
            if presend is not None:
                loading.presends = [presend]
            try:
                room = await self._load(board_id, loading)
            except BaseException as exc:
                loading.room.set_exception(exc)
                loading.room.exception()  # retrieved: waiters (if any) get it too
                raise
            else:
                self.rooms[board_id] = room
                loading.room.set_result(room)
                if self.total_bytes() > self.memory_budget_bytes:
                    self._sweep_wake.set()
                return room
            finally:
                del self._loading[board_id]
        if presend is not None and loading.presends is not None:
            loading.presends.append(presend)
        return await asyncio.shield(loading.room)

    async def _load(self, board_id: str, loading: _Loading) -> Room:
        started = time.perf_counter()
        loaded = await self.store.load(board_id)
        updates = loaded.updates()
        loaded_bytes = sum(len(update) for update in updates)
        presends, loading.presends = loading.presends or [], None
        if presends and loaded_bytes >= PRESEND_MIN_BYTES:
            await self._presend(board_id, loaded, presends)
        else:
            presends = []
        tail_rows = len(loaded.tail)
        head_seq = loaded.head_seq
        del loaded
        doc: Doc[Any] = Doc()
        for update in updates:
            apply_update(doc, update, checked=False)
        del updates
        state = doc.get_state()  # what the early sends held: nothing else is applied yet
        for presend in presends:
            presend.loaded(state)
        room = Room(
            board_id,
            doc,
            self.store,
            self.metrics,
            loaded_bytes=loaded_bytes,
            dirty=bool(tail_rows),
            head_seq=head_seq,
            materializer=self.materializer,
        )
        if self.materializer is not None:
            # Updates stored by another process (`taskly board create`, a worker) are
            # projected as soon as the board is opened, not at the next rescan.
            self.materializer.notify(board_id)
        log.info(
            "board loaded board=%s bytes=%d tail=%d early sends=%d in %.3fs",
            board_id,
            loaded_bytes,
            tail_rows,
            len(presends),
            time.perf_counter() - started,
        )
        return room

    async def _presend(self, board_id: str, loaded: LoadedBoard, presends: list[PreSend]) -> None:
        """Send the stored bytes to the waiting connections; wait a while for them to leave."""
        try:
            frames = stored_frames(loaded)
        except _PROPAGATE:
            raise
        except BaseException as exc:  # pycrdt panics are BaseExceptions
            log.warning("no early send board=%s: merging the tail failed: %s", board_id, exc)
            return
        for presend in presends:
            presend.start(list(frames))
        del frames
        tasks = [presend.task for presend in presends if presend.task is not None]
        await asyncio.wait(tasks, timeout=PRESEND_WAIT_SECONDS)

    async def write(
        self, board_id: str, fn: Callable[[Board], T], origin: ApiOrigin
    ) -> tuple[T, int]:
        """Load the board if needed and run `Room.write` on it; raise BoardNotFound."""
        room = await self.acquire(board_id)
        # No await between acquire and write's first step: the room cannot be unloaded
        # in between, and once the change is queued the room is busy until it is stored.
        return await room.write(fn, origin)

    def connections(self) -> list[Connection]:
        """Return every connection of every loaded room (a copy: safe to use across awaits)."""
        return [conn for room in self.rooms.values() for conn in room.connections.values()]

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
            await self._wait_projected(room, UNLOAD_PROJECTION_WAIT_SECONDS)
            if not room.idle or room.busy or self.rooms.get(room.board_id) is not room:
                return False
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

    async def _wait_projected(self, room: Room, seconds: float) -> None:
        """Give the materializer up to `seconds` to project what the room stored."""
        if self.materializer is None or room.writer.head_seq == 0:
            return
        if self.materializer.failing(room.board_id):
            log.warning("board=%s: its projection is failing; compacting anyway", room.board_id)
            return
        head = room.writer.head_seq
        if not await self.materializer.wait_projected(room.board_id, head, seconds):
            log.warning(
                "board=%s not projected up to seq %d within %.1fs; compacting anyway",
                room.board_id,
                head,
                seconds,
            )

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
                wait = min(SHUTDOWN_PROJECTION_WAIT_SECONDS, deadline - time.monotonic())
                await self._wait_projected(room, max(0.0, wait))
                try:
                    await self.store.compact(room.board_id)
                except Exception as exc:
                    log.warning("shutdown: compaction failed board=%s: %s", room.board_id, exc)
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()
