"""Marking a measurement or a record wrong, and taking the mark off, from the page that shows
it; deleting one item or a whole import after a confirmation page.

Each is a small form (POST, CSRF token, then a redirect back to the page it came from); the
change, the daily summaries of the days touched and the access-log entry are one transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from healthpod.consent import audit
from healthpod.errors import InvalidRequest
from healthpod.insights import corrections, notes
from healthpod.pod import now_ms
from healthpod.web import security
from healthpod.web.auth import PersonDep
from healthpod.web.i18n import N_
from healthpod.web.render import render

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


def _import_id(value: str) -> int | None:
    """Raises: InvalidRequest: not an import's number."""
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidRequest(
            N_("That is not the number of an import."),
            hint=N_("Choose the import to delete on the Import page."),
        )
    return int(value)


@router.get("/data/delete-one")
def confirm_delete(
    request: Request, person: PersonDep, target: str = "", import_: str = "", back: str = "/"
) -> Response:
    """The confirmation page: what will be deleted, and that it cannot be undone."""
    import_id = _import_id(request.query_params.get("import", import_))
    if not target and import_id is None:
        raise InvalidRequest(
            N_("Nothing to delete was named."),
            hint=N_("Use the Delete link next to a measurement, a record or an import."),
        )
    return render(
        request,
        "delete_confirm.html",
        {"target": target, "import_id": import_id, "back": _back(back)},
    )


@router.post("/data/delete-one", dependencies=[CsrfChecked])
def delete(
    person: PersonDep,
    target: Annotated[str, Form()] = "",
    import_: Annotated[str, Form(alias="import")] = "",
    back: Annotated[str, Form()] = "/",
) -> Response:
    now = now_ms()
    import_id = _import_id(import_)
    with person.data.writer() as write:
        audit.lock_chain(write.conn, write.person_id)
        if import_id is not None:
            gone = corrections.delete_import(write, import_id, now_ms=now)
        else:
            gone = corrections.delete_items(write, [target.strip()], now_ms=now)
        audit.record(
            write.conn,
            write.person_id,
            None,
            "delete",
            "ok",
            {"targets": gone.targets, "rows": gone.rows},
            now_ms=now,
            reason="you deleted data",
        )
    return RedirectResponse(_back(back), status_code=303)


def _level(level: str, target: str) -> tuple[list[str], list[str]]:
    """(types, records) to restrict or lift.

    Raises: InvalidRequest: neither a type nor a record.
    """
    if level not in ("type", "record") or not target.strip():
        raise InvalidRequest(
            N_("Choose a type or a record to keep to yourself."),
            hint=N_("Use the “Only me” button next to it."),
        )
    return ([target.strip()], []) if level == "type" else ([], [target.strip()])


@router.post("/data/only-me", dependencies=[CsrfChecked])
def only_me(
    person: PersonDep,
    target: Annotated[str, Form()] = "",
    level: Annotated[str, Form()] = "record",
    back: Annotated[str, Form()] = "/",
) -> Response:
    types, records = _level(level, target)
    now = now_ms()
    with person.data.writer() as write:
        audit.lock_chain(write.conn, write.person_id)
        added = write.restrict(types, records, now_ms=now)
        if added:
            audit.record(
                write.conn,
                write.person_id,
                None,
                "restrict",
                "ok",
                {"targets": added},
                now_ms=now,
                reason="you marked data as only yours",
            )
    return RedirectResponse(_back(back), status_code=303)


@router.post("/data/share-again", dependencies=[CsrfChecked])
def share_again(
    person: PersonDep,
    target: Annotated[str, Form()] = "",
    level: Annotated[str, Form()] = "record",
    back: Annotated[str, Form()] = "/",
) -> Response:
    types, records = _level(level, target)
    now = now_ms()
    with person.data.writer() as write:
        audit.lock_chain(write.conn, write.person_id)
        lifted = write.unrestrict(types, records)
        audit.record(
            write.conn,
            write.person_id,
            None,
            "unrestrict",
            "ok",
            {"targets": lifted},
            now_ms=now,
            reason="you lifted 'only me' from data",
        )
    return RedirectResponse(_back(back), status_code=303)


@router.post("/data/note", dependencies=[CsrfChecked])
def add_note(
    person: PersonDep,
    text: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "note",
    when: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/records",
) -> Response:
    """The person's own note or symptom (`insights.notes`), then back to the records."""
    now = now_ms()
    with person.data.writer() as write:
        audit.lock_chain(write.conn, write.person_id)
        stored = notes.add(write, text, kind=kind, when=when or None, now_ms=now)
        audit.record(
            write.conn,
            write.person_id,
            None,
            "note",
            "ok",
            {"targets": [f"{stored['resourceType']}/{stored['id']}"]},
            now_ms=now,
            reason="you added a note",
        )
    return RedirectResponse(_back(back), status_code=303)
