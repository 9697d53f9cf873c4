"""The materializer on real stores (SQLite and Postgres), mostly through the real server.

The invariant (DESIGN.md): once the materializer is idle, the tables equal the projection of
the stored document. Each activity entry names who made the change: the user of the
connection whose update it was, the API caller, or the server (card numbers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from crdt_model import Board, ModelError, NotFoundError, new_id, project
from storage import (
    CardActivity,
    CardNotFound,
    PostgresStore,
    SQLiteStore,
    StorageUnavailable,
    Store,
    UpdateOrigin,
)
from sync_server import materializer as materializer_module
from sync_server import protocol as p
from sync_server.auth import Principal
from sync_server.connection import Connection
from sync_server.materializer import Materializer
from sync_server.metrics import Metrics
from sync_server.origins import ApiOrigin
from sync_server.rooms import Rooms
from tests.storage.conftest import (  # noqa: F401 (pg_template is a fixture)
    create_pg_database,
    drop_pg_database,
    pg_template,
    pg_url,
)
from tests.sync_server.conftest import Running, Wrapped, make_board, run_app
from tests.sync_server.yclient import YClient

USERS = [new_id() for _ in range(3)]
SETTLE_SECONDS = 15.0


@pytest.fixture(autouse=True)
def quick_debounce(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every materializer in these tests projects at once instead of after 50 ms."""
    monkeypatch.setattr(materializer_module, "DEFAULT_DEBOUNCE_SECONDS", 0.0)


@pytest.fixture(scope="module")
def module_pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """One migrated Postgres database for this module's tests (each uses its own boards)."""
    name = create_pg_database(template=request.getfixturevalue("pg_template"))
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Opens stores on a fresh SQLite file, or on the module's Postgres database."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "taskly.db")
    url: str = request.getfixturevalue("module_pg_url")
    return lambda: PostgresStore(url)


@pytest.fixture
async def real_store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    """An open store on that database."""
    async with make_store() as opened:
        yield opened


def user_from_query(scope: Any) -> Awaitable[Principal]:
    """An authenticator: `?user=ID` connects as that user (read-write)."""

    async def decide() -> Principal:
        query = parse_qs(scope.get("query_string", b"").decode())
        return Principal(user_id=query.get("user", [None])[0], read_only=False)

    return decide()


@pytest.fixture
async def user_server(real_store: Store) -> AsyncIterator[Running]:
    """A real server on the store; each client says who it is (`?user=ID`)."""
    async with run_app(real_store, authenticator=user_from_query) as running:
        yield running


async def connect(server: Running, board: str, user: str) -> YClient:
    return await YClient.connect(server.ws, board, query=f"?user={user}")


async def until(predicate: Callable[[], Awaitable[bool]], seconds: float = SETTLE_SECONDS) -> None:
    """Poll `predicate` every 5 ms until it holds; fail after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


# -- settling and comparing ------------------------------------------------------------------


def state_vector(doc: Doc[Any]) -> dict[int, int]:
    """A doc's state vector, decoded (pycrdt writes its clients in hash-map order)."""
    data = doc.get_state()
    pos = 0

    def varuint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    return {varuint(): varuint() for _ in range(varuint())}


def numbered(client: YClient) -> bool:
    cards: Map[Any] = client.doc.get("cards", type=Map)
    return all(
        not isinstance(card, Map) or card.get("number") is not None
        for card in (cards[key] for key in cards.keys())
    )


async def converged(clients: list[YClient]) -> None:
    """Wait until every client holds every update (so each one is stored: the server relays
    an update only once it is), card numbers included."""

    async def check() -> bool:
        vectors = [state_vector(c.doc) for c in clients]
        if any(v != vectors[0] for v in vectors) or not all(numbered(c) for c in clients):
            return False
        # A deletion leaves the state vector as it was: compare the content too.
        views = [project(c.doc) for c in clients]
        return all(v == views[0] for v in views)

    await until(check)


async def projected(store: Store, board: str) -> int:
    """Wait until the board's watermark is its log's head; return it."""

    async def check() -> bool:
        watermark = await store.get_watermark(board)
        return not await store.read_log(board, watermark, limit=1)

    await until(check)
    return await store.get_watermark(board)


def materializer_of(server: Running) -> Materializer:
    """The materializer of a running app (its lifespan state, as requests see it)."""
    materializer: Materializer = server.server.lifespan.state["materializer"]
    return materializer


