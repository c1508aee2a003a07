"""TCX, Garmin's Training Center XML (Garmin Connect, Polar Flow, Wahoo, Zwift exports).

Each `<Activity>` becomes a workout: its `Sport` the activity, its laps events (start, time,
distance, calories) whose sums give the workout's distance and energy, its trackpoints the
route with heart rate, cadence (`Cadence`, or `RunCadence` of Garmin's ActivityExtension) and
power (`Watts`). The device that recorded it (`<Creator><Name>`) is the source. See `track`
for how the XML is read safely.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling, Item, ProgressFn, SourceRef
from healthpod.ingest.routes import track
from healthpod.ingest.routes.track import Point, Track, forget, local, moment, number

NAMESPACE = b"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
HINT = "Export the activity again as TCX from the app or website that recorded it."


class TcxImporter:
    """Reads TCX files as workouts with their routes."""

    format: ClassVar[str] = "tcx"

    def sniff(self, head: bytes, filename: str) -> bool:
        return b"<TrainingCenterDatabase" in head and NAMESPACE in head

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield a workout (and its heart rate, cadence and power samples) per activity.

        Raises:
            MalformedFile: broken or hostile XML, not TCX, or more than MAX_POINTS points.
        """
        for found in activities(fp, filename):
            yield from track.track_items(found)


def _child_text(element: Any, name: str) -> str | None:
    for child in element:
        if local(child.tag) == name:
            return child.text if isinstance(child.text, str) else None
    return None


def activities(fp: BinaryIO, filename: str) -> Iterator[Track]:
    """The activities of a TCX file, each read as its `</Activity>` arrives.

    Raises:
        MalformedFile: as `TcxImporter.read`.
    """
    points: list[Point] = []
    laps: list[dict[str, Any]] = []
    total = count = 0
    for event, element in track.elements(fp, filename, HINT):
        tag = local(element.tag)
        if event == "start":
            if element.getparent() is None and tag != "TrainingCenterDatabase":
                raise MalformedFile(
                    f"this is XML but not TCX (its root element is <{tag}>).",
                    source=filename,
                    hint=HINT,
                )
            continue
        if tag == "Trackpoint":
            total += 1
            if total > track.MAX_POINTS:
                raise track.too_many(filename, total)
            points.append(_point(element))
            forget(element)
        elif tag == "Lap":
            laps.append(_lap(element))
            forget(element)
        elif tag == "Activity":
            count += 1
            creator = None
            for child in element:
                if local(child.tag) == "Creator":
                    creator = _child_text(child, "Name")
            name = creator.strip()[:200] if creator and creator.strip() else None
            distances = [lap["distance_m"] for lap in laps if "distance_m" in lap]
            energies = [lap["energy_kcal"] for lap in laps if "energy_kcal" in lap]
            yield Track(
                points,
                track.sport(element.get("Sport")),
                SourceRef(name=name or "TCX file", kind="device" if name else "app"),
                f"activity {count}",
                device=name,
                distance_m=sum(distances) if distances else None,
                energy_kcal=sum(energies) if energies and sum(energies) > 0 else None,
                events=laps or None,
            )
            points, laps = [], []
            forget(element)
    if count == 0:
        raise MalformedFile("the TCX file holds no activity.", source=filename, hint=HINT)


def _point(element: Any) -> Point:
    point = Point(t_ms=None, offset_min=None, lat=None, lon=None)
    for child in element.iter():
        if child is element:
            continue
        tag = local(child.tag)
        if tag == "Time":
            when = moment(child.text)
            if when is not None:
                point.t_ms, point.offset_min = when
        elif tag == "LatitudeDegrees":
            point.lat = number(child.text)
        elif tag == "LongitudeDegrees":
            point.lon = number(child.text)
        elif tag == "AltitudeMeters":
            point.alt_m = number(child.text)
        elif tag == "DistanceMeters":
            point.distance_m = number(child.text)
        elif tag == "Value" and local(child.getparent().tag) == "HeartRateBpm":
            point.heart_rate = number(child.text)
        elif tag in ("Cadence", "RunCadence"):
            point.cadence = number(child.text)
        elif tag == "Watts":
            point.power = number(child.text)
    return point


def _lap(element: Any) -> dict[str, Any]:
    lap: dict[str, Any] = {"type": "lap"}
    when = moment(element.get("StartTime"))
    if when is not None:
        lap["start_ms"] = when[0]
    for name, key in (
        ("TotalTimeSeconds", "duration_s"),
        ("DistanceMeters", "distance_m"),
        ("Calories", "energy_kcal"),
    ):
        value = number(_child_text(element, name))
        if value is not None:
            lap[key] = value
    for name, key in (
        ("AverageHeartRateBpm", "avg_heart_rate"),
        ("MaximumHeartRateBpm", "max_heart_rate"),
    ):
        for child in element:
            if local(child.tag) == name:
                value = number(_child_text(child, "Value"))
                if value is not None:
                    lap[key] = value
    return lap


IMPORTER = TcxImporter()
