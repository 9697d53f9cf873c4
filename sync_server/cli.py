"""The `taskly` command line: every failure ends with one clear line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from storage import StorageError, open_store
from sync_server.settings import Settings, load_settings


class CliError(Exception):
    """A refusal worth one line on stderr and exit status 1."""


def _parser(defaults: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskly", description="Taskly: a local-first Kanban board for GitHub repositories."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_store_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=defaults.data_dir,
            help="where the embedded SQLite store lives (env TASKLY_DATA_DIR; default %(default)s)",
        )

    serve = commands.add_parser("serve", help="start Taskly (embedded SQLite unless configured)")
    with_store_options(serve)
    serve.add_argument("--host", default=defaults.host, help="env TASKLY_HOST")
    serve.add_argument("--port", type=int, default=defaults.port, help="env TASKLY_PORT")

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    with_store_options(migrate)
    return parser


async def _migrate(settings: Settings) -> list[str]:
    async with open_store(
        database_url=settings.database_url, data_dir=settings.data_dir, migrate_on_open=False
    ) as store:
        return await store.migrate()


def _run(argv: Sequence[str] | None) -> int:
    try:
        defaults = load_settings()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    args = _parser(defaults).parse_args(argv)
    settings = msgspec.structs.replace(defaults, data_dir=args.data_dir)
    if args.command == "migrate":
        applied = asyncio.run(_migrate(settings))
        done = ", ".join(applied) if applied else "nothing to apply, schema is current"
        print(f"migrated {settings.database_label}: {done}")
        return 0
    if args.command == "serve":
        settings = msgspec.structs.replace(settings, host=args.host, port=args.port)
        applied = asyncio.run(_migrate(settings))
        print(f"Taskly store ready: {settings.database_label} ({len(applied)} migrations applied)")
        # The sync server lands with the sync-server issue; until then `serve` prepares the
        # store and says so, rather than pretending to listen.
        print(
            f"The sync server is not built yet: it will listen on "
            f"http://{settings.host}:{settings.port} once the sync-server issue lands."
        )
        return 0
    raise CliError(f"unknown command {args.command!r}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `taskly` console script."""
    try:
        code = _run(argv)
    except CliError as exc:
        print(f"taskly: {exc}", file=sys.stderr)
        code = 1
    except StorageError as exc:
        print(f"taskly: storage error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