async def settle(server: Running, board: str, clients: list[YClient]) -> int:
    """Wait until every client holds everything, then until the materializer is idle (every
    stored update flagged it before it was relayed); return the board's watermark."""
    await converged(clients)
    assert await materializer_of(server).wait_idle(SETTLE_SECONDS)
    return await server.store.get_watermark(board)


async def assert_tables_equal_projection(store: Store, board: str) -> None:
    tables = await store.read_materialized(board)
    expected = project(await store.load_doc(board))
    assert tables.board == expected.board
    assert tables.columns == expected.columns
    assert tables.labels == expected.labels
    assert tables.sprints == expected.sprints
    assert tables.cards == expected.cards
    assert tables.comments == expected.comments


async def all_activity(store: Store, board: str, cards: set[str]) -> list[CardActivity]:
    entries: list[CardActivity] = []
    for card in sorted(cards):
        entries += await store.list_card_activity(board, card, limit=500)
    return entries


def actor(entry: CardActivity) -> str | None:
    """The user of a user or API change, else the origin kind ("server"...)."""
    return entry.origin.actor if entry.origin.kind in ("user", "api") else entry.origin.kind


def unique(entries: list[CardActivity]) -> bool:
    return len({(e.card_id, e.seq, e.field) for e in entries}) == len(entries)


# -- the invariant, by random edits of several real clients ----------------------------------

KINDS = [
    "create",
    "create",
    "title",
    "points",
    "bad_points",
    "move",
    "priority",
    "label",
    "comment",
    "archive",
    "delete",
    "add_column",
    "remove_column",
    "rename",
]
op = st.tuples(st.integers(0, 2), st.sampled_from(KINDS), st.integers(0, 1000))


class Expected:
    """Who may be named by the activity of each (card, field), from the edits made."""

    def __init__(self) -> None:
        self.writers: dict[tuple[str, str], set[str]] = {}
        self.column_ops: set[str] = set()  # their cards may change column (schema rule)
        self.created: dict[str, str] = {}  # card -> creator
        self.touched: set[str] = set()  # cards edited since the last `touched.clear()`

    def wrote(self, card: str, user: str, *fields: str) -> None:
        self.touched.add(card)
        for field in fields:
            self.writers.setdefault((card, field), set()).add(user)

    def allows(self, entry: CardActivity) -> bool:
        if entry.origin.kind == "server":
            return entry.field in ("number", "key")
        allowed = set(self.writers.get((entry.card_id, entry.field), set()))
        if entry.field == "column_id":
            allowed |= self.column_ops
        return entry.origin.kind == "user" and actor(entry) in allowed


def edit_for(client: YClient, user: str, kind: str, pick: int, expected: Expected) -> Any:
    """The change `kind` as `user` would make it on `client`'s replica (None: not possible)."""
    view = project(client.doc)
    cards = [c.id for c in view.cards]
    columns = [c.id for c in view.columns]
    card = cards[pick % len(cards)] if cards else None
    if kind == "create" and columns:
        ident = new_id()
        expected.created[ident] = user
        expected.wrote(ident, user, "card")
        return lambda b: b.create_card(f"card {pick}", created_by=user, card_id=ident)
    if kind == "add_column":
        expected.column_ops.add(user)
        return lambda b: b.add_column(f"col {pick}", position=pick % 3)
    if kind == "remove_column" and len(columns) > 1:
        expected.column_ops.add(user)
        return lambda b: b.remove_column(columns[pick % len(columns)])
    if kind == "rename":
        return lambda b: b.rename(f"board {pick}")
    if card is None:
        return None
    if kind == "title":
        expected.wrote(card, user, "title")
        return lambda b: b.set_title(card, f"title {pick}")
    if kind == "points":
        expected.wrote(card, user, "points")
        return lambda b: b.set_points(card, pick % 100)
    if kind == "bad_points":  # a client that writes a string where the schema says number
        expected.wrote(card, user, "points")
        return lambda b: b.doc.get("cards", type=Map)[card].__setitem__("points", "lots")
    if kind == "move" and columns:
        expected.wrote(card, user, "column_id", "raw_column_id", "rank")
        return lambda b: b.move_card(card, column_id=columns[pick % len(columns)], position=0)
    if kind == "priority":
        expected.wrote(card, user, "priority")
        return lambda b: b.set_priority(card, ["low", "high", "urgent"][pick % 3])
    if kind == "label" and view.labels:
        expected.wrote(card, user, "labels")
        return lambda b: b.add_label(card, view.labels[pick % len(view.labels)].id)
    if kind == "comment":
        expected.wrote(card, user, "comments")
        return lambda b: b.add_comment(card, user, f"comment {pick}")
    if kind == "archive":
        expected.wrote(card, user, "archived")
        return lambda b: b.set_archived(card, pick % 2 == 0)
    if kind == "delete":
        expected.wrote(card, user, "card")
        return lambda b: b.delete_card(card)
    return None


