"""The GitHub sign-in flow end to end: a real Starlette app and a fake GitHub, both served by
uvicorn on 127.0.0.1, driven by a real httpx client that follows redirects across both."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sync_server.github_oauth import GitHubIdentity, GitHubOAuthConfig, github_auth_routes
from tests.fakes.github import FakeEmail, FakeGitHub, OutageMode, serve

LOGIN = "/auth/github/login"
CALLBACK = "/auth/github/callback"
TIMEOUT_SECONDS = 2.0


@dataclass
class Taskly:
    url: str
    identities: list[GitHubIdentity] = field(default_factory=list)


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        fake.add_user(
            "octocat",
            id=583231,
            name="The Octocat",
            public_email=None,
            emails=[
                FakeEmail(email="old@example.com", primary=False, verified=True),
                FakeEmail(email="octo@example.com", primary=True, verified=True),
                FakeEmail(email="octocat@users.noreply.github.com", verified=True),
            ],
        )
        yield fake


@pytest.fixture
async def taskly(github: FakeGitHub) -> AsyncIterator[Taskly]:
    running = Taskly(url="")

    async def on_identity(request: Request, identity: GitHubIdentity) -> Response:
        running.identities.append(identity)
        return JSONResponse({"github_id": identity.github_id, "login": identity.login})

    config = GitHubOAuthConfig(
        client_id=github.client_id,
        client_secret=github.client_secret,
        authorize_url=github.authorize_url,
        access_token_url=github.access_token_url,
        api_base_url=github.api_base_url,
        timeout_seconds=TIMEOUT_SECONDS,
    )
    app = Starlette(
        routes=github_auth_routes(config, on_identity),
        middleware=[Middleware(SessionMiddleware, secret_key="test-session-key")],
    )
    async with serve(app) as url:
        running.url = url
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, error: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["error"] == error
    assert body["title"] and body["detail"]
    return dict(body)


async def start(browser: httpx.AsyncClient, taskly: Taskly) -> str:
    """Run the sign-in up to GitHub's redirect back; return the callback URL (not followed)."""
    login = await browser.get(taskly.url + LOGIN, follow_redirects=False)
    assert login.status_code == 302
    authorize = await browser.get(login.headers["location"], follow_redirects=False)
    assert authorize.status_code == 302
    callback = authorize.headers["location"]
    assert callback.startswith(taskly.url + CALLBACK)
    return callback


