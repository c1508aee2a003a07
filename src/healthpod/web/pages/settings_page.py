"""Settings: language, the order of sources (for every type and per type), password."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from healthpod import accounts
from healthpod.errors import HealthpodError
from healthpod.identity import signin
from healthpod.insights import sources, summaries
from healthpod.insights.measures import Method, find_measure, stored_measures
from healthpod.store.person_data import PersonData
from healthpod.web import auth, labels, map_tiles, security, session
from healthpod.web.auth import PersonDep, pod_of
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)
CsrfChecked = Depends(security.verify_csrf)


def _page(
    request: Request,
    data: PersonData,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    type_code: str = "",
) -> Response:
    _ = gettext_for(request)
    with data.reader() as read:
        found = sources.list_sources(read)
        measures = stored_measures(read)
        sent = {code for s in found for code in s.types}
        # Only types summed across sources have an order that matters: where sources overlap.
        choices = sorted(
            (
                (code, _(labels.type_label(code)))
                for code in sent
                if code in measures and measures[code].method is not Method.DESCRIBE
            ),
            key=lambda choice: choice[1].casefold(),
        )
        chosen = type_code if type_code in dict(choices) else ""
        type_sources = (
            [s for s in sources.list_sources(read, chosen) if chosen in s.types] if chosen else []
        )
    return render(
        request,
        "settings.html",
        {
            "sources": found,
            "type_choices": choices,
            "chosen_type": chosen,
            "type_sources": type_sources,
            "errors": errors or {},
            "notice": notice,
            "current": language(request),
            "eid_numbers": signin.numbers_of(pod_of(request), data.person_id),
            "has_password": not accounts.is_eid_only(pod_of(request).engine, data.person_id),
            "map_tiles": map_tiles.wanted(request),
            "tile_host": urlsplit(request.app.state.settings.map_tile_url).netloc,
        },
        status_code=400 if errors else 200,
    )


@router.get("/settings")
def settings_page(request: Request, person: PersonDep) -> Response:
    _ = gettext_for(request)
    notices = {
        "sources": _("The order of your sources is saved; your statistics are recomputed."),
        "type_sources": _(
            "The order of sources for this type is saved; its statistics are recomputed."
        ),
        "password": _("Your password is changed."),
        "map_on": _("Workout routes are shown on a map in this browser."),
        "map_off": _(
            "Workout routes are drawn without a map; nothing is fetched from other sites."
        ),
    }
    return _page(
        request,
        person.data,
        notice=notices.get(request.query_params.get("saved", "")),
        type_code=request.query_params.get("type", ""),
    )


@router.post("/settings/sources", dependencies=[CsrfChecked])
def move_source(
    request: Request,
    person: PersonDep,
    source_id: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(request)
    try:
        wanted = int(position)
    except ValueError:
        return _page(
            request, person.data, errors={"sources": _("Choose a position from the list.")}
        )
    with person.data.writer() as write:
        changed = sources.set_priority(write, source_id, wanted)
        if changed:
            summaries.refresh_person(write)
    return RedirectResponse("/settings?saved=sources", status_code=303)


@router.post("/settings/type-sources", dependencies=[CsrfChecked])
def move_type_source(
    request: Request,
    person: PersonDep,
    type_code: Annotated[str, Form()] = "",
    source_id: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "",
    reset: Annotated[str, Form()] = "",
) -> Response:
    """Move a source in one type's own order (or drop that order: `reset`)."""
    _ = gettext_for(request)
    with person.data.writer() as write:
        code = find_measure(write, type_code).code  # NotFound: an error page
        if reset:
            changed = sources.clear_type_priority(write, code)
        else:
            shown = [s.id for s in sources.list_sources(write, code) if code in s.types]
            try:
                wanted, moved = int(position), int(source_id)
            except ValueError:
                wanted, moved = 0, 0
            if moved not in shown or not 1 <= wanted <= len(shown):
                return _page(
                    request,
                    person.data,
                    errors={"type_sources": _("Choose a position from the list.")},
                    type_code=code,
                )
            order = [i for i in shown if i != moved]
            order.insert(wanted - 1, moved)
            changed = bool(sources.set_type_order(write, code, order))
        if changed:
            summaries.refresh_type(write, code)
    query = urlencode({"saved": "type_sources", "type": code})
    return RedirectResponse(f"/settings?{query}#type-sources-heading", status_code=303)


@router.post("/settings/password", dependencies=[CsrfChecked])
def change_password(
    request: Request,
    person: PersonDep,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(request)
    errors: dict[str, str] = {}
    if not current:
        errors["current"] = _("Enter your current password.")
    if len(new) < accounts.MIN_PASSWORD_LENGTH:
        errors["new"] = _("Use at least %(count)s characters.", count=accounts.MIN_PASSWORD_LENGTH)
    elif new != repeat:
        errors["repeat"] = _("The two new passwords are not the same.")
    if not errors:
        try:
            auth.authenticate(request, person.username, current)
        except HealthpodError as exc:
            errors["current"] = _(exc.message)
    if errors:
        return _page(request, person.data, errors=errors)
    with pod_of(request).engine.begin() as conn:
        accounts.set_password(conn, person.person_id, new)
    # A new password ends every earlier session; this browser gets a fresh one.
    response = RedirectResponse("/settings?saved=password", status_code=303)
    session.set_session(request, response, person.person_id)
    return response


@router.post("/settings/map", dependencies=[CsrfChecked])
def choose_map(request: Request, person: PersonDep, tiles: Annotated[str, Form()] = "") -> Response:
    """Turn map tiles for workout routes on or off in this browser (a cookie, as the language)."""
    del person  # only a signed-in person may choose
    on = tiles == "on"
    response = RedirectResponse(
        f"/settings?saved={'map_on' if on else 'map_off'}#map-heading", status_code=303
    )
    if on:
        response.set_cookie(
            map_tiles.COOKIE,
            "on",
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=security.is_https(request),
        )
    else:
        response.delete_cookie(map_tiles.COOKIE)
    return response
