"""`/docs`: the JSON API's OpenAPI description in Swagger UI, every file served by the app.

FastAPI's own page loads Swagger UI from a third-party site and starts it with an inline
script; the app's Content-Security-Policy (`script-src 'self'`) blocks both, so that page was
blank, and it would need the network anyway. This page takes Swagger UI from
`web/static/vendor/` and starts it from `web/static/js/api-docs.js`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

SWAGGER_UI = "/static/vendor/swagger-ui-5.36.0"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>healthpod API</title>
  <link rel="stylesheet" href="{swagger}/swagger-ui.css">
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
  <main id="swagger-ui" data-openapi-url="{openapi}"></main>
  <script src="{swagger}/swagger-ui-bundle.js"></script>
  <script src="/static/js/api-docs.js"></script>
</body>
</html>
"""


def register(app: FastAPI) -> None:
    """Serve `/docs` (the app must be made with `docs_url=None`)."""
    page = PAGE.format(swagger=SWAGGER_UI, openapi=app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
