"""The client half of the `taskly` command: login, boards, board show, card …, sync.

Every command but `login`, `boards` and `sync` works on the local replica only, so it works
offline; card commands then try one quick sync and say plainly whether the edit reached the
server or was saved locally to sync later. Every failure is one line `taskly: …` on stderr
and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

import msgspec

from clients.python._auth import SessionToken, jwt_subject, spend_sign_in_link, token_source
from clients.python._errors import (
    ClientError,
    NotLoggedIn,
    OfflineError,
    ReplicaError,
    SyncRefused,
)
from clients.python._home import BoardInfo, BoardsCache, ClientHome, Config, Credentials
from clients.python._lookup import card_label, find_board, find_card, find_column
from clients.python._render import count, render_board
from clients.python._replica import BoardReplica
from clients.python._rest import TasklyClient, sync_url
from clients.python._sync import SyncSession
from crdt_model import PRIORITIES, Board, ModelError, load_doc, new_id

CLIENT_COMMANDS: Final = ("login", "boards", "card", "sync")
QUICK_SYNC_SECONDS: Final = 5.0
NUMBERS_WAIT_SECONDS: Final = 2.0


class UsageError(ClientError):
    """Bad input on the command line (exit status 2)."""


# -- argument parsing -------------------------------------------------------------------------


def add_client_commands(commands: Any, board_commands: Any) -> None:
    """Add login, boards, card, sync and `board show` to the `taskly` parsers."""
    login = commands.add_parser(
        "login", help="sign in to a Taskly server (a token, or a one-time sign-in link)"
    )
    login.add_argument("server", metavar="SERVER_URL", help="http://HOST:PORT, or a sign-in link")
    login.add_argument("--token", help="a personal access token (tsk_pat_…) or access token")

    boards = commands.add_parser("boards", help="list your boards (kept for offline use)")
    boards.add_argument("--json", action="store_true", help="print JSON")

    show = board_commands.add_parser("show", help="show a board from its local replica")
    show.add_argument("board", metavar="BOARD", help="board id or name")
    show.add_argument("--archived", action="store_true", help="include archived cards")
    show.add_argument("--width", type=int, help="terminal width (default: detected)")

    card = commands.add_parser("card", help="add, move, edit and archive cards (works offline)")
    actions = card.add_subparsers(dest="card_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a card")
    add.add_argument("board", metavar="BOARD")
    add.add_argument("title", metavar="TITLE")
    add.add_argument("--column", help="column name, id or role (default: the first column)")
    add.add_argument("--description", default="")
    move = actions.add_parser("move", help="move a card to another column (last in it)")
    move.add_argument("board", metavar="BOARD")
    move.add_argument("card", metavar="KEY_OR_ID")
    move.add_argument("column", metavar="COLUMN")
    edit = actions.add_parser("edit", help="change fields of a card")
    edit.add_argument("board", metavar="BOARD")
    edit.add_argument("card", metavar="KEY_OR_ID")
    edit.add_argument("--title")
    edit.add_argument("--description")
    edit.add_argument("--priority", choices=PRIORITIES)
    edit.add_argument("--points", help="0..99, or `none`")
    edit.add_argument("--due", help="YYYY-MM-DD, or `none`")
    archive = actions.add_parser("archive", help="archive a card")
    archive.add_argument("board", metavar="BOARD")
    archive.add_argument("card", metavar="KEY_OR_ID")
    for sub in (add, move, edit, archive):
        sub.add_argument(
            "--no-sync", action="store_true", help="only save locally; do not try the server"
        )

    sync = commands.add_parser("sync", help="sync local replicas with the server")
    sync.add_argument("board", metavar="BOARD", nargs="?", help="one board (default: all)")
    sync.add_argument("--watch", action="store_true", help="keep syncing until Ctrl-C")
    for parser in (login, boards, show, card, add, move, edit, archive, sync):
        _one_line_errors(parser)


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Make a usage error one `taskly: …` line (exit 2) instead of argparse's usage block."""

    def error(message: str) -> NoReturn:
        print(f"taskly: {message} (see `{parser.prog} --help`)", file=sys.stderr)
        sys.exit(2)

    parser.error = error  # type: ignore[method-assign]


def is_client_command(args: argparse.Namespace) -> bool:
    """Whether parsed `args` are one of the client's commands."""
    if args.command in CLIENT_COMMANDS:
        return True
    return args.command == "board" and getattr(args, "board_command", None) == "show"


