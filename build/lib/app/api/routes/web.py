"""The built-in web chat: static files (plain HTML/CSS/JS, no build step) at `/` and `/web/`.

It uses only the platform's public API, the same one every client uses. Only `GET /` and
`/web/...` are claimed here, so `/v1`, `/api`, `/health` and `/docs` are untouched. The
files to serve are listed once at import, so a request path is looked up, never joined
onto the file system. A strict Content-Security-Policy (scripts and styles from this
origin only, no inline script) backs up the page's own escaping of model output.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from core.errors import APIError

__all__ = ["router", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate, so an upgraded server serves its own page
}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


def _files() -> dict[str, Path]:
    if not STATIC_DIR.is_dir():
        return {}
    return {p.relative_to(STATIC_DIR).as_posix(): p for p in STATIC_DIR.rglob("*") if p.is_file()}


_FILES = _files()

router = APIRouter(tags=["web"], include_in_schema=False)


def _serve(path: Path) -> FileResponse:
    media = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers=_HEADERS)


@router.get("/")
async def index() -> FileResponse:
    return _serve(STATIC_DIR / "index.html")


@router.get("/web/{path:path}")
async def static(path: str) -> FileResponse:
    found = _FILES.get(path)
    if found is None:
        raise APIError(404, f"no file /web/{path}", code="not_found")
    return _serve(found)
