"""What every Store implementation shares: lifecycle, argument checks, load_doc."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from pycrdt import Doc

import crdt_model
from crdt_model import UpdateDecodeError, check_update_v1
from storage._compaction import DEFAULT_RETENTION
from storage._records import ORIGIN_KINDS, LoadedBoard, UpdateOrigin
from storage._time import as_utc, utc_now
from storage.errors import InvalidUpdate


def new_id() -> str:
    """Return a fresh lower-case canonical UUID string."""
    return str(uuid.uuid4())


def resolve_time(at: datetime | None) -> datetime:
    """Return `at` in UTC, or now when it is None."""
    return utc_now() if at is None else as_utc(at)


def check_updates(
    updates: Sequence[tuple[bytes, UpdateOrigin]],
) -> list[tuple[bytes, UpdateOrigin]]:
    """Return the burst with each update as bytes; raise InvalidUpdate on unacceptable input.

    Each update must be exactly one well-formed Yjs v1 update (crdt_model.check_update_v1: a
    structural parse without applying, a few microseconds for a typical edit). One stored bad
    update would make the board unloadable forever, so the store checks even though the sync
    server has already applied the update to its live document.
    """
    checked: list[tuple[bytes, UpdateOrigin]] = []
    for index, (update, origin) in enumerate(updates):
        if not isinstance(update, bytes | bytearray | memoryview):
            raise InvalidUpdate(f"update #{index} is {type(update).__name__}, not bytes")
        if len(update) == 0:
            raise InvalidUpdate(f"update #{index} is empty")
        try:
            check_update_v1(bytes(update))
        except UpdateDecodeError as exc:
            raise InvalidUpdate(f"update #{index} is not a Yjs v1 update: {exc}") from exc
        if not isinstance(origin, UpdateOrigin) or origin.kind not in ORIGIN_KINDS:
            raise InvalidUpdate(f"update #{index} has an unknown origin {origin!r}")
        if origin.actor is not None and not isinstance(origin.actor, str):
            raise InvalidUpdate(f"update #{index} has a non-string actor {origin.actor!r}")
        checked.append((bytes(update), origin))
    return checked


class StoreBase(abc.ABC):
    """Shared lifecycle of the implementations: `async with`, migrate-on-open, load_doc."""

    def __init__(self, *, migrate_on_open: bool = True, retention: timedelta | None) -> None:
        self.migrate_on_open = migrate_on_open
        self.retention = DEFAULT_RETENTION if retention is None else retention
        if self.retention < timedelta(0):
            raise ValueError("retention must not be negative")

    async def __aenter__(self) -> Self:
        """Open the store (and migrate it, unless disabled)."""
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.close()

    async def open(self) -> None:
        """Connect, then migrate unless migrate_on_open is False."""
        await self._connect()
        if self.migrate_on_open:
            try:
                await self.migrate()
            except BaseException:
                await self.close()
                raise

    @abc.abstractmethod
    async def _connect(self) -> None:
        """Open connections and configure them."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection; idempotent."""

    @abc.abstractmethod
    async def migrate(self) -> list[str]:
        """Apply pending schema migrations in order; return the versions applied now."""

    @abc.abstractmethod
    async def load(self, board_id: str) -> LoadedBoard:
        """Return the board's snapshot plus the log rows after it, read consistently."""

    @abc.abstractmethod
    async def append_many(
        self,
        board_id: str,
        updates: Sequence[tuple[bytes, UpdateOrigin]],
        *,
        at: datetime | None = None,
    ) -> list[int]:
        """Append a burst in one transaction (group commit), in order; return their seqs."""

    async def append(
        self, board_id: str, update: bytes, origin: UpdateOrigin, *, at: datetime | None = None
    ) -> int:
        """Append one update durably (committed on return); return its seq."""
        (seq,) = await self.append_many(board_id, [(update, origin)], at=at)
        return seq

    async def load_doc(self, board_id: str) -> Doc[Any]:
        """Return a new pycrdt Doc holding the board's current state."""
        loaded = await self.load(board_id)
        # Stored bytes were checked before they were appended (see check_updates); skip
        # crdt_model's pure-Python structural check, which costs more than the apply itself.
        return crdt_model.load_doc(*loaded.updates(), checked=False)


def redact_url(url: str) -> str:
    """Return a database or Redis URL without its password, fit for logs and messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    location, question, query = rest.partition("?")
    credentials, at, host = location.rpartition("@")
    if at:
        location = f"{credentials.split(':', 1)[0]}@{host}"
    if question:
        # libpq also takes the password as a query parameter: postgresql://h/db?password=...
        params = [
            "password=***" if item.split("=", 1)[0].lower() == "password" else item
            for item in query.split("&")
        ]
        return f"{scheme}{sep}{location}?{'&'.join(params)}"
    return f"{scheme}{sep}{location}"