def run_client_command(args: argparse.Namespace) -> int:
    """Run a client command; print one `taskly: …` line and return non-zero on failure."""
    home = ClientHome()
    try:
        return _dispatch(home, args)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except ClientError as exc:
        return _fail(str(exc))
    except ModelError as exc:
        return _fail(f"bad input: {exc}", 2)
    except sqlite3.Error as exc:
        return _fail(f"the local replica cannot be used: {exc}")
    except OSError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int = 1) -> int:
    print(f"taskly: {message}", file=sys.stderr)
    return code


def _dispatch(home: ClientHome, args: argparse.Namespace) -> int:
    if args.command == "login":
        return _login(home, args.server, args.token)
    if args.command == "boards":
        return _boards(home, args.json)
    if args.command == "board":
        return _show(home, args.board, args.archived, args.width)
    if args.command == "sync":
        return _sync(home, args.board, args.watch)
    if args.command == "card":
        return _card(home, args)
    raise UsageError(f"unknown command {args.command!r}")


# -- login and boards -----------------------------------------------------------------------


def _login(home: ClientHome, target: str, token: str | None) -> int:
    if not target.startswith(("http://", "https://")):
        raise UsageError(f"SERVER_URL must start with http:// or https://, got {target!r}")
    if "/auth/link" in target:
        if token is not None:
            raise UsageError("give either a sign-in link or --token, not both")
        server = target.split("/auth/link", 1)[0]
        refresh = spend_sign_in_link(target)
        # Stored before the first rotation: SessionToken rotates it and stores the next one.
        home.save_config(
            Config(server=server, credentials=Credentials(kind="session", refresh_token=refresh))
        )
        tokens: Any = SessionToken(home)
        user_id = jwt_subject(tokens.token())
    elif token is None:
        raise UsageError("give --token TOKEN (see `taskly token create`) or a sign-in link URL")
    else:
        server = target.rstrip("/")
        tokens = token
        user_id = jwt_subject(token)
    with TasklyClient(server, tokens) as client:
        boards = client.boards()  # proves the token works before it is stored
        if user_id is None:  # a PAT is opaque: ask whose it is (new cards' createdBy)
            user_id = client.me()
    if isinstance(tokens, str):
        home.save_config(
            Config(server=server, credentials=Credentials(kind="pat", token=token), user_id=user_id)
        )
    _save_boards(home, server, boards)
    print(f"logged in to {server}: {count(len(boards), 'board')} (stored in {home.root})")
    _fetch_missing(home, boards)
    return 0


def _config(home: ClientHome) -> Config:
    config = home.load_config()
    if config is None:
        raise NotLoggedIn()
    return config


def _client(home: ClientHome, config: Config) -> TasklyClient:
    return TasklyClient(config.server, token_source(home, config))


def _save_boards(home: ClientHome, server: str, boards: list[BoardInfo]) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    home.save_boards(BoardsCache(server=server, fetched_at=stamp, boards=boards))


def _boards(home: ClientHome, as_json: bool) -> int:
    config = _config(home)
    try:
        with _client(home, config) as client:
            boards = client.boards()
        _save_boards(home, config.server, boards)
        _fetch_missing(home, boards)
    except OfflineError as exc:
        cache = home.load_boards()
        if cache is None:
            raise
        print(
            f"taskly: offline ({exc.cause}): boards as listed at {cache.fetched_at}",
            file=sys.stderr,
        )
        boards = cache.boards
    if as_json:
        print(msgspec.json.encode(boards).decode())
        return 0
    for board in boards:
        print(f"{board.name}\t{board.workspace_name}\t{board.card_prefix}\t{board.id}")
    return 0


def _fetch_missing(home: ClientHome, boards: list[BoardInfo]) -> None:
    """Download a replica of every listed board that has none yet (so it works offline)."""
    missing = [b for b in boards if not home.replica_path(b.id).exists()]
    for board in missing:
        path = home.replica_path(board.id)
        try:
            with _open_replica(home, board.id, create=True) as replica:
                asyncio.run(_session(home, replica).sync_once())
        except BaseException:
            # An empty file would pass for a replica later on: the next listing retries.
            with _open_replica(home, board.id) as replica:
                empty = not replica.has_board()
            if empty:
                for leftover in path.parent.glob(path.name + "*"):  # with its -wal and -shm
                    leftover.unlink(missing_ok=True)
            raise


# -- replicas ---------------------------------------------------------------------------------


def _known_boards(home: ClientHome) -> list[BoardInfo]:
    """Boards from the cached list, plus any replica file not in it (named from its doc)."""
    cache = home.load_boards()
    boards = list(cache.boards) if cache is not None else []
    listed = {b.id for b in boards}
    for board_id in home.replica_ids():
        if board_id in listed:
            continue
        try:
            with BoardReplica.open(home.replica_path(board_id), board_id) as replica:
                row = replica.board_row()
        except (ClientError, sqlite3.Error):
            continue
        if row is not None:
            boards.append(
                BoardInfo(
                    id=board_id,
                    name=row.name,
                    workspace_id=row.workspace_id,
                    workspace_name="",
                    card_prefix=row.card_prefix,
                )
            )
    return boards


