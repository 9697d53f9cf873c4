"""Property: replicas that edit offline and exchange updates in any order converge.

Several pycrdt Docs (distinct client ids) start from one initial board update, run random
operations, exchange some updates while "online" (the rest stay buffered, as offline), then
receive everything: in random order, with duplicates, some batched with merge_updates.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, TransactionEvent, merge_updates

from crdt_model import Board, ModelError, apply_update, load_doc, new_board, project

from .conftest import BOARD_ID, OTHER_USER, USER, WORKSPACE_ID

REPLICAS = 3
OPS = [
    "create",
    "create",
    "move",
    "move",
    "title",
    "insert",
    "describe",
    "archive",
    "delete",
    "priority",
    "points",
    "label",
    "unlabel",
    "new_label",
    "delete_label",
    "assign",
    "add_column",
    "move_column",
    "remove_column",
    "comment",
    "sprint",
    "rename",
    "sync",
    "sync",
]


def _varuint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def decode_state_vector(data: bytes) -> dict[int, int]:
    """Decode a Yjs state vector (client id -> clock)."""
    count, pos = _varuint(data, 0)
    result: dict[int, int] = {}
    for _ in range(count):
        client, pos = _varuint(data, pos)
        clock, pos = _varuint(data, pos)
        result[client] = clock
    assert pos == len(data)
    return result


class Replica:
    """One peer: a Doc, a Board over it, and the updates it has produced."""

    def __init__(self, index: int, initial: bytes, seed: int) -> None:
        self.doc: Doc[Any] = Doc(client_id=1000 + index)
        apply_update(self.doc, initial)
        self.board = Board(self.doc, rng=random.Random(seed))
        self.outbox: list[bytes] = []
        self.receiving = False
        # Observed, not diffed from state vectors: a pure deletion leaves the state vector
        # unchanged, yet its update (a delete set) must be shipped.
        self.doc.observe(self._record)

    def _record(self, event: TransactionEvent) -> None:
        if not self.receiving:
            self.outbox.append(event.update)

    def run(self, action: object) -> None:
        """Run `action`; the update it produces lands in the outbox."""
        try:
            action()  # type: ignore[operator]
        except ModelError:
            pass  # a target removed concurrently, or an argument the model refuses


def _pick(data: st.DataObject, items: list[str]) -> str | None:
    return data.draw(st.sampled_from(items)) if items else None


def _operation(data: st.DataObject, replica: Replica, kind: str) -> object:
    board = replica.board
    view = project(replica.doc)
    cards = [c.id for c in view.cards]
    columns = [c.id for c in view.columns]
    labels = [label.id for label in view.labels]
    card = _pick(data, cards)
    text = data.draw(st.text(alphabet="ab🚀ü ", min_size=1, max_size=6))
    # Ids drawn, not generated, so that hypothesis replays a failure exactly.
    ident = str(data.draw(st.uuids(version=4)))
    if kind == "create":
        where = data.draw(st.sampled_from(["end", "start", "after"]))
        return lambda: board.create_card(
            text + "x",
            created_by=USER,
            card_id=ident,
            column_id=_pick(data, columns),
            position=0 if where == "start" else None,
            after=card if where == "after" and card in cards[:1] else None,
        )
    if kind == "move" and card:
        column = _pick(data, columns)
        return lambda: board.move_card(card, column_id=column, position=0)
    if kind == "title" and card:
        return lambda: board.set_title(card, text + "t")
    if kind == "insert" and card:
        return lambda: board.insert_text(card, "description", 0, text)
    if kind == "describe" and card:
        return lambda: board.set_description(card, text * 2)
    if kind == "archive" and card:
        return lambda: board.set_archived(card, data.draw(st.booleans()))
    if kind == "delete" and card:
        return lambda: board.delete_card(card)
    if kind == "priority" and card:
        return lambda: board.set_priority(card, data.draw(st.sampled_from(["low", "urgent"])))
    if kind == "points" and card:
        return lambda: board.set_points(card, data.draw(st.none() | st.integers(0, 99)))
    if kind == "label" and card and labels:
        label = _pick(data, labels)
        assert label is not None
        return lambda: board.add_label(card, label)
    if kind == "unlabel" and card and labels:
        label = _pick(data, labels)
        assert label is not None
        return lambda: board.remove_label(card, label)
    if kind == "new_label":
        return lambda: board.create_label(text + "l", "#123abc", label_id=ident)
    if kind == "delete_label" and labels:
        label = _pick(data, labels)
        assert label is not None
        return lambda: board.delete_label(label)
    if kind == "assign" and card:
        return lambda: board.add_assignee(card, data.draw(st.sampled_from([USER, OTHER_USER])))
    if kind == "add_column":
        return lambda: board.add_column(text + "c", position=0, column_id=ident)
    if kind == "move_column" and columns:
        column = _pick(data, columns)
        assert column is not None
        return lambda: board.move_column(column, position=len(columns) - 1)
    if kind == "remove_column" and len(columns) > 1:
        column = _pick(data, columns)
        assert column is not None
        return lambda: board.remove_column(column)
    if kind == "comment" and card:
        return lambda: board.add_comment(card, USER, text, comment_id=ident)
    if kind == "sprint" and card:
        return lambda: board.set_sprint(card, None)
    if kind == "rename":
        return lambda: board.rename(text + "b")
    return lambda: None


def _deliver(
    updates: list[bytes], target: Replica, rng: random.Random, *, causal: bool = False
) -> None:
    """Apply `updates` to `target` with duplicates, some merged into batches.

    Shuffled, unless `causal`: then the order is kept and only duplicates of already
    delivered updates are mixed in (what an ordered connection that re-sends looks like).
    """
    target.receiving = True
    extra = rng.sample(updates, k=min(len(updates), rng.randint(0, 3)))
    if causal:
        batch = list(updates)
        for update in extra:
            batch.insert(rng.randint(batch.index(update) + 1, len(batch)), update)
    else:
        batch = updates + extra
        rng.shuffle(batch)
    while batch:
        size = rng.randint(1, 4)
        chunk, batch = batch[:size], batch[size:]
        if len(chunk) > 1 and rng.random() < 0.5:
            apply_update(target.doc, merge_updates(*chunk), origin="remote")
        else:
            for update in chunk:
                apply_update(target.doc, update, origin="remote")
    target.receiving = False


def _sync_round(replicas: list[Replica]) -> None:
    """Anti-entropy as in y-websocket sync step 1/2: each sends what the other lacks."""
    for source in replicas:
        for target in replicas:
            if source is not target:
                missing = source.doc.get_update(target.doc.get_state())
                target.receiving = True
                apply_update(target.doc, missing, origin="remote")
                target.receiving = False


@settings(max_examples=200)
@given(st.data(), st.integers(0, 2**32), st.booleans())
def test_replicas_converge(data: st.DataObject, seed: int, causal: bool) -> None:
    """Random ops, partial offline exchange, then everything; all replicas end identical.

    Shuffled delivery needs one state-vector sync round at the end: pycrdt 0.14.13 can drop
    an update that is pending on another pending one (see the xfail test below). Causal
    delivery (with duplicates and merged batches) converges with no repair.
    """
    rng = random.Random(seed)
    initial = new_board(
        BOARD_ID, "Board", WORKSPACE_ID, standard_columns=True, client_id=1
    ).get_update()
    replicas = [Replica(i, initial, seed + i) for i in range(REPLICAS)]
    for _ in range(data.draw(st.integers(5, 40))):
        replica = replicas[data.draw(st.integers(0, REPLICAS - 1))]
        kind = data.draw(st.sampled_from(OPS))
        if kind == "sync":
            # A replica comes online and receives what another one has produced so far.
            source = replicas[data.draw(st.integers(0, REPLICAS - 1))]
            if source is not replica:
                _deliver(source.outbox, replica, rng, causal=causal)
            continue
        replica.run(_operation(data, replica, kind))
    for replica in replicas:
        for source in replicas:
            _deliver(source.outbox, replica, rng, causal=causal)
    if not causal:
        _sync_round(replicas)

    reference = replicas[0]
    expected_view = project(reference.doc)
    for replica in replicas:
        # Same state vector (yrs encodes its entries in hash-map order, so the bytes may
        # list clients differently: compare them decoded) and the same board.
        assert decode_state_vector(replica.doc.get_state()) == decode_state_vector(
            reference.doc.get_state()
        )
        assert project(replica.doc) == expected_view
        if causal:
            # Raw get_update() bytes of converged replicas can differ (the same items split
            # into different structs, depending on the order things were integrated); the
            # state re-encoded by a fresh Doc is byte-identical.
            reloaded = load_doc(replica.doc.get_update())
            assert reloaded.get_update() == load_doc(reference.doc.get_update()).get_update()
            assert project(reloaded) == expected_view
        # With shuffled delivery pycrdt 0.14.13 guarantees neither: the re-encoded bytes can
        # differ and, rarely, a replica's own get_update() panics when loaded into a fresh
        # Doc ("called `Option::unwrap()` on a `None` value").
    ids = [card.id for card in expected_view.cards]
    assert len(ids) == len(set(ids))
    known_columns = {column.id for column in expected_view.columns}
    if known_columns:
        # A card whose column was removed concurrently is shown in the first column.
        assert all(card.column_id in known_columns for card in expected_view.cards)
    else:
        # Concurrent removals can delete every column: then no card has a column to show in.
        assert all(card.column_id is None for card in expected_view.cards)


@given(st.integers(0, 2**32), st.integers(2, 4))
def test_concurrent_moves_of_one_card_never_duplicate_it(seed: int, peers: int) -> None:
    rng = random.Random(seed)
    base = Board(new_board(BOARD_ID, "B", WORKSPACE_ID, standard_columns=True, client_id=1))
    card = base.create_card("Contested", created_by=USER)
    others = [base.create_card(f"o{i}", created_by=USER) for i in range(3)]
    initial = base.doc.get_update()
    replicas = [Replica(i, initial, seed + i) for i in range(peers)]
    columns = [c.id for c in base.columns()]
    for replica in replicas:
        target = rng.choice(columns)
        replica.run(lambda r=replica, t=target: r.board.move_card(card, column_id=t, position=0))
        if rng.random() < 0.5:
            other = rng.choice(others)
            replica.run(lambda r=replica, o=other, t=target: r.board.move_card(o, column_id=t))
    everything = [u for r in replicas for u in r.outbox]
    for replica in replicas:
        _deliver(everything, replica, rng)
    _sync_round(replicas)
    views = [project(r.doc) for r in replicas]
    assert all(view == views[0] for view in views)
    ids = [c.id for c in views[0].cards]
    assert sorted(ids) == sorted([card, *others])
    moved = next(c for c in views[0].cards if c.id == card)
    # The winning move is one of the moves made: its column and rank come together.
    candidates = {(r.board.card(card).column_id, r.board.card(card).rank) for r in replicas}
    assert (moved.column_id, moved.rank) in candidates


@pytest.mark.xfail(
    reason="pycrdt 0.14.13 (yrs) drops a pending update when a second pending update from "
    "the same client arrives before their dependency; Yjs 13.6 keeps both",
    strict=True,
)
def test_pycrdt_keeps_every_pending_update() -> None:
    base = Board(new_board(BOARD_ID, "B", WORKSPACE_ID, standard_columns=True, client_id=1))
    initial = base.doc.get_update()
    author = Replica(1, initial, 1)
    card: list[str] = []
    author.run(lambda: card.append(author.board.create_card("ax", created_by=USER)))
    author.run(lambda: author.board.add_column("a"))
    author.run(lambda: author.board.add_comment(card[0], USER, "a"))
    first, second, third = author.outbox
    reader: Doc[Any] = Doc()
    apply_update(reader, initial)
    for update in (third, second, first):
        apply_update(reader, update)
    assert decode_state_vector(reader.get_state()) == decode_state_vector(author.doc.get_state())
