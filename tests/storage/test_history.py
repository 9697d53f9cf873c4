"""Compaction atomicity (failure injected at every step) and history (checkpoints, load_as_of)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import crdt_model
from storage import STEPS, Store, UpdateOrigin
from tests.storage._docs import Writer, content, content_of
from tests.storage.test_contract import new_board

USER = UpdateOrigin("user", "u")
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
EOD = timedelta(days=1) - timedelta(microseconds=1)  # from midnight to a day's last microsecond


async def seed_days(
    store: Store, board_id: str, days: int, per_day: int
) -> list[tuple[datetime, bytes]]:
    """Append `per_day` updates at 10:00 + i minutes of each of `days` days; return (at, update)."""
    writer = Writer(client_id=5)
    timeline: list[tuple[datetime, bytes]] = []
    for day in range(days):
        at = DAY0 + timedelta(days=day, hours=10)
        burst = [writer.set(f"k{i}", f"d{day}-{i}") for i in range(per_day)]
        await store.append_many(board_id, [(u, USER) for u in burst], at=at)
        timeline += [(at, u) for u in burst]
        if day % 3 == 0:
            update = writer.delete(f"k{day % per_day}")
            assert update is not None
            await store.append(board_id, update, USER, at=at + timedelta(minutes=5))
            timeline.append((at + timedelta(minutes=5), update))
    return timeline


def expected_at(timeline: list[tuple[datetime, bytes]], at: datetime) -> dict[str, Any] | None:
    updates = [u for t, u in timeline if t <= at]
    return content_of(*updates) if updates else None


async def actual_at(store: Store, board_id: str, at: datetime) -> dict[str, Any] | None:
    state = await store.load_as_of(board_id, at)
    return None if state is None else content(crdt_model.load_doc(state))


async def snapshot_of_state(store: Store, board_id: str) -> tuple[Any, ...]:
    """Everything observable about a board's stored state, for before/after comparisons."""
    loaded = await store.load(board_id)
    log = await store.read_log(board_id)
    probes = [DAY0 + timedelta(days=d) + EOD for d in range(0, 12)]
    history = [await store.load_as_of(board_id, t) for t in probes]
    return (loaded.snapshot, loaded.snapshot_seq, [r.seq for r in log], history)


async def test_folding_keeps_the_window_and_writes_daily_checkpoints(store: Store) -> None:
    board = await new_board(store)
    timeline = await seed_days(store, board.id, days=10, per_day=3)
    now = DAY0 + timedelta(days=9, hours=12)
    result = await store.compact(board.id, now=now, retention=timedelta(days=4))
    # Cutoff = midnight of day 5: days 0..4 are folded into 5 checkpoints.
    assert result.retained_since == DAY0 + timedelta(days=5)
    assert result.checkpoints_written == 5
    folded = [t for t, _ in timeline if t < result.retained_since]
    assert result.folded_updates == len(folded)
    log = await store.read_log(board.id)
    assert all(r.created_at >= result.retained_since for r in log)
    assert len(log) == len(timeline) - len(folded)
    assert content(await store.load_doc(board.id)) == content_of(*(u for _, u in timeline))

    # Exact at every day's end, and at any time from the cutoff on.
    for day in range(-1, 11):
        at = DAY0 + timedelta(days=day) + EOD
        assert await actual_at(store, board.id, at) == expected_at(timeline, at), day
    for at in [t for t, _ in timeline if t >= result.retained_since]:
        assert await actual_at(store, board.id, at) == expected_at(timeline, at)
        assert await actual_at(store, board.id, at - timedelta(microseconds=1)) == expected_at(
            timeline, at - timedelta(microseconds=1)
        )
    # Inside a folded day the resolution is one day: the end of the previous day.
    inside = DAY0 + timedelta(days=3, hours=10, minutes=1)
    assert await actual_at(store, board.id, inside) == expected_at(
        timeline, DAY0 + timedelta(days=2) + EOD
    )
    assert await actual_at(store, board.id, DAY0 - timedelta(days=1)) is None


async def test_repeated_compactions_extend_checkpoints(store: Store) -> None:
    board = await new_board(store)
    timeline = await seed_days(store, board.id, days=12, per_day=2)
    for day in (6, 8, 8, 11, 20):
        await store.compact(board.id, now=DAY0 + timedelta(days=day), retention=timedelta(days=3))
        for probe in range(12):
            at = DAY0 + timedelta(days=probe) + EOD
            assert await actual_at(store, board.id, at) == expected_at(timeline, at)
    assert await store.read_log(board.id) == []  # everything folded at day 20
    assert content(await store.load_doc(board.id)) == content_of(*(u for _, u in timeline))


async def test_late_rows_reach_every_later_checkpoint(store: Store) -> None:
    board = await new_board(store)
    timeline = await seed_days(store, board.id, days=6, per_day=2)
    retention = timedelta(days=1)
    await store.compact(board.id, now=DAY0 + timedelta(days=7), retention=retention)
    # An import of an edit made on day 1, from an independent client, after day 1 was folded.
    late_writer = Writer(client_id=77)
    late = late_writer.set("imported", "from day 1")
    late_at = DAY0 + timedelta(days=1, hours=3)
    await store.append(board.id, late, UpdateOrigin("import", "trello"), at=late_at)
    timeline.append((late_at, late))
    # Before and after the next compaction, history shows it from its time on.
    for _ in range(2):
        for probe in range(7):
            at = DAY0 + timedelta(days=probe) + EOD
            assert await actual_at(store, board.id, at) == expected_at(timeline, at), probe
        await store.compact(board.id, now=DAY0 + timedelta(days=7), retention=retention)
    assert await store.read_log(board.id) == []


@pytest.mark.parametrize("failing_step", STEPS)
async def test_a_failure_at_any_compaction_step_changes_nothing(
    store: Store, failing_step: str
) -> None:
    board = await new_board(store)
    timeline = await seed_days(store, board.id, days=10, per_day=2)
    await store.compact(board.id, now=DAY0 + timedelta(days=5), retention=timedelta(days=2))
    writer = Writer(client_id=9)
    extra = [writer.set("x", i) for i in range(3)]
    await store.append_many(board.id, [(u, USER) for u in extra], at=DAY0 + timedelta(days=9))
    timeline += [(DAY0 + timedelta(days=9), u) for u in extra]
    before = await snapshot_of_state(store, board.id)
    seen: list[str] = []

    def hook(step: str) -> None:
        seen.append(step)
        if step == failing_step:
            raise RuntimeError(f"injected failure at {step}")

    with pytest.raises(RuntimeError, match="injected"):
        await store.compact(
            board.id, now=DAY0 + timedelta(days=10), retention=timedelta(days=2), on_step=hook
        )
    assert seen == list(STEPS[: STEPS.index(failing_step) + 1])
    assert await snapshot_of_state(store, board.id) == before
    # The store is still usable and the next compaction completes.
    result = await store.compact(
        board.id, now=DAY0 + timedelta(days=10), retention=timedelta(days=2)
    )
    assert result.changed
    assert content(await store.load_doc(board.id)) == content_of(*(u for _, u in timeline))
    for probe in range(11):
        at = DAY0 + timedelta(days=probe) + EOD
        assert await actual_at(store, board.id, at) == expected_at(timeline, at)
