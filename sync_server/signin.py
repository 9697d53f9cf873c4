"""Browser sign-in: one-time links (`/auth/link`), GitHub's callback, and `/auth/session`.

- `GET /auth/link?code=...` spends a one-time sign-in code (see `sync_server.bootstrap`): the
  code is a refresh token, rotated here, so a second use is refresh-token reuse and ends that
  session. On success the browser gets the session cookie and is redirected (303) to the web
  app at `/`, which opens signed in; every refusal is a 401 problem and sets no cookie. A
  browser opening the link (it asks for text/html) is instead redirected to
  `/?signin_error=REASON` (`invalid`, `unknown`, `used`, `revoked`, `expired`), where the app
  explains the refusal next to the sign-in panel.
- After GitHub sign-in (`sync_server.github_oauth`), `github_sign_in` creates or updates the
  user, stores their GitHub token encrypted for that user, starts a session and redirects the
  same way.
- `GET /auth/session` says who the session cookie belongs to, with their workspaces (the web
  app reads it on start). It reads the cookie without rotating it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from storage import Store, TokenNotFound, UserNotFound
from sync_server.access.crypto import EncryptionConfig, TokenCipher
from sync_server.access.tokens import Clock, TokenConfig, new_refresh_token
from sync_server.auth_api import issue_session, refresh_hash, user_json
from sync_server.github_oauth import GitHubIdentity, OnIdentity
from sync_server.http_auth import ApiProblem
from sync_server.session_cookie import REFRESH_COOKIE, clear_refresh_cookie, set_refresh_cookie

log = logging.getLogger("taskly.auth")

LANDING: Final = "/"
"""Where a browser lands once signed in: the web app (`sync_server.web_app`)."""
SESSION: Final = "/auth/session"
SIGN_IN_ERROR: Final = "signin_error"
"""The query parameter that tells the web app why a sign-in link was refused."""
MAX_CODE_CHARS: Final = 512
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _signed_in(token: str, config: TokenConfig) -> Response:
    response = RedirectResponse(LANDING, status_code=303, headers=_NO_STORE)
    set_refresh_cookie(response, token, max_age=config.refresh_ttl_seconds)
    return response


class SignIn:
    """The sign-in routes under one token configuration."""

    def __init__(self, config: TokenConfig, *, clock: Clock = time.time) -> None:
        self._config = config
        self._clock = clock

    def routes(self) -> list[BaseRoute]:
        """Return the routes to mount."""
        return [
            Route("/auth/link", self.link, methods=["GET"]),
            Route(SESSION, self.session, methods=["GET"]),
        ]

    async def link(self, request: Request) -> Response:
        """Spend a one-time sign-in code: set the session cookie and open the web app."""
        code = request.query_params.get("code", "")
        if not code or len(code) > MAX_CODE_CHARS:
            return self._refused(
                request, "invalid", "the sign-in link has no valid code", clear_cookie=False
            )
        store: Store = request.state.store
        issued = new_refresh_token(self._config, clock=self._clock)
        assert issued.expires_at is not None
        try:
            result = await store.rotate_refresh_token(
                refresh_hash(code),
                refresh_hash(issued.token),
                _utc(issued.expires_at),
                at=_utc(self._clock()),
            )
        except TokenNotFound:
            return self._refused(request, "unknown", "this sign-in link is not known")
        if result.status == "reused":
            return self._refused(
                request,
                "used",
                "this sign-in link was already used; the session it started has been ended",
            )
        if result.status == "revoked":
            return self._refused(request, "revoked", "this sign-in link was revoked")
        if result.status == "expired":
            return self._refused(request, "expired", "this sign-in link has expired")
        log.info("signed in with a one-time link user=%s", result.old.user_id)
        return _signed_in(issued.token, self._config)

    @staticmethod
    def _refused(
        request: Request, reason: str, detail: str, *, clear_cookie: bool = True
    ) -> Response:
        """401 problem JSON; a browser page load goes to the web app, which says why.

        The cookie is cleared when the code was a real (spent) token: its session is over.
        """
        response: Response
        if "text/html" in request.headers.get("accept", ""):
            target = f"{LANDING}?{urlencode({SIGN_IN_ERROR: reason})}"
            response = RedirectResponse(target, status_code=303, headers=_NO_STORE)
        else:
            response = ApiProblem(
                401, detail + "; run `taskly sign-in-link` for a new one", headers=_NO_STORE
            ).response()
        if clear_cookie:
            clear_refresh_cookie(response)
        return response

    async def session(self, request: Request) -> Response:
        """Answer the signed-in user and their workspaces, from the session cookie."""
        token = request.cookies.get(REFRESH_COOKIE)
        if not token or len(token) > MAX_CODE_CHARS:
            return ApiProblem(401, "not signed in").response()
        store: Store = request.state.store
        now = _utc(self._clock())
        try:
            record = await store.get_refresh_token(refresh_hash(token))
            user = await store.get_user(record.user_id)
        except (TokenNotFound, UserNotFound):
            return self._signed_out("not signed in")
        if record.revoked_at is not None or record.used_at is not None:
            return self._signed_out("this session has ended; sign in again")
        if record.expires_at <= now:
            return self._signed_out("this session has expired; sign in again")
        workspaces = await store.list_user_workspaces(user.id)
        body = {
            "signed_in": True,
            "user": user_json(user),
            "session_expires_at": record.expires_at.isoformat(),
            "workspaces": [
                {"id": workspace.id, "name": workspace.name, "role": role}
                for workspace, role in workspaces
            ],
            "next": "POST /auth/refresh (with this cookie) answers an access token",
        }
        return JSONResponse(body, headers=_NO_STORE)

    @staticmethod
    def _signed_out(detail: str) -> Response:
        response = ApiProblem(401, detail).response()
        clear_refresh_cookie(response)
        return response


def github_sign_in(
    tokens: TokenConfig, encryption: EncryptionConfig, *, clock: Clock = time.time
) -> OnIdentity:
    """Return the callback's continuation: upsert the GitHub user, start their session."""
    cipher = TokenCipher(encryption)

    async def on_identity(request: Request, identity: GitHubIdentity) -> Response:
        store: Store = request.state.store
        name = identity.name or identity.login
        at = _utc(clock())
        try:
            user_id = (await store.get_user_by_github_id(identity.github_id)).id
        except UserNotFound:
            # The ciphertext is bound to the user id, which a new user gets only now.
            user_id = (
                await store.upsert_github_user(
                    identity.github_id, identity.login, name, identity.email, None, at=at
                )
            ).id
        sealed = cipher.encrypt(identity.access_token, user_id=user_id)
        user = await store.upsert_github_user(
            identity.github_id, identity.login, name, identity.email, sealed, at=at
        )
        session = await issue_session(store, tokens, user.id, clock=clock)
        log.info("signed in with GitHub user=%s github_login=%s", user.id, identity.login)
        return _signed_in(session.refresh.token, tokens)

    return on_identity


def sign_in_routes(config: TokenConfig, *, clock: Clock = time.time) -> list[BaseRoute]:
    """Return `/auth/link` and `/auth/session`."""
    return SignIn(config, clock=clock).routes()
