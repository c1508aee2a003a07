"""Map tiles under a workout's route only when the person turns them on (Settings, default off);
only then does the page's CSP allow the tile host, and only on that page."""

from __future__ import annotations

import re
from pathlib import Path

from healthpod.ingest.run import import_path
from healthpod.web.map_tiles import tiled

HTML = {"accept": "text/html"}
ROUTES = Path(__file__).parents[1] / "data" / "routes"
TILE_HOST = "https://tile.openstreetmap.org"


def _workout(client, pod) -> str:
    import_path(pod, ROUTES / "strava-ride.gpx")
    ids = re.findall(r'data-workout="(\d+)"', client.get("/workouts", headers=HTML).text)
    assert ids
    return f"/workouts/{ids[0]}"


def _choose(client, csrf_of, value: str):
    page = client.get("/settings", headers=HTML)
    return client.post(
        "/settings/map",
        data={"csrf_token": csrf_of(page.text), "tiles": value},
        headers=HTML,
        follow_redirects=True,
    )


def test_no_tiles_and_no_tile_host_in_the_csp_by_default(logged_in, pod, account):
    detail = logged_in.get(_workout(logged_in, pod), headers=HTML)
    assert detail.status_code == 200 and "<polyline" in detail.text
    assert "<image" not in detail.text and TILE_HOST not in detail.text
    assert TILE_HOST not in detail.headers["content-security-policy"]
    settings = logged_in.get("/settings", headers=HTML).text
    assert '<option value="off" selected>' in settings


def test_turned_on_the_route_is_drawn_on_tiles_and_only_that_host_is_allowed(
    logged_in, pod, account, csrf_of
):
    url = _workout(logged_in, pod)
    saved = _choose(logged_in, csrf_of, "on")
    assert saved.status_code == 200 and "shown on a map in this browser" in saved.text
    assert '<option value="on" selected>' in saved.text
    detail = logged_in.get(url, headers=HTML)
    images = re.findall(r'<image href="([^"]+)"', detail.text)
    assert images and all(re.fullmatch(rf"{TILE_HOST}/\d+/\d+/\d+\.png", i) for i in images)
    assert "OpenStreetMap contributors" in detail.text
    csp = detail.headers["content-security-policy"]
    assert f"img-src 'self' data: {TILE_HOST}" in csp and "script-src 'self'" in csp
    assert TILE_HOST not in logged_in.get("/", headers=HTML).headers["content-security-policy"]
    off = _choose(logged_in, csrf_of, "off")
    assert "drawn without a map" in off.text
    again = logged_in.get(url, headers=HTML)
    assert "<image" not in again.text
    assert TILE_HOST not in again.headers["content-security-policy"]


def test_the_map_choice_needs_the_forms_token_and_a_strange_value_means_off(
    logged_in, pod, account, csrf_of
):
    url = _workout(logged_in, pod)
    refused = logged_in.post("/settings/map", data={"tiles": "on"}, headers=HTML)
    assert refused.status_code == 403
    assert "<image" not in logged_in.get(url, headers=HTML).text
    odd = _choose(logged_in, csrf_of, "<script>")
    assert odd.status_code == 200 and "<image" not in logged_in.get(url, headers=HTML).text


def test_the_tiles_cover_the_route_at_a_zoom_that_fits():
    route = [(59.3293, 18.0686), (59.3326, 18.0649), (59.3400, 18.0500)]
    found = tiled(route, "https://t.example/{z}/{x}/{y}.png")
    assert found is not None
    left, top, width, height = (float(v) for v in found.view_box.split())
    assert width <= 640 and height <= 480
    xs = [float(p.split(",")[0]) for p in found.points.split()]
    ys = [float(p.split(",")[1]) for p in found.points.split()]
    for x, y in zip(xs, ys, strict=True):
        assert any(t.x <= x < t.x + 256 and t.y <= y < t.y + 256 for t in found.tiles)
    assert left <= min(xs) and max(xs) <= left + width and top <= min(ys)
    assert tiled(route[:1], "https://t.example/{z}/{x}/{y}.png") is None
