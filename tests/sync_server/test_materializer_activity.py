"""Activity coalescing (sync_server/materializer_activity.py), on the entries alone.

The store is modelled as a dict keyed like card_activity's unique key; each run's pending
entries are inserted and its superseded ones deleted, as apply_projection does. The end-to-end
behaviour (PATCHes through the real API, stored in SQLite/Postgres) is in tests/api.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from storage import ActivityRef, CardActivity, UpdateOrigin
from sync_server.materializer_activity import ActivityCoalescer

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW = 60.0
Stored = dict[tuple[str, int, str], CardActivity]


def entry(seq: int, seconds: float, who: str, field: str, old: Any, new: Any) -> CardActivity:
    return CardActivity(
        board_id="b",
        card_id="c",
        seq=seq,
        at=T0 + timedelta(seconds=seconds),
        origin=UpdateOrigin("user", who),
        field=field,
        old=old,
        new=new,
    )


def run(coalescer: ActivityCoalescer, stored: Stored, entries: list[CardActivity]) -> None:
    """One materializer run: add the entries, then write the batch to `stored`."""
    pending: list[CardActivity] = []
    superseded: list[ActivityRef] = []
    for e in entries:
        coalescer.add(e, pending, superseded)
    for ref in superseded:
        del stored[(ref.card_id, ref.seq, ref.field)]  # it must be stored: KeyError otherwise
    for e in pending:
        stored[(e.card_id, e.seq, e.field)] = e


def history(stored: Stored, field: str) -> list[CardActivity]:
    return sorted((e for e in stored.values() if e.field == field), key=lambda e: e.seq)


def test_a_burst_of_typing_is_one_entry_across_runs() -> None:
    coalescer, stored = ActivityCoalescer(WINDOW), Stored()
    titles = ["", "F", "Fi", "Fix", "Fix it"]
    for seq, (old, new) in enumerate(zip(titles, titles[1:], strict=False), start=1):
        run(coalescer, stored, [entry(seq, seq, "ann", "title", old, new)])
    (only,) = history(stored, "title")
    assert (only.old, only.new, only.seq, only.at) == ("", "Fix it", 4, T0 + timedelta(seconds=4))


def test_another_person_a_pause_or_another_field_starts_a_new_entry() -> None:
    coalescer, stored = ActivityCoalescer(WINDOW), Stored()
    run(coalescer, stored, [entry(1, 0, "ann", "title", "a", "b")])
    run(coalescer, stored, [entry(2, 1, "bob", "title", "b", "c")])  # another person
    run(coalescer, stored, [entry(3, 2, "bob", "points", None, 3)])  # another field
    run(coalescer, stored, [entry(4, 2 + WINDOW + 1, "bob", "title", "c", "d")])  # a pause
    assert [(e.old, e.new) for e in history(stored, "title")] == [
        ("a", "b"),
        ("b", "c"),
        ("c", "d"),
    ]
    assert [(e.old, e.new) for e in history(stored, "points")] == [(None, 3)]


def test_a_change_undone_within_the_window_leaves_nothing() -> None:
    coalescer, stored = ActivityCoalescer(WINDOW), Stored()
    run(coalescer, stored, [entry(1, 0, "ann", "priority", "low", "high")])
    run(coalescer, stored, [entry(2, 5, "ann", "priority", "high", "low")])
    assert history(stored, "priority") == []


def test_creations_deletions_and_comments_are_never_merged() -> None:
    coalescer, stored = ActivityCoalescer(WINDOW), Stored()
    run(coalescer, stored, [entry(1, 0, "ann", "card", None, {"title": "x"})])
    run(coalescer, stored, [entry(2, 1, "ann", "comments", [], ["hi"])])
    run(coalescer, stored, [entry(3, 2, "ann", "comments", [], ["again"])])
    run(coalescer, stored, [entry(4, 3, "ann", "card", {"title": "x"}, None)])
    assert len(history(stored, "card")) == 2 and len(history(stored, "comments")) == 2


def test_a_zero_window_keeps_every_entry() -> None:
    coalescer, stored = ActivityCoalescer(0), Stored()
    for seq in range(1, 4):
        run(coalescer, stored, [entry(seq, seq, "ann", "title", str(seq - 1), str(seq))])
    assert len(history(stored, "title")) == 3


edits = st.lists(
    st.tuples(
        st.sampled_from(["ann", "bob"]),
        st.sampled_from(["title", "points"]),
        st.integers(0, 3),  # the new value (small, so that undos happen)
        st.sampled_from([0.5, 10.0, WINDOW + 1]),  # seconds since the previous edit
        st.booleans(),  # whether the run ends after this edit
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(edits)
def test_the_history_of_each_field_is_a_chain_from_the_first_value_to_the_last(
    script: list[tuple[str, str, int, float, bool]],
) -> None:
    """Whatever the edits and however they split into runs: each field's stored entries form an
    unbroken chain (each old is the previous new) from its first value to its current one, no
    entry is a no-op, and two successive entries of one person are a pause apart."""
    coalescer, stored = ActivityCoalescer(WINDOW), Stored()
    values = {"title": 0, "points": 0}
    clock = 0.0
    batch: list[CardActivity] = []
    for seq, (who, field, new, gap, end_run) in enumerate(script, start=1):
        clock += gap
        if new == values[field]:
            continue  # no change, no activity (the materializer diffs rows)
        batch.append(entry(seq, clock, who, field, values[field], new))
        values[field] = new
        if end_run:
            run(coalescer, stored, batch)
            batch = []
    run(coalescer, stored, batch)
    for field, now in values.items():
        chain = history(stored, field)
        current = chain[0].old if chain else now
        for e in chain:
            assert e.old == current and e.old != e.new
            current = e.new
        assert current == now
        for a, b in zip(chain, chain[1:], strict=False):
            assert a.origin != b.origin or (b.at - a.at).total_seconds() > WINDOW
