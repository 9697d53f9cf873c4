"""Several `taskly serve` processes on one store: card numbers stay unique (they come from the
store), and neither process's shutdown compaction drops what the other one wrote."""

from __future__ import annotations

from crdt_model import new_id, project

from ._harness import StoreSpec
from ._pyclient import PyClient
from .conftest import Clients, ServerFactory

CARDS_EACH = 15


async def numbered(client: PyClient, count: int) -> dict[str, int]:
    """Wait until `count` cards all have numbers; return {card id: number}."""

    def numbers() -> dict[str, int | None]:
        return {card.id: card.number for card in client.projection().cards}

    await client.wait_for(
        lambda: len(numbers()) == count and None not in numbers().values(),
        f"{count} numbered cards; now {numbers()}",
    )
    return {card: n for card, n in numbers().items() if n is not None}


async def test_two_processes_on_one_store_number_uniquely_and_lose_nothing(
    any_store: StoreSpec, taskly: ServerFactory, clients: Clients
) -> None:
    first, second = taskly(any_store), taskly(any_store)
    board = await any_store.acreate_board("Shared")
    left, right = clients.py("left"), clients.py("right")
    await left.connect_synced(first.board_url(board))
    await right.connect_synced(second.board_url(board))
    user = new_id()
    for i in range(CARDS_EACH):
        left.board.create_card(f"left {i}", created_by=user)
        right.board.create_card(f"right {i}", created_by=user)
    # Each process sees only its own clients' cards and numbers them from the store's counter.
    left_numbers = await numbered(left, CARDS_EACH)
    right_numbers = await numbered(right, CARDS_EACH)
    every = list(left_numbers.values()) + list(right_numbers.values())
    assert len(set(every)) == len(every), (
        f"two processes handed out the same card numbers: {sorted(every)}"
    )

    # Both stop (each compacting the board it holds); the store keeps both sides' cards.
    assert await first.astop() == 0, first.output()
    assert await second.astop() == 0, second.output()
    stored = project(await any_store.load_doc(board))
    assert {card.id for card in stored.cards} == set(left_numbers) | set(right_numbers)
    assert {card.id: card.number for card in stored.cards} == left_numbers | right_numbers
