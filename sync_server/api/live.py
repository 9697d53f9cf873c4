"""REST writes as transactions on the live document, answered once they are projected.

`write` runs a crdt_model operation on the board's room (loading it if needed) under the
caller's `ApiOrigin`: the room stores the update, broadcasts it to every connected client and
records it in the log as made by the API for that user. Then it waits until the materializer
has projected that update, so the handler's next read of the tables sees the write
(read-your-writes). A projection that takes longer than `PROJECTION_TIMEOUT_SECONDS` is a 503
saying that the write is stored and will show shortly (the write is not undone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from crdt_model import Board
from sync_server.api.common import Call
from sync_server.http_auth import ApiProblem
from sync_server.materializer import Materializer
from sync_server.origins import ApiOrigin
from sync_server.rooms import Rooms

T = TypeVar("T")

PROJECTION_TIMEOUT_SECONDS: Final = 10.0
RETRY_AFTER_SECONDS: Final = "1"


async def write(call: Call, fn: Callable[[Board], T]) -> T:
    """Run `fn` on the live board in one transaction as the caller; wait for its projection.

    An archived board refuses every change (409).
    """
    assert call.board is not None
    if call.board.archived_at is not None:
        raise ApiProblem(409, "the board is archived; unarchive it to change it")
    rooms: Rooms = call.state.rooms
    result, seq = await rooms.write(call.board_id, fn, ApiOrigin(call.user_id))
    await projected(call, call.board_id, seq)
    return result


async def projected(call: Call, board_id: str, seq: int | None) -> None:
    """Wait until the tables include update `seq` of `board_id` (None: nothing was written)."""
    materializer: Materializer | None = call.state.materializer
    if seq is None or materializer is None:
        return
    done = await materializer.wait_projected(board_id, seq, PROJECTION_TIMEOUT_SECONDS)
    if done is False:
        raise ApiProblem(
            503,
            "the change is stored but not visible to queries yet; read it again shortly",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
