"""The `taskly` command line: every failure ends with one clear line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from crdt_model import ModelError
from storage import Board, StorageError, Store, User, UserNotFound, open_store
from sync_server.access.server_keys import ServerKeys, ServerKeysError, load_server_keys
from sync_server.api.board_setup import check_new_board, create_board_with_document
from sync_server.bootstrap import prepare_access, sign_in_code_for, sign_in_url
from sync_server.cli_client import add_client_commands, is_client_command, run_client_command
from sync_server.cli_users import CommandError, add_commands, run_command, workspace_named
from sync_server.secure_app import secure_app
from sync_server.server import BindError, bind_socket, run_server
from sync_server.settings import Settings, load_settings

DEFAULT_WORKSPACE = "Default"
DEFAULT_PREFIX = "TSK"


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

    board = commands.add_parser("board", help="create, list and show boards")
    board_commands = board.add_subparsers(dest="board_command", required=True, metavar="ACTION")
    create = board_commands.add_parser("create", help="create a board; prints its id")
    create.add_argument("name")
    create.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="default %(default)s")
    create.add_argument("--prefix", default=DEFAULT_PREFIX, help="card key prefix")
    create.add_argument("--json", action="store_true", help="print the full record as JSON")
    with_store_options(create)
    listing = board_commands.add_parser("list", help="list the boards")
    listing.add_argument("--json", action="store_true", help="print JSON")
    with_store_options(listing)
    link = commands.add_parser(
        "sign-in-link", help="print a one-time browser sign-in link for a local user"
    )
    link.add_argument("--user", help="the user's name (default: the instance owner)")
    with_store_options(link)
    add_commands(commands, with_store_options)
    add_client_commands(commands, board_commands)
    return parser


def _open(settings: Settings, *, migrate: bool = True) -> Store:
    try:
        return open_store(
            database_url=settings.database_url,
            data_dir=settings.data_dir,
            migrate_on_open=migrate,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def _migrate(settings: Settings) -> list[str]:
    async with _open(settings, migrate=False) as store:
        return await store.migrate()


async def _board_create(settings: Settings, name: str, workspace_name: str, prefix: str) -> Board:
    try:  # validate the name and prefix before touching the store
        check_new_board(name, prefix)
    except ModelError as exc:
        raise CliError(str(exc)) from None
    async with _open(settings) as store:
        workspace = await workspace_named(store, workspace_name)
        board, _ = await create_board_with_document(store, workspace.id, name, prefix)
        return board


async def _board_list(settings: Settings) -> tuple[list[Board], dict[str, str]]:
    async with _open(settings) as store:
        boards = await store.list_boards()
        names = {w.id: w.name for w in await store.list_workspaces()}
        return boards, names


def _server_keys(settings: Settings) -> ServerKeys:
    try:
        return load_server_keys(
            settings.data_dir,
            secret_key=settings.secret_key,
            encryption_key=settings.encryption_key,
            previous_encryption_keys=settings.encryption_previous_keys,
        )
    except ServerKeysError as exc:
        raise CliError(str(exc)) from None


async def _serve(settings: Settings) -> None:
    try:
        sock = bind_socket(settings.host, settings.port)
    except BindError as exc:
        raise CliError(str(exc)) from None
    keys = _server_keys(settings)
    log = logging.getLogger("taskly")
    if settings.database_url is not None and settings.secret_key is None:
        log.warning(
            "keys are kept in %s; set TASKLY_SECRET_KEY and TASKLY_ENCRYPTION_KEY to run "
            "several instances on this database",
            keys.source,
        )
    async with _open(settings) as store:
        log.info("store ready: %s", settings.database_label)
        app = secure_app(settings, store, keys)  # before creating anyone: it may refuse
        first = await prepare_access(store, keys.tokens)

        def ready(url: str) -> None:
            print(f"Taskly listening on {url}", flush=True)
            if first.sign_in_code is not None and first.owner is not None:
                link = sign_in_url(settings.public_url or url, first.sign_in_code)
                print(
                    f"Created the local owner {first.owner.login!r}. "
                    "Open this one-time link within 24 hours to sign in:",
                    flush=True,
                )
                print(f"Sign in: {link}", flush=True)

        await run_server(app, settings, on_ready=ready, sock=sock)


async def _sign_in_link(settings: Settings, login: str | None) -> tuple[User, str]:
    keys = _server_keys(settings)
    async with _open(settings) as store:
        try:
            user, code = await sign_in_code_for(store, keys.tokens, login)
        except UserNotFound as exc:
            raise CliError(str(exc) if login is None else f"no user is called {login!r}") from None
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = settings.public_url or f"http://{host}:{settings.port}"
    return user, sign_in_url(base, code)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # uvicorn's per-connection lines duplicate ours ("connection open/closed ... code=").
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, logging.root.level))


def _event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def _run(argv: Sequence[str] | None) -> int:
    try:
        defaults = load_settings()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    args = _parser(defaults).parse_args(argv)
    if is_client_command(args):
        return run_client_command(args)
    settings = msgspec.structs.replace(defaults, data_dir=args.data_dir)
    if args.command == "migrate":
        applied = asyncio.run(_migrate(settings))
        done = ", ".join(applied) if applied else "nothing to apply, schema is current"
        print(f"migrated {settings.database_label}: {done}")
        return 0
    if args.command == "serve":
        settings = msgspec.structs.replace(settings, host=args.host, port=args.port)
        _configure_logging(settings.log_level)
        with _event_loop_runner() as runner:
            runner.run(_serve(settings))
        return 0
    if args.command == "board" and args.board_command == "create":
        board = asyncio.run(_board_create(settings, args.name, args.workspace, args.prefix))
        print(msgspec.json.encode(board).decode() if args.json else board.id)
        return 0
    if args.command == "board" and args.board_command == "list":
        boards, names = asyncio.run(_board_list(settings))
        if args.json:
            print(msgspec.json.encode(boards).decode())
        else:
            for board in boards:
                workspace = names.get(board.workspace_id, board.workspace_id)
                print(f"{board.id}\t{board.card_prefix}\t{workspace}\t{board.name}")
        return 0
    if args.command == "sign-in-link":
        user, url = asyncio.run(_sign_in_link(settings, args.user))
        print(f"One-time sign-in link for {user.login!r}, valid for 24 hours:", file=sys.stderr)
        print(url)
        return 0
    if args.command in ("user", "token"):
        return run_command(args, lambda: _open(settings))
    raise CliError(f"unknown command {args.command!r}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `taskly` console script."""
    try:
        code = _run(argv)
    except (CliError, CommandError) as exc:
        print(f"taskly: {exc}", file=sys.stderr)
        code = 1
    except StorageError as exc:
        print(f"taskly: storage error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
