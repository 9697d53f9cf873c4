"""The auth half of the storage contract (users, tokens, refresh families, members), on every
backend, plus migration 0002's upgrade path from a database at 0001.

Concurrent rotation of one refresh token: exactly one rotation wins; the other sees the token
already used, which is what a replayed stolen token looks like, so the whole family ends
revoked (RFC 6819 5.2.2.3, OAuth 2.1 4.3.1) -- the winner's new token included.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage import (
    Conflict,
    InvalidRole,
    LastOwner,
    MemberNotFound,
    Store,
    TokenNotFound,
    UserNotFound,
    WorkspaceNotFound,
    _migrations,
)
from storage import postgres as pg_module
from storage import sqlite as sqlite_module
from tests.storage.conftest import Backend, run_sql

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=7)


async def test_users_round_trip_and_logins_are_case_insensitive(store: Store) -> None:
    assert await store.count_users() == 0
    alice = await store.create_user("Alice", "Alice A.", email="a@x.org", at=T0)
    assert alice.is_local and alice.github_id is None and alice.created_at == T0
    assert await store.get_user(alice.id) == alice
    assert await store.get_user_by_login("aLiCe") == alice
    with pytest.raises(Conflict):
        await store.create_user("ALICE", "Impostor")
    bob = await store.create_user("bob", "Bob", is_local=False, at=T0 + timedelta(seconds=1))
    assert [u.id for u in await store.list_users()] == [alice.id, bob.id]
    assert await store.count_users() == 2
    for missing in (store.get_user("nope"), store.get_user_by_login("carol")):
        with pytest.raises(UserNotFound):
            await missing
    with pytest.raises(UserNotFound):
        await store.get_user_by_github_id(42)


async def test_upsert_github_user_creates_then_updates(store: Store) -> None:
    created = await store.upsert_github_user(42, "octo", "Octo", None, b"\x01cipher", at=T0)
    assert created.login == "octo" and created.github_id == 42 and not created.is_local
    assert created.github_token_encrypted == b"\x01cipher"
    updated = await store.upsert_github_user(
        42, "octo-renamed", "Octo Cat", "o@x.org", b"\x02", at=LATER
    )
    assert updated.id == created.id and updated.login == "octo"  # our login stays
    assert updated.github_login == "octo-renamed" and updated.email == "o@x.org"
    assert updated.github_token_encrypted == b"\x02" and updated.updated_at == LATER
    assert updated.created_at == T0
    assert await store.get_user_by_github_id(42) == updated
    assert await store.count_users() == 1


async def test_github_user_is_never_merged_into_a_local_user_by_name(store: Store) -> None:
    local = await store.create_user("alice", "Local Alice")
    gh = await store.upsert_github_user(7, "Alice", "GitHub Alice", None, None)
    assert gh.id != local.id and gh.login == "Alice-7"
    assert (await store.get_user_by_login("alice")).id == local.id


async def test_concurrent_upserts_of_one_github_account_make_one_user(backend: Backend) -> None:
    async with backend.make() as one, backend.make() as two:
        users = await asyncio.gather(
            *(s.upsert_github_user(9, "nine", "Nine", None, b"c") for s in (one, two, one, two))
        )
        assert len({u.id for u in users}) == 1
        assert await one.count_users() == 1


async def test_personal_access_tokens(store: Store) -> None:
    user = await store.create_user("alice", "Alice")
    token = await store.create_token(user.id, "ci", b"hash-1", expires_at=LATER, at=T0)
    assert token.revoked_at is None and token.last_used_at is None and token.expires_at == LATER
    assert await store.get_token_by_hash(b"hash-1") == token
    assert token.is_valid_at(T0) and not token.is_valid_at(LATER)
    other = await store.create_token(user.id, "laptop", b"hash-2", at=T0 + timedelta(seconds=1))
    assert await store.list_tokens(user.id) == [token, other]
    with pytest.raises(Conflict):
        await store.create_token(user.id, "dup", b"hash-1")
    with pytest.raises(UserNotFound):
        await store.create_token("nobody", "x", b"hash-3")
    with pytest.raises(TokenNotFound):
        await store.get_token_by_hash(b"nope")

    await store.touch_token(token.id, T0 + timedelta(hours=1))
    assert (await store.get_token_by_hash(b"hash-1")).last_used_at == T0 + timedelta(hours=1)
    revoked = await store.revoke_token(token.id, at=T0 + timedelta(hours=2))
    again = await store.revoke_token(token.id, at=T0 + timedelta(hours=3))
    assert revoked.revoked_at == again.revoked_at == T0 + timedelta(hours=2)
    found = await store.get_token_by_hash(b"hash-1")
    assert found.revoked_at is not None and not found.is_valid_at(T0)
    for call in (store.revoke_token("nope"), store.touch_token("nope")):
        with pytest.raises(TokenNotFound):
            await call


async def test_refresh_rotation_then_reuse_revokes_the_family(store: Store) -> None:
    user = await store.create_user("alice", "Alice")
    first = await store.create_refresh_token(user.id, b"r1", LATER, at=T0)
    assert await store.get_refresh_token(b"r1") == first
    result = await store.rotate_refresh_token(b"r1", b"r2", LATER, at=T0 + timedelta(hours=1))
    assert result.ok and result.token is not None
    assert result.token.family_id == first.family_id and result.token.user_id == user.id
    assert (await store.get_refresh_token(b"r1")).used_at == T0 + timedelta(hours=1)
    # r1 again: theft. The whole family (r2 too) is revoked.
    reuse = await store.rotate_refresh_token(b"r1", b"r3", LATER, at=T0 + timedelta(hours=2))
    assert reuse.status == "reused" and reuse.token is None and not reuse.ok
    assert (await store.get_refresh_token(b"r2")).revoked_at == T0 + timedelta(hours=2)
    refused = await store.rotate_refresh_token(b"r2", b"r4", LATER, at=T0 + timedelta(hours=3))
    assert refused.status == "revoked"
    with pytest.raises(TokenNotFound):
        await store.get_refresh_token(b"r3")
    with pytest.raises(TokenNotFound):
        await store.rotate_refresh_token(b"unknown", b"r5", LATER)


async def test_expired_refresh_token_is_refused_and_families_are_separate(store: Store) -> None:
    user = await store.create_user("alice", "Alice")
    a = await store.create_refresh_token(user.id, b"a1", T0 + timedelta(minutes=5), at=T0)
    b = await store.create_refresh_token(user.id, b"b1", LATER, at=T0)
    assert a.family_id != b.family_id
    same = await store.create_refresh_token(user.id, b"a2", LATER, family_id=a.family_id)
    assert same.family_id == a.family_id
    late = await store.rotate_refresh_token(b"a1", b"a3", LATER, at=T0 + timedelta(minutes=5))
    assert late.status == "expired"
    assert await store.revoke_refresh_family(a.family_id) == 2
    assert await store.revoke_refresh_family(a.family_id) == 0  # idempotent
    assert (await store.get_refresh_token(b"b1")).revoked_at is None
    assert await store.revoke_user_sessions(user.id) == 1
    assert (await store.get_refresh_token(b"b1")).revoked_at is not None
    with pytest.raises(UserNotFound):
        await store.create_refresh_token("nobody", b"x", LATER)


async def test_concurrent_rotation_of_one_token_has_one_winner(backend: Backend) -> None:
    async with backend.make() as one, backend.make() as two:
        user = await one.create_user("alice", "Alice")
        await one.create_refresh_token(user.id, b"old", LATER + timedelta(days=365))
        results = await asyncio.gather(
            one.rotate_refresh_token(b"old", b"new-1", LATER + timedelta(days=365)),
            two.rotate_refresh_token(b"old", b"new-2", LATER + timedelta(days=365)),
        )
        assert sorted(r.status for r in results) == ["reused", "rotated"]
        (winner,) = [r.token for r in results if r.token is not None]
        family = await two.get_refresh_token(winner.token_hash)
        assert family.revoked_at is not None, "the reuse revoked the winner's token too"
        assert (await one.get_refresh_token(b"old")).revoked_at is not None


async def test_members_roles_and_the_last_owner_guard(store: Store) -> None:
    ws = await store.create_workspace("Acme", at=T0)
    other = await store.create_workspace("Other", at=T0 + timedelta(seconds=1))
    alice = await store.create_user("alice", "Alice")
    bob = await store.create_user("bob", "Bob")
    owner = await store.add_member(ws.id, alice.id, "owner", at=T0)
    assert owner.role == "owner" and owner.added_at == T0
    await store.add_member(ws.id, bob.id, "viewer", at=T0 + timedelta(seconds=1))
    await store.add_member(other.id, bob.id, "admin")
    with pytest.raises(Conflict):
        await store.add_member(ws.id, bob.id, "member")
    with pytest.raises(InvalidRole):
        await store.add_member(other.id, alice.id, "god")  # type: ignore[arg-type]
    with pytest.raises(WorkspaceNotFound):
        await store.add_member("nope", alice.id, "owner")
    with pytest.raises(UserNotFound):
        await store.add_member(ws.id, "nobody", "owner")

    assert await store.get_member_role(ws.id, bob.id) == "viewer"
    assert await store.get_member_role(ws.id, "nobody") is None
    assert [(m.user_id, m.role) for m in await store.list_members(ws.id)] == [
        (alice.id, "owner"), (bob.id, "viewer")]  # fmt: skip
    assert await store.list_user_workspaces(bob.id) == [(ws, "viewer"), (other, "admin")]

    with pytest.raises(LastOwner):
        await store.set_member_role(ws.id, alice.id, "admin")
    with pytest.raises(LastOwner):
        await store.remove_member(ws.id, alice.id)
    assert (await store.set_member_role(ws.id, bob.id, "owner")).role == "owner"
    await store.set_member_role(ws.id, alice.id, "member")  # bob owns it now
    await store.remove_member(ws.id, alice.id)
    assert await store.get_member_role(ws.id, alice.id) is None
    with pytest.raises(MemberNotFound):
        await store.remove_member(ws.id, alice.id)
    with pytest.raises(MemberNotFound):
        await store.set_member_role(ws.id, alice.id, "viewer")


async def test_concurrent_demotions_never_leave_a_workspace_ownerless(backend: Backend) -> None:
    async with backend.make() as one, backend.make() as two:
        ws = await one.create_workspace("Acme")
        a = await one.create_user("a", "A")
        b = await one.create_user("b", "B")
        await one.add_member(ws.id, a.id, "owner")
        await one.add_member(ws.id, b.id, "owner")
        results = await asyncio.gather(
            one.set_member_role(ws.id, a.id, "member"),
            two.remove_member(ws.id, b.id),
            return_exceptions=True,
        )
        assert sum(isinstance(r, LastOwner) for r in results) == 1, results
        owners = [m for m in await two.list_members(ws.id) if m.role == "owner"]
        assert len(owners) == 1


async def test_rename_and_delete_workspace_cascades(store: Store) -> None:
    ws = await store.create_workspace("Acme", at=T0)
    user = await store.create_user("alice", "Alice")
    await store.add_member(ws.id, user.id, "owner")
    board = await store.create_board(ws.id, "B", "TSK")
    renamed = await store.rename_workspace(ws.id, "Acme Corp")
    assert renamed.name == "Acme Corp" and renamed.created_at == T0
    assert await store.get_workspace(ws.id) == renamed
    await store.delete_workspace(ws.id)
    assert await store.list_boards() == [] and await store.list_workspaces() == []
    assert await store.list_user_workspaces(user.id) == []
    assert board.id not in {b.id for b in await store.list_boards()}
    for call in (store.rename_workspace(ws.id, "x"), store.delete_workspace(ws.id)):
        with pytest.raises(WorkspaceNotFound):
            await call


async def test_deleting_a_user_row_cascades_to_tokens_and_memberships(
    db_backend: Backend,
) -> None:
    async with db_backend.make() as store:
        ws = await store.create_workspace("Acme")
        user = await store.create_user("alice", "Alice")
        keep = await store.create_user("bob", "Bob")
        await store.add_member(ws.id, keep.id, "owner")
        await store.add_member(ws.id, user.id, "member")
        await store.create_token(user.id, "ci", b"h")
        await store.create_refresh_token(user.id, b"r", LATER)
    run_sql(db_backend, f"DELETE FROM users WHERE id = '{user.id}'")
    async with db_backend.make() as store:
        assert await store.list_tokens(user.id) == []
        with pytest.raises(TokenNotFound):
            await store.get_refresh_token(b"r")
        assert [m.user_id for m in await store.list_members(ws.id)] == [keep.id]


async def test_0002_applies_on_a_database_at_0001_and_is_idempotent(
    fresh_db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sqlite_module if fresh_db.kind == "sqlite" else pg_module
    real = _migrations.load_migrations
    with monkeypatch.context() as patch:
        patch.setattr(module, "load_migrations", lambda dialect: real(dialect)[:1])
        async with fresh_db.make() as store:
            ws = await store.create_workspace("Before 0002")
            board = await store.create_board(ws.id, "B", "TSK")
    async with fresh_db.make(migrate_on_open=False) as store:
        later = [m.version for m in real(fresh_db.kind)[1:]]  # type: ignore[arg-type]
        assert later[0] == "0002_auth"
        assert await store.migrate() == later
        assert await store.migrate() == []
        assert await store.get_board(board.id) == board
        user = await store.create_user("alice", "Alice")
        await store.add_member(ws.id, user.id, "owner")
        assert await store.list_user_workspaces(user.id) == [(ws, "owner")]
