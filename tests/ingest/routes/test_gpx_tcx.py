"""GPX 1.0/1.1 and TCX as workouts, and the route files of Apple's export.zip."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.errors import MalformedFile
from healthpod.ingest import registry
from healthpod.ingest.base import ErrorHandling, Quantity, Warning_, Workout
from healthpod.ingest.routes import track
from healthpod.ingest.run import import_file, import_path
from healthpod.pod import Pod
from healthpod.store import schema

DATA = Path(__file__).parents[2] / "data"
ROUTES = DATA / "routes"
APPLE_ZIP_CONTENTS = DATA / "apple" / "healthkit-to-sqlite" / "zip_contents"
GPX11 = "{http://www.topografix.com/GPX/1/1}"
TPX = "{http://www.garmin.com/xmlschemas/TrackPointExtension/v1}"
TCX = "{http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2}"
AX = "{http://www.garmin.com/xmlschemas/ActivityExtension/v2}"


def read(path: Path, errors: ErrorHandling = ErrorHandling.RAISE) -> list[Any]:
    importer = registry.detect(path.read_bytes()[:65536], path.name)
    with path.open("rb") as fp:
        return list(importer.read(fp, filename=path.name, errors=errors))


def values(items: list[Any], code: str) -> list[float]:
    return [i.value for i in items if isinstance(i, Quantity) and i.type_code == code]


def workouts(items: list[Any]) -> list[Workout]:
    return [i for i in items if isinstance(i, Workout)]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("strava-ride.gpx", "gpx"), ("walk-gpx10.gpx", "gpx"), ("garmin-run.tcx", "tcx")],
)
def test_detected_by_content(name: str, fmt: str) -> None:
    path = ROUTES / name
    assert registry.detect(path.read_bytes()[:4096], "renamed.xml").format == fmt


def test_gpx_11_ride_counts_match_an_independent_reading() -> None:
    path = ROUTES / "strava-ride.gpx"
    doc = etree.parse(str(path))
    points = doc.findall(f".//{GPX11}trkpt")
    items = read(path)
    assert values(items, "heart_rate") == [float(e.text) for e in doc.iter(f"{TPX}hr")]
    assert values(items, "cycling_cadence") == [float(e.text) for e in doc.iter(f"{TPX}cad")]
    assert values(items, "cycling_power") == [float(e.text) for e in doc.iter(f"{GPX11}power")]
    (ride,) = workouts(items)
    assert ride.activity_type == "cycling"
    assert ride.source.name == "StravaGPX"
    assert len(ride.route["points"]) == len(points)
    assert ride.route["points"][0] == {
        "lat": float(points[0].get("lat")),
        "lon": float(points[0].get("lon")),
        "t_ms": 1714806000000,
        "alt_m": 12.0,
    }
    assert ride.duration_s == 19.0
    assert ride.distance_km == pytest.approx(0.532, abs=0.001)
    # the file's times are UTC without a local offset: said in a warning
    assert [w.message for w in items if isinstance(w, Warning_)] == [track.NO_OFFSET]


def test_gpx_10_walk_with_two_segments_and_plans_left_out() -> None:
    path = ROUTES / "walk-gpx10.gpx"
    doc = etree.parse(str(path))
    items = read(path)
    (walk,) = workouts(items)
    assert walk.activity_type == "walking"
    assert len(walk.route["points"]) == len(doc.findall(".//{*}trkpt")) == 12
    assert not [i for i in items if isinstance(i, Quantity)]  # no heart rate in this file


def test_tcx_run_counts_match_an_independent_reading() -> None:
    path = ROUTES / "garmin-run.tcx"
    doc = etree.parse(str(path))
    items = read(path)
    hr = [float(e.text) for e in doc.iterfind(f".//{TCX}Trackpoint/{TCX}HeartRateBpm/{TCX}Value")]
    assert values(items, "heart_rate") == hr
    assert values(items, "running_power") == [float(e.text) for e in doc.iter(f"{AX}Watts")]
    assert values(items, "route:cadence") == [float(e.text) for e in doc.iter(f"{AX}RunCadence")]
    (run,) = workouts(items)
    laps = doc.findall(f".//{TCX}Lap")
    assert run.activity_type == "running"
    assert (run.source.name, run.device) == ("Forerunner 935", "Forerunner 935")
    assert (
        run.distance_km == sum(float(lap.findtext(f"{TCX}DistanceMeters")) for lap in laps) / 1000
    )
    assert run.energy_kcal == sum(float(lap.findtext(f"{TCX}Calories")) for lap in laps)
    assert [e["avg_heart_rate"] for e in run.events] == [145.0, 155.0]
    assert len(run.route["points"]) == len(hr)


def test_importing_a_track_twice_adds_nothing(pod: Pod) -> None:
    first = import_file(pod, ROUTES / "garmin-run.tcx")
    again = import_file(pod, ROUTES / "garmin-run.tcx")
    assert first.added["workout"] == 1 and first.added["heart_rate"] == 20
    assert again.total_added == 0


def test_apple_export_zip_stores_the_route_file_as_the_workouts_route(
    pod: Pod, tmp_path: Path
) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(APPLE_ZIP_CONTENTS.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(APPLE_ZIP_CONTENTS).as_posix())
    report = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert report.added["workout_route"] == 1
    with as_superuser(pod.engine) as conn:
        (route,) = conn.scalars(select(schema.workouts.c.route)).all()
    assert route["file"] == "/workout-routes/route_2019-06-11_3.00pm.gpx"
    assert [(p["lat"], p["lon"], p["t_ms"]) for p in route["points"]] == [
        (37.781672, -122.396397, 1560290442000),
        (37.78167, -122.396396, 1560290442000),
        (37.78167, -122.396394, 1560290443000),
    ]
    again = import_file(pod, path)
    assert again.total_added == 0


def hostile(tmp_path: Path, text: str, name: str = "track.gpx") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GPX_HEAD = '<gpx version="1.1" creator="x" xmlns="http://www.topografix.com/GPX/1/1">'


def test_external_entities_are_refused(tmp_path: Path) -> None:
    path = hostile(
        tmp_path,
        '<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        f"{GPX_HEAD}<trk><name>&xxe;</name></trk></gpx>",
    )
    with pytest.raises(MalformedFile, match=r"track\.gpx, line 2: the file declares XML entities"):
        read(path)


def test_entity_expansion_bombs_are_refused(tmp_path: Path) -> None:
    lol = "".join(
        f'<!ENTITY l{i} "{"&l" + str(i - 1) + ";" * 10 if i else "lol"}">' for i in range(9)
    )
    path = hostile(tmp_path, f"<!DOCTYPE gpx [{lol}]>{GPX_HEAD}<trk><name>&l8;</name></trk></gpx>")
    with pytest.raises(MalformedFile, match="declares XML entities"):
        read(path)


def test_an_external_dtd_is_refused(tmp_path: Path) -> None:
    path = hostile(
        tmp_path, f'<!DOCTYPE gpx SYSTEM "http://example.invalid/gpx.dtd">{GPX_HEAD}</gpx>'
    )
    with pytest.raises(MalformedFile, match="external document type"):
        read(path)


def test_too_many_points_are_refused_and_nothing_stored(
    pod: Pod, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(track, "MAX_POINTS", 10)
    point = '<trkpt lat="1" lon="2"><time>2024-01-01T00:00:00Z</time></trkpt>'
    path = hostile(tmp_path, f"{GPX_HEAD}<trk><trkseg>{point * 11}</trkseg></trk></gpx>")
    with pytest.raises(
        MalformedFile, match=r"track\.gpx: the file holds more than 10 track points"
    ):
        import_file(pod, path)
    with as_superuser(pod.engine) as conn:
        assert conn.scalars(select(schema.workouts.c.id)).all() == []
        assert conn.scalars(select(schema.imports.c.status)).all() == ["failed"]


def test_a_file_cut_short_names_the_line(tmp_path: Path) -> None:
    text = (ROUTES / "strava-ride.gpx").read_text()
    path = hostile(tmp_path, text[: len(text) // 2])
    with pytest.raises(MalformedFile, match=r"track\.gpx, line \d+: the file ends in the middle"):
        read(path)


def test_a_planned_route_without_times_is_skipped_with_a_warning(tmp_path: Path) -> None:
    point = '<trkpt lat="1" lon="2"/>'
    path = hostile(tmp_path, f"{GPX_HEAD}<trk><trkseg>{point * 3}</trkseg></trk></gpx>")
    items = read(path)
    assert [(w.location, w.message) for w in items] == [
        ("track 1", "the track has no times (a planned route); it was skipped")
    ]


def test_a_gpx_without_tracks_is_refused(tmp_path: Path) -> None:
    path = hostile(tmp_path, f'{GPX_HEAD}<wpt lat="1" lon="2"/></gpx>')
    with pytest.raises(MalformedFile, match="holds no track"):
        read(path)


def test_a_zip_of_tracks_is_imported_file_by_file_and_traversal_refused(
    pod: Pod, tmp_path: Path
) -> None:
    path = tmp_path / "activities.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(ROUTES / "strava-ride.gpx", "activities/1.gpx")
        zf.write(ROUTES / "garmin-run.tcx", "activities/2.tcx")
    reports = import_path(pod, path)
    assert [(r.format, r.added["workout"]) for r in reports] == [("gpx", 1), ("tcx", 1)]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.write(ROUTES / "strava-ride.gpx", "../../1.gpx")
    with pytest.raises(MalformedFile, match="points outside the archive"):
        import_path(pod, evil)
