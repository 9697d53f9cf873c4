"""Building real Yjs updates for the storage tests, and comparing documents."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map, Text

import crdt_model


class Writer:
    """A pycrdt Doc whose every transaction is captured as one v1 update."""

    def __init__(self, client_id: int) -> None:
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.map = self.doc.get("m", type=Map)
        self.text = self.doc.get("t", type=Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))

    def set(self, key: str, value: object) -> bytes:
        """Set one key; return the update."""
        self.map[key] = value
        return self.updates[-1]

    def delete(self, key: str) -> bytes | None:
        """Delete a key if present; return the update (None when nothing changed)."""
        if key not in self.map:
            return None
        del self.map[key]
        return self.updates[-1]

    def insert(self, index: int, chars: str) -> bytes:
        """Insert text at min(index, len); return the update."""
        self.text.insert(min(index, len(self.text)), chars)
        return self.updates[-1]


def content(doc: Doc[Any]) -> dict[str, Any]:
    """Return a comparable view of a test document: its map, its text, its state vector."""
    return {
        "m": doc.get("m", type=Map).to_py(),
        "t": str(doc.get("t", type=Text)),
        "sv": decode_state_vector(doc.get_state()),
    }


def decode_state_vector(sv: bytes) -> dict[int, int]:
    """Decode a v1 state vector (its byte order follows a hash map, so compare it decoded)."""
    pos = 0

    def varuint() -> int:
        nonlocal pos
        value, shift = 0, 0
        while True:
            byte = sv[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    count = varuint()
    return dict((varuint(), varuint()) for _ in range(count))


def content_of(*updates: bytes) -> dict[str, Any]:
    """Return content() of a fresh doc with `updates` applied."""
    return content(crdt_model.load_doc(*updates))


def card_move_updates(count: int, client_id: int = 7) -> list[bytes]:
    """Return `count` small updates, each a change of one key (like a card move)."""
    writer = Writer(client_id)
    return [writer.set(f"card{i % 5}", f"col{i}") for i in range(count)]
