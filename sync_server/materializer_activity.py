"""Coalescing card activity: one entry per person, card and field for a burst of edits.

A title typed in the browser reaches the server as one update per keystroke, and every update
is projected on its own, so the raw activity of "renamed the card" is dozens of entries
("Fi" -> "Fix", "Fix" -> "Fix t", ...). A person reading a card's history wants one entry:
old title -> new title. So an entry that changes the same field of the same card, by the same
origin (same user, or the same bot), within `window_seconds` of that field's previous entry
becomes one entry with the first old value, the last new value and the latest seq and time;
the earlier entry is superseded (dropped in the same transaction that stores the merged one).
The window slides: continuous typing stays one entry, a pause longer than the window starts a
new one. A change undone within the window (back to the first old value) leaves no entry.

Not coalesced: creations and deletions (field "card") and comment changes, which are events
of their own. Coalescing is memory of the process's shadow of the board: after a restart, or
once the shadow is evicted (idle for the materializer's `idle_seconds`), the next entry starts
afresh. The log keeps every update whatever the activity shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from storage import ActivityRef, CardActivity

#: The default window: edits of one field by one person closer together than this coalesce.
DEFAULT_WINDOW_SECONDS: Final = 60.0
#: Fields whose changes are events of their own, never merged.
NOT_COALESCED: Final = frozenset({"card", "comments"})
#: (card, field) keys remembered before the expired ones are pruned.
PRUNE_AT: Final = 4096
#: Entries remembered per (card, field): how many nested undos are seen through.
CHAIN_LENGTH: Final = 8

Key = tuple[str, str]  # (card id, field)


class ActivityCoalescer:
    """The live entries per (card, field) of one board, and the merging of new entries."""

    __slots__ = ("_chains", "_window")

    def __init__(self, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> None:
        """Merge entries closer together than `window_seconds` (0 disables coalescing)."""
        self._window = timedelta(seconds=window_seconds)
        # The latest entries of each (card, field), oldest first: when the last is undone, the
        # one before it is what the next change continues.
        self._chains: dict[Key, list[CardActivity]] = {}

    def add(
        self, entry: CardActivity, pending: list[CardActivity], superseded: list[ActivityRef]
    ) -> None:
        """Add `entry` to the run's `pending` entries, merging it into the field's previous
        entry when it continues it (that one leaves `pending`, or goes to `superseded` when
        an earlier batch stored it)."""
        if entry.field in NOT_COALESCED or not self._window:
            if entry.field == "card" and entry.new is None:
                self._forget_card(entry.card_id)
            pending.append(entry)
            return
        key = (entry.card_id, entry.field)
        chain = self._chains.setdefault(key, [])
        if chain and self._continues(chain[-1], entry):
            previous = chain.pop()
            _withdraw(previous, pending, superseded)
            entry = CardActivity(
                board_id=entry.board_id,
                card_id=entry.card_id,
                seq=entry.seq,
                at=entry.at,
                origin=entry.origin,
                field=entry.field,
                old=previous.old,
                new=entry.new,
            )
            if entry.old == entry.new:  # undone within the window: nothing happened
                return
        pending.append(entry)
        chain.append(entry)
        del chain[:-CHAIN_LENGTH]
        if len(self._chains) > PRUNE_AT:
            self._prune(entry.at)

    def _continues(self, previous: CardActivity, entry: CardActivity) -> bool:
        return (
            previous.origin == entry.origin
            and previous.seq < entry.seq
            and entry.at - previous.at <= self._window
        )

    def _forget_card(self, card_id: str) -> None:
        for key in [key for key in self._chains if key[0] == card_id]:
            del self._chains[key]

    def _prune(self, now: datetime) -> None:
        oldest = now - self._window
        self._chains = {
            key: chain for key, chain in self._chains.items() if chain and chain[-1].at >= oldest
        }


def _withdraw(
    previous: CardActivity, pending: list[CardActivity], superseded: list[ActivityRef]
) -> None:
    """Take `previous` back: out of this run's entries, or out of the store."""
    for index in range(len(pending) - 1, -1, -1):
        if pending[index] is previous:
            del pending[index]
            return
    superseded.append(ActivityRef(card_id=previous.card_id, seq=previous.seq, field=previous.field))
