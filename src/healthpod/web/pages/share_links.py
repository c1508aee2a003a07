"""Share links on the Sharing page: make one (shown once, with its QR code), list, revoke.

A link's payload holds its key, which the pod does not keep: the page that makes a link is the
only place it is shown. Someone acting for the person with the manage role may do this too
(the door decides `share` and logs it naming them).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from healthpod.consent.model import ALL_CATEGORIES, Granularity
from healthpod.errors import HealthpodError, InvalidRequest
from healthpod.pod import now_ms
from healthpod.share import links, qr
from healthpod.web import security
from healthpod.web.auth import PersonDep, pod_of
from healthpod.web.pages.sharing import sharing_page
from healthpod.web.render import gettext_for, render

router = APIRouter(include_in_schema=False)
CsrfChecked = Depends(security.verify_csrf)
EXPIRES = {"1d": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000}


@router.post("/sharing/links", dependencies=[CsrfChecked])
async def create(request: Request, person: PersonDep) -> Response:
    form = await request.form()
    _ = gettext_for(request)
    categories = frozenset(str(c) for c in form.getlist("category") if str(c) in ALL_CATEGORIES)
    expires = str(form.get("expires") or "7d")
    passcode = str(form.get("passcode") or "")[:200]
    label = str(form.get("label") or "").strip()
    kept: dict[str, object] = {
        "label": label[:80],
        "expires": expires,
        "categories": sorted(categories),
    }
    now = now_ms()
    try:
        if expires not in EXPIRES:
            raise InvalidRequest("Choose how long the link works from the list.")
        if not categories:
            raise InvalidRequest(
                "Choose at least one kind of data to share.",
                hint="Tick the kinds of data the link shows.",
            )
        asked = links.LinkRequest(
            categories=categories,
            expires_ms=now + EXPIRES[expires],
            passcode=passcode or None,
            label=label or None,
            granularity=Granularity.DAILY,
        )
        links.check(asked, now)
        made = links.create(pod_of(request), person.person_id, asked, now_ms=now)
    except HealthpodError as exc:
        return sharing_page(
            request,
            person,
            errors={"link": _(exc.message)},
            link_form=kept,
            status_code=exc.status,
        )
    return render(
        request,
        "share_link_made.html",
        {
            "made": made,
            "qr_svg": qr.svg(made.viewer_url, title=_("QR code of the share link")),
            "passcode": bool(passcode),
        },
    )


@router.post("/sharing/links/{link_id}/revoke", dependencies=[CsrfChecked])
def revoke(request: Request, link_id: security.RowId, person: PersonDep) -> Response:
    links.revoke(pod_of(request), person.person_id, link_id, now_ms=now_ms())
    return RedirectResponse("/sharing#links", status_code=303)
