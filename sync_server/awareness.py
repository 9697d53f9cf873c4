"""A room's awareness (presence) states and which connection controls which client id.

The server keeps the latest state per awareness client id with the y-protocols clock rule,
so that it can answer query-awareness and greet a new connection with everyone's presence,
and remembers which connection controls each client id: the one whose entry for it was
accepted (a newer clock), not the ones that merely relay it (y-websocket providers re-send
every awareness change they apply, remote ones included). Closing a connection removes its
clients' states at once instead of after the 30 s timeout.

One deviation from y-protocols helps reconnecting clients: a client that comes back with the
clock its removed state had (y-protocols peers ignore it until its next renewal, up to 15 s)
is revived with clock + 1, and the relayed message carries the bumped clock.
"""

from __future__ import annotations

import time
from typing import Final

from sync_server.protocol import AwarenessEntry

# y-protocols' outdatedTimeout: a state not renewed for this long is gone.
OUTDATED_SECONDS: Final = 30.0


class _State:
    __slots__ = ("clock", "owner", "seen", "state")

    def __init__(self, clock: int, state: str | None, owner: int | None, seen: float) -> None:
        self.clock = clock
        self.state = state  # JSON text; None once removed (the clock is kept)
        self.owner = owner
        self.seen = seen


class RoomAwareness:
    """The awareness states of one room."""

    def __init__(self) -> None:
        self._clients: dict[int, _State] = {}

    def __len__(self) -> int:
        return sum(1 for s in self._clients.values() if s.state is not None)

    def apply(
        self, entries: tuple[AwarenessEntry, ...], owner: int
    ) -> tuple[AwarenessEntry, ...] | None:
        """Record `entries` sent by connection `owner`.

        Return None when the entries can be relayed as they are, or the entries to relay
        instead when a reconnecting client's clock had to be bumped.
        """
        now = time.monotonic()
        rewritten: list[AwarenessEntry] | None = None
        for index, entry in enumerate(entries):
            relay = self._apply_one(entry, owner, now)
            if relay is not entry:
                if rewritten is None:
                    rewritten = list(entries[:index])
            if rewritten is not None:
                rewritten.append(relay)
        return None if rewritten is None else tuple(rewritten)

    def _apply_one(self, entry: AwarenessEntry, owner: int, now: float) -> AwarenessEntry:
        current = self._clients.get(entry.client_id)
        state = None if entry.removed else entry.state
        if current is None:
            # y-protocols ignores clock 0 from an unknown client; we record it all the same.
            self._clients[entry.client_id] = _State(entry.clock, state, owner, now)
            return entry
        if state is None:
            if entry.clock >= current.clock:
                current.clock, current.state, current.owner = entry.clock, None, None
            return entry
        if entry.clock > current.clock:
            current.clock, current.state, current.seen = entry.clock, state, now
            current.owner = owner
            return entry
        if current.state is None and entry.clock == current.clock:
            # A client reconnecting after its state was removed: peers would ignore it.
            current.clock, current.state, current.seen = entry.clock + 1, state, now
            current.owner = owner
            return AwarenessEntry(entry.client_id, entry.clock + 1, state)
        # An equal or older clock: typically another client relaying this state (y-websocket
        # providers re-send every change they apply); the owner stays who introduced it.
        return entry

    def release(self, owner: int) -> list[AwarenessEntry]:
        """Remove the states connection `owner` controls; return the removal entries."""
        removed = []
        for client_id, current in self._clients.items():
            if current.owner == owner:
                current.owner = None
                if current.state is not None:
                    current.state = None
                    removed.append(AwarenessEntry(client_id, current.clock, "null"))
        return removed

    def snapshot(self) -> list[AwarenessEntry]:
        """Return every live state (not those left unrenewed beyond the timeout)."""
        horizon = time.monotonic() - OUTDATED_SECONDS
        live = []
        for client_id, current in self._clients.items():
            if current.state is None or current.seen < horizon:
                continue
            live.append(AwarenessEntry(client_id, current.clock, current.state))
        return live

    def forget_removed(self) -> None:
        """Drop the clocks of removed clients (when no connection is left to be confused)."""
        self._clients = {k: v for k, v in self._clients.items() if v.state is not None}
