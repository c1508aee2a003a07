"""The inbox: what happened in your pod (accesses refused, first reads, links opened, a
delegate's actions, consents new or about to end), and how often it comes by email.

Always the signed-in person's own inbox, also while acting for someone else.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from healthpod.notify import inbox, texts
from healthpod.pod import now_ms
from healthpod.store.notifications import FREQUENCIES, KINDS
from healthpod.web import security
from healthpod.web.auth import SelfDep, WebPerson, pod_of
from healthpod.web.i18n import N_
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)
CsrfChecked = Depends(security.verify_csrf)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
FREQUENCY_NAMES = {"daily": N_("Daily"), "weekly": N_("Weekly"), "off": N_("Off")}


@router.get("/inbox")
def show(request: Request, me: SelfDep) -> Response:
    return _page(request, me)


def _page(
    request: Request,
    me: WebPerson,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    pod = pod_of(request)
    found = inbox.show(
        pod.engine, me.person_id, now_ms=now_ms(), age_limit=pod.settings.guardian_age_limit
    )
    lang = language(request)
    prefs = inbox.prefs(pod.engine, me.person_id)
    return render(
        request,
        "inbox.html",
        {
            "items": [
                {
                    "id": n.id,
                    "text": texts.describe(n.kind, n.params, lang),
                    "kind": n.kind,
                    "at_ms": n.at_ms,
                    "unread": n.read_ms is None,
                }
                for n in found.notifications
            ],
            "unread": found.unread,
            "email": prefs.email or "",
            "kinds": [(k, texts.kind_name(k, lang), prefs.frequency(k)) for k in KINDS],
            "frequencies": [(f, FREQUENCY_NAMES[f]) for f in FREQUENCIES],
            "errors": errors or {},
            "notice": notice,
        },
        status_code=status_code,
    )


@router.post("/inbox/read", dependencies=[CsrfChecked])
def mark_read(request: Request, me: SelfDep) -> Response:
    inbox.mark_read(pod_of(request).engine, me.person_id, now_ms=now_ms())
    return RedirectResponse("/inbox", status_code=303)


@router.post("/inbox/settings", dependencies=[CsrfChecked])
async def save_settings(request: Request, me: SelfDep) -> Response:
    form = await request.form()
    _ = gettext_for(request)
    email = str(form.get("email") or "").strip()[:400]
    digests: dict[str, str] = {}
    errors: dict[str, str] = {}
    for kind in KINDS:
        chosen = str(form.get(f"kind-{kind}") or "weekly")
        if chosen not in FREQUENCIES:
            errors["digests"] = _("Choose daily, weekly or off for each kind.")
            break
        digests[kind] = chosen
    if email and not EMAIL.match(email):
        errors["email"] = _("That is not an email address.")
    if errors:
        return _page(request, me, errors=errors, status_code=400)
    inbox.set_digests(pod_of(request).engine, me.person_id, email=email or None, digests=digests)
    return RedirectResponse("/inbox?saved=1", status_code=303)
