"""The storage contract: every test here runs against SQLite, Postgres and the in-memory fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from pycrdt import Map

from storage import (
    Board,
    BoardNotFound,
    Conflict,
    InvalidUpdate,
    StorageUnavailable,
    Store,
    UpdateOrigin,
    WorkspaceNotFound,
)
from tests.storage._docs import Writer, card_move_updates, content, content_of
from tests.storage.conftest import Backend

USER = UpdateOrigin("user", "user-1")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def new_board(store: Store, **kwargs: object) -> Board:
    ws = await store.create_workspace("Acme")
    return await store.create_board(ws.id, "Sprint board", "TSK", **kwargs)  # type: ignore[arg-type]


async def test_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    await store.ping()


async def test_workspaces_and_boards_round_trip(store: Store) -> None:
    ws = await store.create_workspace("Acme", id="ws-1", at=T0)
    other = await store.create_workspace("Other", at=T0 + timedelta(seconds=1))
    assert await store.get_workspace("ws-1") == ws
    assert ws.created_at == T0 and ws.created_at.tzinfo is not None
    assert [w.id for w in await store.list_workspaces()] == ["ws-1", other.id]

    b1 = await store.create_board("ws-1", "Board ünï 🚀", "TSK", id="b-1", at=T0)
    b2 = await store.create_board(other.id, "Ops", "OPS", at=T0 + timedelta(minutes=1))
    assert await store.get_board("b-1") == b1
    assert b1.archived_at is None and b1.card_prefix == "TSK"
    assert [b.id for b in await store.list_boards()] == ["b-1", b2.id]
    assert await store.list_boards("ws-1") == [b1]
    assert await store.list_boards("nope") == []


async def test_archiving_and_unarchiving_a_board(store: Store) -> None:
    board = await new_board(store, at=T0)
    other = await store.create_board(
        board.workspace_id, "Other", "OTH", at=T0 + timedelta(seconds=1)
    )
    paris = timezone(timedelta(hours=2))
    at = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=paris)
    archived = await store.set_board_archived(board.id, True, at=at)
    assert archived == msgspec.structs.replace(board, archived_at=at)
    assert archived.archived_at is not None and archived.archived_at.utcoffset() == timedelta(0)
    assert await store.get_board(board.id) == archived
    assert await store.list_boards(board.workspace_id) == [archived, other]
    # Archiving again keeps the first time; unarchiving an unarchived board changes nothing.
    assert await store.set_board_archived(board.id, True, at=at + timedelta(days=1)) == archived
    assert await store.set_board_archived(other.id, False) == other
    restored = await store.set_board_archived(board.id, False)
    assert restored == board and await store.get_board(board.id) == board
    # Without `at`: now.
    before = datetime.now(UTC)
    again = await store.set_board_archived(board.id, True)
    assert again.archived_at is not None
    assert before - timedelta(seconds=1) <= again.archived_at <= datetime.now(UTC)
    with pytest.raises(ValueError, match="naive"):
        await store.set_board_archived(board.id, True, at=datetime(2026, 1, 1))
    assert await store.get_board(other.id) == other


async def test_duplicates_and_unknown_parents_are_refused(store: Store) -> None:
    await store.create_workspace("Acme", id="ws-1")
    with pytest.raises(Conflict):
        await store.create_workspace("Again", id="ws-1")
    await store.create_board("ws-1", "B", "TSK", id="b-1")
    with pytest.raises(Conflict):
        await store.create_board("ws-1", "B", "TSK", id="b-1")
    with pytest.raises(WorkspaceNotFound):
        await store.create_board("no-such-ws", "B", "TSK")
    with pytest.raises(WorkspaceNotFound):
        await store.get_workspace("no-such-ws")


async def test_unknown_board_raises_board_not_found_everywhere(store: Store) -> None:
    update = card_move_updates(1)[0]
    calls = [
        store.get_board("nope"),
        store.set_board_archived("nope", True),
        store.set_board_archived("nope", False),
        store.append("nope", update, USER),
        store.append_many("nope", [(update, USER)]),
        store.load("nope"),
        store.load_doc("nope"),
        store.read_log("nope"),
        store.compact("nope"),
        store.load_as_of("nope", T0),
        store.next_card_number("nope"),
        store.get_watermark("nope"),
        store.set_watermark("nope", 3),
    ]
    for call in calls:
        with pytest.raises(BoardNotFound):
            await call


async def test_append_then_load_returns_every_update_in_order(store: Store) -> None:
    board = await new_board(store)
    updates = card_move_updates(6)
    seqs = [await store.append(board.id, u, USER, at=T0) for u in updates[:3]]
    seqs += await store.append_many(
        board.id, [(u, UpdateOrigin("git_bridge", "delivery-9")) for u in updates[3:]]
    )
    assert seqs == [1, 2, 3, 4, 5, 6]

    loaded = await store.load(board.id)
    assert loaded.snapshot is None and loaded.snapshot_seq == 0 and loaded.head_seq == 6
    assert [row.seq for row in loaded.tail] == seqs
    assert [row.update for row in loaded.tail] == updates
    assert loaded.tail[0].origin == USER and loaded.tail[0].created_at == T0
    assert loaded.tail[4].origin == UpdateOrigin("git_bridge", "delivery-9")
    assert loaded.tail[4].created_at.tzinfo is not None


async def test_reload_equals_the_original_document(store: Store) -> None:
    board = await new_board(store)
    writer = Writer(client_id=42)
    for i in range(20):
        update = writer.set(f"card{i % 7}", {"column": f"col{i % 3}", "rank": f"a{i}"})
        await store.append(board.id, update, USER)
        if i % 3 == 0:
            await store.append(board.id, writer.insert(i, f"[{i}]"), USER)
    await store.append(board.id, writer.delete("card1") or b"", USER)
    expected = content(writer.doc)
    assert content(await store.load_doc(board.id)) == expected
    await store.compact(board.id)
    assert content(await store.load_doc(board.id)) == expected
    await store.append(board.id, writer.set("after", True), USER)
    assert content(await store.load_doc(board.id)) == content(writer.doc)


async def test_read_log_after_seq_and_limit(store: Store) -> None:
    board = await new_board(store)
    updates = card_move_updates(5)
    await store.append_many(board.id, [(u, USER) for u in updates])
    assert [r.seq for r in await store.read_log(board.id)] == [1, 2, 3, 4, 5]
    assert [r.seq for r in await store.read_log(board.id, after_seq=3)] == [4, 5]
    assert [r.seq for r in await store.read_log(board.id, 1, limit=2)] == [2, 3]
    assert await store.read_log(board.id, after_seq=5) == []


async def test_empty_or_malformed_appends_are_refused(store: Store) -> None:
    board = await new_board(store)
    with pytest.raises(InvalidUpdate):
        await store.append(board.id, b"", USER)
    with pytest.raises(InvalidUpdate):
        await store.append(board.id, "text", USER)  # type: ignore[arg-type]
    with pytest.raises(InvalidUpdate):
        await store.append(board.id, b"\x00\x00", UpdateOrigin("robot"))  # type: ignore[arg-type]
    good = card_move_updates(1)[0]
    with pytest.raises(InvalidUpdate, match="not a Yjs v1 update"):  # garbage
        await store.append(board.id, b"\x07garbage", USER)
    with pytest.raises(InvalidUpdate, match="not a Yjs v1 update"):  # a truncated update
        await store.append(board.id, good[:-1], USER)
    with pytest.raises(InvalidUpdate):  # one bad update refuses the whole burst
        await store.append_many(board.id, [(good, USER), (b"", USER)])
    with pytest.raises(InvalidUpdate):
        await store.append_many(board.id, [(good, USER), (good + b"\x00", USER)])
    assert await store.read_log(board.id) == []
    assert await store.append_many(board.id, []) == []
    # A bytearray (what some drivers and sockets hand over) is accepted as bytes.
    assert await store.append(board.id, bytearray(good), USER) == 1  # type: ignore[arg-type]


async def test_naive_datetimes_are_refused(store: Store) -> None:
    board = await new_board(store)
    with pytest.raises(ValueError, match="naive"):
        await store.append(board.id, card_move_updates(1)[0], USER, at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        await store.load_as_of(board.id, datetime(2026, 1, 1))


async def test_times_are_stored_as_utc_to_the_microsecond(store: Store) -> None:
    board = await new_board(store)
    paris = timezone(timedelta(hours=2))
    at = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=paris)
    await store.append(board.id, card_move_updates(1)[0], USER, at=at)
    (row,) = await store.read_log(board.id)
    assert row.created_at == at
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.created_at.microsecond == 123456


async def test_append_without_at_stamps_now(store: Store) -> None:
    board = await new_board(store)
    before = datetime.now(UTC)
    await store.append(board.id, card_move_updates(1)[0], USER)
    (row,) = await store.read_log(board.id)
    assert before - timedelta(seconds=1) <= row.created_at <= datetime.now(UTC)


async def test_boards_have_independent_sequences(store: Store) -> None:
    a = await new_board(store)
    b = await store.create_board(a.workspace_id, "Other", "OTH")
    updates = card_move_updates(3)
    assert await store.append(a.id, updates[0], USER) == 1
    assert await store.append(b.id, updates[1], USER) == 1
    assert await store.append(a.id, updates[2], USER) == 2
    assert await store.next_card_number(a.id) == 1
    assert await store.next_card_number(a.id) == 2
    assert await store.next_card_number(b.id) == 1


async def test_watermarks(store: Store) -> None:
    board = await new_board(store)
    assert await store.get_watermark(board.id) == 0
    await store.set_watermark(board.id, 5)
    assert await store.get_watermark(board.id) == 5
    await store.set_watermark(board.id, 9)
    assert await store.get_watermark(board.id) == 9


async def test_compaction_snapshot_then_tail(store: Store) -> None:
    board = await new_board(store)
    updates = card_move_updates(10)
    await store.append_many(board.id, [(u, USER) for u in updates[:6]], at=T0)
    result = await store.compact(board.id, now=T0 + timedelta(hours=1))
    assert result.changed and result.snapshot_seq == 6 and result.merged_updates == 6
    assert result.folded_updates == 0 and result.checkpoints_written == 0
    await store.append_many(board.id, [(u, USER) for u in updates[6:]], at=T0)

    loaded = await store.load(board.id)
    assert loaded.snapshot is not None and loaded.snapshot_seq == 6
    assert result.snapshot_bytes == len(loaded.snapshot)
    assert [r.seq for r in loaded.tail] == [7, 8, 9, 10]
    assert content(await store.load_doc(board.id)) == content_of(*updates)
    # The raw log inside the retention window is history: it is kept.
    assert len(await store.read_log(board.id)) == 10

    again = await store.compact(board.id, now=T0 + timedelta(hours=2))
    assert again.snapshot_seq == 10 and again.merged_updates == 4
    idle = await store.compact(board.id, now=T0 + timedelta(hours=3))
    assert not idle.changed and idle.snapshot_seq == 10


async def test_compacting_an_empty_board(store: Store) -> None:
    board = await new_board(store)
    result = await store.compact(board.id)
    assert not result.changed and result.snapshot_seq == 0
    assert (await store.load(board.id)).snapshot is None
    assert await store.load_as_of(board.id, datetime.now(UTC)) is None
    assert dict((await store.load_doc(board.id)).get("m", type=Map).items()) == {}


async def test_closed_store_is_unavailable(backend: Backend) -> None:
    opened = backend.make()
    async with opened:
        await opened.ping()
    with pytest.raises(StorageUnavailable):
        await opened.ping()
    await opened.close()  # idempotent


async def test_reopening_keeps_the_data(backend: Backend) -> None:
    updates = card_move_updates(4)
    async with backend.make() as first:
        board = await new_board(first)
        await first.append_many(board.id, [(u, USER) for u in updates])
        await first.compact(board.id)
    async with backend.make() as second:
        assert content(await second.load_doc(board.id)) == content_of(*updates)
        assert await second.append(board.id, updates[0], USER) == 5
        assert await second.get_board(board.id) == board
