"""`taskly user` and `taskly token` as a user runs them: a real process on a real store."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from storage import SQLiteStore
from sync_server.access import AccessTokens, TokenConfig
from sync_server.access.authenticator import TokenAuthenticator, pat_hash
from sync_server.errors import AuthRequired
from tests.cli.test_cli import run
from tests.storage.conftest import create_pg_database, drop_pg_database, pg_url

PAT = re.compile(r"tsk_pat_[A-Za-z0-9_-]{43}")


def ok(args: list[str], cwd: Path, **env: str) -> str:
    result = run(args, cwd, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def members(db: Path) -> dict[tuple[str, str], str]:
    """{(workspace name, user login): role} for every membership in the store."""

    async def read() -> dict[tuple[str, str], str]:
        async with SQLiteStore(db) as store:
            found: dict[tuple[str, str], str] = {}
            for user in await store.list_users():
                for workspace, role in await store.list_user_workspaces(user.id):
                    found[workspace.name, user.login] = role
            return found

    return asyncio.run(read())


def workspace_names(db: Path) -> list[str]:
    """Every workspace's name, oldest first."""

    async def read() -> list[str]:
        async with SQLiteStore(db) as store:
            return [w.name for w in await store.list_workspaces()]

    return asyncio.run(read())


def user_for(db: Path, token: str) -> str:
    """Ask the sync server's authenticator whom a token identifies."""

    async def check() -> str:
        async with SQLiteStore(db) as store:
            config = TokenConfig(signing_key=b"k" * 32)
            return await TokenAuthenticator(store, AccessTokens(config)).user_for(token)

    return asyncio.run(check())


def test_user_create_prints_the_id_and_list_shows_it(tmp_path: Path) -> None:
    ada = ok(["user", "create", "ada"], tmp_path).strip()
    assert len(ada) == 36
    record = json.loads(ok(["user", "create", "bob", "--json"], tmp_path))
    assert record["login"] == "bob" and record["is_local"] is True
    assert "github_token_encrypted" not in record
    listed = [line.split("\t") for line in ok(["user", "list"], tmp_path).splitlines()]
    assert listed == [[ada, "ada", "local", "ada"], [record["id"], "bob", "local", "bob"]]
    as_json = json.loads(ok(["user", "list", "--json"], tmp_path))
    assert [u["id"] for u in as_json] == [ada, record["id"]]


def test_token_create_prints_only_the_token_which_is_stored_hashed_and_works(
    tmp_path: Path,
) -> None:
    user_id = ok(["user", "create", "ada", "--data-dir", "d"], tmp_path).strip()
    out = ok(["token", "create", "--user", "ada", "--name", "laptop", "--data-dir", "d"], tmp_path)
    token = out.strip()
    assert out == token + "\n" and PAT.fullmatch(token)
    db = tmp_path / "d" / "taskly.db"
    raw = db.read_bytes()
    assert token.encode() not in raw
    assert user_for(db, token) == user_id
    listed = ok(["token", "list", "--user", "ada", "--data-dir", "d"], tmp_path)
    assert token not in listed and pat_hash(token).decode() not in listed
    (row,) = [line.split("\t") for line in listed.splitlines()]
    assert row[1] == "laptop"
    assert row[3:] == ["expires never", "revoked no", "last used " + row[5].split()[-1]]
    assert row[5] != "last used never"  # the authenticator above touched it
    as_json = json.loads(
        ok(["token", "list", "--user", "ada", "--json", "--data-dir", "d"], tmp_path)
    )
    assert as_json[0]["name"] == "laptop" and "token_hash" not in as_json[0]