def server_log(caplog: pytest.LogCaptureFixture, taskly: Taskly) -> str:
    """The captured log minus what the browser's side logs: the test client's own requests to
    the callback URL (which carries the code by design) and the harness's access log."""
    callback = taskly.url + CALLBACK
    kept = [
        record.getMessage()
        for record in caplog.records
        if record.name != "uvicorn.access"
        and not (record.name.startswith(("httpx", "httpcore")) and callback in record.getMessage())
    ]
    assert kept
    return "\n".join(kept)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_sign_in_hands_the_identity_over(
    github: FakeGitHub,
    taskly: Taskly,
    browser: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await browser.get(taskly.url + LOGIN)

    assert response.status_code == 200, response.text
    assert response.json() == {"github_id": 583231, "login": "octocat"}
    [identity] = taskly.identities
    assert identity.github_id == 583231
    assert identity.login == "octocat"
    assert identity.name == "The Octocat"
    assert identity.email == "octo@example.com"
    assert github.tokens[identity.access_token] == ("octocat", "read:user,user:email")
    # The authorize request carried the scope, a state and our callback.
    [authorize] = github.requests_to("/login/oauth/authorize")
    assert authorize.query["scope"] == "read:user user:email"
    assert len(authorize.query["state"]) >= 20
    assert authorize.query["redirect_uri"] == taskly.url + CALLBACK
    # The exchange sent the credentials in the body and asked for JSON.
    [exchange] = github.requests_to("/login/oauth/access_token")
    form = exchange.form()
    assert form["client_id"] == github.client_id
    assert form["client_secret"] == github.client_secret
    assert form["redirect_uri"] == taskly.url + CALLBACK
    assert "application/json" in exchange.headers["accept"]
    [user] = github.requests_to("/user")
    assert user.headers["authorization"] == f"Bearer {identity.access_token}"
    # Secrets never reach the log.
    code = parse_qs(urlsplit(str(response.history[-1].headers["location"])).query)["code"][0]
    assert identity.access_token not in caplog.text
    assert github.client_secret not in caplog.text
    assert code not in server_log(caplog, taskly)
    assert identity.access_token not in repr(identity)


async def test_no_verified_primary_email_signs_in_without_email(
    github: FakeGitHub, taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    github.add_user(
        "nomail",
        name=None,
        public_email="public@example.com",
        emails=[FakeEmail(email="unverified@example.com", primary=True, verified=False)],
    )
    response = await browser.get(taskly.url + LOGIN)
    assert response.status_code == 200, response.text
    [identity] = taskly.identities
    assert (identity.login, identity.name, identity.email) == ("nomail", None, None)


async def test_tampered_state_is_refused(taskly: Taskly, browser: httpx.AsyncClient) -> None:
    callback = await start(browser, taskly)
    response = await browser.get(with_query(callback, state="forged-by-an-attacker"))
    assert_problem(response, 400, "state_mismatch")
    assert taskly.identities == []


async def test_missing_state_is_refused(taskly: Taskly, browser: httpx.AsyncClient) -> None:
    callback = await start(browser, taskly)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = await browser.get(f"{taskly.url}{CALLBACK}?code={code}")
    assert_problem(response, 400, "state_mismatch")
    assert taskly.identities == []


async def test_callback_from_another_browser_is_refused(
    taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    """Login CSRF: a callback URL started in the attacker's browser, opened in the victim's."""
    callback = await start(browser, taskly)
    async with httpx.AsyncClient(timeout=10) as victim:
        response = await victim.get(callback)
    assert_problem(response, 400, "state_mismatch")
    assert taskly.identities == []


async def test_denied_authorization(
    github: FakeGitHub, taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    github.deny_next = True
    response = await browser.get(taskly.url + LOGIN)
    body = assert_problem(response, 403, "access_denied")
    assert "denied" in str(body["detail"])
    assert github.requests_to("/login/oauth/access_token") == []
    assert taskly.identities == []


@pytest.mark.parametrize("mode", [502, 503, "drop", "hang"])
async def test_github_outage_at_the_token_endpoint(
    github: FakeGitHub,
    taskly: Taskly,
    browser: httpx.AsyncClient,
    mode: OutageMode,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    github.outage("/login/oauth/access_token", mode)
    response = await browser.get(taskly.url + LOGIN)
    body = assert_problem(response, 502, "github_unavailable")
    if mode == "hang":
        assert "Timeout" in str(body["detail"])
    assert len(github.requests_to("/login/oauth/access_token")) == 1
    assert github.requests_to("/user") == []
    assert taskly.identities == []
    assert github.client_secret not in caplog.text


@pytest.mark.parametrize("path", ["/user", "/user/emails"])
@pytest.mark.parametrize("mode", [502, 503, "drop", "hang"])
async def test_github_outage_at_the_api(
    github: FakeGitHub,
    taskly: Taskly,
    browser: httpx.AsyncClient,
    path: str,
    mode: OutageMode,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    github.outage(path, mode)
    response = await browser.get(taskly.url + LOGIN)
    assert_problem(response, 502, "github_unavailable")
    assert len(github.requests_to(path)) == 1
    assert taskly.identities == []
    [token] = github.tokens  # the exchange succeeded: the token exists but is never logged
    assert token not in caplog.text


async def test_replayed_callback_is_refused(
    github: FakeGitHub, taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    """Opening the same callback URL twice: its state was spent by the first use."""
    callback = await start(browser, taskly)
    first = await browser.get(callback)
    assert first.status_code == 200
    again = await browser.get(callback)
    assert_problem(again, 400, "state_mismatch")
    assert len(taskly.identities) == 1
    assert len(github.requests_to("/login/oauth/access_token")) == 1


async def test_already_used_code_is_refused(
    github: FakeGitHub, taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    """A used code under a fresh, valid state: GitHub answers bad_verification_code."""
    callback = await start(browser, taskly)
    first = await browser.get(callback)
    assert first.status_code == 200
    fresh = await start(browser, taskly)
    used_code = parse_qs(urlsplit(callback).query)["code"][0]
    response = await browser.get(with_query(fresh, code=used_code))
    assert_problem(response, 400, "bad_verification_code")
    assert len(taskly.identities) == 1
    assert len(github.requests_to("/login/oauth/access_token")) == 2


async def test_wrong_client_secret_is_a_server_side_problem(
    github: FakeGitHub, taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    github.client_secret = "rotated-on-github"
    response = await browser.get(taskly.url + LOGIN)
    assert_problem(response, 502, "github_misconfigured")
    assert taskly.identities == []


async def test_emails_scope_not_granted_signs_in_without_email(
    github: FakeGitHub, taskly: Taskly, browser: httpx.AsyncClient
) -> None:
    callback = await start(browser, taskly)
    # The user unticked user:email on GitHub's consent page: the grant's scope lacks it.
    for grant in github._grants.values():
        grant.scope = "read:user"
    response = await browser.get(callback)
    assert response.status_code == 200, response.text
    [identity] = taskly.identities
    assert identity.email is None
    [emails] = github.requests_to("/user/emails")
    assert emails.headers["authorization"].startswith("Bearer ")
