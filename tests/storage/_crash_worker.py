"""Child process for the crash tests: does one storage operation, reports it, waits to be killed.

    python -m tests.storage._crash_worker append  sqlite|postgres TARGET BOARD UPDATE_HEX
    python -m tests.storage._crash_worker compact sqlite|postgres TARGET BOARD NOW_ISO DAYS

`append` prints the seq as soon as append() returns; `compact` prints "ready" just before
compacting and "done" after. Both then sleep until the parent SIGKILLs them.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta
from pathlib import Path

from storage import PostgresStore, SQLiteStore, Store, UpdateOrigin


def _open(kind: str, target: str) -> Store:
    if kind == "sqlite":
        return SQLiteStore(Path(target), migrate_on_open=False)
    return PostgresStore(target, migrate_on_open=False)


async def main(argv: list[str]) -> None:
    action, kind, target, board_id, *rest = argv
    async with _open(kind, target) as store:
        if action == "append":
            seq = await store.append(board_id, bytes.fromhex(rest[0]), UpdateOrigin("user", "c"))
            print(seq, flush=True)
        else:
            now, days = datetime.fromisoformat(rest[0]), timedelta(days=int(rest[1]))
            print("ready", flush=True)
            await store.compact(board_id, now=now, retention=days)
            print("done", flush=True)
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