class LiveBoard:
    """A board edited by three connected clients, carried from one example to the next.

    Reconnecting three clients to a fresh board per example would cost more than the
    examples themselves; so examples continue one board (a new one every EXAMPLES_PER_BOARD
    examples, so that it stays small). Each example's edits start from whatever the earlier
    ones left, and its checks cover the whole board (tables) and its own activity. A failure
    that depends on an earlier example is then reported by hypothesis as flaky, with the
    original error.
    """

    EXAMPLES_PER_BOARD = 20

    def __init__(self, server: Running) -> None:
        self.server = server
        self.board = ""
        self.clients: list[YClient] = []
        self.expected = Expected()
        self.examples = 0
        self.head = 0

    async def next_example(self) -> None:
        if self.clients and self.examples < self.EXAMPLES_PER_BOARD:
            self.examples += 1
            return
        await self.close()
        self.board = await make_board(self.server.store)
        self.clients = list(
            await asyncio.gather(*(connect(self.server, self.board, u) for u in USERS))
        )
        self.expected = Expected()
        self.examples = 1
        self.head = 0
        await self.clients[0].edit(lambda b: b.create_label("bug", "#ff0000"))

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        self.clients = []


@pytest.fixture
async def live_boards(tmp_path: Path, module_pg_url: str) -> AsyncIterator[list[LiveBoard]]:
    """A live board on a real server on SQLite, and one on a real server on Postgres."""
    async with (
        SQLiteStore(tmp_path / "taskly.db") as sqlite,
        PostgresStore(module_pg_url) as postgres,
        run_app(sqlite, authenticator=user_from_query) as on_sqlite,
        run_app(postgres, authenticator=user_from_query) as on_postgres,
    ):
        boards = [LiveBoard(on_sqlite), LiveBoard(on_postgres)]
        try:
            yield boards
        finally:
            for board in boards:
                await board.close()


async def send_edit(client: YClient, change: Callable[[Board], Any]) -> None:
    """Make `change` on the client's replica and send it (unless it changed nothing)."""
    before = client.doc.get_state()
    try:
        change(client.board)
    except ModelError:
        return  # refused locally (a column removed meanwhile...): nothing changed
    update = client.doc.get_update(before)
    if update != b"\x00\x00":
        await client.send(p.encode_update(update))


@pytest.mark.postgres
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(op, min_size=1, max_size=8))
async def test_tables_equal_the_projection_and_activity_names_the_writer(
    live_boards: list[LiveBoard], script: list[tuple[int, str, int]]
) -> None:
    # The same edits on SQLite and on Postgres, at the same time (their waits overlap).
    await asyncio.gather(*(run_script(live, script) for live in live_boards))


async def run_script(live: LiveBoard, script: list[tuple[int, str, int]]) -> None:
    """Make the script's edits on a live board, settle, check the tables and the activity."""
    real_store = live.server.store
    await live.next_example()
    board, clients, expected = live.board, live.clients, live.expected
    created_before = set(expected.created)
    expected.touched.clear()
    for index, kind, pick in script:
        change = edit_for(clients[index], USERS[index], kind, pick, expected)
        if change is not None:
            await send_edit(clients[index], change)
    head = await settle(live.server, board, clients)
    await assert_tables_equal_projection(real_store, board)
    # This example's activity (a column change reaches cards nobody edited: not checked).
    entries = await all_activity(real_store, board, expected.touched)
    entries = [e for e in entries if e.seq > live.head]
    assert [e for e in entries if not expected.allows(e)] == []
    for card in set(expected.created) - created_before:
        creations = [e for e in entries if e.card_id == card and e.field == "card" and e.new]
        assert [actor(e) for e in creations] == [expected.created[card]]
    assert unique(entries)
    live.head = head