def test_expiring_token_and_revocation(tmp_path: Path) -> None:
    ok(["user", "create", "ada"], tmp_path)
    token = ok(["token", "create", "--user", "ada", "--expires", "3"], tmp_path).strip()
    (record,) = json.loads(ok(["token", "list", "--user", "ada", "--json"], tmp_path))
    assert record["name"] == "cli" and record["expires_at"] is not None
    revoked = ok(["token", "revoke", record["id"]], tmp_path)
    assert record["id"] in revoked and token not in revoked
    (after,) = json.loads(ok(["token", "list", "--user", "ada", "--json"], tmp_path))
    assert after["revoked_at"] is not None
    with pytest.raises(AuthRequired):
        user_for(tmp_path / "taskly-data" / "taskly.db", token)
    # Revoking again is harmless.
    ok(["token", "revoke", record["id"]], tmp_path)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["user", "create", "ADA"], "already exists"),
        (["user", "create", "ADA", "--workspace", "Team"], "already exists"),
        (["user", "create", "two words"], "must not contain spaces"),
        (["user", "create", "bob", "--role", "viewer"], "--role needs --workspace"),
        (
            ["user", "create", "bob", "--workspace", "Team", "--role", "boss"],
            "--role must be one of owner, admin, member, viewer, not 'boss'",
        ),
        (["user", "create", "bob", "--workspace", " "], "--workspace must not be blank"),
        (["user", "create", "bob", "--workspace", "W" * 101], "--workspace must be 1-100"),
        (["user", "add", "nobody", "--workspace", "Team"], "no user named 'nobody'"),
        (
            ["user", "add", "ada", "--workspace", "Team", "--role", "Owner"],
            "--role must be one of",
        ),
        (["user", "add", "ada", "--workspace", ""], "--workspace must not be blank"),
        (["user", "add", "ada", "--role", "viewer", "--workspace", "a\tb"], "--workspace must be"),
        (["token", "create", "--user", "nobody"], "no user named 'nobody'"),
        (["token", "list", "--user", "nobody"], "no user named 'nobody'"),
        (["token", "create", "--user", "ada", "--expires", "soon"], "--expires must be"),
        (["token", "create", "--user", "ada", "--expires", "0"], "--expires must be"),
        (["token", "create", "--user", "ada", "--expires", "-2"], "--expires must be"),
        (["token", "revoke", "no-such-id"], "no token with id 'no-such-id'"),
    ],
)
def test_failures_end_with_one_clear_line(tmp_path: Path, args: list[str], expected: str) -> None:
    ok(["user", "create", "ada"], tmp_path)
    result = run(args, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("taskly: ") and expected in lines[0]
    # Nothing was created by a refused command: no user, no workspace, no membership.
    (record,) = json.loads(ok(["user", "list", "--json"], tmp_path))
    assert record["login"] == "ada"
    assert workspace_names(tmp_path / "taskly-data" / "taskly.db") == []


def test_user_create_with_a_workspace_and_role(tmp_path: Path) -> None:
    db = tmp_path / "taskly-data" / "taskly.db"
    ok(["user", "create", "ada", "--workspace", "Default", "--role", "owner"], tmp_path)
    ok(["user", "create", "vic", "--workspace", "Default", "--role", "viewer"], tmp_path)
    bob = ok(["user", "create", "bob", "--workspace", "Team"], tmp_path).strip()
    assert len(bob) == 36, "user create still prints the id alone"
    record = json.loads(
        ok(["user", "create", "cy", "--workspace", "Team", "--role", "admin", "--json"], tmp_path)
    )
    assert record["login"] == "cy"
    ok(["user", "create", "dee"], tmp_path)  # no workspace: a user with no membership
    assert members(db) == {
        ("Default", "ada"): "owner",
        ("Default", "vic"): "viewer",
        ("Team", "bob"): "member",  # the default role
        ("Team", "cy"): "admin",
    }
    # Each workspace was created once, and `board create` finds the same one by name.
    ok(["board", "create", "Roadmap", "--workspace", "Team"], tmp_path)
    assert workspace_names(db) == ["Default", "Team"]
    (board,) = ok(["board", "list"], tmp_path).splitlines()
    assert board.split("\t")[2] == "Team"


def test_user_add_makes_an_existing_user_a_member(tmp_path: Path) -> None:
    db = tmp_path / "taskly-data" / "taskly.db"
    board = ok(["board", "create", "Roadmap"], tmp_path).strip()  # creates workspace Default
    ok(["user", "create", "ada"], tmp_path)
    out = ok(["user", "add", "ADA", "--workspace", "Default", "--role", "viewer"], tmp_path)
    assert out == "added ada to workspace Default as viewer\n"
    out = ok(["user", "add", "ada", "--workspace", "Ops"], tmp_path)
    assert out == "added ada to workspace Ops as member\n"
    assert members(db) == {("Default", "ada"): "viewer", ("Ops", "ada"): "member"}
    assert workspace_names(db) == ["Default", "Ops"]
    assert board in ok(["board", "list"], tmp_path)

    # Already a member: refused with one line naming the role held; nothing changes.
    result = run(["user", "add", "ada", "--workspace", "Default", "--role", "owner"], tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "taskly: 'ada' is already a member of workspace 'Default' (as viewer)\n"
    )
    assert members(db) == {("Default", "ada"): "viewer", ("Ops", "ada"): "member"}


@pytest.mark.postgres
def test_users_and_tokens_on_postgres(tmp_path: Path) -> None:
    name = create_pg_database()
    try:
        url = pg_url(name)
        ok(["migrate"], tmp_path, TASKLY_DATABASE_URL=url)
        ok(["user", "create", "ada"], tmp_path, TASKLY_DATABASE_URL=url)
        token = ok(["token", "create", "--user", "ada"], tmp_path, TASKLY_DATABASE_URL=url)
        assert PAT.fullmatch(token.strip())
        listed = ok(["token", "list", "--user", "ada"], tmp_path, TASKLY_DATABASE_URL=url)
        assert len(listed.splitlines()) == 1 and token.strip() not in listed
        assert not (tmp_path / "taskly-data").exists()
    finally:
        drop_pg_database(name)
