"""Sign-in with GitHub: the OAuth 2.0 authorization-code flow through authlib's Starlette client.

`github_auth_routes(config, on_identity)` returns two routes:

- `GET /auth/github/login` redirects to GitHub's authorize page with a random `state`, which
  authlib keeps in the Starlette session (so the app needs `SessionMiddleware`).
- `GET /auth/github/callback` checks the state, exchanges the code for an access token, reads
  `GET /user` and `GET /user/emails`, and hands a `GitHubIdentity` to `on_identity`, whose
  response is the answer. Every failure answers RFC 7807 problem JSON and never calls
  `on_identity`:

  | case                                                        | status | `error`             |
  |-------------------------------------------------------------|--------|---------------------|
  | `state` missing or not the one this browser session got     | 400    | `state_mismatch`    |
  | the user denied the authorization (`error=access_denied`)   | 403    | `access_denied`     |
  | any other `error=` GitHub put in the callback               | 400    | `authorization_failed` |
  | no `code` in the callback                                   | 400    | `missing_code`      |
  | the code is unknown, expired or already used                | 400    | `bad_verification_code` |
  | GitHub refuses the app's credentials / redirect URI         | 502    | `github_misconfigured` |
  | GitHub down: 5xx, timeout, connection error, garbage answer | 502    | `github_unavailable` |

  The email is the primary *verified* address from `/user/emails`; without one (or without
  the `user:email` scope granted) the identity has `email=None` and sign-in still succeeds:
  GitHub's numeric id is the identity, the email is informative only.

Nothing here logs the access token, the client secret or the code.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import httpx
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

with warnings.catch_warnings():
    # authlib 1.9 warns at import time when it falls back from `httpx2` to `httpx` (what Taskly
    # uses); the import of authlib.deprecate installs an "always" filter, scoped to this block.
    import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401

    warnings.filterwarnings(
        "ignore", message="The httpx module is deprecated", category=DeprecationWarning
    )
    from authlib.integrations.base_client.errors import (  # type: ignore[import-untyped]
        MismatchingStateError,
        OAuthError,
    )
    from authlib.integrations.starlette_client import (  # type: ignore[import-untyped]
        OAuth,
        StarletteOAuth2App,
    )

log = logging.getLogger("taskly.auth.github")

CLIENT_NAME = "github"
DEFAULT_SCOPE = "read:user user:email"
DEFAULT_TIMEOUT_SECONDS = 10.0
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubOAuthConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A GitHub OAuth app; the URLs default to github.com's and point tests at a fake."""

    client_id: str
    client_secret: str
    authorize_url: str = "https://github.com/login/oauth/authorize"
    access_token_url: str = "https://github.com/login/oauth/access_token"
    api_base_url: str = "https://api.github.com/"
    scope: str = DEFAULT_SCOPE
    # The callback URL registered with GitHub; None derives it from the request (fine unless
    # Taskly runs behind a proxy that rewrites the host or scheme).
    redirect_url: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def __repr__(self) -> str:
        return (
            f"GitHubOAuthConfig(client_id={self.client_id!r}, client_secret='***', "
            f"authorize_url={self.authorize_url!r}, access_token_url={self.access_token_url!r}, "
            f"api_base_url={self.api_base_url!r}, scope={self.scope!r})"
        )


class GitHubIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Who signed in; `email` is the primary verified address, or None."""

    github_id: int
    login: str
    name: str | None
    email: str | None
    access_token: str

    def __repr__(self) -> str:
        return (
            f"GitHubIdentity(github_id={self.github_id!r}, login={self.login!r}, "
            f"name={self.name!r}, email={self.email!r}, access_token='***')"
        )


OnIdentity = Callable[[Request, GitHubIdentity], Awaitable[Response]]


class _Profile(msgspec.Struct):
    id: int
    login: str
    name: str | None = None


class _Email(msgspec.Struct):
    email: str
    primary: bool = False
    verified: bool = False


class GitHubFailure(Exception):
    """The flow failed; carries the problem response's status, `error` and detail."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def register_github(oauth: OAuth, config: GitHubOAuthConfig) -> StarletteOAuth2App:
    """Register (or replace) the `github` client of `oauth` from `config`; return it."""
    api_base = config.api_base_url.rstrip("/") + "/"  # urljoin keeps the path's last segment
    client: StarletteOAuth2App = oauth.register(
        CLIENT_NAME,
        overwrite=True,
        client_id=config.client_id,
        client_secret=config.client_secret,
        authorize_url=config.authorize_url,
        access_token_url=config.access_token_url,
        api_base_url=api_base,
        client_kwargs={
            "scope": config.scope,
            # GitHub documents the credentials in the body.
            "token_endpoint_auth_method": "client_secret_post",
            "timeout": httpx.Timeout(config.timeout_seconds),
        },
    )
    return client


