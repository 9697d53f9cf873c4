"""`TasklyClient`: the REST API with the user's token (docs/api.md, docs/auth.md)."""

from __future__ import annotations

from typing import Any

import httpx

from clients.python._auth import StaticToken, TokenSource
from clients.python._errors import AuthError, ClientError
from clients.python._home import BoardInfo
from clients.python._http import is_loopback, raise_for_problem, transport_error

DEFAULT_TIMEOUT = 10.0


class TasklyClient:
    """Calls to one Taskly server as one user; errors come out as typed ClientErrors."""

    def __init__(
        self, server: str, token: str | TokenSource, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Talk to `server` (http://HOST:PORT) with a token or a token source."""
        self.server = server.rstrip("/")
        self.tokens: TokenSource = StaticToken(token) if isinstance(token, str) else token
        self._http = httpx.Client(
            base_url=self.server, timeout=timeout, trust_env=not is_loopback(self.server)
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> TasklyClient:
        """Use as a context manager that closes the client."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the client."""
        self.close()

    def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        """Send one API call and return its decoded JSON (None for 204); raise typed errors.

        A 401 is retried once with a fresh token when the source can renew it (a session).
        """
        for fresh in (False, True):
            headers = {"Authorization": f"Bearer {self.tokens.token(fresh=fresh)}"}
            try:
                response = self._http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except httpx.HTTPError as exc:
                raise transport_error(self.server, exc) from None
            if (
                response.status_code == 401
                and not fresh
                and not isinstance(self.tokens, StaticToken)
            ):
                continue
            raise_for_problem(response)
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise ClientError(f"{response.request.url} answered something not JSON") from None
        raise AuthError(401, "Unauthorized", "the renewed token was refused too", self.server)

    # -- reads the CLI needs -------------------------------------------------------------

    def me(self) -> str:
        """Return the id of the user the token belongs to (GET /api/me)."""
        return str(self.request("GET", "/api/me")["id"])

    def workspaces(self) -> list[dict[str, Any]]:
        """The caller's workspaces (`id`, `name`, `role`)."""
        body = self.request("GET", "/api/workspaces")
        return list(body["workspaces"])

    def boards(self) -> list[BoardInfo]:
        """Every board of every workspace the caller belongs to (unarchived)."""
        found = []
        for workspace in self.workspaces():
            body = self.request("GET", f"/api/workspaces/{workspace['id']}/boards")
            for board in body["boards"]:
                found.append(
                    BoardInfo(
                        id=board["id"],
                        name=board["name"],
                        workspace_id=workspace["id"],
                        workspace_name=workspace["name"],
                        card_prefix=board["card_prefix"],
                    )
                )
        return found

    def board(self, board_id: str) -> dict[str, Any]:
        """One board with its columns, cards, labels and sprints (GET /api/boards/{id})."""
        body: dict[str, Any] = self.request("GET", f"/api/boards/{board_id}")
        return body

    def create_card(self, board_id: str, title: str, **fields: Any) -> dict[str, Any]:
        """Create a card over REST (numbered at once); return it."""
        body: dict[str, Any] = self.request(
            "POST", f"/api/boards/{board_id}/cards", json={"title": title, **fields}
        )
        return body

    def sync_url(self, board_id: str) -> str:
        """The y-websocket URL of a board: ws://HOST:PORT/sync/{board_id}."""
        return sync_url(self.server, board_id)


def sync_url(server: str, board_id: str) -> str:
    """ws(s)://HOST:PORT/sync/{board_id} for the server at http(s)://HOST:PORT."""
    base = server.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + f"/sync/{board_id}"
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://") + f"/sync/{board_id}"
    raise ClientError(f"the server URL must start with http:// or https://, got {server!r}")
