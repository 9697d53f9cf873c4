"""Token sources: a personal access token as is, or a session kept alive by refresh tokens.

Refresh tokens rotate on every use and presenting a used one revokes the whole session
(docs/auth.md). So a rotation happens under the client home's lock (two CLI processes never
spend the same token), the new refresh token is written to config.json atomically before the
access token is used, and the access token is cached there until shortly before it expires.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Final, Protocol

import httpx

from clients.python._errors import AuthError, ClientError, NotLoggedIn
from clients.python._home import ClientHome, Config, Credentials
from clients.python._http import is_loopback, raise_for_problem, transport_error

# Refresh this long before the access token expires (clock skew, slow requests).
EXPIRY_MARGIN_SECONDS: Final = 60.0
REFRESH_COOKIE: Final = "taskly_refresh"


class TokenSource(Protocol):
    """Where a client gets the bearer token for its next request or connection."""

    def token(self, *, fresh: bool = False) -> str:
        """The token to present; `fresh` after a 401/4401 asks for a new one if possible."""
        ...


class StaticToken:
    """A personal access token (or any token that cannot be renewed)."""

    def __init__(self, token: str) -> None:
        """Present `token` always."""
        self._token = token

    def token(self, *, fresh: bool = False) -> str:
        """The token (`fresh` changes nothing: a PAT cannot be renewed)."""
        return self._token


class SessionToken:
    """Short access tokens from `POST /auth/refresh`, persisted in the client home."""

    def __init__(self, home: ClientHome, *, timeout: float = 10.0) -> None:
        """Rotate the refresh token stored in `home`'s config."""
        self._home = home
        self._timeout = timeout

    def token(self, *, fresh: bool = False) -> str:
        """A valid access token, rotating the refresh token when needed."""
        config = self._config()
        if not fresh and _valid(config.credentials):
            assert config.credentials.token is not None
            return config.credentials.token
        with self._home.lock():
            again = self._config()  # another process may have rotated meanwhile
            if _valid(again.credentials) and (
                not fresh or again.credentials.token != config.credentials.token
            ):
                assert again.credentials.token is not None
                return again.credentials.token
            refresh = again.credentials.refresh_token
            if refresh is None:
                raise NotLoggedIn()
            access, expires_in, rotated = refresh_session(again.server, refresh, self._timeout)
            again.credentials = Credentials(
                kind="session",
                token=access,
                refresh_token=rotated,
                access_expires_at=time.time() + expires_in,
            )
            again.user_id = again.user_id or jwt_subject(access)
            self._home.save_config(again)  # durable before the access token is used
            return access

    def _config(self) -> Config:
        config = self._home.load_config()
        if config is None:
            raise NotLoggedIn()
        return config


def _valid(credentials: Credentials) -> bool:
    expires = credentials.access_expires_at
    return (
        credentials.token is not None
        and expires is not None
        and expires - EXPIRY_MARGIN_SECONDS > time.time()
    )


def token_source(home: ClientHome, config: Config) -> TokenSource:
    """The token source for a stored login."""
    if config.credentials.kind == "pat":
        if config.credentials.token is None:
            raise NotLoggedIn()
        return StaticToken(config.credentials.token)
    return SessionToken(home)


def refresh_session(server: str, refresh_token: str, timeout: float) -> tuple[str, float, str]:
    """Spend `refresh_token`; return (access token, seconds it lives, the new refresh token)."""
    url = server.rstrip("/") + "/auth/refresh"
    try:
        with httpx.Client(timeout=timeout, trust_env=not is_loopback(url)) as http:
            response = http.post(url, json={"refresh_token": refresh_token})
    except httpx.HTTPError as exc:
        raise transport_error(server, exc) from None
    raise_for_problem(response)
    body = response.json()
    try:
        return str(body["access_token"]), float(body["expires_in"]), str(body["refresh_token"])
    except (KeyError, TypeError, ValueError):
        raise ClientError(f"{url} answered an unexpected body") from None


def spend_sign_in_link(link: str, timeout: float = 10.0) -> str:
    """Open a one-time sign-in link (`…/auth/link?code=…`); return the refresh token it sets."""
    try:
        with httpx.Client(
            timeout=timeout, trust_env=not is_loopback(link), follow_redirects=False
        ) as http:
            # JSON, not HTML: a browser's refusal is a redirect into the web app, ours a 401.
            response = http.get(link, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise transport_error(link.split("/auth/")[0], exc) from None
    if response.status_code >= 400:
        raise_for_problem(response)
    # The cookie is Secure, so httpx's jar would not send it back over http; read the
    # Set-Cookie header directly. The token is used once, in the body of /auth/refresh.
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == REFRESH_COOKIE:
            value = rest.split(";", 1)[0].strip()
            if value:
                return value
    raise AuthError(response.status_code, "no session", "the link set no session cookie", link)


def jwt_subject(token: str) -> str | None:
    """The `sub` claim of a JWT (unverified: only to label our own edits), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) else None
