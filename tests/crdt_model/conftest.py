"""Fixtures shared by the crdt_model tests."""

from __future__ import annotations

import random

import pytest

from crdt_model import Board, new_board, new_id

USER = "0190aaaa-0000-7000-8000-000000000001"
OTHER_USER = "0190aaaa-0000-7000-8000-000000000002"
BOARD_ID = "0190aaaa-0000-7000-8000-0000000000b0"
WORKSPACE_ID = "0190aaaa-0000-7000-8000-0000000000e0"


@pytest.fixture
def board() -> Board:
    """A board with the five standard columns and reproducible ranks."""
    doc = new_board(BOARD_ID, "Test board", WORKSPACE_ID, standard_columns=True, client_id=7)
    return Board(doc, rng=random.Random(1))


@pytest.fixture
def card(board: Board) -> str:
    """One card in the first column."""
    return board.create_card("A card", created_by=USER)


def fresh_id() -> str:
    """A new id (re-exported for tests)."""
    return new_id()
