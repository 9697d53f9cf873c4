"""One board's live room: its document, its connections, its awareness and its write pipeline.

Everything a client sends is handled synchronously here (no awaits): decode, check, apply,
queue for storing. The order of events for a document update is:

1. `check_update_v1` (v2 -> 4415, anything else malformed -> 4400), then apply to the doc
   under the connection's origin (pycrdt panics are contained by crdt_model.apply_update);
2. the doc's observer receives what was new (an update that added nothing emits nothing) and
   queues it on the room's DurableWriter;
3. once the writer has committed it, the update is encoded once and the same bytes are queued
   on every other connection (never the sender).

A connection's `read_only` is read on every update it sends: the access watcher may narrow or
widen it while the connection is open, and the next update follows the new rule. Nothing a
connection sends after the server decided to close it (revoked access, lag) is handled.

A client's sync step 1 is answered with a step 2 computed at once (so it holds only what
was applied so far) and released when all of that is stored; a connection that was sent the
board's stored bytes before it joined (rooms.py, cold load) gets only what lies beyond them.

REST writes (`Room.write`, below) are transactions on the live doc under an ApiOrigin: they
go through the same observer, pipeline and broadcast as a client's update (to every
connection), and the call returns once the update is stored, with its seq in the board's log.
After every stored batch the materializer is flagged (`Materializer.notify`, which only sets a
flag), so the relational tables follow the document (sync_server/materializer.py).

Awareness messages are relayed to every connection of the room, the sender included:
y-websocket clients close and reopen a connection that received nothing for 30 s, and a
client alone in a room gets its own awareness renewals (every 15 s) back as the keep-alive,
as with y-websocket's own server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pycrdt import Doc, TransactionEvent

from crdt_model import Board, apply_update, check_update_v1
from storage import Store
from sync_server import protocol as p
from sync_server.awareness import RoomAwareness
from sync_server.card_numbers import CardNumberer
from sync_server.connection import Connection
from sync_server.errors import MalformedMessage
from sync_server.metrics import Metrics
from sync_server.origins import SERVER, ApiOrigin, Origin
from sync_server.pipeline import DurableWriter, PendingWrite

if TYPE_CHECKING:
    from sync_server.materializer import Materializer

log = logging.getLogger("taskly.sync")

T = TypeVar("T")

_EMPTY_UPDATE: Final = b"\x00\x00"
READ_ONLY_REASON: Final = "read-only: your role on this board does not allow edits"
_PROPAGATE: Final = (KeyboardInterrupt, SystemExit, GeneratorExit)

# Memory estimate: a pycrdt doc takes about 16-21x its encoded v1 size (measured: a 936 B
# empty board ~19 KB, a 61 KB 100-card board ~0.97 MB, a 3.7 MB 10,000-card board ~78 MB),
# plus the room's own objects.
MEMORY_PER_ENCODED_BYTE: Final = 20
ROOM_OVERHEAD_BYTES: Final = 16 * 1024


class Room:
    """A loaded board."""

    def __init__(
        self,
        board_id: str,
        doc: Doc[Any],
        store: Store,
        metrics: Metrics,
        *,
        loaded_bytes: int,
        dirty: bool,
        head_seq: int = 0,
        materializer: Materializer | None = None,
    ) -> None:
        self.board_id = board_id
        self.materializer = materializer
        self.doc = doc
        self.metrics = metrics
        self.connections: dict[int, Connection] = {}
        self.awareness = RoomAwareness()
        self.loaded_bytes = loaded_bytes
        self.applied_bytes = 0
        # Whether the stored log has rows a compaction would fold (skip compacting otherwise).
        self.dirty = dirty
        self.last_active = time.monotonic()
        self.writer = DurableWriter(
            board_id, store, metrics, self._broadcast_stored, head_seq=head_seq
        )
        self._origin: Origin = SERVER
        self._source: Connection | None = None
        self._subscription = doc.observe(self._on_transaction)
        self.numbers = CardNumberer(board_id, doc, store)

    # -- state -------------------------------------------------------------------------------

    @property
    def estimated_bytes(self) -> int:
        """Estimated memory held by this room (documented above)."""
        encoded = self.loaded_bytes + self.applied_bytes
        return encoded * MEMORY_PER_ENCODED_BYTE + ROOM_OVERHEAD_BYTES

    @property
    def busy(self) -> bool:
        """Whether the room must stay loaded: writes pending or failed, numbers pending."""
        return self.writer.busy or self.numbers.busy

    @property
    def idle(self) -> bool:
        """Whether no connection uses the room."""
        return not self.connections

    async def close(self) -> None:
        """Stop the room's tasks (call once it has no connection and nothing pending)."""
        self.doc.unobserve(self._subscription)
        await self.numbers.stop()
        await self.writer.stop()

    # -- connections -----------------------------------------------------------------------

    def join(self, conn: Connection) -> None:
        """Add a connection and greet it: our sync step 1, then everyone's awareness."""
        self.connections[conn.id] = conn
        self.last_active = time.monotonic()
        conn.send(p.encode_sync_step1(self.doc.get_state()))
        states = self.awareness.snapshot()
        if states:
            conn.send(p.encode_awareness(p.encode_awareness_update(states)))

    def leave(self, conn: Connection) -> None:
        """Remove a connection and broadcast the removal of the awareness states it had."""
        self.connections.pop(conn.id, None)
        self.last_active = time.monotonic()
        removed = self.awareness.release(conn.id)
        if removed and self.connections:
            frame = p.encode_awareness(p.encode_awareness_update(removed))
            for other in self.connections.values():
                other.send(frame)
        if not self.connections:
            self.awareness.forget_removed()

    # -- messages --------------------------------------------------------------------------

    def receive(self, conn: Connection, data: bytes) -> None:
        """Handle one message from `conn`; raise a SyncError (or UpdateDecodeError) to close it."""
        self.last_active = time.monotonic()
        if conn.closing is not None:
            # Being closed (its access was revoked, it lagged...): what it sent before seeing
            # our close frame is not applied, relayed nor answered.
            return
        message = p.decode_message(data)
        if isinstance(message, p.SyncStep1):
            self._answer_step1(conn, message.state_vector)
        elif isinstance(message, p.SyncStep2 | p.SyncUpdate):
            self._receive_update(conn, message.update)
        elif isinstance(message, p.Awareness):
            self._relay_awareness(conn, data, message)
        elif isinstance(message, p.QueryAwareness):
            conn.send(p.encode_awareness(p.encode_awareness_update(self.awareness.snapshot())))
        # p.Ignored: other message types (auth, ...) are ignored.

    def _answer_step1(self, conn: Connection, state_vector: bytes) -> None:
        if conn.presented_state is not None:
            # The connection was sent the stored board before joining (a cold load): do
            # not send it again. The client's state vector was checked by decode_message.
            state_vector = p.merge_state_vectors(state_vector, conn.presented_state)
        try:
            diff = self.doc.get_update(state_vector)
        except _PROPAGATE:
            raise
        except BaseException as exc:  # pycrdt panics are BaseExceptions
            raise MalformedMessage(f"bad state vector in sync step 1: {exc}") from None
        reply = p.encode_sync_step2(diff)
        self.writer.when_stored(lambda: conn.send(reply))

    def _receive_update(self, conn: Connection, update: bytes) -> None:
        if update == _EMPTY_UPDATE:  # e.g. a fresh client's sync step 2: nothing to refuse
            return
        if conn.read_only:
            if not conn.told_read_only:
                # DESIGN.md: a viewer's update is answered with an error message. y-protocols'
                # auth message is the standard one; stock y-websocket logs its reason.
                conn.told_read_only = True
                conn.send(p.encode_permission_denied(READ_ONLY_REASON))
                log.info(
                    "dropping document updates from a read-only connection "
                    "board=%s user=%s conn=%d",
                    self.board_id,
                    conn.principal.user_id,
                    conn.id,
                )
            return
        check_update_v1(update)
        with self._applying(conn.origin, conn):
            apply_update(self.doc, update, conn.origin, checked=False)

    # -- REST writes ---------------------------------------------------------------------------

    async def write(self, fn: Callable[[Board], T], origin: ApiOrigin) -> tuple[T, int]:
        """Run `fn` on the live doc in one transaction under `origin`; return (result, seq).

        `fn` gets a crdt_model Board over the room's doc and must not await (it cannot) nor pass
        an `origin` to the operations (they join this transaction). Its change is broadcast to
        every connection and stored like any update; this returns once it is stored, with its
        seq in the board's log (pass it to `Materializer.wait_projected` for read-your-writes).
        A `fn` that changes nothing returns the board's current head seq. If `fn` raises
        (a crdt_model ValidationError, NotFoundError...), the exception propagates; Yjs has no
        rollback, so whatever `fn` wrote before raising is stored too: validate first, as every
        crdt_model operation does.
        """
        await self.writer.below_high_water()
        self.last_active = time.monotonic()
        before = self.writer.last_enqueued
        with self._applying(origin, None), self.doc.transaction(origin=origin):
            result = fn(Board(self.doc))
        mine = self.writer.last_enqueued
        await self.writer.stored()
        if mine is None or mine is before:
            return result, self.writer.head_seq
        if mine.store_seq is None:
            raise RuntimeError(f"the store refused the update of board {self.board_id}")
        return result, mine.store_seq

    def _relay_awareness(self, conn: Connection, data: bytes, message: p.Awareness) -> None:
        rewritten = self.awareness.apply(message.entries, conn.id)
        if rewritten is not None:
            data = p.encode_awareness(p.encode_awareness_update(rewritten))
        for other in self.connections.values():
            other.send(data)

    # -- the doc -> store -> broadcast pipeline ----------------------------------------------

    @contextmanager
    def _applying(self, origin: Origin, source: Connection | None) -> Iterator[None]:
        self._origin, self._source = origin, source
        try:
            yield
        finally:
            self._origin, self._source = SERVER, None

    def _on_transaction(self, event: TransactionEvent) -> None:
        # Never raise here: pycrdt would re-raise at commit, after the doc changed.
        try:
            update: bytes = event.update
            if update == _EMPTY_UPDATE:
                return
            self.applied_bytes += len(update)
            self.dirty = True
            self.writer.enqueue(update, self._origin.for_storage(), self._source)
        except Exception:
            log.exception("queueing an update for storing failed board=%s", self.board_id)

    def _broadcast_stored(self, batch: list[PendingWrite]) -> None:
        connections = list(self.connections.values())
        for write in batch:
            frame = p.encode_update(write.update)
            for conn in connections:
                if conn is not write.source:
                    conn.send(frame)
        if self.materializer is not None:
            self.materializer.notify(self.board_id)
