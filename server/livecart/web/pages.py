"""The browser pages (`/overlay`, `/host`, `/console`, `/viewer`) and their files under `/client/`.

The files are `client_web/` from the repository, shipped inside the package as `livecart/client_web`
(a symlink in the source tree, real files in a wheel), so a studio with no internet access gets them
from the node itself. Every answer carries a strict Content-Security-Policy: scripts only from this
origin, never inline, so even a comment that slipped into the DOM as HTML could not run anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

__all__ = ["PAGES", "SECURITY_HEADERS", "add_page_routes", "client_dir"]

PAGES = ("overlay", "host", "console", "viewer")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8",
                 ".svg": "image/svg+xml", ".png": "image/png"}
SECURITY_HEADERS = {
    # img-src allows any https image: product pictures live on the shop's CDN.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' https: data:; connect-src 'self'; font-src 'self'; "
                               "base-uri 'none'; form-action 'none'",
    # The token rides in the page URL: never send it to the product image's host.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Pages and their modules change with the server: revalidate (ETag / Last-Modified) on each load.
    "Cache-Control": "no-cache",
}


def client_dir() -> Path:
    return Path(str(resources.files("livecart").joinpath("client_web"))).resolve()


def _file(root: Path, relative: str) -> web.FileResponse:
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path.suffix not in CONTENT_TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={**SECURITY_HEADERS, "Content-Type": CONTENT_TYPES[path.suffix]})


def add_page_routes(app: web.Application) -> None:
    root = client_dir()

    def page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(_request: web.Request) -> web.StreamResponse:
            return _file(root, f"{name}/index.html")

        return handler

    async def asset(request: web.Request) -> web.StreamResponse:
        return _file(root, request.match_info["path"])

    for name in PAGES:
        app.router.add_get(f"/{name}", page(name))
    app.router.add_get("/client/{path:.+}", asset)
