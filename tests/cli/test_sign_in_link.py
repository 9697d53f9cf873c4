"""`taskly sign-in-link` as an operator runs it: a real process, a real store, a real server."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from storage import SQLiteStore
from sync_server.access.server_keys import SECRETS_FILE, load_server_keys
from sync_server.secure_app import secure_app
from sync_server.settings import Settings
from tests.cli.test_cli import run
from tests.sync_server.test_signin import new_browser, refresh_cookie_set, serve

DATA = "data"


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """Assert exit 1 with exactly one `taskly: ...` line on stderr and nothing on stdout."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("taskly: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def link_of(result: subprocess.CompletedProcess[str]) -> str:
    """Assert success with the link alone on stdout; return it."""
    assert result.returncode == 0, result.stderr
    [url] = result.stdout.splitlines()
    assert "/auth/link?code=" in url
    return url


@asynccontextmanager
async def taskly_on(data: Path) -> AsyncIterator[str]:
    """What `taskly serve --data-dir data` runs, in this process; yield its URL."""
    settings = Settings(host="127.0.0.1", port=0, data_dir=data)
    async with SQLiteStore(data / "taskly.db") as store:
        app = secure_app(settings, store, load_server_keys(data))
        async with serve(app, settings) as url:
            yield url


async def add_user(data: Path, login: str, workspace: str | None = None) -> None:
    """A local user (as `taskly user create` makes one), straight in the store: faster."""
    await asyncio.to_thread(data.mkdir, parents=True, exist_ok=True)
    async with SQLiteStore(data / "taskly.db") as store:
        user = await store.create_user(login, login)
        if workspace is not None:
            created = await store.create_workspace(workspace)
            await store.add_member(created.id, user.id, "owner")


async def arun(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """run() off the event loop, so an in-process server keeps answering meanwhile."""
    return await asyncio.to_thread(run, args, cwd, **env)


def test_on_an_empty_data_dir_it_says_there_is_no_user(tmp_path: Path) -> None:
    line = one_line_failure(run(["sign-in-link", "--data-dir", DATA], tmp_path))
    assert "no local user" in line and "taskly serve" in line


def test_an_unknown_user_is_one_clear_line(tmp_path: Path) -> None:
    asyncio.run(add_user(tmp_path / DATA, "ada"))
    line = one_line_failure(run(["sign-in-link", "--user", "nobody", "--data-dir", DATA], tmp_path))
    assert line == "taskly: no user is called 'nobody'"


def test_half_the_keys_in_the_environment_is_one_clear_line(tmp_path: Path) -> None:
    asyncio.run(add_user(tmp_path / DATA, "ada"))
    result = run(["sign-in-link", "--data-dir", DATA], tmp_path, TASKLY_SECRET_KEY="x" * 43)
    line = one_line_failure(result)
    assert "TASKLY_SECRET_KEY" in line and "TASKLY_ENCRYPTION_KEY" in line
    assert "x" * 43 not in line


def test_the_link_points_at_the_configured_address(tmp_path: Path) -> None:
    asyncio.run(add_user(tmp_path / DATA, "ada"))
    public = link_of(
        run(
            ["sign-in-link", "--data-dir", DATA],
            tmp_path,
            TASKLY_PUBLIC_URL="https://taskly.example.com/",
        )
    )
    assert public.startswith("https://taskly.example.com/auth/link?code=")
    # Without a public URL: the address `taskly serve` would listen on.
    bound = link_of(run(["sign-in-link", "--data-dir", DATA], tmp_path, TASKLY_PORT="8123"))
    assert bound.startswith("http://127.0.0.1:8123/auth/link?code=")
    assert urlsplit(public).query != urlsplit(bound).query


def test_an_ipv6_host_makes_a_valid_link(tmp_path: Path) -> None:
    """As `taskly serve` prints `http://[::1]:PORT`, the link brackets an IPv6 address."""
    asyncio.run(add_user(tmp_path / DATA, "ada"))
    link = link_of(
        run(["sign-in-link", "--data-dir", DATA], tmp_path, TASKLY_HOST="::1", TASKLY_PORT="8123")
    )
    assert link.startswith("http://[::1]:8123/auth/link?code=")
    assert urlsplit(link).port == 8123


async def test_the_printed_link_signs_in_once_on_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / DATA
    await add_user(data, "ada", workspace="Team")
    await add_user(data, "bob")
    async with taskly_on(data) as url, new_browser() as browser:
        port = str(urlsplit(url).port)

        result = await arun(["sign-in-link", "--data-dir", DATA], tmp_path, TASKLY_PORT=port)

        link = link_of(result)
        assert link.startswith(url + "/auth/link?code=")
        assert "'ada'" in result.stderr and "24 hours" in result.stderr  # the instance owner
        code = link.split("code=", 1)[1]
        assert code not in result.stderr
        landed = await browser.get(link)
        assert landed.url == url + "/", landed.text  # the web app, signed in
        assert refresh_cookie_set(landed.history[0])
        session = await browser.get(url + "/auth/session")
        assert session.status_code == 200, session.text
        body = session.json()
        assert body["user"]["login"] == "ada" and body["user"]["local"] is True
        assert [(w["name"], w["role"]) for w in body["workspaces"]] == [("Team", "owner")]
        # Once only.
        async with new_browser() as again:
            assert (await again.get(link)).status_code == 401

        # --user picks someone else; each link is new and for that user.
        for_bob = link_of(
            await arun(
                ["sign-in-link", "--user", "BOB", "--data-dir", DATA], tmp_path, TASKLY_PORT=port
            )
        )
        async with new_browser() as bobs:
            landed = await bobs.get(for_bob)
            assert landed.url == url + "/", landed.text
            session = await bobs.get(url + "/auth/session")
            assert session.json()["user"]["login"] == "bob"
    # The CLI and the server used the same generated keys, kept private.
    assert (data / SECRETS_FILE).stat().st_mode & 0o777 == 0o600
