"""Transaction origins: who made a change to a live document.

Each change applied to a room's doc runs under one of these origins (pycrdt transaction
origins), and the room turns it into the storage `UpdateOrigin` recorded with the update.
"""

from __future__ import annotations

import msgspec

from storage import UpdateOrigin


class ClientOrigin(msgspec.Struct, frozen=True, tag="client"):
    """A change received from one client connection."""

    connection_id: int
    user_id: str | None = None

    def for_storage(self) -> UpdateOrigin:
        """Return the origin recorded in the update log."""
        return UpdateOrigin("user", self.user_id)


class ServerOrigin(msgspec.Struct, frozen=True, tag="server"):
    """A change the server makes itself (card numbers)."""

    reason: str = "server"

    def for_storage(self) -> UpdateOrigin:
        """Return the origin recorded in the update log."""
        return UpdateOrigin("server", None)


class ApiOrigin(msgspec.Struct, frozen=True, tag="api"):
    """A change made through the REST API by one user (Room.write)."""

    user_id: str | None

    def for_storage(self) -> UpdateOrigin:
        """Return the origin recorded in the update log."""
        return UpdateOrigin("api", self.user_id)


Origin = ClientOrigin | ServerOrigin | ApiOrigin
SERVER = ServerOrigin("card-number")
