"""The overview: today and this week for the main types, findings and small charts."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from healthpod.web.auth import PersonDep
from healthpod.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def overview(request: Request, person: PersonDep) -> Response:
    return render(request, "overview.html", {})
