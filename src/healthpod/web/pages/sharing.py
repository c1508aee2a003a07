"""Sharing: who has access to what and why, revoke with one button, past consents, receipts."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from healthpod.consent import actors, delegates, log_pages
from healthpod.consent import store as consent_store
from healthpod.consent.actors import Actor
from healthpod.consent.model import Consent
from healthpod.consent.receipt import build_receipt
from healthpod.pod import now_ms
from healthpod.research import studies
from healthpod.research.grouping import TRAITS
from healthpod.share import links as share_links
from healthpod.store.engine import Connection
from healthpod.web import security
from healthpod.web.auth import PersonDep, WebPerson, pod_of
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class ConsentView:
    consent: Consent
    actor: Actor
    state: str
    last_access_ms: int | None
    changes: list[consent_store.ConsentChange]
    grouping: tuple[str, ...] = ()  # a study consent: the traits its answers may be grouped by


def consent_views(conn: Connection, person_id: int) -> list[ConsentView]:
    now = now_ms()
    known = {actor.id: actor for actor in actors.list_actors(conn)}
    last = log_pages.last_accesses(conn, person_id)
    of_studies = studies.study_consents(conn, person_id)
    return [
        ConsentView(
            consent=c,
            actor=known[c.actor_id],
            state=c.state_at(now).value,
            last_access_ms=last.get(c.id),
            changes=consent_store.changes(conn, person_id, c.id),
            grouping=TRAITS if c.id in of_studies else (),
        )
        for c in consent_store.list_consents(conn, person_id)
        if c.actor_id in known
    ]


@router.get("/sharing")
def sharing(request: Request, person: PersonDep) -> Response:
    return sharing_page(request, person)


def sharing_page(
    request: Request,
    person: WebPerson,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    link_form: dict[str, object] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """The Sharing page: consents, and (for the signed-in person, not someone acting for
    them) who may act for them and whom they may act for."""
    pod = pod_of(request)
    now = now_ms()
    with pod.engine.connect() as conn:
        views = consent_views(conn, person.person_id)
        people = (
            []
            if person.acting
            else delegates.listing(
                conn, person.person_id, now_ms=now, age_limit=pod.settings.guardian_age_limit
            )
        )
    return render(
        request,
        "sharing.html",
        {
            "active": [v for v in views if v.state == "active"],
            "pending": [v for v in views if v.state == "pending"],
            "past": [v for v in views if v.state in ("revoked", "expired")],
            "notice": notice or _revoked_notice(request, views),
            "acting": person.acting,
            "given": [v for v in people if v.given],
            "held": [v for v in people if not v.given and v.live],
            "errors": errors or {},
            "form": form or {},
            "link_form": link_form or {"expires": "7d", "categories": []},
            "links": [
                (link, link.state_at(now)) for link in share_links.of_person(pod, person.person_id)
            ],
        },
        status_code=status_code,
    )


def _revoked_notice(request: Request, views: list[ConsentView]) -> str | None:
    wanted = request.query_params.get("revoked")
    for view in views:
        if str(view.consent.id) == wanted and view.state == "revoked":
            _ = gettext_for(request)
            return _(
                "Access for %(actor)s is revoked. Its next request will be refused.",
                actor=view.actor.name,
            )
    return None


@router.post("/sharing/{consent_id}/revoke", dependencies=[Depends(security.verify_csrf)])
def revoke(request: Request, consent_id: int, person: PersonDep) -> Response:
    with pod_of(request).engine.begin() as conn:
        consent = consent_store.revoke(conn, person.person_id, consent_id, now_ms=now_ms())
    return RedirectResponse(f"/sharing?revoked={consent.id}", status_code=303)


@router.get("/sharing/{consent_id}/receipt")
def receipt(request: Request, consent_id: int, person: PersonDep) -> Response:
    """The consent's receipts, one per version (Kantara v1.1 fields, ISO/IEC TS 27560 record)."""
    pod = pod_of(request)
    with pod.engine.connect() as conn:
        consent = consent_store.get_consent(conn, person.person_id, consent_id)
        actor = actors.get_actor(conn, consent.actor_id)
        history = consent_store.changes(conn, person.person_id, consent_id)
        grouping = studies.grouping(conn, person.person_id, consent_id)
    base_url = pod.settings.public_base_url
    with person.data.reader() as read:
        counts = read.restriction_counts()
    restricted = (counts.types, counts.records)
    receipts = [
        build_receipt(
            change,
            actor,
            base_url=base_url,
            language=language(request),
            restricted=restricted,
            grouping=grouping,
        )
        for change in history
    ]
    return JSONResponse(
        receipts,
        headers={"content-disposition": f'attachment; filename="consent-{consent_id}.json"'},
    )