def _resolve(home: ClientHome, text: str) -> BoardInfo:
    boards = _known_boards(home)
    if not boards and home.load_config() is None:
        raise NotLoggedIn()
    return find_board(boards, text)


@contextmanager
def _open_replica(
    home: ClientHome, board_id: str, *, create: bool = False
) -> Iterator[BoardReplica]:
    path = home.replica_path(board_id)
    if not create and not path.exists():
        raise ReplicaError(
            f"no local copy of board {board_id} yet: run `taskly sync {board_id}` while online"
        )
    replica = BoardReplica.open(path, board_id)
    try:
        yield replica
    finally:
        replica.close()


def _require_board(replica: BoardReplica) -> None:
    if not replica.has_board():
        raise ReplicaError(
            f"the local copy of board {replica.board_id} is empty: run "
            f"`taskly sync {replica.board_id}` while online"
        )


def _session(
    home: ClientHome, replica: BoardReplica, events: Any = None, *, quick: bool = False
) -> SyncSession:
    config = _config(home)
    url = sync_url(config.server, replica.board_id)
    tokens = token_source(home, config)
    if quick:  # after an edit: do not keep the user waiting on an unreachable host
        return SyncSession(replica, url, tokens, events=events, open_timeout=QUICK_SYNC_SECONDS)
    return SyncSession(replica, url, tokens, events=events)


# -- board show -------------------------------------------------------------------------------


def _show(home: ClientHome, board_text: str, archived: bool, width: int | None) -> int:
    board = _resolve(home, board_text)
    with _open_replica(home, board.id) as replica:
        _require_board(replica)
        view = replica.board.project()
        pending = replica.pending_edits()
        synced = replica.last_synced_at() or "never"
    columns = width or shutil.get_terminal_size((120, 24)).columns
    status = f"{count(pending, 'edit')} not yet on the server" if pending else "all on the server"
    print(f"{view.board.name}  [{view.board.card_prefix}]  {status}; last synced {synced}")
    print()
    print(render_board(view, width=columns, include_archived=archived))
    if any(c.key is None for c in view.cards):
        print()
        print("Cards without a key were made here and not yet numbered: name them by short id.")
    return 0


# -- card commands ----------------------------------------------------------------------------


def _created_by(home: ClientHome) -> str:
    """The user id to record as a new card's creator (see docs/client.md)."""
    config = _config(home)
    if config.user_id is not None:
        return config.user_id
    # A home logged in before `taskly login` asked GET /api/me for a PAT's user: use a
    # stable id of this client home instead, made once (the activity log has the real user).
    config.user_id = new_id()
    home.save_config(config)
    return config.user_id


def _card(home: ClientHome, args: argparse.Namespace) -> int:
    board = _resolve(home, args.board)
    with _open_replica(home, board.id) as replica:
        _require_board(replica)
        done = _edit(home, replica, args)
        if args.no_sync:
            print(f"{done}; saved locally, will sync with `taskly sync`")
            return 0
        return _after_edit(home, replica, done)


def _edit(home: ClientHome, replica: BoardReplica, args: argparse.Namespace) -> str:
    """Make the edit (durable when this returns); return what was done, for the user."""
    ops = replica.board
    if args.card_command == "add":
        column = find_column(ops.columns(), args.column) if args.column else None
        card_id = ops.create_card(
            args.title,
            created_by=_created_by(home),
            column_id=None if column is None else column.id,
            description=args.description,
        )
        row = ops.card(card_id)
        where = column.name if column is not None else ops.column(row.column_id or "").name
        return f"added {card_label(row)} {row.title!r} to {where}"
    card = find_card(ops.cards(), args.card)
    if args.card_command == "move":
        column = find_column(ops.columns(), args.column)
        ops.move_card(card.id, column_id=column.id)
        return f"moved {card_label(card)} to {column.name}"
    if args.card_command == "archive":
        ops.archive_card(card.id)
        return f"archived {card_label(card)}"
    return _edit_fields(replica, card.id, card_label(card), args)


