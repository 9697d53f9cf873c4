"""Who is calling an HTTP API route: the bearer token of the request, resolved to a user id.

Also the RFC 7807 problem exception the auth and workspace routes raise. A bearer token is a
JWT access token or a personal access token (`tsk_pat_...`), as on `/sync`; refusals are 401
problems with `WWW-Authenticate: Bearer` and fixed sentences that never contain the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Scope

from storage import Store, TokenNotFound
from sync_server.access.authenticator import TokenAuthenticator, pat_hash
from sync_server.access.tokens import AccessTokens, Clock, InvalidToken, is_personal_access_token
from sync_server.errors import AuthRequired

PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_AUTHORIZATION_CHARS = 8192


class ApiProblem(Exception):
    """An error answered as RFC 7807 problem JSON; `extensions` become extra members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def response(self) -> JSONResponse:
        """Return the problem as a response."""
        try:
            title = HTTPStatus(self.status).phrase
        except ValueError:
            title = "Error"
        body = {
            "type": "about:blank",
            "title": title,
            "status": self.status,
            "detail": self.detail,
            **self.extensions,
        }
        return JSONResponse(
            body, status_code=self.status, media_type=PROBLEM_MEDIA_TYPE, headers=self.headers
        )


def unauthorized(detail: str) -> ApiProblem:
    """Return a 401 problem asking for a bearer token."""
    return ApiProblem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="taskly"'})


def bearer_token(request: Request) -> str:
    """Return the bearer token of the Authorization header; raise a 401 problem if there is none."""
    header = request.headers.get("authorization")
    if header is None:
        raise unauthorized("authentication required: send Authorization: Bearer <token>")
    if len(header) > MAX_AUTHORIZATION_CHARS:
        raise unauthorized("the Authorization header is too long")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("the Authorization header must be: Bearer <token>")
    return token


async def caller_id(request: Request, access_tokens: AccessTokens, clock: Clock) -> str:
    """Return the id of the user the request's bearer token identifies, or raise a 401 problem."""
    token = bearer_token(request)
    store: Store = request.state.store
    try:
        return await TokenAuthenticator(store, access_tokens, clock=clock).user_for(token)
    except AuthRequired as exc:
        raise unauthorized(str(exc)) from None


def rate_limit_user(access_tokens: AccessTokens) -> Callable[[Scope], Awaitable[str | None]]:
    """Return the rate limiter's `user_of`: the user a request's bearer token names, or None.

    A request without a valid token counts only against its IP's budget (its handler then
    refuses it with 401).
    """

    async def user_of(scope: Scope) -> str | None:
        header = Headers(scope=scope).get("authorization")
        if header is None or len(header) > MAX_AUTHORIZATION_CHARS:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        store: Store | None = (scope.get("state") or {}).get("store")
        if store is None:
            return None
        token = token.strip()
        if is_personal_access_token(token):
            # Read-only lookup: the handler checks revocation and records the use.
            try:
                record = await store.get_token_by_hash(pat_hash(token))
            except TokenNotFound:
                return None
            # A revoked or expired token must not spend its owner's budget.
            return record.user_id if record.is_valid_at(datetime.now(UTC)) else None
        try:
            return access_tokens.verify(token).sub
        except InvalidToken:
            return None

    return user_of
