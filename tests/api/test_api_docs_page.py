"""`/docs` uses only files the app serves itself (the browser test shows it renders)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from healthpod.app import create_app


def test_docs_page_loads_swagger_ui_from_the_app_and_no_inline_script(pod):
    with TestClient(create_app(pod.settings, pod=pod)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert len(assets) == 4
        for asset in assets:
            assert asset.startswith("/"), asset  # nothing from another site
            assert client.get(asset).status_code == 200, asset
        assert re.search(r"<script>", page.text) is None  # every script is a file
        assert client.get("/openapi.json").json()["info"]["title"] == "healthpod"
        assert client.get("/redoc").status_code == 404  # it loaded from another site too
