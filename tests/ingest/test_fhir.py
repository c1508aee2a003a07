"""The FHIR R4 importer on real files: Bundles, IPS documents, Synthea, Bulk Data NDJSON."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import IngestError, MalformedFile
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.fhir import ndjson, r4_json
from healthpod.ingest.run import import_file
from healthpod.store import schema

FHIR = Path(__file__).parents[1] / "data" / "fhir"
SYNTHEA = FHIR / "synthea" / "Xavier_Lueilwitz_1af31141-7c85-4dc9-8472-8fd3fa953ee8.json"
IPS = FHIR / "ips" / "Bundle-IPS-examples-Bundle-01.json"
NOT_RECORDS = {"OperationOutcome", "Bundle", "Parameters"}


def independent_count(path: Path) -> Counter[str]:
    """Resources per type, counted with json.load (NDJSON: one per line)."""
    if path.suffix == ".ndjson":
        return Counter(json.loads(line)["resourceType"] for line in path.open() if line.strip())
    document = json.loads(path.read_text())
    if document["resourceType"] != "Bundle":
        return Counter([document["resourceType"]])
    return Counter(
        entry["resource"]["resourceType"]
        for entry in document.get("entry", [])
        if "resource" in entry and entry["resource"]["resourceType"] not in NOT_RECORDS
    )


def stored_count(pod) -> Counter[str]:
    r = schema.resources
    with as_superuser(pod.engine) as conn:
        rows = conn.execute(select(r.c.resource_type, func.count()).group_by(r.c.resource_type))
        return Counter(dict(rows.all()))


def resources_added(report) -> dict[str, int]:
    return {k: v for k, v in report.added.items() if k[:1].isupper()}


@pytest.mark.parametrize(
    "path",
    [
        SYNTHEA,
        IPS,
        FHIR / "ips" / "Bundle-bundle-minimal.json",
        FHIR / "r4-examples" / "Bundle-father.json",
        FHIR / "r4-examples" / "QuestionnaireResponse-3141.json",
        FHIR / "bulk" / "Immunization.000.ndjson",
        FHIR / "bulk" / "Patient.000.ndjson",
    ],
    ids=lambda p: p.name[:30],
)
def test_counts_per_type_equal_an_independent_count_and_reimport_adds_nothing(pod, path):
    expected = independent_count(path)
    first = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert first.format == "fhir"
    assert resources_added(first) == dict(expected)
    assert stored_count(pod) == expected
    second = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert second.added == {}
    assert second.already_present == first.total_added
    assert stored_count(pod) == expected


def test_bundle_references_are_rewritten_to_stored_type_and_id(pod):
    import_file(pod, IPS, errors=ErrorHandling.RAISE)
    r = schema.resources
    with as_superuser(pod.engine) as conn:
        stored = {
            f"{t}/{i}": doc
            for t, i, doc in conn.execute(select(r.c.resource_type, r.c.fhir_id, r.c.json))
        }
    text = json.dumps(list(stored.values()))
    assert "urn:uuid:" not in text.replace('"urn:uuid:', "")  # identifiers may hold uuids
    references = [
        ref for doc in stored.values() for ref in _references(doc) if not ref.startswith("#")
    ]
    assert references, "the IPS bundle links its resources"
    assert all(ref in stored for ref in references), set(references) - set(stored)
    composition = next(doc for key, doc in stored.items() if key.startswith("Composition/"))
    assert composition["subject"]["reference"].startswith("Patient/")


def test_absolute_and_uuid_full_urls_resolve_and_duplicates_are_reported(pod):
    report = import_file(
        pod, FHIR / "r4-examples" / "Bundle-bundle-references.json", errors=ErrorHandling.RAISE
    )
    r = schema.resources
    with as_superuser(pod.engine) as conn:
        subjects = dict(
            conn.execute(
                select(r.c.fhir_id, r.c.json["subject"]["reference"].as_string()).where(
                    r.c.resource_type == "Observation"
                )
            ).all()
        )
    assert subjects["124"] == "Patient/23"  # was http://example.org/fhir/Patient/23
    assert subjects["12"] == "Patient/04121321-4af5-424c-a0e1-ed3aab1c349d"  # was urn:uuid
    assert subjects["47"] == "Patient/45/_history/2"  # a versioned reference stays
    assert any("Observation/14" in w.message for w in report.warnings)


def test_vital_signs_become_samples_in_canonical_units(pod):
    for name in ("Observation-blood-pressure", "Observation-body-height", "Observation-example"):
        import_file(pod, FHIR / "r4-examples" / f"{name}.json", errors=ErrorHandling.RAISE)
    q, t = schema.quantity_samples, schema.sample_types
    with as_superuser(pod.engine) as conn:
        values = dict(
            conn.execute(select(t.c.code, q.c.value).join(t, q.c.type_id == t.c.id)).all()
        )
        sources = conn.execute(select(schema.sources.c.kind)).scalars().all()
    assert values["blood_pressure_systolic"] == 107
    assert values["blood_pressure_diastolic"] == 60
    assert values["body_height"] == pytest.approx(66.9 * 2.54)
    assert values["body_mass"] == pytest.approx(185 * 0.45359237)
    assert set(sources) == {"healthcare"}


def test_patient_resources_are_kept_and_the_person_is_not_overwritten(pod):
    import_file(pod, FHIR / "r4-examples" / "Patient-example.json", errors=ErrorHandling.RAISE)
    with as_superuser(pod.engine) as conn:
        person = conn.execute(select(schema.persons)).one()
    assert person.name == "me"
    assert person.birth_date is None
    assert stored_count(pod) == Counter({"Patient": 1})


def test_provenance_and_organisation_are_recorded(pod):
    import_file(pod, IPS, errors=ErrorHandling.RAISE)
    r = schema.resources
    with as_superuser(pod.engine) as conn:
        rows = conn.execute(select(r.c.provenance, r.c.organisation, r.c.source_file)).all()
    assert {row.provenance for row in rows} == {"professional"}
    assert {row.source_file for row in rows} == {IPS.name}
    assert any(row.organisation for row in rows)


def broken_bundle(tmp_path: Path) -> tuple[Path, int]:
    document = json.loads(SYNTHEA.read_text())
    observation = next(
        i for i, e in enumerate(document["entry"]) if e["resource"]["resourceType"] == "Observation"
    )
    document["entry"][observation]["resource"]["status"] = 5
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    return path, observation


def test_invalid_resource_refuses_the_file_naming_entry_and_path(pod, tmp_path):
    path, index = broken_bundle(tmp_path)
    with pytest.raises(MalformedFile) as caught:
        import_file(pod, path, errors=ErrorHandling.RAISE)
    message = str(caught.value)
    assert f"entry {index}" in message
    assert "Observation.status" in message
    assert "refused" in message
    assert stored_count(pod) == Counter()


def test_invalid_resource_is_skipped_with_a_warning_under_warn(pod, tmp_path):
    path, index = broken_bundle(tmp_path)
    report = import_file(pod, path, errors=ErrorHandling.WARN)
    warning = next(w for w in report.warnings if w.location == f"entry {index}")
    assert "Observation.status" in warning.message
    assert "skipped" in warning.message
    expected = independent_count(path)
    expected["Observation"] -= 1
    assert stored_count(pod) == expected


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("deep.json", b'{"resourceType":"Basic","x":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
        (
            "deep.ndjson",
            b'{"resourceType":"Basic","x":' + b"[" * 500 + b"]" * 500 + b"}\n",
            "nested",
        ),
        ("junk.json", b'{"resourceType": "Patient", "id": ', "not valid JSON"),
        (
            "junk.ndjson",
            b'{"resourceType":"Patient","id":"a"}\n{oops\n',
            "line 2: the line is not JSON",
        ),
        ("foo.json", b'{"resourceType": "Foo", "id": "x"}', "'Foo' is not a FHIR R4"),
        ("none.json", b'{"id": "x"}', "no resourceType"),
        ("list.json", b'[{"resourceType": "Patient"}]', "a list"),
        (
            "Patient.000.ndjson",
            b'{"resourceType":"Patient","id":"a"}\n{"resourceType":"Observation","id":"b"}\n',
            "line 2: a Observation in a file of Patient",
        ),
    ],
)
def test_hostile_input_is_refused_with_a_clear_message_and_nothing_stored(
    pod, tmp_path, name, data, message
):
    with pytest.raises(MalformedFile, match=message):
        import_file(pod, write(tmp_path, name, data), format="fhir", errors=ErrorHandling.WARN)
    assert stored_count(pod) == Counter()


def test_a_bulk_data_log_is_refused(pod):
    with pytest.raises(MalformedFile, match=r"line 1: .*not a FHIR NDJSON file"):
        import_file(pod, FHIR / "bulk" / "log.ndjson", format="fhir")


def test_a_huge_line_is_refused_without_reading_it_whole(pod, tmp_path, monkeypatch):
    monkeypatch.setattr(ndjson, "MAX_LINE_BYTES", 1024)
    line = b'{"resourceType":"Patient","id":"a","text":{"div":"' + b"x" * 4096 + b'"}}\n'
    path = write(tmp_path, "Patient.ndjson", b'{"resourceType":"Patient","id":"b"}\n' + line)
    with pytest.raises(MalformedFile, match="line 2: the line is longer than"):
        import_file(pod, path, errors=ErrorHandling.WARN)
    assert stored_count(pod) == Counter()


def test_sniff_recognises_fhir_json_and_ndjson():
    assert r4_json.IMPORTER.sniff(SYNTHEA.read_bytes()[:4096], "x.json")
    assert r4_json.IMPORTER.sniff((FHIR / "bulk" / "Patient.000.ndjson").read_bytes()[:4096], "p")
    assert not r4_json.IMPORTER.sniff(b'{"exportId": "x"}', "log.ndjson")
    assert not r4_json.IMPORTER.sniff(b"<xml/>", "a.json")


def _references(node):
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def test_read_member_reads_a_clinical_record_inside_an_archive(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(
            FHIR / "r4-examples" / "Condition-example.json",
            "apple_health_export/clinical-records/Condition-1.json",
        )
    with zipfile.ZipFile(archive) as zf, zf.open(zf.namelist()[0]) as member:
        items = list(r4_json.read_member(member, member="clinical-records/Condition-1.json"))
    assert [type(i).__name__ for i in items] == ["ClinicalResource"]
    assert items[0].source_file == "clinical-records/Condition-1.json"
    assert items[0].resource["resourceType"] == "Condition"


def test_clinical_records_in_an_apple_health_export_are_imported_with_it(pod, tmp_path):
    apple = Path(__file__).parents[1] / "data" / "apple" / "ahcd-go" / "export.xml"
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(apple, "apple_health_export/export.xml")
        for name in ("Condition-example.json", "Observation-body-height.json"):
            zf.write(FHIR / "r4-examples" / name, f"apple_health_export/clinical-records/{name}")
    report = import_file(pod, archive, errors=ErrorHandling.RAISE)
    assert report.format == "apple-health"
    assert resources_added(report) == {"Condition": 1, "Observation": 1}
    assert report.added["body_height"] == 1
    r = schema.resources
    with as_superuser(pod.engine) as conn:
        files = set(conn.execute(select(r.c.source_file)).scalars())
    assert files == {
        "export.zip/apple_health_export/clinical-records/Condition-example.json",
        "export.zip/apple_health_export/clinical-records/Observation-body-height.json",
    }
    again = import_file(pod, archive, errors=ErrorHandling.RAISE)
    assert again.added == {}


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("utf16.json", '{"resourceType":"Patient"}'.encode("utf-16"), "UTF-16"),
        ("nan.ndjson", b'{"resourceType":"Patient","id":"a","x":NaN}\n', "NaN is not a JSON"),
        ("entry.json", b'{"resourceType":"Bundle","entry":{"x":1}}', "entry is not a list"),
        ("bad.json", b'{"resourceType":"Patient","name":"\xff"}', "not valid JSON"),
        ("trailing.json", b'{"resourceType":"Patient"} {"x":1}', "not valid JSON"),
    ],
)
def test_encoding_and_shape_problems_are_refused_by_the_parser(name, data, message):
    with pytest.raises(MalformedFile, match=message):
        list(r4_json.IMPORTER.read(io.BytesIO(data), filename=name))


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
def test_garbage_raises_only_our_errors(data):
    for name in ("x.json", "x.ndjson"):
        with contextlib.suppress(IngestError):
            list(r4_json.IMPORTER.read(io.BytesIO(data), filename=name, errors=ErrorHandling.RAISE))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["Patient", "Observation", "Bundle", "Condition"]),
    st.dictionaries(st.sampled_from(["id", "entry", "status", "code", "type"]), json_values),
)
def test_random_resources_are_read_or_refused_with_our_errors(resource_type, body):
    data = json.dumps({"resourceType": resource_type, **body}).encode()
    with contextlib.suppress(IngestError):
        list(r4_json.IMPORTER.read(io.BytesIO(data), filename="r.json", errors=ErrorHandling.RAISE))
    with contextlib.suppress(IngestError):
        list(r4_json.IMPORTER.read(io.BytesIO(data + b"\n"), filename="r.ndjson"))


def test_a_file_of_several_patients_says_so(pod):
    report = import_file(pod, FHIR / "bulk" / "Patient.000.ndjson", errors=ErrorHandling.RAISE)
    assert any("13 Patient resources" in w.message for w in report.warnings)


def test_a_nul_character_is_an_invalid_resource_not_a_database_error(pod, tmp_path):
    lines = [
        {"resourceType": "Condition", "id": "bad", "code": {"text": "a\u0000b"}, "subject": {}},
        {"resourceType": "Condition", "id": "good", "subject": {"reference": "Patient/p"}},
    ]
    path = write(tmp_path, "Condition.ndjson", "\n".join(map(json.dumps, lines)).encode())
    report = import_file(pod, path, errors=ErrorHandling.WARN)
    assert [w.location for w in report.warnings] == ["line 1"]
    assert "Condition.code.text: a string holds a NUL" in report.warnings[0].message
    assert stored_count(pod) == Counter({"Condition": 1})


def test_an_organisation_name_with_nul_is_not_used_for_attribution(pod, tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f1c5a8e-0000-4000-8000-000000000001",
                "resource": {"resourceType": "Organization", "name": "Bad\u0000Org"},
            },
            {
                "resource": {
                    "resourceType": "Encounter",
                    "id": "e",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "serviceProvider": {
                        "reference": "urn:uuid:6f1c5a8e-0000-4000-8000-000000000001"
                    },
                }
            },
        ],
    }
    path = write(tmp_path, "b.json", json.dumps(bundle).encode())
    report = import_file(pod, path, errors=ErrorHandling.WARN)
    assert [w.location for w in report.warnings] == ["entry 0"]
    assert stored_count(pod) == Counter({"Encounter": 1})


def test_a_flood_of_bad_entries_gives_a_bounded_report(pod, tmp_path):
    entries = [{"request": {"method": "DELETE", "url": f"Patient/{i}"}} for i in range(20_000)]
    entries.append({"resource": {"resourceType": "Patient", "id": "kept"}})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    path = write(tmp_path, "flood.json", json.dumps(bundle).encode())
    report = import_file(pod, path, errors=ErrorHandling.WARN)
    assert len(report.warnings) == r4_json.MAX_WARNINGS + 1
    assert "19900 more warnings" in report.warnings[-1].message
    assert stored_count(pod) == Counter({"Patient": 1})


def test_a_file_refused_late_leaves_nothing_from_batches_already_written(pod, tmp_path):
    def heart_rate(i):
        return {
            "resourceType": "Observation",
            "id": f"hr{i}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "valueQuantity": {"value": 60 + i % 40, "code": "/min"},
        }

    lines = [json.dumps(heart_rate(i)) for i in range(1100)]  # resources and samples interleave
    lines.append('{"resourceType": "Observation", "id": "bad", "status": 5}')
    path = write(tmp_path, "Observation.ndjson", "\n".join(lines).encode())
    with pytest.raises(MalformedFile, match=r"line 1101: .*Observation.status"):
        import_file(pod, path, errors=ErrorHandling.RAISE)
    assert stored_count(pod) == Counter()
    with as_superuser(pod.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 0
