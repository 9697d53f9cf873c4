"""A fake GitHub: a real HTTP server on 127.0.0.1 (uvicorn) speaking GitHub's OAuth wire format.

    async with FakeGitHub() as github:
        github.add_user("octocat", name="The Octocat", emails=[...])
        ... point the code under test at github.base_url (authorize, access_token, api) ...

What it serves, shaped as github.com answers (see docs.github.com "Authorizing OAuth apps",
"Troubleshooting OAuth app access token request errors", REST "Users" and "Emails"):

- `GET /login/oauth/authorize`: the browser step. The test decides what "the user" does
  (`signed_in` approves, `deny_next` denies); answers 302 to `redirect_uri` with `code` and
  `state`, or with `error=access_denied`, `error_description`, `error_uri` and `state`.
- `POST /login/oauth/access_token`: form or JSON body; the credentials in the body or HTTP
  Basic. Answers 200 in every OAuth outcome, JSON with `Accept: application/json`, else
  form-encoded; errors `bad_verification_code` (unknown, expired or used code),
  `incorrect_client_credentials`, `redirect_uri_mismatch`.
- `GET /user`, `GET /user/emails` with `Authorization: Bearer|token <t>`; 401 "Bad credentials"
  otherwise; `/user/emails` answers 404 without the `user:email` scope, as GitHub does.

`outage(path, mode)` breaks one endpoint (or `"*"`, all of them): 502, 503, `"drop"` (the
connection closes mid-response) or `"hang"` (no answer until the fake stops). Every request is
recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

DOCS = "https://docs.github.com"
TOKEN_ERRORS_DOCS = (
    DOCS + "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
)
AUTHORIZE_ERRORS_DOCS = (
    DOCS + "/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"
)
CODE_LIFETIME_SECONDS = 600.0  # GitHub: "codes expire after 10 minutes"

OutageMode = Literal[502, 503, "drop", "hang"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FakeEmail(msgspec.Struct, kw_only=True):
    """One entry of `GET /user/emails`."""

    email: str
    primary: bool = False
    verified: bool = True
    visibility: str | None = "private"


class FakeUser(msgspec.Struct, kw_only=True):
    """A GitHub account; `public_email` is what `/user` shows as `email` (often null)."""

    login: str
    id: int
    name: str | None = None
    public_email: str | None = None
    emails: list[FakeEmail] = msgspec.field(default_factory=list)

    def profile(self, base_url: str) -> dict[str, Any]:
        """The JSON of `GET /user` for this account (the public fields GitHub always sends)."""
        api = f"{base_url}/users/{self.login}"
        return {
            "login": self.login,
            "id": self.id,
            "node_id": base64.b64encode(f"04:User{self.id}".encode()).decode(),
            "avatar_url": f"{base_url}/avatars/u/{self.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{base_url}/{self.login}",
            "repos_url": f"{api}/repos",
            "type": "User",
            "user_view_type": "public",
            "site_admin": False,
            "name": self.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": self.public_email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2011-01-25T18:44:36Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }


class RecordedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request as the fake received it (headers lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        """The body as a form or a JSON object."""
        if self.headers.get("content-type", "").startswith("application/json"):
            loaded = json.loads(self.body or b"{}")
            return {str(k): str(v) for k, v in loaded.items()}
        return dict(parse_qsl(self.body.decode()))


class _Grant(msgspec.Struct, kw_only=True):
    login: str
    client_id: str
    redirect_uri: str | None
    scope: str
    issued: float
    used: bool = False


class _Drop(Exception):
    """Raised after the response started: uvicorn then closes the connection."""


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        return None


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port) in this event loop; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, interface="asgi3", lifespan="auto", log_config=None, access_log=False, ws="none"
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait([ready, task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if not server.ready.is_set():
            raise RuntimeError("the server did not start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


class FakeGitHub:
    """A fake github.com + api.github.com on one loopback port; an async context manager."""

    def __init__(
        self, *, client_id: str = "Iv1.fakeclientid", client_secret: str = "fake-client-secret"
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        # The registered callback URL; None accepts any redirect_uri.
        self.callback_url: str | None = None
        self.users: dict[str, FakeUser] = {}
        # Who is signed in to github.com in "the browser": approves the next authorization.
        self.signed_in: str | None = None
        self.deny_next = False
        self.outages: dict[str, OutageMode] = {}
        self.requests: list[RecordedRequest] = []
        self.tokens: dict[str, tuple[str, str]] = {}  # access token -> (login, scope)
        self._grants: dict[str, _Grant] = {}
        self._next_id = 583231
        self._stack = AsyncExitStack()
        self._stopping = asyncio.Event()
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize, methods=["GET"]),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/user", self._user, methods=["GET"]),
                Route("/user/emails", self._emails, methods=["GET"]),
            ]
        )

    # -- programming the fake -------------------------------------------------------------------

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/login/oauth/authorize"

    @property
    def access_token_url(self) -> str:
        return self.base_url + "/login/oauth/access_token"

    @property
    def api_base_url(self) -> str:
        return self.base_url + "/"

    def add_user(
        self,
        login: str,
        *,
        id: int | None = None,
        name: str | None = None,
        public_email: str | None = None,
        emails: list[FakeEmail] | None = None,
        sign_in: bool = True,
    ) -> FakeUser:
        """Create an account (signed in to "the browser" unless `sign_in=False`)."""
        if id is None:
            self._next_id += 1
            id = self._next_id
        user = FakeUser(
            login=login, id=id, name=name, public_email=public_email, emails=list(emails or [])
        )
        self.users[login] = user
        if sign_in:
            self.signed_in = login
        return user

    def outage(self, path: str, mode: OutageMode = 503) -> None:
        """Break `path` ("*" for every path) until `heal()`."""
        self.outages[path] = mode

    def heal(self) -> None:
        self.outages.clear()

    def issue_token(self, login: str, scope: str = "read:user,user:email") -> str:
        """Return a valid access token for `login` without the OAuth dance."""
        token = "gho_" + secrets.token_urlsafe(27)[:36]
        self.tokens[token] = (login, scope)
        return token

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeGitHub:
        self._stack = AsyncExitStack()
        self._stopping = asyncio.Event()
        self.base_url = await self._stack.enter_async_context(serve(self._asgi))
        self._stack.callback(self._stopping.set)  # runs first: hung requests end, then the server
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    # -- the ASGI layer: recording and outages ----------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        path: str = scope["path"]
        self.requests.append(
            RecordedRequest(
                method=scope["method"],
                path=path,
                query=dict(parse_qsl(scope["query_string"].decode())),
                headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
                body=body,
            )
        )
        mode = self.outages.get(path, self.outages.get("*"))
        if mode == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            raise _Drop(path)
        if mode == "hang":
            await self._stopping.wait()
            mode = 503
        if mode is not None:
            await _outage_response(mode)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    # -- endpoints --------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("Not Found", status_code=404)  # GitHub shows its 404 page
        redirect_uri = q.get("redirect_uri") or self.callback_url
        if redirect_uri is None:
            return PlainTextResponse("redirect_uri is required by this fake", status_code=400)
        state = q.get("state")
        if self.callback_url is not None and not redirect_uri.startswith(self.callback_url):
            return _redirect(
                self.callback_url,
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL "
                "for this application.",
                error_uri=AUTHORIZE_ERRORS_DOCS + "#redirect-uri-mismatch",
                state=state,
            )
        if self.deny_next or self.signed_in is None:
            self.deny_next = False
            return _redirect(
                redirect_uri,
                error="access_denied",
                error_description="The user has denied your application access.",
                error_uri=AUTHORIZE_ERRORS_DOCS + "#access-denied",
                state=state,
            )
        code = secrets.token_hex(10)  # GitHub's codes are 20 hex characters
        scope = ",".join((q.get("scope") or "").replace(",", " ").split())
        self._grants[code] = _Grant(
            login=self.signed_in,
            client_id=self.client_id,
            redirect_uri=q.get("redirect_uri"),
            scope=scope,
            issued=time.monotonic(),
        )
        return _redirect(redirect_uri, code=code, state=state)

    async def _access_token(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                loaded = json.loads(body or b"{}")
            except ValueError:
                loaded = {}
            params = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        else:
            params = dict(parse_qsl(body.decode()))
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                user = password = ""
            client_id, client_secret = client_id or user, client_secret or password
        as_json = "application/json" in request.headers.get("accept", "")
        if client_id != self.client_id or client_secret != self.client_secret:
            return _token_answer(
                as_json,
                error="incorrect_client_credentials",
                error_description="The client_id and/or client_secret passed are incorrect.",
                error_uri=TOKEN_ERRORS_DOCS + "#incorrect-client-credentials",
            )
        grant = self._grants.get(params.get("code", ""))
        if (
            grant is None
            or grant.used
            or time.monotonic() - grant.issued > CODE_LIFETIME_SECONDS
            or grant.client_id != client_id
        ):
            return _token_answer(
                as_json,
                error="bad_verification_code",
                error_description="The code passed is incorrect or expired.",
                error_uri=TOKEN_ERRORS_DOCS + "#bad-verification-code",
            )
        redirect_uri = params.get("redirect_uri")
        if grant.redirect_uri is not None and redirect_uri not in (None, grant.redirect_uri):
            return _token_answer(
                as_json,
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL "
                "for this application.",
                error_uri=TOKEN_ERRORS_DOCS + "#redirect-uri-mismatch2",
            )
        grant.used = True
        token = self.issue_token(grant.login, grant.scope)
        return _token_answer(as_json, access_token=token, token_type="bearer", scope=grant.scope)

    def _account(self, request: Request) -> tuple[FakeUser, str] | None:
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        if kind.lower() not in ("bearer", "token") or token not in self.tokens:
            return None
        login, scope = self.tokens[token]
        user = self.users.get(login)
        return None if user is None else (user, scope)

    async def _user(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return _bad_credentials()
        user, scope = account
        return JSONResponse(user.profile(self.base_url), headers=_api_headers(scope))

    async def _emails(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return _bad_credentials()
        user, scope = account
        if "user:email" not in scope.split(",") and "user" not in scope.split(","):
            return JSONResponse(
                {
                    "message": "Not Found",
                    "documentation_url": DOCS + "/rest/users/emails",
                    "status": "404",
                },
                status_code=404,
                headers=_api_headers(scope),
            )
        return JSONResponse(
            [msgspec.to_builtins(e) for e in user.emails], headers=_api_headers(scope)
        )


def _redirect(url: str, **params: str | None) -> RedirectResponse:
    parts = urlsplit(url)
    query = parse_qsl(parts.query) + [(k, v) for k, v in params.items() if v is not None]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)


def _token_answer(as_json: bool, **fields: str) -> Response:
    if as_json:
        return JSONResponse(fields)
    return Response(urlencode(fields), media_type="application/x-www-form-urlencoded")


def _api_headers(scope: str) -> dict[str, str]:
    return {
        "X-OAuth-Scopes": ", ".join(s for s in scope.split(",") if s),
        "X-Accepted-OAuth-Scopes": "",
        "X-GitHub-Api-Version-Selected": "2022-11-28",
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "4999",
        "X-RateLimit-Resource": "core",
    }


def _bad_credentials() -> Response:
    return JSONResponse(
        {"message": "Bad credentials", "documentation_url": DOCS + "/rest", "status": "401"},
        status_code=401,
    )


def _outage_response(mode: OutageMode) -> Response:
    if mode == 502:
        return Response(
            "<html><body><h1>502 Bad Gateway</h1>Server Error</body></html>",
            status_code=502,
            media_type="text/html",
        )
    return JSONResponse(
        {"message": "Service Unavailable", "documentation_url": DOCS + "/rest"},
        status_code=503,
        headers={"Retry-After": "1"},
    )
