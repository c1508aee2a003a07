"""QR codes of share links decode back to the link (zxing-cpp), from the CLI's file and the web
page; share links are made, listed and revoked in the web app, and who must NOT do so."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.share.qr_decode import decode_svg

from healthpod.share.qr import svg

HTML = {"accept": "text/html"}


@settings(max_examples=25, deadline=None)
@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
        min_size=40,
        max_size=400,
    )
)
def test_any_link_round_trips_through_its_qr_code(payload):
    url = f"https://pod.example/shl/view#shlink:/{payload}"
    assert decode_svg(svg(url)) == url


def test_share_link_create_writes_a_qr_code_of_the_viewer_link(run, tmp_path):
    path = tmp_path / "link.svg"
    made = json.loads(
        run("share", "link", "create", "--categories", "heart", "--qr", str(path), "--json").stdout
    )
    assert decode_svg(path.read_text()) == made["viewer_url"]
    assert made["viewer_url"].endswith("#" + made["shlink"])
    bad = run(
        "share",
        "link",
        "create",
        "--categories",
        "heart",
        "--qr",
        str(tmp_path / "no" / "such" / "link.svg"),
        code=2,
    )
    assert "does not exist" in bad.stderr
    assert len(json.loads(run("share", "link", "list", "--json").stdout)) == 1  # none more
