"""HTTP failures turned into the client's typed errors (problem JSON, transport errors)."""

from __future__ import annotations

import httpx

from clients.python._errors import (
    ApiError,
    AuthError,
    ForbiddenError,
    NotFoundError,
    OfflineError,
)


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the typed ApiError for an error answer (RFC 7807 body when there is one)."""
    if response.status_code < 400:
        return
    title = response.reason_phrase or "error"
    detail: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        raw = body.get("detail")
        detail = str(raw) if raw else None
        if body.get("field"):
            detail = f"{detail or title} (field {body['field']})"
    kind = {401: AuthError, 403: ForbiddenError, 404: NotFoundError}.get(
        response.status_code, ApiError
    )
    raise kind(response.status_code, title, detail, str(response.request.url))


def transport_error(server: str, exc: httpx.HTTPError) -> OfflineError:
    """An OfflineError naming why `server` could not be reached."""
    if isinstance(exc, httpx.ConnectError):
        cause = "connection refused" if "refused" in str(exc).lower() else f"{exc or 'no route'}"
    elif isinstance(exc, httpx.TimeoutException):
        cause = "timed out"
    else:
        cause = str(exc) or type(exc).__name__
    return OfflineError(server, cause)


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine (proxies from the environment are skipped then)."""
    host = httpx.URL(url).host
    return host in ("localhost", "::1") or host.startswith("127.")
