"""Share links in the web app: made (shown once, with a QR code that decodes back to the link),
listed and revoked; bad input says why and makes nothing; nobody else revokes my link."""

from __future__ import annotations

import re
from html import unescape

import pytest
from tests.share.qr_decode import decode_svg

from healthpod.pod import now_ms
from healthpod.share import links

HTML = {"accept": "text/html"}


def _form(client, csrf_of):
    return csrf_of(client.get("/sharing", headers=HTML).text)


def test_make_show_and_revoke_a_link_in_the_web_app(logged_in, pod, account, csrf_of):
    csrf = _form(logged_in, csrf_of)
    made = logged_in.post(
        "/sharing/links",
        data={
            "csrf_token": csrf,
            "category": ["heart", "conditions"],
            "expires": "7d",
            "label": "For Dr Berg",
            "passcode": "1234",
        },
        headers=HTML,
    )
    assert made.status_code == 200
    viewer = unescape(
        re.search(r'id="viewer-url" class="copy" readonly value="([^"]+)"', made.text).group(1)
    )
    shlink = unescape(
        re.search(r'id="shlink" class="copy" readonly value="([^"]+)"', made.text).group(1)
    )
    assert viewer.endswith("#" + shlink)
    qr_svg = re.search(r"<svg.*?</svg>", made.text, re.S).group(0)
    assert decode_svg(qr_svg) == viewer
    [link] = links.of_person(pod, account)
    assert (link.label, link.flags, sorted(link.categories)) == (
        "For Dr Berg",
        "P",
        ["conditions", "heart"],
    )
    listing = logged_in.get("/sharing", headers=HTML).text
    assert "For Dr Berg" in listing and "Revoke share link" in listing
    assert shlink not in listing  # the key is shown once, never again
    revoked = logged_in.post(
        f"/sharing/links/{link.id}/revoke",
        data={"csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert links.of_person(pod, account)[0].revoked_ms is not None
    logged_in.cookies.set("hp_lang", "sv")
    assert "Delningslänkar" in logged_in.get("/sharing", headers=HTML).text


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"expires": "7d"}, "Choose at least one kind of data to share."),
        ({"category": "heart", "expires": "1y"}, "Choose how long the link works from the list."),
        ({"category": "heart", "expires": "7d", "label": "x" * 81}, "at most 80"),
        ({"category": "made-up", "expires": "7d"}, "Choose at least one kind of data to share."),
    ],
)
def test_bad_links_say_why_and_make_nothing(logged_in, pod, account, csrf_of, data, says):
    response = logged_in.post(
        "/sharing/links", data={"csrf_token": _form(logged_in, csrf_of), **data}, headers=HTML
    )
    assert response.status_code == 400
    assert says in unescape(response.text)
    assert links.of_person(pod, account) == []


def test_nobody_else_revokes_my_link(logged_in, client, pod, account, csrf_of):
    other = pod.person_id("someone-else")
    now = now_ms()
    theirs = links.create(
        pod,
        other,
        links.LinkRequest(frozenset({"heart"}), expires_ms=now + 86_400_000),
        now_ms=now,
    )
    response = logged_in.post(
        f"/sharing/links/{theirs.link.id}/revoke",
        data={"csrf_token": _form(logged_in, csrf_of)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert links.of_person(pod, other)[0].revoked_ms is None
