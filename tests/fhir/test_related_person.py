"""`RelatedPerson/delegate-<id>`, the `fhirUser` of an app a delegate launched, over real HTTP.

Who may read it: that app's token (also after a refresh) while the delegation is live, and the
person in their own session. Who must NOT: another delegate's app, an app the person launched
themselves, the delegate signed in as themselves, an app of another person, no token at all,
and the delegate's app once the delegation is revoked. Each actor's try is decided and logged
in the person's access log.
"""

from __future__ import annotations

import base64
import json

import httpx

from healthpod.consent import audit, delegates
from healthpod.pod import now_ms
from healthpod.web import session
from smart_support import (
    REDIRECT,
    add_actor,
    add_person,
    live_server,
    session_cookie,
    tokens_for,
)

SCOPE = "openid fhirUser launch/patient offline_access patient/Observation.rs"


def _token_as_delegate(client, app, delegate: int, person: int, username: str) -> dict:
    client.cookies.set("hp_acting", f"{delegate}:{person}")
    body = tokens_for(client, app.client_id, username, SCOPE)
    client.cookies.delete("hp_acting")
    assert body["patient"] == str(person)
    return body


def _fhir_reads(pod, person: int) -> list:
    with pod.engine.connect() as conn:
        return [e for e in audit.entries(conn, person) if e.event == "fhir.read"]


def test_only_the_delegates_own_app_and_the_person_read_the_related_person(client, pod):
    anna, erik, olle = (add_person(pod.engine, n) for n in ("anna", "erik", "olle"))
    add_person(pod.engine, "mallory")
    app = add_actor(pod.engine).actor
    now = now_ms()
    erik_d = delegates.add(pod.engine, anna, "erik", role="manage", until_ms=None, now_ms=now)
    olle_d = delegates.add(pod.engine, anna, "olle", role="manage", until_ms=None, now_ms=now)
    erik_path = f"RelatedPerson/delegate-{erik_d.delegation.id}"
    olle_path = f"RelatedPerson/delegate-{olle_d.delegation.id}"
    erik_app = _token_as_delegate(client, app, erik, anna, "erik")
    olle_app = _token_as_delegate(client, app, olle, anna, "olle")
    anna_app = tokens_for(client, app.client_id, "anna", "launch/patient patient/*.rs")
    mallory_app = tokens_for(client, app.client_id, "mallory", "launch/patient patient/*.rs")

    with live_server(pod) as base:

        def get(path: str, token: dict | None = None, **kwargs) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token['access_token']}"} if token else {}
            return httpx.get(f"{base}/fhir/{path}", headers=headers, **kwargs)

        read = get(erik_path, erik_app)
        assert read.status_code == 200, read.text
        related = read.json()
        assert related["resourceType"] == "RelatedPerson" and related["active"] is True
        assert related["id"] == f"delegate-{erik_d.delegation.id}"
        assert related["patient"] == {"reference": f"Patient/{anna}"}
        assert related["name"] == [{"text": "erik"}]
        assert related["relationship"][0]["text"] == "delegate (manage)"
        assert related["period"]["start"] and "end" not in related["period"]
        # After a refresh the token still names erik.
        refreshed = httpx.post(
            f"{base}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": erik_app["refresh_token"],
                "client_id": app.client_id,
                "redirect_uri": REDIRECT,
            },
        ).json()
        assert get(erik_path, refreshed).status_code == 200
        payload = refreshed["id_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["fhirUser"].endswith("/" + erik_path)
        # The person in their own session.
        cookie = session_cookie(client.app, anna)
        own = get(erik_path, cookies={session.COOKIE: cookie})
        assert own.status_code == 200 and own.json()["name"] == [{"text": "erik"}]

        # Who must NOT read it.
        # Another delegate's: refused by its scopes (403), whichever delegation it names.
        assert get(olle_path, erik_app).status_code == 403
        assert get(erik_path, olle_app).status_code == 403
        assert get(erik_path, anna_app).status_code == 404  # the person's app is not erik
        assert get(erik_path, mallory_app).status_code == 404  # another person's app
        erik_session = {session.COOKIE: session_cookie(client.app, erik)}
        assert get(erik_path, cookies=erik_session).status_code == 404  # not as himself
        assert get(erik_path).status_code == 401
        assert get("RelatedPerson/delegate-999999", anna_app).status_code == 404
        assert get("RelatedPerson/anything", anna_app).status_code == 404
        # An app the delegate launched without the fhirUser scope, whose scopes reach no
        # RelatedPerson: refused, and logged as such.
        client.cookies.set("hp_acting", f"{erik}:{anna}")
        narrow = tokens_for(client, app.client_id, "erik", "launch/patient patient/Observation.rs")
        client.cookies.delete("hp_acting")
        assert get(erik_path, narrow).status_code == 403

        # Once the delegation is revoked, erik's app reads it no more; the person still does.
        delegates.revoke(pod.engine, anna, erik_d.delegation.id, now_ms=now_ms())
        assert get(erik_path, erik_app).status_code == 404
        ended = get(erik_path, cookies={session.COOKIE: cookie}).json()
        assert ended["active"] is False and ended["period"]["end"]

        capability = get("metadata").json()
        types = {r["type"]: r for r in capability["rest"][0]["resource"]}
        assert types["RelatedPerson"]["interaction"] == [{"code": "read"}]

    reads = _fhir_reads(pod, anna)
    by_path = [(e.details.get("path"), e.outcome) for e in reads]
    assert by_path.count((erik_path, "allowed")) >= 2  # erik's app, before and after refresh
    assert (olle_path, "denied") in by_path  # erik's app, refused by its scopes
    assert (erik_path, "denied") in by_path  # olle's app and the narrow token
    assert by_path.count((erik_path, "allowed")) >= 3  # anna's app: decided, nothing returned
    # Every actor's try is in the log: 2 reads, olle, anna's app, the narrow and revoked ones.
    assert len([e for e in reads if e.details.get("path") == erik_path]) >= 6
    assert not _fhir_reads(pod, erik)  # nothing of anna's is logged in erik's own log
