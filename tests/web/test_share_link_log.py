"""The access-log page names who opened a share link (the recipient as given) and the link."""

from __future__ import annotations

import base64
import json

from healthpod.pod import now_ms
from healthpod.share import links

HTML = {"accept": "text/html"}


def test_the_log_page_shows_the_recipient_not_you(logged_in, account, pod):
    now = now_ms()
    asked = links.LinkRequest(categories=frozenset({"heart"}), expires_ms=now + 86_400_000)
    made = links.create(pod, account, asked, now_ms=now)
    encoded = made.shlink.removeprefix("shlink:/")
    url = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))["url"]
    path = "/shl/" + url.rsplit("/", 1)[1]
    assert logged_in.post(path, json={"recipient": "Dr. Åsa Berg"}).status_code == 200
    page = logged_in.get("/access-log", headers=HTML)
    assert page.status_code == 200
    assert f"Dr. Åsa Berg (share-link/{made.link.id})" in page.text
