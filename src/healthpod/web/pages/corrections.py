"""Marking a measurement or a record wrong, and taking the mark off, from the page that shows it.

Each is a small form (POST, CSRF token, then a redirect back to the page it came from); the
mark, the daily summaries of the days touched and the access-log entry are one transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Response
from fastapi.responses import RedirectResponse

from healthpod.consent import audit
from healthpod.insights import corrections
from healthpod.pod import now_ms
from healthpod.web import security
from healthpod.web.auth import PersonDep

router = APIRouter(include_in_schema=False)
CsrfChecked = Depends(security.verify_csrf)


def _back(path: str) -> str:
    """The page to return to: a path of this site, else the overview."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


@router.post("/data/mark-wrong", dependencies=[CsrfChecked])
def mark_wrong(
    person: PersonDep,
    target: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/",
) -> Response:
    now = now_ms()
    with person.data.writer() as write:
        audit.lock_chain(write.conn, write.person_id)
        change = corrections.mark_wrong(write, [target.strip()], reason, now_ms=now)
        if change.targets:
            audit.record(
                write.conn,
                write.person_id,
                None,
                "mark-wrong",
                "ok",
                {"targets": change.targets},
                now_ms=now,
                reason="you marked data as wrong",
            )
    return RedirectResponse(_back(back), status_code=303)


@router.post("/data/unmark", dependencies=[CsrfChecked])
def unmark(
    person: PersonDep,
    target: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/",
) -> Response:
    now = now_ms()
    with person.data.writer() as write:
        audit.lock_chain(write.conn, write.person_id)
        change = corrections.unmark(write, [target.strip()])
        audit.record(
            write.conn,
            write.person_id,
            None,
            "unmark-wrong",
            "ok",
            {"targets": change.targets},
            now_ms=now,
            reason="you took the 'wrong' mark off data",
        )
    return RedirectResponse(_back(back), status_code=303)
