"""`taskly user` and `taskly token`: local users, their workspaces and personal access tokens.

A token is printed once, by `token create`, and stored only as its hash; nothing else here
ever shows or logs one. `user create --workspace` and `user add` make a user a member of a
workspace (created on first use, as `board create` does: see `workspace_named`).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from storage import (
    ROLES,
    AccessToken,
    Conflict,
    Role,
    Store,
    TokenNotFound,
    User,
    UserNotFound,
    Workspace,
)
from sync_server.access import new_personal_access_token
from sync_server.access.authenticator import pat_hash

MAX_LOGIN_CHARS = 100
MAX_LABEL_CHARS = 100
MAX_EXPIRES_DAYS = 3650
MAX_WORKSPACE_CHARS = 100
DEFAULT_TOKEN_LABEL = "cli"
DEFAULT_ROLE: Role = "member"
ROLE_METAVAR = "{" + ",".join(ROLES) + "}"

OpenStore = Callable[[], Store]


class CommandError(Exception):
    """A refusal worth one line on stderr and exit status 1."""


def add_commands(
    commands: Any, with_store_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the `user` and `token` commands to the `taskly` subcommand parsers."""
    user = commands.add_parser("user", help="create and list local users")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    create = user_commands.add_parser("create", help="create a local user; prints its id")
    create.add_argument("name")
    create.add_argument(
        "--workspace", help="also make the user a member of this workspace (created if missing)"
    )
    create.add_argument(
        "--role", metavar=ROLE_METAVAR, help=f"their role there (default {DEFAULT_ROLE})"
    )
    create.add_argument("--json", action="store_true", help="print the full record as JSON")
    with_store_options(create)
    add = user_commands.add_parser(
        "add", help="make an existing user a member of a workspace (created if missing)"
    )
    add.add_argument("name")
    add.add_argument("--workspace", required=True, help="the workspace's name")
    add.add_argument("--role", metavar=ROLE_METAVAR, help=f"default {DEFAULT_ROLE}")
    with_store_options(add)
    listing = user_commands.add_parser("list", help="list the users")
    listing.add_argument("--json", action="store_true", help="print JSON")
    with_store_options(listing)

    token = commands.add_parser("token", help="create, list and revoke personal access tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = token_commands.add_parser("create", help="create a token; prints it once")
    issue.add_argument("--user", required=True, help="the user's name")
    issue.add_argument("--expires", metavar="DAYS", help="expire after DAYS days (default never)")
    issue.add_argument("--name", default=DEFAULT_TOKEN_LABEL, help="a label (default %(default)s)")
    with_store_options(issue)
    tokens = token_commands.add_parser("list", help="list a user's tokens (never the tokens)")
    tokens.add_argument("--user", required=True, help="the user's name")
    tokens.add_argument("--json", action="store_true", help="print JSON")
    with_store_options(tokens)
    revoke = token_commands.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")
    with_store_options(revoke)


def run_command(args: argparse.Namespace, open_store: OpenStore) -> int:
    """Run a `user` or `token` command; print its result; raise CommandError on refusal."""
    action = args.user_command if args.command == "user" else args.token_command
    if args.command == "user" and action == "create":
        membership = _membership(args.workspace, args.role)
        created = asyncio.run(_user_create(open_store, args.name, membership))
        print(msgspec.json.encode(_user_json(created)).decode() if args.json else created.id)
    elif args.command == "user" and action == "add":
        membership = _membership(args.workspace, args.role)
        assert membership is not None  # --workspace is required
        user, workspace, role = asyncio.run(_user_add(open_store, args.name, membership))
        print(f"added {user.login} to workspace {workspace.name} as {role}")
    elif args.command == "user" and action == "list":
        users = asyncio.run(_user_list(open_store))
        if args.json:
            print(msgspec.json.encode([_user_json(u) for u in users]).decode())
        for u in [] if args.json else users:
            print(f"{u.id}\t{u.login}\t{'local' if u.is_local else 'github'}\t{u.name}")
    elif args.command == "token" and action == "create":
        expires = _expires_at(args.expires)
        print(asyncio.run(_token_create(open_store, args.user, args.name, expires)))
    elif args.command == "token" and action == "list":
        found = asyncio.run(_token_list(open_store, args.user))
        if args.json:
            print(msgspec.json.encode([_token_json(t) for t in found]).decode())
        for t in [] if args.json else found:
            print("\t".join(_token_row(t)))
    elif args.command == "token" and action == "revoke":
        revoked = asyncio.run(_token_revoke(open_store, args.id))
        print(f"revoked token {revoked.id} ({revoked.name})")
    else:
        raise CommandError(f"unknown command {args.command!r}")
    return 0


def _check_name(name: str) -> str:
    """Return a valid local user name or raise CommandError."""
    if not name or len(name) > MAX_LOGIN_CHARS or not name.isprintable() or name != name.strip():
        raise CommandError(f"a user name must be 1-{MAX_LOGIN_CHARS} printable characters")
    if any(ch.isspace() for ch in name):
        raise CommandError("a user name must not contain spaces")
    return name


def _membership(workspace: str | None, role: str | None) -> tuple[str, Role] | None:
    """Check --workspace and --role; return (workspace name, role), None if neither is given."""
    if workspace is None:
        if role is not None:
            raise CommandError("--role needs --workspace: a role is held in a workspace")
        return None
    if not workspace.strip():
        raise CommandError("--workspace must not be blank")
    if len(workspace) > MAX_WORKSPACE_CHARS or not workspace.isprintable():
        raise CommandError(f"--workspace must be 1-{MAX_WORKSPACE_CHARS} printable characters")
    if role is None:
        return workspace, DEFAULT_ROLE
    for known in ROLES:
        if role == known:
            return workspace, known
    raise CommandError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")


async def workspace_named(store: Store, name: str) -> Workspace:
    """Return the workspace called `name`, creating it if there is none (as `board create`)."""
    for workspace in await store.list_workspaces():
        if workspace.name == name:
            return workspace
    return await store.create_workspace(name)


def _expires_at(days: str | None) -> datetime | None:
    """Return the expiry time `days` days from now, None for never; raise CommandError."""
    if days is None:
        return None
    try:
        count = int(days)
    except ValueError:
        raise CommandError(f"--expires must be a whole number of days, not {days!r}") from None
    if not 1 <= count <= MAX_EXPIRES_DAYS:
        raise CommandError(f"--expires must be between 1 and {MAX_EXPIRES_DAYS} days")
    return datetime.now(UTC) + timedelta(days=count)


async def _user_create(
    open_store: OpenStore, name: str, membership: tuple[str, Role] | None
) -> User:
    _check_name(name)
    async with open_store() as store:
        try:
            user = await store.create_user(name, name, is_local=True)
        except Conflict:
            raise CommandError(
                f"a user named {name!r} already exists (names ignore case)"
            ) from None
        if membership is not None:
            workspace_name, role = membership
            workspace = await workspace_named(store, workspace_name)
            await store.add_member(workspace.id, user.id, role)
        return user


async def _user_add(
    open_store: OpenStore, name: str, membership: tuple[str, Role]
) -> tuple[User, Workspace, Role]:
    workspace_name, role = membership
    async with open_store() as store:
        user = await _user(store, name)  # first: a refused command creates no workspace
        workspace = await workspace_named(store, workspace_name)
        held = await store.get_member_role(workspace.id, user.id)
        try:
            if held is None:
                await store.add_member(workspace.id, user.id, role)
                return user, workspace, role
        except Conflict:  # added by another process meanwhile
            held = await store.get_member_role(workspace.id, user.id)
        raise CommandError(
            f"{user.login!r} is already a member of workspace {workspace.name!r} (as {held})"
        )


async def _user_list(open_store: OpenStore) -> list[User]:
    async with open_store() as store:
        return await store.list_users()


async def _user(store: Store, name: str) -> User:
    try:
        return await store.get_user_by_login(name)
    except UserNotFound:
        raise CommandError(f"no user named {name!r}") from None


async def _token_create(
    open_store: OpenStore, user_name: str, label: str, expires_at: datetime | None
) -> str:
    if not label or len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise CommandError(f"--name must be 1-{MAX_LABEL_CHARS} printable characters")
    issued = new_personal_access_token(None if expires_at is None else expires_at.timestamp())
    async with open_store() as store:
        user = await _user(store, user_name)
        await store.create_token(user.id, label, pat_hash(issued.token), expires_at=expires_at)
    return issued.token


async def _token_list(open_store: OpenStore, user_name: str) -> list[AccessToken]:
    async with open_store() as store:
        return await store.list_tokens((await _user(store, user_name)).id)


async def _token_revoke(open_store: OpenStore, token_id: str) -> AccessToken:
    async with open_store() as store:
        try:
            return await store.revoke_token(token_id)
        except TokenNotFound:
            raise CommandError(f"no token with id {token_id!r}") from None


def _when(at: datetime | None, missing: str) -> str:
    return missing if at is None else at.isoformat(timespec="seconds")


def _user_json(user: User) -> dict[str, Any]:
    """A user record without its (encrypted) GitHub token."""
    fields = msgspec.structs.asdict(user)
    del fields["github_token_encrypted"]
    return fields


def _token_json(token: AccessToken) -> dict[str, Any]:
    """A token record without its hash."""
    fields = msgspec.structs.asdict(token)
    del fields["token_hash"]
    return fields


def _token_row(token: AccessToken) -> list[str]:
    """id, name, created, expires, revoked, last used."""
    return [
        token.id,
        token.name,
        _when(token.created_at, "-"),
        "expires " + _when(token.expires_at, "never"),
        "revoked " + _when(token.revoked_at, "no"),
        "last used " + _when(token.last_used_at, "never"),
    ]
