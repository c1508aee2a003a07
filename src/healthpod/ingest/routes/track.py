"""What GPX and TCX share: reading their XML safely, and turning a track into a workout.

The XML is read with lxml's pull parser under the same guards as the Apple reader: no entity
is expanded, no DTD loaded, nothing fetched from the network, libxml2's huge-tree mode off;
`PrologueGuard` refuses a file that declares entities or an external DTD before the parser
sees it, `LongTokenGuard` a gigabyte-long tag or text. Elements are cleared as soon as they
are read, so memory stays flat however long the track; a file with more than `MAX_POINTS`
points is refused (a day at one point a second is 86,400).

lxml, not gpxpy: gpxpy builds the whole document in memory from the standard library's
parser, which cannot be told to refuse entities; it would also read only GPX, not TCX.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from lxml import etree

from healthpod.errors import MalformedFile
from healthpod.ingest import safe_files
from healthpod.ingest.base import Item, Quantity, SourceRef, Warning_, Workout

CHUNK = 256 * 1024
MAX_POINTS = 1_000_000
EARTH_RADIUS_M = 6_371_008.8
NO_OFFSET = "the file gives times in UTC without the local offset; they are stored at +00:00"

# sport → our types for cadence and power (as the FIT importer types them)
SPORT_TYPES: dict[str, tuple[tuple[str, str, bool], tuple[str, str, bool]]] = {
    "cycling": (("cycling_cadence", "/min", True), ("cycling_power", "W", True)),
    "running": (("route:cadence", "/min", False), ("running_power", "W", True)),
}
OTHER_SPORT = (("route:cadence", "/min", False), ("route:power", "W", False))
SPORT_WORDS = {
    "run": "running",
    "running": "running",
    "ride": "cycling",
    "biking": "cycling",
    "cycling": "cycling",
    "bike": "cycling",
    "walk": "walking",
    "walking": "walking",
    "hike": "hiking",
    "hiking": "hiking",
    "swim": "swimming",
    "swimming": "swimming",
}


def sport(text: str | None) -> str:
    """An activity name from a file's free text ("Running", "ride", "Biking")."""
    if not text or not text.strip():
        return "unknown"
    word = text.strip().lower().replace(" ", "_")
    return SPORT_WORDS.get(word, word[:100])


@dataclass(slots=True)
class Point:
    t_ms: int | None
    offset_min: int | None
    lat: float | None
    lon: float | None
    alt_m: float | None = None
    heart_rate: float | None = None
    cadence: float | None = None
    power: float | None = None
    distance_m: float | None = None


def local(tag: Any) -> str:
    """The element's name without its namespace."""
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def elements(fp: BinaryIO, filename: str, hint: str) -> Iterator[tuple[str, Any]]:
    """("start" | "end", element) events of the document, the guards applied to every chunk.

    Raises:
        MalformedFile: entities, an external DTD, a huge token, or broken XML.
    """
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    prologue = safe_files.PrologueGuard(filename)
    long_tokens = safe_files.LongTokenGuard(filename)
    try:
        while chunk := fp.read(CHUNK):
            prologue.check(chunk)
            long_tokens.check(chunk)
            parser.feed(chunk)
            yield from parser.read_events()
    except etree.XMLSyntaxError as exc:
        raise safe_files.syntax_error(filename, exc, hint=hint) from exc
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise MalformedFile(
            f"the file ends in the middle of the XML: it is cut short ({exc}).",
            source=filename,
            location=f"line {long_tokens.lines}",
            hint=hint,
        ) from exc
    yield from parser.read_events()


