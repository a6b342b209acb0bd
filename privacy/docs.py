"""The interactive API docs at /docs (Swagger UI), served from this origin.

FastAPI's own /docs page loads Swagger UI from a CDN and starts it with an inline script.
Under this service's Content-Security-Policy (`default-src 'self'`, privacy.middleware)
the browser refuses both and the page stays blank; loosening the policy for a CDN would
also tell a third party who reads these docs. So the assets come from the
`fastapi-offline` package, served here, and this one page gets a policy of its own: its
inline start-up script allowed by hash (not `'unsafe-inline'`), inline styles (Swagger
UI sets them), and `data:` images (its icons). Swagger UI's online validator is off: it
would send the address of /openapi.json to validator.swagger.io.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PATH = "/docs/assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _script_hashes(html: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    ]


def page(app: FastAPI) -> tuple[bytes, str]:
    """The /docs page and its Content-Security-Policy."""
    html = bytes(
        get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        ).body
    )
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(_script_hashes(html.decode())),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )
    return html, policy


def install(app: FastAPI) -> None:
    """Serve /docs and its assets (create the app with `docs_url=None`)."""
    html, policy = page(app)

    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"content-security-policy": policy})

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
