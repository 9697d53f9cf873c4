"""Card numbers: the server gives every card whose `number` is null the board's next number.

The `cards` map is observed deeply, and only the changed keys are looked at: a card added to
`cards`, or a card whose `number` key changed. Those still unnumbered are queued; a task asks
the store for the board's next numbers (an atomic counter, unique across restarts and
processes) and writes them in one server-origin transaction, which goes through the room's
durable pipeline to every connection like any other update. Cards that were already
unnumbered in the stored document are found by one scan after loading, in chunks so that
a large board does not stall the event loop. A number handed out for a card deleted (or
numbered by another process) meanwhile is skipped: numbers stay unique, gaps are allowed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from pycrdt import Doc, Map, MapEvent

from crdt_model import Board, ModelError
from storage import Store
from sync_server.origins import SERVER

log = logging.getLogger("taskly.sync")

SCAN_CHUNK: Final = 2000
FIRST_BACKOFF: Final = 0.05
MAX_BACKOFF: Final = 5.0


class CardNumberer:
    """Assigns numbers to one board's unnumbered cards."""

    def __init__(self, board_id: str, doc: Doc[Any], store: Store) -> None:
        self.board_id = board_id
        self.doc = doc
        self.store = store
        self.cards: Map[Any] = doc.get("cards", type=Map)
        self._wanted: dict[str, None] = {}  # an ordered set
        self._working = True  # until the first scan is done
        self._wake = asyncio.Event()
        self._subscription = self.cards.observe_deep(self._on_events)
        self._task = asyncio.create_task(self._run(), name=f"taskly-numbers-{board_id}")

    @property
    def busy(self) -> bool:
        """Whether cards wait for a number."""
        return self._working or bool(self._wanted)

    async def stop(self) -> None:
        """Stop observing and assigning (idempotent)."""
        if self._task.done():
            return
        self.cards.unobserve(self._subscription)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def _unnumbered(self, card_id: str) -> bool:
        card = self.cards.get(card_id)
        return isinstance(card, Map) and card.get("number") is None

    def _on_events(self, events: list[Any]) -> None:
        # Never raise here: pycrdt would re-raise at commit, after the doc changed.
        try:
            self._collect(events)
        except Exception:
            log.exception("watching card numbers failed board=%s", self.board_id)

    def _collect(self, events: list[Any]) -> None:
        found = False
        for event in events:
            if not isinstance(event, MapEvent):
                continue
            path: list[int | str] = getattr(event, "path")  # noqa: B009 (slot, untyped)
            keys: dict[str, dict[str, Any]] = getattr(event, "keys")  # noqa: B009
            if not path:
                candidates = [k for k, c in keys.items() if c["action"] != "delete"]
            elif len(path) == 1 and "number" in keys:
                candidates = [str(path[0])]
            else:
                continue
            for card_id in candidates:
                if card_id not in self._wanted and self._unnumbered(card_id):
                    self._wanted[card_id] = None
                    found = True
        if found:
            self._wake.set()

    async def _scan(self) -> None:
        keys = list(self.cards.keys())
        for start in range(0, len(keys), SCAN_CHUNK):
            for card_id in keys[start : start + SCAN_CHUNK]:
                if self._unnumbered(card_id):
                    self._wanted[card_id] = None
            await asyncio.sleep(0)

    async def _run(self) -> None:
        await self._scan()
        self._working = False
        while True:
            if not self._wanted:
                self._wake.clear()
                await self._wake.wait()
                continue
            self._working = True
            try:
                await self._assign(list(self._wanted))
            finally:
                self._working = False

    async def _assign(self, card_ids: list[str]) -> None:
        numbers: list[tuple[str, int]] = []
        for card_id in card_ids:
            if self._unnumbered(card_id):
                numbers.append((card_id, await self._next_number()))
        board = Board(self.doc)
        with self.doc.transaction(origin=SERVER):
            for card_id, number in numbers:
                if self._unnumbered(card_id):
                    try:
                        board.set_card_number(card_id, number, origin=SERVER)
                    except ModelError as exc:  # the card changed shape meanwhile
                        log.warning("cannot number card board=%s: %s", self.board_id, exc)
        for card_id in card_ids:
            self._wanted.pop(card_id, None)

    async def _next_number(self) -> int:
        backoff = FIRST_BACKOFF
        while True:
            try:
                return await self.store.next_card_number(self.board_id)
            except Exception as exc:
                log.error(
                    "next card number failed board=%s, retrying in %.2fs: %s",
                    self.board_id,
                    backoff,
                    exc,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)


__all__ = ["CardNumberer"]
