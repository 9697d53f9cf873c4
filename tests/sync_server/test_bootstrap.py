"""The first start: a local owner on an empty store, member-less workspaces adopted, sign-in
codes that are one-time refresh tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import InMemoryStore, SQLiteStore, Store, UserNotFound
from sync_server.access.tokens import TokenConfig
from sync_server.auth_api import refresh_hash
from sync_server.bootstrap import (
    DEFAULT_WORKSPACE,
    LINK_TTL_SECONDS,
    default_owner_login,
    prepare_access,
    sign_in_code_for,
    sign_in_url,
)

CONFIG = TokenConfig(signing_key=b"s" * 32)


async def test_an_empty_store_gets_an_owner_a_default_workspace_and_a_code(
    store: SQLiteStore,
) -> None:
    first = await prepare_access(store, CONFIG)
    assert first.created_owner and first.owner is not None
    assert first.owner.login == default_owner_login() and first.owner.is_local
    workspaces = await store.list_user_workspaces(first.owner.id)
    assert [(w.name, role) for w, role in workspaces] == [(DEFAULT_WORKSPACE, "owner")]
    assert first.sign_in_code is not None
    record = await store.get_refresh_token(refresh_hash(first.sign_in_code))
    assert record.user_id == first.owner.id
    lifetime = record.expires_at - record.created_at
    assert abs(lifetime - timedelta(seconds=LINK_TTL_SECONDS)) < timedelta(seconds=2)
    assert first.sign_in_code not in repr(first)


async def test_a_second_start_creates_nothing_and_prints_no_code(store: SQLiteStore) -> None:
    first = await prepare_access(store, CONFIG)
    again = await prepare_access(store, CONFIG)
    assert not again.created_owner and again.sign_in_code is None
    assert again.owner == first.owner
    assert await store.count_users() == 1
    assert len(await store.list_workspaces()) == 1


async def test_member_less_workspaces_go_to_the_oldest_local_user(store: SQLiteStore) -> None:
    # A store from before sign-in: boards in two workspaces, nobody a member.
    a = await store.create_workspace("Alpha")
    b = await store.create_workspace("Beta")
    first = await prepare_access(store, CONFIG)
    assert first.created_owner and first.owner is not None
    assert first.adopted_workspaces == 2
    for workspace in (a, b):
        assert await store.get_member_role(workspace.id, first.owner.id) == "owner"
    # Later: `taskly board create --workspace Gamma` made a member-less workspace, and a second
    # local user exists; the next start gives Gamma to the oldest one, touching nothing else.
    later = await store.create_user("zed", "Zed")
    gamma = await store.create_workspace("Gamma")
    again = await prepare_access(store, CONFIG)
    assert again.adopted_workspaces == 1 and again.owner == first.owner
    assert await store.get_member_role(gamma.id, first.owner.id) == "owner"
    assert await store.get_member_role(gamma.id, later.id) is None
    assert len(await store.list_members(a.id)) == 1


async def test_github_users_are_never_the_instance_owner() -> None:
    async with InMemoryStore() as store:
        await store.upsert_github_user(1, "octocat", "Octo", None, None)
        workspace = await store.create_workspace("W")
        first = await prepare_access(store, CONFIG)
        assert first.owner is None and not first.created_owner and first.sign_in_code is None
        assert await store.list_members(workspace.id) == []


async def test_sign_in_codes_on_demand(store: Store) -> None:
    with pytest.raises(UserNotFound):
        await sign_in_code_for(store, CONFIG, None)
    first = await prepare_access(store, CONFIG)
    assert first.owner is not None
    user, code = await sign_in_code_for(store, CONFIG, None)
    assert user == first.owner
    other = await store.create_user("bo", "Bo")
    user, code2 = await sign_in_code_for(store, CONFIG, "BO")  # logins are case-insensitive
    assert user == other and code2 != code
    with pytest.raises(UserNotFound):
        await sign_in_code_for(store, CONFIG, "nobody")
    record = await store.get_refresh_token(refresh_hash(code2))
    assert record.expires_at > datetime.now(UTC)


def test_sign_in_url_quotes_the_code() -> None:
    assert sign_in_url("http://h:1/", "a+b/c") == "http://h:1/auth/link?code=a%2Bb%2Fc"
