"""The web console's static assets at ``/``, with the single-page application's fallback.

The console (``web/``, React + Vite) is built into static files ahead of time
(``make web``); the server only serves them, so ``netwarden serve`` needs no Node.js.
Every page of the console talks to the API under ``/api`` with the user's own token:
these routes serve files and nothing else, and need no authentication.

- ``/assets/*``: hashed bundles, cached for a year (their name changes with their content).
- ``/``, ``/fleet``, ``/policies/...``, any other path that is not the API's: the file of
  that name at the top of the build (``favicon.svg``), or ``index.html`` so the
  client-side router renders the page. ``/api/...``, ``/metrics`` and ``/healthz`` never
  fall back: an unknown API path stays a problem+json 404.

Where the build is: ``NETWARDEN_CONSOLE_DIR`` when set, else ``netwarden/api/static``
inside the package (a wheel built with the console), else ``web/dist`` of the source
tree (a checkout, an editable install). Without a build, ``/`` answers 503 and says how
to build it.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from netwarden.api.problems import Problem

SOURCE_BUILD = Path(__file__).resolve().parents[3] / "web" / "dist"
PACKAGED_BUILD = Path(__file__).resolve().parent / "static"
NOT_SPA = frozenset({"api", "metrics", "healthz", "openapi.json", "docs", "redoc"})
SECURITY_HEADERS = {
    # The console loads only its own bundles and talks only to its own origin.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Netwarden console not built</title></head><body>
<h1>The Netwarden console is not built</h1>
<p>Build it with <code>make web</code> (Node.js 20+, once), or point
<code>NETWARDEN_CONSOLE_DIR</code> at a build. The API is at <a href="/docs">/docs</a>.</p>
</body></html>"""


def console_dir() -> Path | None:
    """The directory holding the console's ``index.html``, or None when not built."""
    given = os.environ.get("NETWARDEN_CONSOLE_DIR")
    candidates = [Path(given)] if given else [PACKAGED_BUILD, SOURCE_BUILD]
    return next((d for d in candidates if (d / "index.html").is_file()), None)


class _Assets(StaticFiles):
    """Hashed bundles: immutable, with the console's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers.update(SECURITY_HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the console; call after every API route (the fallback matches any path)."""
    root = console_dir()
    if root is not None and (root / "assets").is_dir():
        app.mount("/assets", _Assets(directory=root / "assets"), name="console-assets")
    app.include_router(_router(root))


def _router(root: Path | None) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.api_route("/{path:path}", methods=["GET", "HEAD"])
    def page(path: str) -> Response:
        if path.split("/", 1)[0] in NOT_SPA:
            raise Problem(404, f"no route /{path}")
        if root is None:
            return HTMLResponse(NOT_BUILT, status_code=503)
        wanted = (root / path).resolve()
        if path and wanted.is_file() and wanted.is_relative_to(root.resolve()):
            return FileResponse(wanted, headers=SECURITY_HEADERS)
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
        return FileResponse(root / "index.html", media_type="text/html", headers=headers)

    return router
