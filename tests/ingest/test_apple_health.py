"""Apple Health exports: what is stored equals what the XML says, counted independently.

The expected figures come from the standard library's ElementTree (expat, not lxml) and
`datetime.strptime`, not from the importer's own code.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import IngestError
from healthpod.ingest.apple import export
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.store import schema
from healthpod.vocabulary import BY_APPLE

APPLE = Path(__file__).parents[1] / "data" / "apple"
REAL_FILES = [
    APPLE / "healthkit-to-sqlite" / "export.xml",
    APPLE / "healthkit-to-sqlite" / "zip_contents" / "apple_health_export" / "export.xml",
    APPLE / "apple-health-parser" / "export.xml",
    APPLE / "apple-health-parser" / "export.zip",
    APPLE / "ahcd-go" / "export.xml",
    APPLE / "handmade" / "export.xml",
]
CORRELATIONS = {
    "HKCorrelationTypeIdentifierBloodPressure": "blood_pressure",
    "HKCorrelationTypeIdentifierFood": "food",
}
# (HealthKit unit, canonical unit) → how a value converts; written out here on purpose.
CONVERSIONS = {
    ("count/min", "/min"): lambda v: v,
    ("count", "kg/m2"): lambda v: v,
    ("count", "{steps}"): lambda v: v,
    ("kcal", "kcal"): lambda v: v,
    ("kJ", "kcal"): lambda v: v / 4.184,
    ("min", "min"): lambda v: v,
    ("mmHg", "mm[Hg]"): lambda v: v,
    ("ms", "ms"): lambda v: v,
    ("%", "%"): lambda v: v * 100,
    ("lb", "kg"): lambda v: v * 0.45359237,
    ("degF", "Cel"): lambda v: (v - 32) * 5 / 9,
    ("mg/dL", "mmol/L"): lambda v: v / 18.015588,
    ("mmol<180.1558800000541>/L", "mmol/L"): lambda v: v,
    ("mi", "km"): lambda v: v * 1.609344,
    ("g", "g"): lambda v: v,
}


def xml_root(path: Path) -> ET.Element:
    if path.suffix == ".zip":
        import zipfile

        with zipfile.ZipFile(path) as zf:
            name = next(n for n in zf.namelist() if n.endswith("/export.xml"))
            return ET.fromstring(zf.read(name))
    return ET.parse(path).getroot()


def instant(text: str) -> tuple[int, int]:
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
    offset = moment.utcoffset()
    assert offset is not None
    return int(moment.timestamp() * 1000), int(offset.total_seconds() // 60)


def number(text: str) -> float:
    return float(text.replace(",", "."))


def record_code(el: ET.Element) -> str:
    known = BY_APPLE.get(el.get("type", ""))
    return known.code if known else el.get("type", "")


def record_key(el: ET.Element) -> tuple:
    return (
        el.get("type"),
        el.get("startDate"),
        el.get("endDate"),
        el.get("sourceName"),
        el.get("value"),
    )


def expected_counts(root: ET.Element) -> Counter[str]:
    """Distinct items per type: a record inside a Correlation that also stands at top level once."""
    counts: Counter[str] = Counter()
    top_level = set()
    for el in root.findall("Record"):
        counts[record_code(el)] += 1
        top_level.add(record_key(el))
    for corr in root.findall("Correlation"):
        counts[CORRELATIONS[corr.get("type", "")]] += 1
        for el in corr.findall("Record"):
            if record_key(el) not in top_level:
                counts[record_code(el)] += 1
    counts["workout"] += len(root.findall("Workout"))
    counts["activity_summary"] += len(root.findall("ActivitySummary"))
    for el in root.findall("Audiogram"):
        counts[el.get("type", "")] += 1
    return +counts


def stored_counts(pod) -> Counter[str]:
    counts: Counter[str] = Counter()
    with as_superuser(pod.engine) as conn:
        for table in (schema.quantity_samples, schema.category_samples):
            rows = conn.execute(
                select(schema.sample_types.c.code, func.count())
                .join(table, table.c.type_id == schema.sample_types.c.id)
                .group_by(schema.sample_types.c.code)
            )
            counts.update(dict(rows.all()))
        corr = conn.execute(
            select(schema.correlations.c.type_code, func.count()).group_by(
                schema.correlations.c.type_code
            )
        )
        counts.update(dict(corr.all()))
        counts["workout"] += conn.scalar(select(func.count()).select_from(schema.workouts)) or 0
        counts["activity_summary"] += (
            conn.scalar(select(func.count()).select_from(schema.activity_summaries)) or 0
        )
    return +counts


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: str(p.relative_to(APPLE)))
def test_stored_items_per_type_equal_an_independent_count(pod, path):
    expected = expected_counts(xml_root(path))
    report = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert stored_counts(pod) == expected
    assert Counter(report.added) == expected
    assert report.already_present == 0
    again = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert again.added == {}
    assert again.already_present == sum(expected.values())
    assert stored_counts(pod) == expected


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: str(p.relative_to(APPLE)))
def test_values_units_instants_and_offsets_equal_the_xml(pod, path):
    root = xml_root(path)
    import_file(pod, path, errors=ErrorHandling.RAISE)
    expected = set()
    for el in root.findall("Record"):
        known = BY_APPLE.get(el.get("type", ""))
        if known is None or known.kind != "quantity":
            continue
        start_ms, start_off = instant(el.get("startDate", ""))
        end_ms, end_off = instant(el.get("endDate", ""))
        value = CONVERSIONS[(el.get("unit", ""), known.unit)](number(el.get("value", "")))
        expected.add(
            (
                known.code,
                start_ms,
                end_ms,
                start_off,
                end_off,
                round(value, 9),
                known.unit,
                el.get("sourceName"),
            )
        )
    q, t, s = schema.quantity_samples, schema.sample_types, schema.sources
    with as_superuser(pod.engine) as conn:
        rows = conn.execute(
            select(
                t.c.code,
                q.c.start_ms,
                q.c.end_ms,
                q.c.start_offset_min,
                q.c.end_offset_min,
                q.c.value,
                q.c.unit,
                s.c.name,
            )
            .join(t, t.c.id == q.c.type_id)
            .join(s, s.c.id == q.c.source_id)
            .where(t.c.known == 1)
        )
        stored = {(*row[:5], round(row[5], 9), row[6], row[7]) for row in rows}
    assert expected <= stored


def test_source_names_keep_their_exact_characters(pod):
    import_file(pod, APPLE / "handmade" / "export.xml", errors=ErrorHandling.RAISE)
    import_file(pod, APPLE / "healthkit-to-sqlite" / "export.xml", errors=ErrorHandling.RAISE)
    with as_superuser(pod.engine) as conn:
        names = set(conn.scalars(select(schema.sources.c.name)))
    assert "Anna\u2019s Apple\u00a0Watch" in names
    assert "Apple\u00a0Watch" in names
    assert "Omron\u00a0connect" in names


def test_metadata_hrv_beats_and_correlation_links_are_kept(pod):
    import_file(pod, APPLE / "handmade" / "export.xml", errors=ErrorHandling.RAISE)
    q, t = schema.quantity_samples, schema.sample_types
    with as_superuser(pod.engine) as conn:
        hrv = conn.execute(
            select(q.c.value, q.c.meta).join(t, t.c.id == q.c.type_id).where(t.c.code == "hrv_sdnn")
        ).one()
        weight_meta = conn.scalar(
            select(q.c.meta).join(t, t.c.id == q.c.type_id).where(t.c.code == "body_mass")
        )
        linked = conn.execute(
            select(t.c.code, func.count())
            .join(t, t.c.id == q.c.type_id)
            .where(q.c.correlation_id.is_not(None))
            .group_by(t.c.code)
        ).all()
        person = conn.execute(select(schema.persons)).mappings().one()
        references = conn.scalar(select(schema.imports.c.references))
        workout = conn.execute(select(schema.workouts)).mappings().one()
    assert hrv.value == pytest.approx(48.2731)
    assert hrv.meta["HeartRateVariabilityMetadataList"] == [
        {"bpm": "64", "time": "7:30:59,12 fm"},
        {"bpm": "66", "time": "7:31:00,03 fm"},
        {"bpm": "63", "time": "7:31:00,98 fm"},
    ]
    assert weight_meta == {
        "HKWasUserEntered": "0",
        "Withings Link": "withings-bd2://timeline/measure?userid=1&type=1",
    }
    assert dict(linked) == {
        "blood_pressure_systolic": 2,
        "blood_pressure_diastolic": 2,
        "dietary_energy": 1,
        "dietary_protein": 1,
    }
    assert (person["sex"], person["blood_type"], str(person["birth_date"])) == (
        "female",
        "O+",
        "1984-07-01",
    )
    assert person["characteristics"]["HKCharacteristicTypeIdentifierFitzpatrickSkinType"] == (
        "HKFitzpatrickSkinTypeII"
    )
    assert references == [
        "/workout-routes/route_2023-03-05_8.36am.gpx",
        "/clinical-records/Observation-7b0e1c.json",
    ]
    assert workout["activity_type"] == "running"
    assert workout["duration_s"] == pytest.approx(1890)
    assert workout["distance_km"] == pytest.approx(5.12)  # from WorkoutStatistics, "5,12"
    assert workout["energy_kcal"] == pytest.approx(300)  # 1255.2 kJ
    assert workout["route"]["file"] == "/workout-routes/route_2023-03-05_8.36am.gpx"
    assert workout["events"][1]["metadata"] == {"HKMetadataKeySyncVersion": "1"}
    assert workout["original"]["children"][0]["element"] == "WorkoutActivity"


def test_unknown_types_are_kept_under_their_identifier_and_listed(pod):
    report = import_file(pod, APPLE / "handmade" / "export.xml", errors=ErrorHandling.RAISE)
    assert report.unknown_types == [
        "HKCategoryTypeIdentifierFutureCategory",
        "HKDataTypeIdentifierAudiogram",
        "HKQuantityTypeIdentifierFutureMeasurement",
    ]
    q, t = schema.quantity_samples, schema.sample_types
    with as_superuser(pod.engine) as conn:
        row = conn.execute(
            select(q.c.value, q.c.unit, t.c.known)
            .join(t, t.c.id == q.c.type_id)
            .where(t.c.code == "HKQuantityTypeIdentifierFutureMeasurement")
        ).one()
    assert tuple(row) == (3.25, "zorks", 0)


def test_old_inline_route_locations_are_kept(pod):
    import_file(pod, APPLE / "healthkit-to-sqlite" / "export.xml", errors=ErrorHandling.RAISE)
    with as_superuser(pod.engine) as conn:
        route = conn.scalar(select(schema.workouts.c.route))
    assert len(route["locations"]) == 2
    assert route["locations"][0]["latitude"] == "37.7777"
    assert route["sourceName"] == "Simon\u2019s iPhone"


def _without(path: Path, drop: dict[str, int], target: Path) -> Counter[str]:
    """Write `path` without the last n top-level elements of each tag; return what was left out."""
    text = path.read_text(encoding="utf-8")
    head, body = text.split("<HealthData", 1)
    root = ET.fromstring("<HealthData" + body)
    dropped: Counter[str] = Counter()
    for tag, n in drop.items():
        for el in root.findall(tag)[-n:]:
            root.remove(el)
            dropped[record_code(el) if tag == "Record" else tag] += 1
    target.write_text(head + ET.tostring(root, encoding="unicode"), encoding="utf-8")
    return dropped


def test_a_newer_export_adds_exactly_the_difference(pod, tmp_path):
    full = APPLE / "apple-health-parser" / "export.xml"
    older = tmp_path / "export.xml"
    dropped = _without(full, {"Record": 3}, older)
    first = import_file(pod, older, errors=ErrorHandling.RAISE)
    newer = import_file(pod, full, errors=ErrorHandling.RAISE)
    assert Counter(newer.added) == dropped
    assert newer.already_present == first.total_added
    assert stored_counts(pod) == expected_counts(xml_root(full))


def test_every_cut_short_prefix_of_a_real_export_fails_with_our_error():
    data = (APPLE / "ahcd-go" / "export.xml").read_bytes().rstrip()
    for cut in range(0, len(data), 397):
        with pytest.raises(IngestError):
            list(export.parse(io.BytesIO(data[:cut]), "cut.xml", ErrorHandling.RAISE))
    assert list(export.parse(io.BytesIO(data), "whole.xml", ErrorHandling.RAISE))


@pytest.mark.parametrize("records_first", [True, False], ids=["twins-stored-first", "twins-after"])
def test_a_correlations_records_are_linked_and_counted_once_in_either_order(
    pod, monkeypatch, records_first
):
    # Batches of one record write the top-level twins before the Correlations holding them
    # (as in a large export); one batch for the whole file writes them after.
    monkeypatch.setattr(export, "RECORD_BATCH", 1 if records_first else 10_000)
    path = APPLE / "handmade" / "export.xml"
    report = import_file(pod, path, errors=ErrorHandling.RAISE)
    q, t = schema.quantity_samples, schema.sample_types
    with as_superuser(pod.engine) as conn:
        linked = conn.execute(
            select(t.c.code, func.count(func.distinct(q.c.correlation_id)))
            .join(t, t.c.id == q.c.type_id)
            .where(q.c.correlation_id.is_not(None), t.c.code.like("blood_pressure_%"))
            .group_by(t.c.code)
        ).all()
    assert dict(linked) == {"blood_pressure_systolic": 2, "blood_pressure_diastolic": 2}
    assert stored_counts(pod) == expected_counts(xml_root(path))
    assert report.already_present == 0
    assert report.added["blood_pressure_systolic"] == 2  # one of them also at top level