# -- attribution and tolerance, one by one -----------------------------------------------------


def card_view(client: YClient, card: str) -> Any:
    return next((c for c in project(client.doc).cards if c.id == card), None)


async def test_each_change_is_attributed_to_the_user_who_made_it(
    real_store: Store, user_server: Running
) -> None:
    board = await make_board(real_store)
    ada, bob = [await connect(user_server, board, user) for user in USERS[:2]]
    card = await ada.edit(lambda b: b.create_card("Write the docs", created_by=USERS[0]))
    await bob.wait_for(lambda: card_view(bob, card) is not None)
    await bob.edit(lambda b: b.set_points(card, 3))
    await ada.wait_for(lambda: card_view(ada, card).points == 3)
    review = project(ada.doc).columns[3].id
    await ada.edit(lambda b: b.move_card(card, column_id=review))
    await settle(user_server, board, [ada, bob])

    entries = await real_store.list_card_activity(board, card)
    by_field = {e.field: e for e in entries}
    assert len(by_field) == len(entries) == 7
    backlog = project(ada.doc).columns[0].id
    assert {f: (actor(e), e.old, e.new) for f, e in by_field.items() if f != "card"} == {
        "number": ("server", None, 1),
        "key": ("server", None, "TSK-1"),
        "points": (USERS[1], None, 3),
        "column_id": (USERS[0], backlog, review),
        "raw_column_id": (USERS[0], backlog, review),
        "rank": (USERS[0], by_field["rank"].old, by_field["rank"].new),
    }
    created = by_field["card"]
    assert (created.origin, created.old) == (UpdateOrigin("user", USERS[0]), None)
    assert created.new["title"] == "Write the docs"
    seq = {f: e.seq for f, e in by_field.items()}
    assert seq["card"] < seq["points"] < seq["column_id"] == seq["rank"]
    assert seq["number"] == seq["key"] != seq["card"]
    assert unique(entries)
    await assert_tables_equal_projection(real_store, board)
    for client in (ada, bob):
        await client.close()


async def test_a_wrongly_typed_field_is_read_as_its_default_logged_and_projection_goes_on(
    real_store: Store, user_server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="taskly.materializer")
    board = await make_board(real_store)
    client = await connect(user_server, board, USERS[0])
    other = await connect(user_server, board, USERS[1])
    card = await client.edit(lambda b: b.create_card("Estimate me", created_by=USERS[0]))
    await client.edit(lambda b: b.set_points(card, 5))
    await settle(user_server, board, [client, other])
    assert (await real_store.get_card_row(board, card)).card.points == 5

    # Another user writes the wrong type (the same user within a minute would coalesce with
    # their own change above, undoing it: no entry at all).
    raw: Map[Any] = other.doc.get("cards", type=Map)
    await other.edit(lambda b: raw[card].__setitem__("points", "lots"))
    await settle(user_server, board, [client, other])
    assert (await real_store.get_card_row(board, card)).card.points is None  # the default
    path = f"cards/{card}/points"
    logged = [r.getMessage() for r in caplog.records if path in r.getMessage()]
    assert logged and board in logged[0] and "'lots'" in logged[0]
    changes = [e for e in await real_store.list_card_activity(board, card) if e.field == "points"]
    assert [(e.old, e.new, actor(e)) for e in changes] == [(5, None, USERS[1]), (None, 5, USERS[0])]
    # ... and it goes on projecting.
    await other.edit(lambda b: b.set_title(card, "Still projected"))
    await settle(user_server, board, [client, other])
    assert (await real_store.get_card_row(board, card)).card.title == "Still projected"
    await assert_tables_equal_projection(real_store, board)
    for each in (client, other):
        await each.close()


# -- restart: catch-up from the log, no activity twice ----------------------------------------


