"""One module per page of the web app; each has a `router`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from healthpod.web.pages import overview

    return [overview.router]
