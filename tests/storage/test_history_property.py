"""Property: load_as_of(t) equals the document built from every update with time <= t.

Random timelines from up to three independent clients (each client's clock is monotone, but
the clients interleave, so times are not monotone in seq), random compactions with a random
`now` and retention, then history is checked at every UTC day's end (exact outside the window
too, the checkpoint boundaries) and at every update time inside the retention window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crdt_model
from storage import Store, UpdateOrigin
from storage._time import end_of_day, start_of_day
from tests.storage._docs import Writer, content, content_of
from tests.storage.test_contract import new_board

DAY0 = datetime(2026, 2, 1, tzinfo=UTC)

op = st.tuples(
    st.just("op"),
    st.integers(0, 2),  # client
    st.sampled_from(["set", "set", "delete", "insert"]),
    st.integers(0, 3),  # key / text index
    # Minutes since this client's previous edit: often 0, often a whole day, sometimes 1 µs.
    st.one_of(st.sampled_from([0, 1, 1439, 1440, 2880]), st.integers(0, 3 * 1440)),
)
compaction = st.tuples(
    st.just("compact"),
    st.integers(0, 20 * 24),  # now = DAY0 + hours
    st.integers(0, 6),  # retention in days
)
events = st.lists(st.one_of(op, op, op, compaction), min_size=1, max_size=28)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=events)
async def test_load_as_of_matches_the_updates_up_to_that_time(
    store: Store, script: list[tuple[Any, ...]]
) -> None:
    board = await new_board(store)  # a fresh board per example, on the test's database
    writers = [Writer(client_id=100 + n) for n in range(3)]
    clocks = [DAY0 + timedelta(hours=5 * n) for n in range(3)]
    timeline: list[tuple[datetime, bytes]] = []
    window_start = datetime.min.replace(tzinfo=UTC)
    for event in script:
        if event[0] == "compact":
            _, hours, days = event
            now = DAY0 + timedelta(hours=hours)
            result = await store.compact(board.id, now=now, retention=timedelta(days=days))
            assert result.retained_since == start_of_day(now - timedelta(days=days))
            window_start = max(window_start, result.retained_since)
            continue
        _, client, kind, key, minutes = event
        clocks[client] += timedelta(minutes=minutes, microseconds=1 if minutes == 1 else 0)
        writer = writers[client]
        if kind == "set":
            update: bytes | None = writer.set(f"k{key}", f"{client}:{len(timeline)}")
        elif kind == "delete":
            update = writer.delete(f"k{key}")
        else:
            update = writer.insert(key, f"<{client}>")
        if update is None:
            continue
        await store.append(board.id, update, UpdateOrigin("user", str(client)), at=clocks[client])
        timeline.append((clocks[client], update))

    assert content(await store.load_doc(board.id)) == content_of(*(u for _, u in timeline))
    if not timeline:
        return
    first, last = min(t for t, _ in timeline), max(t for t, _ in timeline)
    probes = {end_of_day(first) + timedelta(days=d) for d in range(-1, (last - first).days + 2)}
    for at, _ in timeline:
        if at >= window_start:
            probes |= {at, at - timedelta(microseconds=1)}
    for at in sorted(probes):
        updates = [u for t, u in timeline if t <= at]
        state = await store.load_as_of(board.id, at)
        if not updates:
            assert state is None, at
        else:
            assert state is not None, at
            assert content(crdt_model.load_doc(state)) == content_of(*updates), at
