"""Workout routes on map tiles, only when the person turns it on (Settings, a cookie of this
browser, off by default): then the route is drawn over tiles from `HEALTHPOD_MAP_TILE_URL`, and
that page's Content-Security-Policy allows images from the tile host and from nowhere else.
Otherwise the plain SVG track stays and nothing is fetched from other sites.

The tiles are placed server-side in one SVG (Web Mercator, 256-pixel tiles): no script and no
map library, so the page works without JavaScript and under `script-src 'self'`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request, Response

from healthpod.web.security import CONTENT_SECURITY_POLICY

COOKIE = "hp_map_tiles"
TILE = 256
MAX_WIDTH, MAX_HEIGHT = 640, 480  # the map's size in pixels, at most
PAD = 24  # pixels around the route


def wanted(request: Request) -> bool:
    """Whether this browser's person turned map tiles on."""
    return request.cookies.get(COOKIE) == "on"


@dataclass(frozen=True, slots=True)
class TileImage:
    href: str
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class TiledMap:
    view_box: str  # "x y width height" in world pixels at `zoom`
    tiles: list[TileImage]
    points: str  # the route's polyline in the same pixels
    start: tuple[float, float]
    end: tuple[float, float]


def _world(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    size = TILE * 2**zoom
    lat = max(min(lat, 85.0511), -85.0511)
    sin = math.sin(math.radians(lat))
    x = (lon + 180.0) / 360.0 * size
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * size
    return x, y


def tiled(route: list[tuple[float, float]], url_template: str) -> TiledMap | None:
    """The route over the tiles that cover it, at the closest zoom that fits, or None."""
    if len(route) < 2:
        return None
    for zoom in range(17, 0, -1):
        points = [_world(lat, lon, zoom) for lat, lon in route]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        if max(xs) - min(xs) + 2 * PAD <= MAX_WIDTH and max(ys) - min(ys) + 2 * PAD <= MAX_HEIGHT:
            break
    left, top = min(xs) - PAD, min(ys) - PAD
    width, height = max(xs) - min(xs) + 2 * PAD, max(ys) - min(ys) + 2 * PAD
    last = 2**zoom - 1
    tiles = [
        TileImage(url_template.format(z=zoom, x=tx, y=ty), tx * TILE, ty * TILE)
        for tx in range(max(0, int(left // TILE)), min(last, int((left + width) // TILE)) + 1)
        for ty in range(max(0, int(top // TILE)), min(last, int((top + height) // TILE)) + 1)
    ]
    return TiledMap(
        view_box=f"{left:.1f} {top:.1f} {width:.1f} {height:.1f}",
        tiles=tiles,
        points=" ".join(f"{x:.1f},{y:.1f}" for x, y in points),
        start=points[0],
        end=points[-1],
    )


def tile_origin(url_template: str) -> str:
    """`https://tile.example.org` of a tile URL template."""
    parts = urlsplit(url_template)
    return f"{parts.scheme}://{parts.netloc}"


def allow_tiles(response: Response, url_template: str) -> None:
    """This response's CSP: the usual one, with images from the tile host too."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "img-src 'self' data:", f"img-src 'self' data: {tile_origin(url_template)}"
    )
