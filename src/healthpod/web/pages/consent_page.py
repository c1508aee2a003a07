"""One consent on its own page, `/consents/{id}`: the address every receipt names.

The receipts point their `policyUrl`, `recordId` and `withdrawal` here, so the page shows the
consent's terms and its real state ("revoked on 3 Dec"), its history, each version's receipt
in words and as JSON, and the revoke button while it still counts. Only the person whose
consent it is sees it; anyone else gets the same 404 as for a consent that does not exist.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from healthpod.consent import actors, log_pages
from healthpod.consent import store as consent_store
from healthpod.consent.receipt import build_receipt
from healthpod.errors import HealthpodError
from healthpod.pod import now_ms
from healthpod.research import studies
from healthpod.web.auth import PersonDep, pod_of
from healthpod.web.pages.sharing import ConsentView
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)


@router.get("/consents/{consent_id}")
def consent_page(request: Request, consent_id: str, person: PersonDep) -> Response:
    _ = gettext_for(request)
    pod = pod_of(request)
    view = None
    receipts: list[dict[str, object]] = []
    if consent_id.isdigit() and len(consent_id) < 12:
        with pod.engine.connect() as conn:
            try:
                consent = consent_store.get_consent(conn, person.person_id, int(consent_id))
                actor = actors.get_actor(conn, consent.actor_id)
            except HealthpodError:
                consent = None
            if consent is not None:
                history = consent_store.changes(conn, person.person_id, consent.id)
                grouping = studies.grouping(conn, person.person_id, consent.id)
                view = ConsentView(
                    consent=consent,
                    actor=actor,
                    state=consent.state_at(now_ms()).value,
                    last_access_ms=log_pages.last_accesses(conn, person.person_id).get(consent.id),
                    changes=history,
                    grouping=grouping,
                )
                receipts = [
                    build_receipt(
                        change,
                        actor,
                        base_url=pod.settings.public_base_url,
                        language=language(request),
                        grouping=grouping,
                    )
                    for change in history
                ]
    if view is None:
        return render(
            request,
            "error.html",
            {
                "title": _("Consent not found"),
                "message": _("You have no consent number %(id)s.", id=consent_id[:40]),
                "hint": _("Your consents are listed under Sharing."),
                "back": "/sharing",
            },
            status_code=404,
        )
    return render(
        request,
        "consent.html",
        {
            "v": view,
            "receipts": [
                (change, receipt, json.dumps(receipt, indent=2, ensure_ascii=False))
                for change, receipt in zip(view.changes, receipts, strict=True)
            ],
        },
    )
