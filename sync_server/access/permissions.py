"""The permission matrix: the one table that decides what each workspace role may do.

REST handlers and the sync endpoint are to ask `allowed(role, action)`; nothing else in the
code base compares roles. Rules that depend on *two* roles (who may set which role on whom,
who may remove whom) live next to the table in `may_change_role`, `may_invite` and
`may_remove`. Rules that need the store (a workspace keeps at least one owner) are storage's.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Role(StrEnum):
    """A member's role in a workspace, highest first."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Action(StrEnum):
    """Something a signed-in user may try to do in a workspace (names used by REST and WS)."""

    WORKSPACE_READ = "workspace.read"
    WORKSPACE_RENAME = "workspace.rename"
    WORKSPACE_DELETE = "workspace.delete"
    MEMBER_LIST = "member.list"
    MEMBER_INVITE = "member.invite"
    MEMBER_CHANGE_ROLE = "member.change_role"
    MEMBER_REMOVE = "member.remove"
    MEMBER_LEAVE = "member.leave"
    BOARD_READ = "board.read"
    BOARD_WRITE = "board.write"
    BOARD_CREATE = "board.create"
    BOARD_CONFIGURE = "board.configure"
    BOARD_ARCHIVE = "board.archive"
    BOARD_DELETE = "board.delete"
    TOKEN_MANAGE_OWN = "token.manage_own"


ROLES: Final[tuple[Role, ...]] = tuple(Role)
ACTIONS: Final[tuple[Action, ...]] = tuple(Action)

_O, _A, _M, _V = Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER

# THE table. One row per action: the roles allowed, and what the action covers (shown in the
# README). Reversible content work goes to members; curating the workspace (who is in it,
# board settings, archiving, deleting boards) to admins; destroying the workspace to owners.
# Card edits are board.write: a card lives inside its board's CRDT document, and the sync
# protocol cannot tell a card edit from any other update, so a finer split could not be enforced.
_TABLE: Final[tuple[tuple[Action, frozenset[Role], str], ...]] = (
    (Action.WORKSPACE_READ, frozenset({_O, _A, _M, _V}), "see the workspace and its boards"),
    (Action.WORKSPACE_RENAME, frozenset({_O, _A}), "rename the workspace"),
    (Action.WORKSPACE_DELETE, frozenset({_O}), "delete the workspace and all its boards"),
    (Action.MEMBER_LIST, frozenset({_O, _A, _M, _V}), "list members and their roles"),
    (Action.MEMBER_INVITE, frozenset({_O, _A}), "add a member (see role rules)"),
    (Action.MEMBER_CHANGE_ROLE, frozenset({_O, _A}), "change a member's role (see role rules)"),
    (Action.MEMBER_REMOVE, frozenset({_O, _A}), "remove a member (see role rules)"),
    (Action.MEMBER_LEAVE, frozenset({_O, _A, _M, _V}), "leave the workspace"),
    (Action.BOARD_READ, frozenset({_O, _A, _M, _V}), "open a board, REST reads, sync read"),
    (Action.BOARD_WRITE, frozenset({_O, _A, _M}), "edit cards and columns (REST and sync)"),
    (Action.BOARD_CREATE, frozenset({_O, _A, _M}), "create a board"),
    (Action.BOARD_CONFIGURE, frozenset({_O, _A}), "rename a board, link its repository"),
    (Action.BOARD_ARCHIVE, frozenset({_O, _A}), "archive or unarchive a board"),
    (Action.BOARD_DELETE, frozenset({_O, _A}), "delete a board and its history"),
    (Action.TOKEN_MANAGE_OWN, frozenset({_O, _A, _M, _V}), "create, list, revoke own tokens"),
)

MATRIX: Final[Mapping[Action, frozenset[Role]]] = MappingProxyType(
    {action: roles for action, roles, _ in _TABLE}
)
DESCRIPTIONS: Final[Mapping[Action, str]] = MappingProxyType(
    {action: text for action, _, text in _TABLE}
)

# Highest first; used only by the role-vs-role rules below, never by `allowed`.
_RANK: Final[Mapping[Role, int]] = MappingProxyType({_O: 3, _A: 2, _M: 1, _V: 0})


def allowed(role: Role, action: Action) -> bool:
    """Return whether `role` may perform `action` (unknown roles or actions: never)."""
    return role in MATRIX.get(action, frozenset())


def may_change_role(actor_role: Role, target_current_role: Role, new_role: Role) -> bool:
    """Return whether `actor_role` may set `new_role` on a member who now has `target_current_role`.

    Owners may set any role on anyone, other owners included (otherwise a stuck owner could never
    be fixed). Anyone else acts only on members ranked strictly below them and grants at most their
    own role: an admin manages members and viewers, may promote them to admin, and can neither
    touch owners or fellow admins nor grant owner. Whether the workspace would be left without an
    owner is decided by storage, which sees all members.
    """
    if not allowed(actor_role, Action.MEMBER_CHANGE_ROLE):
        return False
    if actor_role is Role.OWNER:
        return True
    return _RANK[target_current_role] < _RANK[actor_role] and _RANK[new_role] <= _RANK[actor_role]


def may_invite(actor_role: Role, new_role: Role) -> bool:
    """Return whether `actor_role` may add a new member with `new_role` (at most its own role)."""
    if not allowed(actor_role, Action.MEMBER_INVITE):
        return False
    return actor_role is Role.OWNER or _RANK[new_role] <= _RANK[actor_role]


def may_remove(actor_role: Role, target_role: Role) -> bool:
    """Return whether `actor_role` may remove a member with `target_role` (leaving is separate)."""
    if not allowed(actor_role, Action.MEMBER_REMOVE):
        return False
    return actor_role is Role.OWNER or _RANK[target_role] < _RANK[actor_role]


def render_matrix_markdown() -> str:
    """Render the permission matrix as a Markdown table (the README embeds this output)."""
    header = "| action | " + " | ".join(ROLES) + " | covers |"
    rule = "|---|" + "---|" * len(ROLES) + "---|"
    rows = [
        f"| `{action}` | "
        + " | ".join("✓" if role in roles else "—" for role in ROLES)
        + f" | {text} |"
        for action, roles, text in _TABLE
    ]
    return "\n".join([header, rule, *rows]) + "\n"


def render_role_rules_markdown() -> str:
    """Render who may set which role on whom, as a Markdown table generated from the rules."""
    header = "| actor | target's role now | may set |"
    rule = "|---|---|---|"
    rows = []
    for actor in ROLES:
        for target in ROLES:
            grants = [new for new in ROLES if may_change_role(actor, target, new)]
            if grants:
                rows.append(f"| {actor} | {target} | {', '.join(grants)} |")
    return "\n".join([header, rule, *rows]) + "\n"