def _edit_fields(replica: BoardReplica, card_id: str, label: str, args: argparse.Namespace) -> str:
    changes: list[tuple[str, Callable[[Board], None]]] = []
    if args.title is not None:
        changes.append(("title", lambda b: b.set_title(card_id, args.title)))
    if args.description is not None:
        changes.append(("description", lambda b: b.set_description(card_id, args.description)))
    if args.priority is not None:
        changes.append(("priority", lambda b: b.set_priority(card_id, args.priority)))
    if args.points is not None:
        points = _optional_int("--points", args.points)
        changes.append(("points", lambda b: b.set_points(card_id, points)))
    if args.due is not None:
        due = None if args.due.lower() == "none" else args.due
        changes.append(("due", lambda b: b.set_due(card_id, due)))
    if not changes:
        raise UsageError(
            "nothing to change: give --title, --description, --priority, --points or --due"
        )
    # All fields or none: each operation validates only its own argument, so the whole edit
    # is tried on a scratch copy first; a refusal there leaves the replica untouched.
    scratch = Board(load_doc(replica.doc.get_update(), checked=False))
    for _, change in changes:
        change(scratch)
    with replica.doc.transaction():  # one transaction: one update, one row
        for _, change in changes:
            change(replica.board)
    return f"edited {label} ({', '.join(name for name, _ in changes)})"


def _optional_int(flag: str, text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{flag} must be a whole number or `none`, got {text!r}") from None


def _after_edit(home: ClientHome, replica: BoardReplica, done: str) -> int:
    try:
        result = asyncio.run(
            _session(home, replica, quick=True).sync_once(
                within=QUICK_SYNC_SECONDS, numbers_within=NUMBERS_WAIT_SECONDS
            )
        )
    except OfflineError as exc:
        print(f"{done}; saved locally, will sync when {exc.server} is reachable: {exc.cause}")
        return 0
    except ClientError as exc:
        print(f"{done}; saved locally")
        return _fail(f"not synced: {exc}")
    if result.read_only:
        print(f"{done}; saved locally")
        return _fail("not synced: the server drops this user's edits (viewer)")
    label = _relabel(replica, done)
    print(f"{label}; synced")
    return 0


def _relabel(replica: BoardReplica, done: str) -> str:
    """Replace a short id in `done` by the key the server gave meanwhile."""
    for card in replica.board.cards():
        short = card_label(card)
        if card.key is not None:
            tail = card.id.replace("-", "")[-6:]
            if f" {tail} " in f" {done} ":
                return done.replace(tail, short, 1)
    return done


# -- sync -------------------------------------------------------------------------------------


def _sync(home: ClientHome, board_text: str | None, watch: bool) -> int:
    config = _config(home)
    if board_text is not None:
        boards = [_resolve(home, board_text)]
    else:
        boards = _known_boards(home)
        if not boards:
            raise ClientError("no boards here yet: run `taskly boards` while online")
    if watch:
        return _watch(home, boards)
    failures = []
    for board in boards:
        try:
            print(_sync_board(home, board, config.server))
        except SyncRefused as exc:
            if board_text is not None:
                raise
            failures.append(f"{board.name}: {exc}")  # the other boards still sync
    if failures:
        raise ClientError(f"{count(len(failures), 'board')} not synced: " + "; ".join(failures))
    return 0


def _sync_board(home: ClientHome, board: BoardInfo, server: str) -> str:
    """Sync one board once; return the line to print."""
    with _open_replica(home, board.id, create=True) as replica:
        before = replica.pending_edits()
        try:
            result = asyncio.run(_session(home, replica).sync_once())
        except OfflineError as exc:
            pending = replica.pending_edits()
            raise OfflineError(
                exc.server, f"{exc.cause} ({count(pending, 'edit')} saved locally, not synced)"
            ) from None
        row = replica.board_row()
        name = row.name if row is not None else board.name
    parts = [
        f"{count(before - result.pending, 'edit')} confirmed",
        f"{count(result.received, 'update')} received",
    ]
    if result.pending:
        parts.append(f"{result.pending} still pending")
    if result.unnumbered:
        parts.append(f"{count(result.unnumbered, 'card')} not numbered yet")
    return f"{name}: synced with {server} ({', '.join(parts)})"


def _watch(home: ClientHome, boards: list[BoardInfo]) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        replicas = [BoardReplica.open(home.replica_path(b.id), b.id) for b in boards]
        try:
            async with asyncio.TaskGroup() as group:
                for board, replica in zip(boards, replicas, strict=True):
                    events = _printer(board.name)
                    group.create_task(_session(home, replica, events).run(stop))
        finally:
            for replica in replicas:
                replica.close()

    failure: ClientError | None = None
    try:
        asyncio.run(main())
    except* ClientError as group:
        first = group.exceptions[0]
        assert isinstance(first, ClientError)
        failure = first
    if failure is not None:
        return _fail(str(failure))
    print("stopped", flush=True)
    return 0


def _printer(name: str) -> Callable[[str, str], None]:
    def event(kind: str, text: str) -> None:
        if kind == "received":
            text = "received an update from the server"
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} {name}: {text}", flush=True)

    return event