class Breakable(Wrapped):
    """The real store, with projection writes and compactions that fail on demand."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.projection_broken = False
        self.compaction_broken = False

    async def apply_projection(self, board_id: str, batch: Any) -> bool:
        if self.projection_broken:
            raise StorageUnavailable("projection writes are broken (test)")
        return bool(await self._inner.apply_projection(board_id, batch))

    async def compact(self, board_id: str, **options: Any) -> Any:
        if self.compaction_broken:
            raise StorageUnavailable("compaction is broken (test)")
        return await self._inner.compact(board_id, **options)


def create(name: str, user: str) -> Callable[[Board], str]:
    return lambda b: b.create_card(name, created_by=user)


def points(card: str, value: int) -> Callable[[Board], None]:
    return lambda b: b.set_points(card, value)


def title(card: str, value: str) -> Callable[[Board], None]:
    return lambda b: b.set_title(card, value)


@pytest.mark.parametrize("compaction", ["compacted", "not compacted"])
async def test_after_a_restart_the_tables_catch_up_with_no_activity_twice(
    real_store: Store, compaction: str
) -> None:
    breakable = Breakable(real_store)
    breakable.compaction_broken = compaction == "not compacted"
    board = await make_board(real_store)
    async with run_app(breakable, authenticator=user_from_query) as server:
        ada, bob = [await connect(server, board, user) for user in USERS[:2]]
        cards = [await ada.edit(create(f"c{n}", USERS[0])) for n in range(2)]
        first_mark = await settle(server, board, [ada, bob])
        before = await all_activity(real_store, board, set(cards))
        # The server stops mid-way: these edits are stored, never projected.
        breakable.projection_broken = True
        for n, card in enumerate(cards):
            await bob.edit(points(card, n + 7))
            await bob.edit(title(card, "renamed"))
        await converged([ada, bob])
        for client in (ada, bob):
            await client.close()
    assert await real_store.get_watermark(board) == first_mark
    snapshot_seq = (await real_store.load(board)).snapshot_seq
    assert (snapshot_seq > first_mark) == (compaction == "compacted")

    marks: list[int] = []
    sampling = True

    async def sample() -> None:  # not cancelled mid-call: that would break the connection
        while sampling:
            marks.append(await real_store.get_watermark(board))
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    async with run_app(real_store, authenticator=user_from_query):
        head = await projected(real_store, board)  # nobody notifies: start-up catch-up
    sampling = False
    await sampler
    assert marks == sorted(marks) and head > first_mark
    await assert_tables_equal_projection(real_store, board)
    after = await all_activity(real_store, board, set(cards))
    assert unique(after)
    assert [e for e in after if e.seq <= first_mark] == before  # nothing rewritten
    new = [e for e in after if e.seq > first_mark]
    assert {(e.card_id, e.field) for e in new} == {
        (c, f) for c in cards for f in ("title", "points")
    }
    # Replayed update by update, or (compacted) as their sum: all made by Bob either way.
    assert {actor(e) for e in new} == {USERS[1]}


# -- the REST write path ---------------------------------------------------------------------------


class RecordingChannel:
    """A connection's channel that records what the server sends."""

    path = "/sync/x"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, message: bytes) -> None:
        self.sent.append(message)

    async def recv(self) -> bytes:
        raise AssertionError("not read")

    async def close(self, code: int, reason: str) -> None:
        pass


async def test_a_rest_write_is_stored_as_the_api_user_broadcast_and_projected(
    real_store: Store,
) -> None:
    board = await make_board(real_store)
    materializer = Materializer(real_store)
    await materializer.start()
    rooms = Rooms(
        real_store,
        Metrics(),
        idle_unload_seconds=60,
        memory_budget_bytes=1 << 30,
        materializer=materializer,
    )
    rooms.start()
    try:
        room = await rooms.acquire(board)
        channel = RecordingChannel()
        watcher = Connection(channel, Principal(user_id=USERS[1]), board)
        room.join(watcher)
        origin = ApiOrigin(USERS[0])
        card, seq = await rooms.write(
            board, lambda b: b.create_card("From the API", created_by=USERS[0]), origin
        )
        assert await materializer.wait_projected(board, seq, 5)
        assert (await real_store.get_card_row(board, card)).card.title == "From the API"
        (row,) = await real_store.read_log(board, seq - 1, limit=1)
        assert (row.seq, row.origin) == (seq, UpdateOrigin("api", USERS[0]))
        activity = await real_store.list_card_activity(board, card)
        (created,) = [e for e in activity if e.field == "card"]
        assert created.origin == UpdateOrigin("api", USERS[0])

        async def relayed() -> bool:
            replica: Doc[Any] = Doc()
            for frame in channel.sent:
                message = p.decode_message(frame)
                if isinstance(message, p.SyncUpdate):
                    replica.apply_update(message.update)
            return card in replica.get("cards", type=Map)

        await until(relayed)

        async def numbered_row() -> bool:
            # The server numbers the card after: a write that changes nothing returns the head.
            _, head = await rooms.write(board, lambda b: None, origin)
            return head > seq and (await real_store.get_card_row(board, card)).card.number == 1

        await until(numbered_row)
        with pytest.raises(NotFoundError):
            await rooms.write(board, lambda b: b.set_points("no-such-card", 1), origin)
        room.leave(watcher)
        watcher.abort()
    finally:
        await rooms.shutdown(flush_seconds=5)
        await materializer.aclose()


