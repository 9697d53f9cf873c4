"""The materializer: projects each board's document into the relational tables, incrementally.

Data flow 4 of DESIGN.md. Whoever stores updates calls `notify(board_id)` (the room pipeline
after every committed batch; it only flags the board). A flagged board is projected after
`debounce_seconds` (not postponed by later flags, so a busy board is still projected at least
every debounce plus one run), one run at a time per board and at most `concurrency` boards at
once. A run:

1. reads the log rows after the board's watermark (the last log seq projected; the store's
   is read only when the board has no shadow yet, or when someone waits for it), at most
   `max_rows` (the rest is the next run's);
2. applies them one by one to the board's *shadow*: its document at exactly the watermark,
   kept between runs (see materializer_shadow.py). Each update's touched cards are projected
   again and diffed, and each changed field becomes a card activity entry attributed to the
   origin stored with that update in the log (the user of a connection or an API call, the
   git bridge, an import, the server). A burst of changes to one field by one origin is
   coalesced into one entry (materializer_activity.py: `activity_window_seconds`);
3. writes one ProjectionBatch: the net changes of the run from the watermark it started at
   (`from_seq`) to the new one, in one store transaction (`apply_projection`). A store failure
   is logged and retried with backoff (50 ms doubling to 5 s) until it succeeds; the shadow is
   kept meanwhile.

Exactly once: the watermark moves in the transaction that writes the rows and activity, so a
crash before the commit leaves the old watermark and the next run (or the next process) does
the same work again; after the commit the rows are never written twice. `apply_projection` is
a compare-and-set: it writes the batch only while the board's watermark is still the batch's
`from_seq`, and otherwise answers False and writes nothing (another process projected the
board meanwhile, or a retried write had committed after all). The shadow is then dropped and
rebuilt from the store's watermark. So of two processes projecting one board at once only one
writes each range: a batch's net changes (a card created and deleted within it, say) are
never applied on top of tables that another batch has moved.

Building a shadow (on the first run for a board, after a restart, after eviction): the empty
document for a board never projected whose log still starts at seq 1; else the store's
snapshot plus the log rows up to the watermark. If compaction has already merged
unprojected updates into the snapshot (snapshot seq > watermark: the room was compacted
while the materializer lagged, e.g. its writes were failing), those updates cannot be replayed
one by one. The shadow is then built from the snapshot alone, diffed against what the tables
hold (`read_materialized`), and that diff is attributed to the single origin of the merged log
rows when they all share one (the rows stay in the log within the retention window), else to
origin kind "server" with actor None. Rooms wait for their board's projection before they
compact (rooms.py), so this fallback is for failures and crashes only.

Catch-up: `start()` schedules every board whose watermark is behind its log, and so does every
`rescan_seconds` after: updates stored by other processes (`taskly board create`, a worker)
reach the tables within that time even if nobody notifies this process; a room that loads a
board flags it too.

Tolerance: a value of the wrong type or out of range is projected as its default, and the
warning is logged with the board id and the value's path, once, in the run that first meets
it (and again once per shadow build, after a restart). An update pycrdt cannot apply is
logged and skipped. Nothing a document holds stops the materializer.

Memory: shadows are evicted when unused for `idle_seconds`, and least recently used first
when their estimated size exceeds `memory_budget_bytes` (the one just used is kept even if it
alone exceeds the budget). The pycrdt work runs in one worker thread, so a large catch-up does
not stall the event loop; shadow documents are only ever touched by that thread.

Read-your-writes: `wait_projected(board_id, seq, timeout_seconds)` returns True once the
tables include the update `seq`, or False when the timeout passed first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Final, TypeVar

from storage import (
    BoardNotFound,
    MaterializedBoard,
    ProjectionBatch,
    Store,
    StoredUpdate,
    UpdateOrigin,
)
from sync_server.materializer_activity import DEFAULT_WINDOW_SECONDS, ActivityCoalescer
from sync_server.materializer_shadow import Run, Shadow, tables_level
from sync_server.metrics import Metrics

log = logging.getLogger("taskly.materializer")

T = TypeVar("T")

#: The default debounce (a module constant so that tests can shorten it for every app).
DEFAULT_DEBOUNCE_SECONDS = 0.05
FIRST_BACKOFF: Final = 0.05
MAX_BACKOFF: Final = 5.0
#: Warnings logged per run at most (then one line counting the rest).
MAX_WARNING_LINES: Final = 20
#: How many merged log rows the fallback reads to attribute a compacted-away range.
MAX_FOLDED_LOOKUP: Final = 10_000
SERVER_ORIGIN: Final = UpdateOrigin("server", None)


def _now() -> datetime:
    return datetime.now(UTC)


class _Closing(Exception):
    """The materializer is closing: abandon the run."""


class _Board:
    """The materializer's state for one board."""

    __slots__ = ("dirty", "head_hint", "hurry", "projected", "task", "waiters")

    def __init__(self) -> None:
        self.dirty = False
        self.task: asyncio.Task[None] | None = None
        self.projected = 0  # the highest watermark seen in the store
        self.head_hint = 0  # a head seq known to exist though no log row after the watermark
        self.hurry = asyncio.Event()  # skip the debounce (someone waits)
        self.waiters: list[tuple[int, asyncio.Future[bool]]] = []


