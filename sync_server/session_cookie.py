"""The browser session cookie: the refresh token, HttpOnly, Secure, SameSite=Lax, path /auth.

SameSite=Lax rather than Strict: after GitHub redirects back to the callback, the landing page
is reached by a redirect chain that started on github.com, and a Strict cookie would not be sent
there, so the freshly signed-in browser would look signed out. Lax still withholds the cookie
from cross-site POSTs, and every route that uses it to act (`/auth/refresh`, `/auth/logout`) is
a POST. Secure cookies are accepted on http://localhost and http://127.0.0.1 by browsers.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

REFRESH_COOKIE: Final = "taskly_refresh"
REFRESH_COOKIE_PATH: Final = "/auth"


def set_refresh_cookie(response: Response, token: str, *, max_age: int) -> None:
    """Give the browser its refresh token."""
    response.set_cookie(
        REFRESH_COOKIE,
        token,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_refresh_cookie(response: Response) -> None:
    """Make the browser forget its refresh token."""
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=True, httponly=True, samesite="lax"
    )
