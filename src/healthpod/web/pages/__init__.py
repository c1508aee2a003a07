"""One module per page of the web app; each has a `router`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from healthpod.web.pages import imports, overview, type_page

    return [overview.router, type_page.router, imports.router]