class _Prepared:
    """A run's input: the shadow to apply to, the rows, and a fallback diff if needed."""

    __slots__ = ("built", "fallback", "from_seq", "rows", "shadow", "write_level")

    def __init__(
        self,
        shadow: Shadow,
        rows: list[StoredUpdate],
        from_seq: int,
        *,
        built: bool = False,
        fallback: tuple[MaterializedBoard, UpdateOrigin, StoredUpdate | None] | None = None,
        write_level: bool = False,
    ) -> None:
        self.shadow = shadow
        self.rows = rows
        self.from_seq = from_seq  # the watermark the tables are at: the batch's from_seq
        self.built = built  # the shadow was built for this run (log its warnings)
        self.fallback = fallback
        self.write_level = write_level  # never projected: write the board-level rows


class Materializer:
    """Keeps the materialized tables of every board equal to the projection of its document."""

    def __init__(
        self,
        store: Store,
        *,
        debounce_seconds: float | None = None,
        concurrency: int = 4,
        max_rows: int = 1000,
        idle_seconds: float = 60.0,
        memory_budget_bytes: int = 256 * 1024 * 1024,
        rescan_seconds: float | None = 30.0,
        activity_window_seconds: float = DEFAULT_WINDOW_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        """Project into `store`; see the module docstring for each setting (the debounce is
        DEFAULT_DEBOUNCE_SECONDS, 50 ms, unless given)."""
        if max_rows < 1 or concurrency < 1:
            raise ValueError("max_rows and concurrency must be at least 1")
        self.store = store
        self.debounce_seconds = (
            DEFAULT_DEBOUNCE_SECONDS if debounce_seconds is None else debounce_seconds
        )
        self.max_rows = max_rows
        self.idle_seconds = idle_seconds
        self.memory_budget_bytes = memory_budget_bytes
        self.rescan_seconds = rescan_seconds
        self.activity_window_seconds = activity_window_seconds
        self.metrics = metrics
        self.runs = 0  # batches written
        self._slots = asyncio.Semaphore(concurrency)
        self._boards: dict[str, _Board] = {}
        self._shadows: OrderedDict[str, Shadow] = OrderedDict()
        self._failing: set[str] = set()  # boards whose last store call failed
        self._executor: ThreadPoolExecutor | None = None
        self._background: list[asyncio.Task[None]] = []
        self._started = False
        self._draining = False
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = asyncio.Event()

    # -- the API ------------------------------------------------------------------------------

    def notify(self, board_id: str) -> None:
        """Flag the board: updates were stored durably (cheap; never blocks, never raises)."""
        if self._closed:
            return
        state = self._state(board_id)
        state.dirty = True
        self._idle.clear()
        if state.task is None and self._started:
            state.task = asyncio.create_task(
                self._board_loop(board_id, state), name=f"taskly-materialize-{board_id}"
            )

    async def wait_projected(self, board_id: str, seq: int, timeout_seconds: float) -> bool:
        """Wait until the board's tables include the update `seq`; False after the timeout."""
        state = self._state(board_id)
        if state.projected >= seq:
            return True
        if self._closed:
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = (seq, future)
        state.waiters.append(entry)
        state.hurry.set()
        self.notify(board_id)  # the run reads the store's watermark, whoever projected
        try:
            async with asyncio.timeout(timeout_seconds):
                return await asyncio.shield(future)
        except TimeoutError:
            return False
        finally:
            if entry in state.waiters:
                state.waiters.remove(entry)

    def projected_seq(self, board_id: str) -> int:
        """Return the highest watermark of the board seen so far (0 if none yet)."""
        state = self._boards.get(board_id)
        return 0 if state is None else state.projected

    def failing(self, board_id: str) -> bool:
        """Whether the board's last store read or write failed (it is being retried)."""
        return board_id in self._failing

    @property
    def idle(self) -> bool:
        """Whether no board is flagged or being projected."""
        return self._idle.is_set()

    async def wait_idle(self, timeout_seconds: float) -> bool:
        """Wait until no board is flagged or being projected; False after the timeout."""
        try:
            async with asyncio.timeout(timeout_seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    @property
    def shadow_bytes(self) -> int:
        """Estimated memory held by the kept shadows."""
        return sum(shadow.estimated_bytes for shadow in self._shadows.values())

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start projecting: flagged boards now, every board behind its log in the background."""
        if self._started:
            return
        self._started = True
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="taskly-materializer")
        self._background = [
            asyncio.create_task(self._rescan_loop(), name="taskly-materializer-catch-up"),
            asyncio.create_task(self._sweep_loop(), name="taskly-materializer-sweep"),
        ]
        for board_id, state in self._boards.items():
            if state.dirty:
                state.dirty = False
                self.notify(board_id)

    async def aclose(self, drain_seconds: float = 30.0) -> None:
        """Project what is flagged (no debounce, for at most `drain_seconds`), then stop."""
        if self._closed:
            return
        self._draining = True
        self._stopping.set()
        for task in self._background:
            task.cancel()
        for task in self._background:
            try:
                await task
            except asyncio.CancelledError:
                pass
        for state in self._boards.values():
            state.hurry.set()
        if not await self.wait_idle(drain_seconds):
            log.error("closing with boards not projected yet: the next start catches up")
        self._closed = True
        tasks = [state.task for state in self._boards.values() if state.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        for state in self._boards.values():
            self._fail_waiters(state)
        for shadow in self._shadows.values():
            shadow.close()
        self._shadows.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self._idle.set()

    # -- catch-up ---------------------------------------------------------------------------------

    async def catch_up(self) -> int:
        """Flag every board whose watermark is behind its log; return how many."""
        # One query for the whole store (the boards' log heads against their watermarks), so a
        # rescan costs the same with 10 boards or 10,000.
        behind = await self.store.list_unprojected_boards()
        for board_id, head in behind:
            state = self._state(board_id)
            # The head may be in the snapshot only (a board older than the log's retention):
            # the run must load the board even though no log row follows the watermark.
            state.head_hint = max(state.head_hint, head)
            self.notify(board_id)
        if behind:
            log.info("catching up: %d board(s) behind their update log", len(behind))
        return len(behind)

    async def _rescan_loop(self) -> None:
        while True:
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("catching up failed, trying again later: %s", exc)
            if self.rescan_seconds is None:
                return
            await asyncio.sleep(self.rescan_seconds)

    # -- one board --------------------------------------------------------------------------------

    def _state(self, board_id: str) -> _Board:
        state = self._boards.get(board_id)
        if state is None:
            state = self._boards[board_id] = _Board()
        return state

    async def _board_loop(self, board_id: str, state: _Board) -> None:
        try:
            while state.dirty and not self._closed:
                if not self._draining and not state.hurry.is_set():
                    try:
                        async with asyncio.timeout(self.debounce_seconds):
                            await state.hurry.wait()
                    except TimeoutError:
                        pass
                state.hurry.clear()
                state.dirty = False
                async with self._slots:
                    more = await self._run(board_id, state)
                if more:
                    state.dirty = True
                    state.hurry.set()
        except (_Closing, asyncio.CancelledError):
            pass
        except BoardNotFound:
            log.info("board=%s no longer exists: nothing to project", board_id)
            self._forget(board_id)
        except Exception:  # a bug: keep the board flagged and try again later
            log.exception("projecting board=%s failed; trying again", board_id)
            state.dirty = True
            self._drop_shadow(board_id)
            if not self._draining:
                await self._pause(MAX_BACKOFF)
        finally:
            state.task = None
            if state.dirty and not self._closed and self._boards.get(board_id) is state:
                self.notify(board_id)
            elif all(s.task is None and not s.dirty for s in self._boards.values()):
                self._idle.set()

    def _forget(self, board_id: str) -> None:
        state = self._boards.pop(board_id, None)
        if state is not None:
            state.dirty = False
            self._fail_waiters(state)
        self._drop_shadow(board_id)

    def _drop_shadow(self, board_id: str) -> None:
        shadow = self._shadows.pop(board_id, None)
        if shadow is not None:
            shadow.close()

    def _note_projected(self, state: _Board, seq: int) -> None:
        if seq > state.projected:
            state.projected = seq
        if state.waiters:
            for waited, future in list(state.waiters):
                if waited <= state.projected and not future.done():
                    future.set_result(True)

    def _fail_waiters(self, state: _Board) -> None:
        for _, future in state.waiters:
            if not future.done():
                future.set_result(False)

    async def _run(self, board_id: str, state: _Board) -> bool:
        """Project the next rows of one board; return True if more rows may be waiting."""
        # Taken out while the run uses it (so nothing evicts it meanwhile) and kept again
        # at the new watermark. A shadow dropped is just garbage: only the worker thread
        # ever touches a shadow's document.
        shadow = self._shadows.pop(board_id, None)
        if shadow is not None:
            # Our shadow is at our last write: no need to ask the store where it stands (a
            # batch that another process wrote first is refused by apply_projection).
            prepared = await self._prepare(board_id, state, shadow.seq, shadow)
            if prepared is not None or not state.waiters:
                return prepared is not None and await self._project(board_id, state, prepared)
            shadow = self._shadows.pop(board_id, None)  # kept by _prepare: nothing new
        # Someone waits, or there is no shadow: read the store's watermark (another process
        # may have projected further than we know).
        watermark = await self._retry(board_id, "reading the watermark", self.store.get_watermark)
        self._note_projected(state, watermark)
        if shadow is not None and shadow.seq != watermark:
            log.info(
                "board=%s was projected up to seq %d elsewhere; rebuilding its document",
                board_id,
                watermark,
            )
            shadow = None
        if shadow is not None:
            self._keep(board_id, shadow)
            return False
        prepared = await self._prepare(board_id, state, watermark, None)
        if prepared is None:
            return False
        return await self._project(board_id, state, prepared)

    async def _prepare(
        self, board_id: str, state: _Board, watermark: int, shadow: Shadow | None
    ) -> _Prepared | None:
        """Return what to apply, building the shadow if needed; None if nothing is new
        (`shadow` is then kept for the next run)."""

        async def read_log(board: str) -> list[StoredUpdate]:
            return await self.store.read_log(board, watermark, limit=self.max_rows)

        rows = await self._retry(board_id, "reading the update log", read_log)
        contiguous = bool(rows) and rows[0].seq == watermark + 1
        if shadow is not None and contiguous:
            return _Prepared(shadow, rows, watermark)
        if watermark == 0 and contiguous:
            # Never projected, and the log still starts at seq 1: the state at the
            # watermark is the empty document, no need to load the snapshot.
            empty = await self._build(board_id, [], 0)
            return _Prepared(empty, rows, watermark, write_level=True)
        if not rows and state.head_hint <= watermark:
            if shadow is not None:
                self._keep(board_id, shadow)
            return None
        # No shadow yet, or a gap in the log (rows merged into checkpoints): start afresh.
        loaded = await self._retry(board_id, "loading the board", self.store.load)
        state.head_hint = 0
        if loaded.head_seq <= watermark:
            return None
        if loaded.snapshot_seq <= watermark:
            # The usual case: snapshot + log rows up to the watermark, then the rest.
            base = [row for row in loaded.tail if row.seq <= watermark]
            after = [row for row in loaded.tail if row.seq > watermark][: self.max_rows]
            updates = ([loaded.snapshot] if loaded.snapshot is not None else []) + [
                row.update for row in base
            ]
            built = await self._build(board_id, updates, watermark)
            # At watermark 0 the document is empty, not a board: its defaults are no news.
            return _Prepared(
                built, after, watermark, built=watermark > 0, write_level=watermark == 0
            )
        # Compaction merged unprojected updates (watermark, snapshot_seq] into the snapshot.
        snapshot_seq = loaded.snapshot_seq
        tables = await self._retry(board_id, "reading the tables", self.store.read_materialized)
        origin, last = await self._merged_origin(board_id, watermark, snapshot_seq)
        log.warning(
            "board=%s: updates %d..%d were compacted before they were projected; projecting "
            "their sum, attributed to %s",
            board_id,
            watermark + 1,
            snapshot_seq,
            f"{origin.kind}:{origin.actor}" if origin.actor else origin.kind,
        )
        assert loaded.snapshot is not None
        built = await self._build(board_id, [loaded.snapshot], snapshot_seq)
        # The shadow is at snapshot_seq, but the diff is from the tables, at the watermark (if
        # another process moved them since, the watermark moved too: the batch is refused).
        return _Prepared(
            built,
            loaded.tail[: self.max_rows],
            watermark,
            built=True,
            fallback=(tables, origin, last),
        )

    async def _merged_origin(
        self, board_id: str, watermark: int, snapshot_seq: int
    ) -> tuple[UpdateOrigin, StoredUpdate | None]:
        """Return the one origin of the log rows (watermark, snapshot_seq] if they share one."""
        wanted = snapshot_seq - watermark
        if wanted > MAX_FOLDED_LOOKUP:
            return SERVER_ORIGIN, None

        async def read(board: str) -> list[StoredUpdate]:
            return await self.store.read_log(board, watermark, limit=wanted)

        rows = [row for row in await self._retry(board_id, "reading the log", read)]
        rows = [row for row in rows if row.seq <= snapshot_seq]
        if len(rows) != wanted:  # some were folded into checkpoints: origins unknown
            return SERVER_ORIGIN, rows[-1] if rows else None
        origins = {row.origin for row in rows}
        return (origins.pop() if len(origins) == 1 else SERVER_ORIGIN), rows[-1]

    async def _build(self, board_id: str, updates: list[bytes], seq: int) -> Shadow:
        errors: list[str] = []
        shadow = await self._in_thread(Shadow.build, board_id, updates, seq, errors)
        shadow.coalescer = ActivityCoalescer(self.activity_window_seconds)
        for error in errors:
            log.error("board=%s: %s", board_id, error)
        return shadow

    async def _project(self, board_id: str, state: _Board, prepared: _Prepared) -> bool:
        shadow = prepared.shadow
        run = await self._in_thread(self._apply, board_id, prepared)
        if run.projected_seq is None:
            self._keep(board_id, shadow)
            return False
        self._report(board_id, run)
        batch = run.batch(shadow, _now())
        written = await self._write(board_id, batch)
        if written:
            self.runs += 1
            if self.metrics is not None:
                committed = _now()
                self.metrics.observe_projection(
                    (committed - row.created_at).total_seconds() for row in prepared.rows
                )
            self._keep(board_id, shadow)
            self._note_projected(state, batch.projected_seq)
            log.debug(
                "projected board=%s up to seq %d: %d update(s), %d card(s), %d activity",
                board_id,
                batch.projected_seq,
                run.updates,
                len(batch.upsert_cards) + len(batch.delete_cards),
                len(batch.activity),
            )
            return len(prepared.rows) >= self.max_rows
        # Refused: the watermark is no longer the batch's from_seq. Nothing was written; the
        # next run (at once) rebuilds the shadow at the store's watermark and projects from it.
        log.info("board=%s was projected elsewhere meanwhile; rebuilding its document", board_id)
        shadow.close()
        self._drop_shadow(board_id)
        return True

    def _apply(self, board_id: str, prepared: _Prepared) -> Run:
        """Apply the prepared rows to the shadow (in the worker thread); return the run."""
        shadow = prepared.shadow
        if prepared.fallback is not None:
            tables, origin, last = prepared.fallback
            run = Run(board_id, tables_level(tables), prepared.from_seq, coalescer=shadow.coalescer)
            at = last.created_at if last is not None else _now()
            shadow.diff_from(tables, run, seq=shadow.seq, at=at, origin=origin)
        else:
            run = Run(
                board_id,
                shadow.level_rows(),
                prepared.from_seq,
                write_level=prepared.write_level,
                coalescer=shadow.coalescer,
            )
        if prepared.built:
            run.warn(shadow.build_warnings)
        for row in prepared.rows:
            shadow.apply(row, run)
        return run

    def _report(self, board_id: str, run: Run) -> None:
        for error in run.errors:
            log.error("board=%s: %s", board_id, error)
        warnings = list(run.warnings)
        for path, message in warnings[:MAX_WARNING_LINES]:
            log.warning("projection board=%s path=%s: %s", board_id, path, message)
        if len(warnings) > MAX_WARNING_LINES:
            log.warning(
                "projection board=%s: %d more warnings", board_id, len(warnings) - MAX_WARNING_LINES
            )

    async def _write(self, board_id: str, batch: ProjectionBatch) -> bool:
        async def apply(board: str) -> bool:
            return await self.store.apply_projection(board, batch)

        return await self._retry(
            board_id, f"writing the projection up to seq {batch.projected_seq}", apply
        )

    async def _retry(self, board_id: str, what: str, call: Callable[[str], Awaitable[T]]) -> T:
        """Call `call(board_id)` until it succeeds, backing off; BoardNotFound propagates."""
        backoff = FIRST_BACKOFF
        failed = False
        while True:
            try:
                result = await call(board_id)
            except (BoardNotFound, asyncio.CancelledError):
                raise
            except Exception as exc:
                self._failing.add(board_id)
                self._count_failing()
                if self._draining:  # shutting down: the next start catches up
                    log.error("materializer: %s failed board=%s: %s", what, board_id, exc)
                    raise _Closing from exc
                failed = True
                log.error(
                    "materializer: %s failed board=%s, retrying in %.2fs: %s",
                    what,
                    board_id,
                    backoff,
                    exc,
                )
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if failed:
                log.info("materializer: %s works again board=%s", what, board_id)
            self._failing.discard(board_id)
            self._count_failing()
            return result

    def _count_failing(self) -> None:
        if self.metrics is not None:
            self.metrics.failing_boards = len(self._failing)

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if closing starts (a retry then tries once more)."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # -- memory ---------------------------------------------------------------------------------

    def _keep(self, board_id: str, shadow: Shadow) -> None:
        """Keep a board's shadow for its next run; evict others beyond the budget (LRU)."""
        if self._closed:
            shadow.close()
            return
        shadow.last_used = time.monotonic()
        self._shadows[board_id] = shadow
        self._shadows.move_to_end(board_id)
        total = self.shadow_bytes
        while total > self.memory_budget_bytes and len(self._shadows) > 1:
            evicted_id, evicted = self._shadows.popitem(last=False)
            total -= evicted.estimated_bytes
            evicted.close()
            log.debug("shadow of board=%s evicted (memory budget)", evicted_id)

    def evict_idle(self) -> int:
        """Evict the shadows unused for `idle_seconds`; return how many."""
        limit = time.monotonic() - self.idle_seconds
        idle = [board for board, shadow in self._shadows.items() if shadow.last_used <= limit]
        for board_id in idle:
            self._drop_shadow(board_id)
        return len(idle)

    async def _sweep_loop(self) -> None:
        interval = max(0.05, min(self.idle_seconds / 4, 5.0))
        while True:
            await asyncio.sleep(interval)
            self.evict_idle()
