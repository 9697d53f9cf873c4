"""The browser app (`clients/web`), served from its build output `clients/web/dist`.

- `/` and every client-side route (`/b/{board_id}`) answer `index.html`, the app shell, with
  `Cache-Control: no-cache` so a new build is picked up on the next load;
- `/sw.js`, the service worker, from the root (its scope is the whole app), also `no-cache`:
  browsers check it for updates on every navigation;
- `/assets/...`: JS and CSS whose names carry a content hash, cached for a year (`immutable`).

The server starts without a build (`npm run build`, which `make serve` runs): the app's routes
then answer 503 saying how to build it, and everything else works as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

DEFAULT_DIST: Final = Path(__file__).resolve().parent.parent / "clients" / "web" / "dist"
"""Where `npm run build` writes the app, in a source checkout (the only way Taskly ships)."""

NOT_BUILT: Final = (
    "The Taskly web app is not built. Run `make install` (or `npm ci && npm run build`) in the "
    "repository, then reload this page."
)
_NO_CACHE: Final = {"Cache-Control": "no-cache"}
_IMMUTABLE: Final = "public, max-age=31536000, immutable"


class _Assets(StaticFiles):
    """Hashed build assets: cached for a year; a missing one is a 404 problem."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = _IMMUTABLE
        return response


def _not_built(request: Request) -> Response:
    """503: a short page for a browser, problem JSON for anything else."""
    if "text/html" in request.headers.get("accept", ""):
        page = (
            "<!doctype html><meta charset=utf-8><title>Taskly: web app not built</title>"
            f"<h1>Taskly</h1><p>{NOT_BUILT}</p>"
        )
        return HTMLResponse(page, status_code=503, headers=_NO_CACHE)
    return JSONResponse(
        {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": NOT_BUILT},
        status_code=503,
        media_type="application/problem+json",
        headers=_NO_CACHE,
    )


class WebApp:
    """The app's routes over one build directory (looked up on every request, so a build
    made while the server runs is served without a restart)."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist
        # check_dir=False: the directory may appear later (a build while the server runs).
        self._static = _Assets(directory=dist / "assets", check_dir=False)

    def routes(self) -> list[BaseRoute]:
        """Return the routes to mount after every other route (they include `/`)."""
        return [
            Route("/", self.shell, methods=["GET", "HEAD"]),
            Route("/b/{rest:path}", self.shell, methods=["GET", "HEAD"]),
            Route("/sw.js", self.service_worker, methods=["GET", "HEAD"]),
            Mount("/assets", app=self.assets, name="assets"),
        ]

    def _file(self, request: Request, name: str, media_type: str) -> Response:
        path = self.dist / name
        if not path.is_file():
            return _not_built(request)
        return FileResponse(path, media_type=media_type, headers=_NO_CACHE)

    async def shell(self, request: Request) -> Response:
        """index.html, for `/` and every client-side route."""
        return self._file(request, "index.html", "text/html; charset=utf-8")

    async def service_worker(self, request: Request) -> Response:
        """The service worker script."""
        return self._file(request, "sw.js", "text/javascript; charset=utf-8")

    async def assets(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve `dist/assets`; before a build, a 503 like the shell."""
        if not (self.dist / "assets").is_dir():
            await _not_built(Request(scope))(scope, receive, send)
            return
        await self._static(scope, receive, send)


def web_routes(dist: Path | None = None) -> list[BaseRoute]:
    """Return the web app's routes, serving `dist` (default: `clients/web/dist`)."""
    return WebApp(DEFAULT_DIST if dist is None else dist).routes()
