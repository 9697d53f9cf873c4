"""A replica process for the SIGKILL test: opens a replica, then creates cards in a loop,
printing `acked ID` after each `create_card` returns (the edit is durable by then) and
flushing, until it is killed.

Run as `python -m tests.clients._edit_loop REPLICA_PATH BOARD_ID USER_ID`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from clients.python import BoardReplica


def main() -> None:
    """Edit until killed."""
    path, board_id, user_id = sys.argv[1:4]
    replica = BoardReplica.open(Path(path), board_id)
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        card = replica.board.create_card(f"edit {n}", created_by=user_id)
        print(f"acked {card}", flush=True)
        # A second kind of edit in its own transaction, acknowledged the same way.
        replica.board.set_priority(card, "high")
        print(f"acked-priority {card}", flush=True)


if __name__ == "__main__":
    main()
