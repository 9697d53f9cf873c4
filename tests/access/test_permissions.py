"""The permission matrix answers as specified, and the role-vs-role rules hold."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_server.access import (
    ACTIONS,
    MATRIX,
    ROLES,
    Action,
    Role,
    allowed,
    may_change_role,
    may_invite,
    may_remove,
    render_matrix_markdown,
    render_role_rules_markdown,
)

OWNER, ADMIN, MEMBER, VIEWER = Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER

# The specification, written out independently of the module's table: a change to the matrix
# must change this grid too, on purpose. Columns: owner, admin, member, viewer.
SPEC = """
workspace.read      x x x x
workspace.rename    x x . .
workspace.delete    x . . .
member.list         x x x x
member.invite       x x . .
member.change_role  x x . .
member.remove       x x . .
member.leave        x x x x
board.read          x x x x
board.write         x x x .
board.create        x x x .
board.configure     x x . .
board.archive       x x . .
board.delete        x x . .
token.manage_own    x x x x
"""


def _spec() -> dict[tuple[Role, str], bool]:
    grid = {}
    for line in SPEC.strip().splitlines():
        name, *marks = line.split()
        for role, mark in zip((OWNER, ADMIN, MEMBER, VIEWER), marks, strict=True):
            grid[(role, name)] = mark == "x"
    return grid


EXPECTED = _spec()


def test_spec_covers_every_action_exactly() -> None:
    assert {name for _, name in EXPECTED} == {str(action) for action in ACTIONS}
    assert set(MATRIX) == set(ACTIONS)


@given(st.sampled_from(ROLES), st.sampled_from(ACTIONS))
def test_allowed_answers_as_the_matrix_says(role: Role, action: Action) -> None:
    assert allowed(role, action) is EXPECTED[(role, str(action))]
    assert allowed(role, action) is (role in MATRIX[action])


@given(st.sampled_from(ACTIONS))
def test_a_higher_role_may_do_everything_a_lower_one_may(action: Action) -> None:
    answers = [allowed(role, action) for role in (OWNER, ADMIN, MEMBER, VIEWER)]
    assert answers == sorted(answers, reverse=True)


def test_owner_may_do_everything_and_viewer_only_reads() -> None:
    assert all(allowed(OWNER, action) for action in ACTIONS)
    viewer = {action for action in ACTIONS if allowed(VIEWER, action)}
    assert viewer == {
        Action.WORKSPACE_READ,
        Action.MEMBER_LIST,
        Action.MEMBER_LEAVE,
        Action.BOARD_READ,
        Action.TOKEN_MANAGE_OWN,
    }


def test_unknown_role_or_action_is_refused() -> None:
    assert not allowed("root", Action.BOARD_READ)  # type: ignore[arg-type]
    assert not allowed(OWNER, "board.frobnicate")  # type: ignore[arg-type]


def test_roles_and_actions_accept_their_wire_names() -> None:
    assert Role("viewer") is VIEWER
    assert Action("board.write") is Action.BOARD_WRITE
    with pytest.raises(ValueError):
        Role("superuser")


def test_rendered_matrix_agrees_with_allowed() -> None:
    lines = render_matrix_markdown().strip().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["action", "owner", "admin", "member", "viewer", "covers"]
    assert len(lines) == 2 + len(ACTIONS)
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        action = Action(cells[0].strip("`"))
        for role, cell in zip(ROLES, cells[1:5], strict=True):
            assert cell == ("✓" if allowed(role, action) else "—")
        assert cells[5]


# --- role-vs-role rules ---------------------------------------------------------------------


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("new", ROLES)
def test_owner_may_set_any_role_on_anyone(target: Role, new: Role) -> None:
    assert may_change_role(OWNER, target, new)


@pytest.mark.parametrize("new", ROLES)
def test_admin_cannot_change_an_owner(new: Role) -> None:
    assert not may_change_role(ADMIN, OWNER, new)


@pytest.mark.parametrize("target", ROLES)
def test_admin_cannot_grant_owner(target: Role) -> None:
    assert not may_change_role(ADMIN, target, OWNER)


@pytest.mark.parametrize("new", ROLES)
def test_admin_cannot_change_a_fellow_admin(new: Role) -> None:
    assert not may_change_role(ADMIN, ADMIN, new)


@pytest.mark.parametrize("target", [MEMBER, VIEWER])
@pytest.mark.parametrize("new", [ADMIN, MEMBER, VIEWER])
def test_admin_manages_members_and_viewers(target: Role, new: Role) -> None:
    assert may_change_role(ADMIN, target, new)


@pytest.mark.parametrize(
    ("actor", "target", "new"), list(itertools.product([MEMBER, VIEWER], ROLES, ROLES))
)
def test_members_and_viewers_change_no_roles(actor: Role, target: Role, new: Role) -> None:
    assert not may_change_role(actor, target, new)


def test_demoting_the_last_owner_is_not_decided_here() -> None:
    # Whether other owners remain is storage's rule (it sees all members); the matrix only
    # says an owner may demote an owner, themselves included.
    assert may_change_role(OWNER, OWNER, VIEWER)
    assert may_remove(OWNER, OWNER)


@given(st.sampled_from(ROLES), st.sampled_from(ROLES), st.sampled_from(ROLES))
def test_role_changes_never_escalate_beyond_the_actor(actor: Role, target: Role, new: Role) -> None:
    rank = {OWNER: 3, ADMIN: 2, MEMBER: 1, VIEWER: 0}
    if may_change_role(actor, target, new):
        assert allowed(actor, Action.MEMBER_CHANGE_ROLE)
        assert rank[new] <= rank[actor]
        assert actor is OWNER or rank[target] < rank[actor]


def test_invite_rules() -> None:
    assert all(may_invite(OWNER, role) for role in ROLES)
    assert [role for role in ROLES if may_invite(ADMIN, role)] == [ADMIN, MEMBER, VIEWER]
    assert not any(may_invite(actor, role) for actor in (MEMBER, VIEWER) for role in ROLES)


def test_remove_rules() -> None:
    assert all(may_remove(OWNER, role) for role in ROLES)
    assert [role for role in ROLES if may_remove(ADMIN, role)] == [MEMBER, VIEWER]
    assert not any(may_remove(actor, role) for actor in (MEMBER, VIEWER) for role in ROLES)


def test_rendered_role_rules_agree_with_may_change_role() -> None:
    lines = render_role_rules_markdown().strip().splitlines()[2:]
    rendered = {}
    for line in lines:
        actor, target, grants = (cell.strip() for cell in line.strip("|").split("|"))
        rendered[(Role(actor), Role(target))] = {Role(g) for g in grants.split(", ")}
    for actor, target in itertools.product(ROLES, ROLES):
        expected = {new for new in ROLES if may_change_role(actor, target, new)}
        assert rendered.get((actor, target), set()) == expected


def test_the_readme_shows_the_matrix_and_role_rules_as_the_code_decides() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert render_matrix_markdown().strip() in readme
    assert render_role_rules_markdown().strip() in readme
