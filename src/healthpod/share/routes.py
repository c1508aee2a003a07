"""The SMART Health Links protocol, as a recipient's app calls it.

    POST /shl/{token}        {"recipient", "passcode"?, "embeddedLengthMax"?} → {"files": [...]}
    GET  /shl/{token}?recipient=…   the single file of a `U` link (application/jose)
    GET  /shl/file/{ticket}  a manifest's short-lived `location` URL (application/jose)

Every request that names a link, allowed or refused, is decided by
`consent.access.open_for_link` and is in the person's access log. Answers as the specification
says: 401 with `remainingAttempts` for a wrong passcode, 404 for an unknown, revoked, expired or
locked link.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from healthpod import json_input
from healthpod.consent import access
from healthpod.errors import InvalidRequest, NotFound
from healthpod.fhir.access import now_ms, pod_of
from healthpod.share import links
from healthpod.store import share_links

JOSE = "application/jose"
RECIPIENT_MAX = 200


VIEWER = Path(__file__).parent / "viewer"


def register(app: FastAPI) -> None:
    # Before /shl/{token}, which would take "view" for a token.
    app.add_api_route("/shl/view", viewer_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/shl/viewer.js", viewer_script, methods=["GET"], include_in_schema=False)
    app.add_api_route("/shl/file/{ticket}", file_url, methods=["GET"], include_in_schema=False)
    app.add_api_route("/shl/{token}", manifest, methods=["POST"], include_in_schema=False)
    app.add_api_route("/shl/{token}", direct, methods=["GET"], include_in_schema=False)


def viewer_page() -> Response:
    """The viewer: the link stays in the fragment, which the browser never sends here."""
    return Response((VIEWER / "index.html").read_bytes(), media_type="text/html")


def viewer_script() -> Response:
    return Response(
        (VIEWER / "viewer.js").read_bytes(), media_type="text/javascript; charset=utf-8"
    )


def _refused(made: access.LinkAccess) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "status": made.status}
    if made.status == 401:
        body |= {
            "error": "The passcode is wrong.",
            "hint": "Ask the person who shared the link for the passcode.",
            "code": "passcode",
            "remainingAttempts": made.remaining_attempts,
        }
    else:
        body |= {
            "error": "This link is not valid: it is unknown, expired or revoked.",
            "hint": "Ask the person who shared it for a new link.",
            "code": "not-found",
        }
    return JSONResponse(body, status_code=made.status, headers={"Cache-Control": "no-store"})


def _recipient(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(
            "recipient is missing: a SMART Health Links request names who asks.",
            hint='Send {"recipient": "Dr. Who, Example Clinic"}.',
        )
    return value.strip()[:RECIPIENT_MAX]


async def manifest(request: Request, token: str) -> Response:
    """The manifest: the link's file, embedded or as a short-lived `location` URL."""
    try:
        body = json_input.loads(await request.body() or b"null")
    except json_input.BadJson as exc:
        raise InvalidRequest(
            f"The manifest request is not usable JSON: {exc}.",
            hint='POST {"recipient": "…", "passcode": "…"} as application/json.',
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest(
            "The manifest request is not a JSON object.",
            hint='POST {"recipient": "…", "passcode": "…"} as application/json.',
        )
    recipient = _recipient(body.get("recipient"))
    passcode = body.get("passcode")
    if passcode is not None and not isinstance(passcode, str):
        raise InvalidRequest("passcode is not a string.", hint="Send the passcode as text.")
    limit = body.get("embeddedLengthMax")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidRequest(
            "embeddedLengthMax is not a whole number of 0 or more.",
            hint="Leave it out, or give the longest embedded file you take.",
        )
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_manifest, request, token, recipient, passcode, limit)


def _manifest(
    request: Request, token: str, recipient: str, passcode: str | None, limit: int | None
) -> Response:
    pod = pod_of(request)
    now = now_ms(pod)
    made = access.open_for_link(
        pod.engine,
        pod.reads,
        token=token,
        passcode_ok=links.passcode_checker(passcode),
        event="share_link.manifest",
        details={"recipient": recipient},
        now_ms=now,
    )
    if not made.allowed or made.link is None:
        return _refused(made)
    jwe_text = links.file_for(pod, made, now_ms=now)
    entry: dict[str, Any] = {"contentType": links.CONTENT_TYPE}
    if limit is None or len(jwe_text) <= limit:
        entry["embedded"] = jwe_text
    else:
        ticket = secrets.token_urlsafe(32)
        with pod.engine.begin() as conn:
            share_links.add_file_url(
                conn, made.link, ticket=ticket, jwe=jwe_text, expires_ms=now + links.FILE_URL_MS
            )
        entry["location"] = f"{pod.settings.public_base_url}/shl/file/{ticket}"
    status = "can-change" if "L" in made.link.flags else "finalized"
    return JSONResponse({"status": status, "files": [entry]}, headers={"Cache-Control": "no-store"})


def direct(request: Request, token: str) -> Response:
    """A `U` link's single file, by GET with `?recipient=`."""
    recipient = _recipient(request.query_params.get("recipient"))
    pod = pod_of(request)
    now = now_ms(pod)
    made = access.open_for_link(
        pod.engine,
        pod.reads,
        token=token,
        event="share_link.direct",
        details={"recipient": recipient},
        now_ms=now,
        needs_flag="U",
    )
    if not made.allowed:
        return _refused(made)
    jwe_text = links.file_for(pod, made, now_ms=now)
    return Response(jwe_text, media_type=JOSE, headers={"Cache-Control": "no-store"})


def file_url(request: Request, ticket: str) -> Response:
    """A manifest's `location` URL: its file while the URL and the link are both live."""
    pod = pod_of(request)
    now = now_ms(pod)
    with pod.reads.connect() as conn:
        found = share_links.file_url(conn, ticket)
    if found is None:
        raise NotFound("This file URL is not known.", hint="Ask the manifest again.")
    person_id, link_id, expires_ms, jwe_text = found
    made = access.open_for_link(
        pod.engine,
        pod.reads,
        link_id=(person_id, link_id),
        passcode_ok=lambda _link: True,  # given with the manifest request that made the URL
        event="share_link.file",
        now_ms=now,
        refused="the file URL has expired" if now >= expires_ms else None,
    )
    if not made.allowed:
        return _refused(made)
    return Response(jwe_text, media_type=JOSE, headers={"Cache-Control": "no-store"})
