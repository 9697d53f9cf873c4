"""Security headers on every HTTP response, and CORS limited to configured origins.

Referrer-Policy is `no-referrer`: boards link out to GitHub and elsewhere, and even an origin
would tell those sites the (possibly internal) host a team runs Taskly on; Taskly itself never
reads Referer (OAuth uses `state`, cookies are SameSite), so sending nothing costs nothing.

The CSP's `connect-src 'self'` also covers same-origin ws:/wss: (CSP Level 3, every current
browser), which is what y-websocket connects to; a sync server on another origin must be listed
in `connect_src`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


def content_security_policy(connect_src: Sequence[str] = ()) -> str:
    """Return the web app's CSP: only same-origin resources, no inline code, no framing."""
    connect = " ".join(["'self'", *connect_src])
    return (
        "default-src 'self'; "
        f"connect-src {connect}; "
        "frame-ancestors 'none'; "
        "base-uri 'none'; "
        "object-src 'none'; "
        "form-action 'self'"
    )


def security_headers(connect_src: Sequence[str] = ()) -> list[tuple[bytes, bytes]]:
    """Return the headers added to every HTTP response."""
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", content_security_policy(connect_src).encode()),
    ]


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, connect_src: Sequence[str] = ()) -> None:
        self.app = app
        self.headers = security_headers(connect_src)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass WebSockets and lifespan through; add the headers to HTTP responses."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_middleware(origins: Sequence[str]) -> Middleware:
    """Starlette's CORS for exactly `origins` (none by default), with credentials (cookies)."""
    return Middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Retry-After", "RateLimit-Limit", "RateLimit-Remaining"],
        max_age=600,
    )


def http_middleware(cors_origins: Sequence[str]) -> list[Middleware]:
    """The app's outer middleware, outermost first: security headers, then CORS."""
    return [Middleware(SecurityHeadersMiddleware), cors_middleware(cors_origins)]
