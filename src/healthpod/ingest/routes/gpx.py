"""GPX 1.0 and 1.1 (Strava, Komoot, Garmin Connect, sport watches, Apple's workout routes).

Each `<trk>` with times becomes a workout: its points the route, its `<type>` the activity, the
`<gpx creator>` the source. Heart rate, cadence and power are read from the extensions the
common writers use, by element name whatever their namespace: Garmin's TrackPointExtension
(`hr`, `cad`), Strava's `power`, and `heartrate`/`cadence` as some apps write them. A `<trk>`
without times (a planned route) is skipped with a warning, as are `<rte>` and `<wpt>`.
See `track` for how the XML is read safely.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling, Item, ProgressFn, SourceRef
from healthpod.ingest.routes import track
from healthpod.ingest.routes.track import Point, Track, forget, local, moment, number

NAMESPACES = (b"http://www.topografix.com/GPX/1/1", b"http://www.topografix.com/GPX/1/0")
HINT = "Export the activity again as GPX from the app or website that recorded it."
HEART_RATE = {"hr", "heartrate", "heart_rate"}
CADENCE = {"cad", "cadence", "runcadence"}
POWER = {"power", "watts", "powerinwatts"}


class GpxImporter:
    """Reads GPX files as workouts with their routes."""

    format: ClassVar[str] = "gpx"

    def sniff(self, head: bytes, filename: str) -> bool:
        return b"<gpx" in head and any(ns in head for ns in NAMESPACES)

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield a workout (and its heart rate, cadence and power samples) per track.

        Raises:
            MalformedFile: broken or hostile XML, not GPX, or more than MAX_POINTS points.
        """
        for found in tracks(fp, filename):
            yield from track.track_items(found)


def tracks(fp: BinaryIO, filename: str) -> Iterator[Track]:
    """The tracks of a GPX file, each read as its `</trk>` arrives.

    Raises:
        MalformedFile: as `GpxImporter.read`.
    """
    source = SourceRef(name="GPX file", kind="app")
    points: list[Point] = []
    total = 0
    number_of_tracks = 0
    activity: str | None = None
    name: str | None = None
    for event, element in track.elements(fp, filename, HINT):
        tag = local(element.tag)
        if event == "start":
            if tag == "gpx":
                creator = (element.get("creator") or "").strip()
                if creator:
                    source = SourceRef(name=creator[:200], kind="app")
            elif element.getparent() is None:
                raise MalformedFile(
                    f"this is XML but not GPX (its root element is <{tag}>).",
                    source=filename,
                    hint=HINT,
                )
            continue
        if tag == "trkpt":
            total += 1
            if total > track.MAX_POINTS:
                raise track.too_many(filename, total)
            points.append(_point(element))
            forget(element)
        elif tag == "type" and local(element.getparent().tag) == "trk":
            activity = element.text
        elif tag == "name" and local(element.getparent().tag) == "trk":
            name = element.text
        elif tag == "trk":
            number_of_tracks += 1
            meta = {"name": name.strip()[:500]} if name and name.strip() else None
            yield Track(
                points, track.sport(activity), source, f"track {number_of_tracks}", meta=meta
            )
            points, activity, name = [], None, None
            forget(element)
        elif tag in ("rte", "wpt"):
            forget(element)  # planned routes and waypoints: plans, not activities
    if number_of_tracks == 0:
        raise MalformedFile(
            "the GPX file holds no track (<trk>), only planned routes or waypoints; there is no "
            "activity to import.",
            source=filename,
            hint=HINT,
        )


def route_of(fp: BinaryIO, filename: str) -> list[dict[str, Any]]:
    """Every point of every track of the file, as a workout's route (Apple's route files).

    Raises:
        MalformedFile: as `GpxImporter.read`.
    """
    return track.route_points([p for found in tracks(fp, filename) for p in found.points])


def _point(element: Any) -> Point:
    lat, lon = number(element.get("lat")), number(element.get("lon"))
    point = Point(t_ms=None, offset_min=None, lat=lat, lon=lon)
    for child in element.iter():
        tag = local(child.tag).lower()
        if child is element:
            continue
        if tag == "ele":
            point.alt_m = number(child.text)
        elif tag == "time":
            when = moment(child.text)
            if when is not None:
                point.t_ms, point.offset_min = when
        elif tag in HEART_RATE:
            point.heart_rate = number(child.text)
        elif tag in CADENCE:
            point.cadence = number(child.text)
        elif tag in POWER:
            point.power = number(child.text)
    return point


IMPORTER = GpxImporter()