def github_auth_routes(
    config: GitHubOAuthConfig, on_identity: OnIdentity, *, oauth: OAuth | None = None
) -> list[BaseRoute]:
    """The `/auth/github/login` and `/auth/github/callback` routes (they need SessionMiddleware)."""
    client = register_github(oauth or OAuth(), config)

    async def login(request: Request) -> Response:
        redirect_uri = config.redirect_url or str(request.url_for("github_callback"))
        response: Response = await client.authorize_redirect(request, redirect_uri)
        return response

    async def callback(request: Request) -> Response:
        try:
            identity = await _identity(client, request)
        except GitHubFailure as failure:
            return _problem(failure.status, failure.error, failure.detail)
        return await on_identity(request, identity)

    return [
        Route("/auth/github/login", login, methods=["GET"], name="github_login"),
        Route("/auth/github/callback", callback, methods=["GET"], name="github_callback"),
    ]


async def _identity(client: StarletteOAuth2App, request: Request) -> GitHubIdentity:
    query = request.query_params
    error = query.get("error")
    if error is not None:
        state = query.get("state")
        if state:
            await client.framework.clear_state_data(request.session, state)
        description = query.get("error_description") or error
        log.info("GitHub sign-in refused by GitHub: %s", error)
        if error == "access_denied":
            raise GitHubFailure(403, "access_denied", f"GitHub sign-in was denied: {description}")
        raise GitHubFailure(400, "authorization_failed", f"GitHub sign-in failed: {description}")
    if not query.get("state"):
        raise GitHubFailure(
            400, "state_mismatch", "the callback has no state; start the sign-in again"
        )
    if not query.get("code"):
        raise GitHubFailure(400, "missing_code", "the callback has no code; sign in again")
    token = await _exchange(client, request)
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise GitHubFailure(502, "github_unavailable", "GitHub answered without an access token")
    try:
        profile = msgspec.convert(await _api_get(client, "user", token), _Profile)
    except msgspec.ValidationError as exc:
        raise _unavailable("user", exc) from None
    emails = await _api_get(client, "user/emails", token, missing_ok=True)
    email = _primary_verified(emails)
    if email is None:
        log.info("GitHub user %s has no verified primary email visible to Taskly", profile.login)
    return GitHubIdentity(
        github_id=profile.id,
        login=profile.login,
        name=profile.name or None,
        email=email,
        access_token=access_token,
    )


async def _exchange(client: StarletteOAuth2App, request: Request) -> dict[str, Any]:
    try:
        token: dict[str, Any] = await client.authorize_access_token(request)
    except MismatchingStateError:
        log.info("GitHub sign-in: state mismatch")
        raise GitHubFailure(
            400,
            "state_mismatch",
            "the state does not match this browser's sign-in; start the sign-in again",
        ) from None
    except OAuthError as exc:
        log.info("GitHub refused the code exchange: %s", exc.error)
        if exc.error == "bad_verification_code":
            raise GitHubFailure(
                400,
                "bad_verification_code",
                "the authorization code is invalid, expired or already used; sign in again",
            ) from None
        if exc.error in ("incorrect_client_credentials", "redirect_uri_mismatch"):
            log.error("the GitHub OAuth app is misconfigured: %s", exc.error)
            raise GitHubFailure(
                502,
                "github_misconfigured",
                f"GitHub refused Taskly's OAuth app settings ({exc.error})",
            ) from None
        raise GitHubFailure(
            400, "authorization_failed", f"GitHub refused the sign-in ({exc.error})"
        ) from None
    except (httpx.HTTPError, ValueError, TypeError) as exc:
        raise _unavailable("access_token", exc) from None
    return token


async def _api_get(
    client: StarletteOAuth2App, path: str, token: dict[str, Any], *, missing_ok: bool = False
) -> Any:
    try:
        response: httpx.Response = await client.get(path, token=token, headers=API_HEADERS)
    except httpx.HTTPError as exc:
        raise _unavailable(path, exc) from None
    if missing_ok and response.status_code in (403, 404):
        return []  # the user:email scope was not granted
    if response.status_code != 200:
        log.warning("GitHub answered %d to GET /%s", response.status_code, path)
        raise GitHubFailure(
            502, "github_unavailable", f"GitHub answered {response.status_code} to /{path}"
        )
    try:
        return response.json()
    except ValueError:
        raise _unavailable(path, ValueError("not JSON")) from None


def _unavailable(path: str, exc: Exception) -> GitHubFailure:
    kind = type(exc).__name__
    if isinstance(exc, httpx.HTTPStatusError):
        kind = f"HTTP {exc.response.status_code}"
    log.warning("GitHub unavailable at /%s: %s", path.lstrip("/"), kind)
    return GitHubFailure(
        502, "github_unavailable", f"GitHub is unavailable ({kind}); try again later"
    )


def _primary_verified(raw: Any) -> str | None:
    try:
        emails = msgspec.convert(raw, list[_Email])
    except msgspec.ValidationError:
        return None
    for entry in emails:
        if entry.primary and entry.verified:
            return entry.email
    return None


def _problem(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "error": error,
        },
        status_code=status,
        media_type="application/problem+json",
    )
