"""The checks before a bulk update agree with crdt_model: a property test, no server.

For random boards and random lists of card patches (moves by column, neighbour or position,
archive toggles), `bulk_update` must refuse exactly when applying the patches one by one with
crdt_model would fail, at the same item, leaving the document untouched; otherwise the cards
must end up in the same order as the one-by-one application.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc

from crdt_model import Board, ModelError, new_board, new_id
from sync_server.api import bodies as b
from sync_server.api.edits import BulkRefused, bulk_update, place_of


def _board(cards_per_column: list[int]) -> tuple[Board, list[str], list[str]]:
    doc = new_board(new_id(), "B", new_id(), standard_columns=False)
    board = Board(doc, rng=random.Random(1))
    columns = [board.add_column(f"C{i}") for i in range(len(cards_per_column))]
    cards = []
    for column, count in zip(columns, cards_per_column, strict=True):
        for i in range(count):
            cards.append(board.create_card(f"card {i}", created_by=new_id(), column_id=column))
    return board, columns, cards


def _copy(board: Board) -> Board:
    doc: Doc[Any] = Doc()
    doc.apply_update(board.doc.get_update())
    return Board(doc, rng=random.Random(2))


def _order(board: Board) -> list[tuple[str | None, str, bool]]:
    return [(c.column_id, c.id, c.archived) for c in board.cards()]


KINDS = ["column", "column", "position", "position", "before", "after", "both", "archive"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Board, list[b.CardBulkItem]]:
    board, columns, cards = _board(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    if not cards:
        cards = [board.create_card("only", created_by=new_id())]
    card = st.sampled_from(cards)
    neighbour = st.one_of(card, card, card, st.just("00000000-0000-4000-8000-000000000000"))
    items = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(KINDS))
        fields: dict[str, Any] = {"id": draw(card)}
        if kind == "archive":
            fields["archived"] = draw(st.booleans())
        else:
            if draw(st.booleans()):
                fields["column_id"] = draw(st.sampled_from(columns))
            if kind in ("before", "both"):
                fields["before"] = draw(neighbour)
            if kind in ("after", "both"):
                fields["after"] = draw(neighbour)
            if kind == "position":
                fields["position"] = draw(st.integers(0, 5))
        items.append(b.CardBulkItem(**fields))
    return board, items


def _one_by_one(board: Board, items: list[b.CardBulkItem]) -> int | None:
    """Apply the items with crdt_model one at a time; return the first failing index."""
    for index, item in enumerate(items):
        place = place_of(item)
        try:
            if place.given:
                board.move_card(
                    item.id,
                    column_id=place.column_id,
                    before=place.before,
                    after=place.after,
                    position=place.position,
                )
            if isinstance(item.archived, bool):
                board.set_archived(item.id, item.archived)
        except ModelError:
            return index
    return None


@given(scenarios())
def test_bulk_checks_agree_with_crdt_model(scenario: tuple[Board, list[b.CardBulkItem]]) -> None:
    board, items = scenario
    reference = _copy(board)
    failing = _one_by_one(reference, items)
    before = board.doc.get_state()
    try:
        bulk_update(board, items)
    except BulkRefused as refused:
        assert refused.index == failing, (refused, failing)
        assert board.doc.get_state() == before  # nothing written
        return
    assert failing is None
    assert _order(board) == _order(reference)