# -- compaction before projection, store failures, eviction -----------------------------------


async def append_edit(store: Store, board: str, user: str, change: Callable[[Board], Any]) -> Any:
    """Make `change` on the stored board and append it as `user`; return what it returned."""
    doc = await store.load_doc(board)
    before = doc.get_state()
    result = change(Board(doc))
    await store.append(board, doc.get_update(before), UpdateOrigin("user", user))
    return result


@pytest.mark.parametrize("writers", [1, 2])
async def test_updates_compacted_before_their_projection_are_projected_as_their_sum(
    real_store: Store, writers: int
) -> None:
    board = await make_board(real_store)
    first = Materializer(real_store)
    await first.start()
    card = await append_edit(
        real_store, board, USERS[0], lambda b: b.create_card("A", created_by=USERS[0])
    )
    assert await first.wait_projected(board, 2, 5)
    await first.aclose()
    await append_edit(real_store, board, USERS[0], lambda b: b.set_points(card, 8))
    await append_edit(real_store, board, USERS[writers - 1], lambda b: b.set_title(card, "B"))
    await real_store.compact(board)  # the snapshot now covers seqs 3 and 4, unprojected
    assert (await real_store.load(board)).snapshot_seq == 4
    again = Materializer(real_store)
    await again.start()
    try:
        assert await again.wait_projected(board, 4, 5)
    finally:
        await again.aclose()
    await assert_tables_equal_projection(real_store, board)
    entries = [e for e in await real_store.list_card_activity(board, card) if e.seq > 2]
    assert sorted((e.seq, e.field, e.old, e.new) for e in entries) == [
        (4, "points", None, 8),
        (4, "title", "A", "B"),
    ]
    who = UpdateOrigin("user", USERS[0]) if writers == 1 else UpdateOrigin("server", None)
    assert {e.origin for e in entries} == {who}


async def test_a_board_whose_whole_log_was_folded_is_projected_from_its_snapshot(
    real_store: Store,
) -> None:
    board = await make_board(real_store)
    card = await append_edit(
        real_store, board, USERS[0], lambda b: b.create_card("Old", created_by=USERS[0])
    )
    # Two days on, with no retention: every row is folded into a checkpoint, none is left.
    later = datetime.now(UTC) + timedelta(days=2)
    await real_store.compact(board, now=later, retention=timedelta(0))
    assert await real_store.read_log(board) == []
    materializer = Materializer(real_store)
    await materializer.start()  # its catch-up finds the board behind its (empty) log
    try:
        assert await materializer.wait_projected(board, 2, 5)
    finally:
        await materializer.aclose()
    await assert_tables_equal_projection(real_store, board)
    (created,) = await real_store.list_card_activity(board, card)
    assert (created.field, created.seq, created.origin) == ("card", 2, UpdateOrigin("server"))


class FailingWrites(Wrapped):
    """The real store, whose first `failures` projection writes fail."""

    def __init__(self, inner: Store, failures: int) -> None:
        super().__init__(inner)
        self.failures = failures

    async def apply_projection(self, board_id: str, batch: Any) -> bool:
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailable("the database went away (test)")
        return bool(await self._inner.apply_projection(board_id, batch))