def forget(element: Any) -> None:
    """Free an element that has been read, and the siblings before it."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def moment(text: str | None) -> tuple[int, int | None] | None:
    """An ISO 8601 time → (epoch ms, its offset in minutes, or None when it says UTC/nothing)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    offset = when.utcoffset()
    if offset is None:
        return None  # a time without a zone: GPX and TCX times are UTC, but this one does not say
    minutes = int(offset.total_seconds() // 60)
    return int(when.timestamp() * 1000), (minutes or None)


def on_earth(lat: float | None, lon: float | None) -> bool:
    return lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180


def too_many(filename: str, count: int) -> MalformedFile:
    return MalformedFile(
        f"the file holds more than {MAX_POINTS:,} track points ({count:,} read so far); a day "
        "recorded at one point a second is 86,400. It was not imported.",
        source=filename,
        hint="Split the file, or export the activity again from the app.",
    )


def distance_m(points: list[Point]) -> float:
    """The length of the track along the earth's surface (haversine)."""
    total = 0.0
    previous: Point | None = None
    for p in points:
        if not on_earth(p.lat, p.lon):
            continue
        if previous is not None:
            assert previous.lat is not None and previous.lon is not None
            assert p.lat is not None and p.lon is not None
            phi1, phi2 = math.radians(previous.lat), math.radians(p.lat)
            dphi, dlmb = phi2 - phi1, math.radians(p.lon - previous.lon)
            a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
            total += 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
        previous = p
    return total


def route_points(points: list[Point]) -> list[dict[str, Any]]:
    """The route as the workouts table keeps it (the FIT importer's shape)."""
    out = []
    for p in points:
        if not on_earth(p.lat, p.lon):
            continue
        assert p.lat is not None and p.lon is not None
        point: dict[str, Any] = {"lat": round(p.lat, 7), "lon": round(p.lon, 7)}
        if p.t_ms is not None:
            point["t_ms"] = p.t_ms
        if p.alt_m is not None:
            point["alt_m"] = round(p.alt_m, 2)
        if p.distance_m is not None:
            point["distance_m"] = p.distance_m
        out.append(point)
    return out


@dataclass(frozen=True, slots=True)
class Track:
    """One activity read from a file: its points, and what the file says of it as a whole."""

    points: list[Point]
    activity: str
    source: SourceRef
    where: str  # "track 1", "activity 2"
    device: str | None = None
    distance_m: float | None = None  # the file's own total (TCX laps), else computed
    energy_kcal: float | None = None
    events: list[dict[str, Any]] | None = None
    meta: dict[str, Any] | None = None


def track_items(track: Track) -> Iterator[Item]:
    """The workout of a track, with a sample per point for heart rate, cadence and power."""
    timed = [p for p in track.points if p.t_ms is not None]
    if not timed:
        yield Warning_(track.where, "the track has no times (a planned route); it was skipped")
        return
    offsets = [p.offset_min for p in timed if p.offset_min is not None]
    offset = offsets[0] if offsets else 0
    if not offsets:
        yield Warning_(track.where, NO_OFFSET)
    start = min(p.t_ms for p in timed if p.t_ms is not None)
    end = max(p.t_ms for p in timed if p.t_ms is not None)
    (cadence_type, cadence_unit, cadence_known), (power_type, power_unit, power_known) = (
        SPORT_TYPES.get(track.activity, OTHER_SPORT)
    )
    rates: list[float] = []
    seen: set[int] = set()
    for p in timed:
        assert p.t_ms is not None
        if p.t_ms in seen:
            continue  # two points in one instant (Apple writes some): the first counts
        seen.add(p.t_ms)
        for type_code, unit, value, known in (
            ("heart_rate", "/min", p.heart_rate, True),
            (cadence_type, cadence_unit, p.cadence, cadence_known),
            (power_type, power_unit, p.power, power_known),
        ):
            if value is not None and value >= 0:
                if type_code == "heart_rate":
                    rates.append(value)
                yield Quantity(
                    type_code,
                    p.t_ms,
                    p.t_ms,
                    offset,
                    offset,
                    value,
                    unit,
                    track.source,
                    device=track.device,
                    known=known,
                )
    statistics = None
    if rates:
        statistics = [
            {
                "type": "heart_rate",
                "unit": "/min",
                "average": round(sum(rates) / len(rates), 1),
                "maximum": max(rates),
                "minimum": min(rates),
            }
        ]
    route = route_points(track.points)
    distance = track.distance_m if track.distance_m is not None else distance_m(track.points)
    yield Workout(
        activity_type=track.activity,
        start_ms=start,
        end_ms=end,
        start_offset_min=offset,
        end_offset_min=offset,
        source=track.source,
        duration_s=(end - start) / 1000,
        distance_km=round(distance / 1000, 5) if route or track.distance_m is not None else None,
        energy_kcal=track.energy_kcal,
        device=track.device,
        meta=track.meta,
        events=track.events,
        statistics=statistics,
        route={"format": "points", "points": route} if route else None,
    )
