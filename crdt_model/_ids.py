"""Identifiers: UUIDv7 generation (3.11 has no uuid7) and the canonical-form check."""

from __future__ import annotations

import os
import re
import time
import uuid

# Lower-case canonical form only: ids are compared as strings by every client, so
# "ABC…" and "abc…" would be two different cards.
_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def uuid7(unix_ms: int | None = None, rand: bytes | None = None) -> str:
    """Return a new UUIDv7 (RFC 9562) in lower-case canonical form."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    tail = os.urandom(10) if rand is None else rand
    if len(tail) != 10:
        raise ValueError("rand must be 10 bytes")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(tail, "big") & ((1 << 80) - 1)
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version 7
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def new_id() -> str:
    """Return a fresh id for a board entity (a UUIDv7)."""
    return uuid7()


def is_canonical_id(value: object) -> bool:
    """True if `value` is a UUID string in lower-case canonical form."""
    return isinstance(value, str) and _CANONICAL.fullmatch(value) is not None