async def test_failing_writes_are_retried_and_idle_shadows_are_evicted(
    real_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    failing = FailingWrites(real_store, failures=2)
    materializer = Materializer(failing, idle_seconds=0.2, memory_budget_bytes=1)
    await materializer.start()
    try:
        boards = [await make_board(real_store) for _ in range(2)]
        for board in boards:
            assert await materializer.wait_projected(board, 1, 10)
        assert "retrying" in caplog.text and failing.failures == 0
        # Over the (1 byte) budget only the last used shadow is kept; idle, none is.
        assert 0 < materializer.shadow_bytes
        await until(lambda: _async(materializer.shadow_bytes == 0))
        # Rebuilt from the store (a compacted snapshot at the watermark, then the log).
        await real_store.compact(boards[0])
        card = await append_edit(
            real_store, boards[0], USERS[2], lambda b: b.create_card("late", created_by=USERS[2])
        )
        materializer.notify(boards[0])
        assert await materializer.wait_projected(boards[0], 2, 5)
        assert (await real_store.get_card_row(boards[0], card)).card.title == "late"
        for board in boards:
            await assert_tables_equal_projection(real_store, board)
        failing.failures = 10**6
        await append_edit(real_store, boards[1], USERS[2], lambda b: b.rename("never"))
        assert await materializer.wait_projected(boards[1], 2, 0.2) is False
        assert materializer.failing(boards[1])
    finally:
        await materializer.aclose()  # gives up at once on a failing store
    assert await real_store.get_watermark(boards[1]) == 1


async def _async(value: bool) -> bool:
    return value


# -- two materializers on one board ---------------------------------------------------------------


class Gated(Wrapped):
    """The real store, whose projection writes of one board wait at a gate until the test
    opens it (other boards of the database, left by earlier tests, pass)."""

    def __init__(self, inner: Store, board_id: str) -> None:
        super().__init__(inner)
        self.board_id = board_id
        self.arrived = asyncio.Event()  # a write is waiting at the gate
        self.gate = asyncio.Event()
        self.batches: list[tuple[int, int, bool]] = []  # (from_seq, projected_seq, written)

    async def apply_projection(self, board_id: str, batch: Any) -> bool:
        if board_id != self.board_id:
            return bool(await self._inner.apply_projection(board_id, batch))
        self.arrived.set()
        await self.gate.wait()
        written = bool(await self._inner.apply_projection(board_id, batch))
        self.batches.append((batch.from_seq, batch.projected_seq, written))
        return written


async def test_two_materializers_projecting_one_board_at_once_write_each_range_once(
    real_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """B computes 0 -> 2 (card X created), A computes 0 -> 3 (X created and deleted: its net
    batch says nothing of X). B writes first; A's batch, from a watermark that has moved, is
    refused, and A projects update 3 again from the tables B left (X deleted)."""
    caplog.set_level(logging.INFO, logger="taskly.materializer")
    board = await make_board(real_store)  # update 1
    card = await append_edit(
        real_store, board, USERS[0], lambda b: b.create_card("X", created_by=USERS[0])
    )  # update 2
    gated_a, gated_b = Gated(real_store, board), Gated(real_store, board)
    a = Materializer(gated_a, rescan_seconds=None)
    b = Materializer(gated_b, rescan_seconds=None)
    try:
        await b.start()  # its start-up catch-up projects 0 -> 2, and waits at the gate
        await asyncio.wait_for(gated_b.arrived.wait(), 5)
        await append_edit(real_store, board, USERS[1], lambda doc: doc.delete_card(card))
        await a.start()  # 0 -> 3
        await asyncio.wait_for(gated_a.arrived.wait(), 5)
        gated_b.gate.set()
        # (Not b.wait_projected: it would flag the board, and B would project update 3 too.)
        await until(lambda: _async(bool(gated_b.batches)))
        assert gated_b.batches == [(0, 2, True)]
        gated_a.gate.set()
        assert await a.wait_projected(board, 3, 5)
        assert await a.wait_idle(5)
    finally:
        gated_a.gate.set()
        gated_b.gate.set()
        await a.aclose()
        await b.aclose()
    assert gated_a.batches == [(0, 3, False), (2, 3, True)]
    assert gated_b.batches == [(0, 2, True)]
    assert "projected elsewhere meanwhile" in caplog.text
    await assert_tables_equal_projection(real_store, board)
    with pytest.raises(CardNotFound):
        await real_store.get_card_row(board, card)
    entries = await real_store.list_card_activity(board, card)
    assert [(e.seq, e.field, e.old is None, e.new is None, actor(e)) for e in entries] == [
        (3, "card", False, True, USERS[1]),  # deleted by Bob...
        (2, "card", True, False, USERS[0]),  # ...created by Ada, each once
    ]
