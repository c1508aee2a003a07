"""CORS on the share link endpoints, over real HTTP: a viewer on another origin may call the
manifest (with its preflight), a `U` link's file and a `location` URL, and gets
`Access-Control-Allow-Origin: *` without credentials, refusals included. No other route of the
pod answers another origin: not the viewer page, not the FHIR API, not the web app, also when
the pod names origins for SMART apps (HEALTHPOD_CORS_ORIGINS)."""

from __future__ import annotations

import httpx
import pytest
from tests.share.test_share_links import payload_of
from tests.smart_support import add_person, live_server

from healthpod.pod import now_ms
from healthpod.share import links

ORIGIN = "https://viewer.example"
ACAO = "access-control-allow-origin"
DAY = 86_400_000


@pytest.fixture(params=[(), ("https://app.example",)], ids=["no-cors-setting", "smart-origins"])
def served(pod, request):
    settings = pod.settings.model_copy(update={"cors_origins": request.param})
    pod = pod.__class__(settings, pod.engine)
    anna = add_person(pod.engine, "anna")
    with live_server(pod) as base:
        live = pod.__class__(pod.settings.model_copy(update={"base_url": base}), pod.engine)
        yield base, live, anna


def _make(live, anna, **asked) -> str:
    request = links.LinkRequest(
        categories=frozenset({"heart", "conditions"}), expires_ms=now_ms() + DAY, **asked
    )
    return payload_of(links.create(live, anna, request, now_ms=now_ms()).shlink)["url"]


def test_the_link_endpoints_answer_any_origin_and_nothing_else_does(served):
    base, live, anna = served
    url = _make(live, anna, passcode="1234")
    preflight = httpx.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers[ACAO] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    # The manifest itself, a refusal (the viewer reads remainingAttempts) and an answer.
    wrong = httpx.post(
        url, json={"recipient": "Dr. X", "passcode": "0"}, headers={"Origin": ORIGIN}
    )
    assert wrong.status_code == 401 and wrong.headers[ACAO] == "*"
    answer = httpx.post(
        url,
        json={"recipient": "Dr. X", "passcode": "1234", "embeddedLengthMax": 0},
        headers={"Origin": ORIGIN},
    )
    assert answer.status_code == 200 and answer.headers[ACAO] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    location = answer.json()["files"][0]["location"]
    got = httpx.get(location, headers={"Origin": ORIGIN})
    assert got.status_code == 200 and got.headers[ACAO] == "*"
    unknown = httpx.post(base + "/shl/" + "A" * 43, json={"recipient": "x"},
                         headers={"Origin": ORIGIN})  # fmt: skip
    assert unknown.status_code == 404 and unknown.headers[ACAO] == "*"
    direct = _make(live, anna, direct=True)
    got = httpx.get(direct, params={"recipient": "Dr. U"}, headers={"Origin": ORIGIN})
    assert got.status_code == 200 and got.headers[ACAO] == "*"
    # Refusals before any route (a NUL, a body over the limit) say why to the viewer too.
    nul = httpx.get(direct, params={"recipient": "Dr.\x00U"}, headers={"Origin": ORIGIN})
    assert nul.status_code == 400 and nul.headers[ACAO] == "*"
    huge = httpx.post(url, content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                      headers={"Origin": ORIGIN, "content-type": "application/json"})  # fmt: skip
    assert huge.status_code == 413 and huge.headers[ACAO] == "*"
    # Nowhere else: the viewer page and script, the FHIR API, the web app, the health check.
    # (The discovery documents are public by design and answer any origin themselves.)
    for path in ("/shl/view", "/shl/viewer.js", "/fhir/metadata", "/fhir/Patient", "/login",
                 "/healthz"):  # fmt: skip
        other = httpx.get(base + path, headers={"Origin": ORIGIN})
        assert ACAO not in other.headers, path
    for path in ("/shl/view", "/fhir/Observation", "/api/consents", "/login"):
        other = httpx.options(
            base + path,
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert ACAO not in other.headers, path
        assert other.status_code != 204, path
    # A method the link endpoints do not serve gets no CORS either.
    assert ACAO not in httpx.delete(url, headers={"Origin": ORIGIN}).headers
