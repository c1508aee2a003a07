"""CSV through mapping profiles: shipped ones by header, a person's own, bad rows by line."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import IngestError, MalformedFile
from healthpod.ingest import registry
from healthpod.ingest.base import Correlation, ErrorHandling, Quantity, Warning_
from healthpod.ingest.csv.profiles import (
    IMPORTER,
    ProfileImporter,
    load_profile,
    parse_profile,
    shipped_profiles,
)
from healthpod.store import schema

DATA = Path(__file__).parent.parent / "data" / "csv"
OMRON = DATA / "Your Requested OMRON Report from Jan 01 2025 to Jan 22 2025.csv"


@pytest.fixture
def stockholm():
    """Run with the computer's zone set to Europe/Stockholm (profiles with timezone = "local")."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Stockholm"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def read(path: Path, importer=IMPORTER, errors=ErrorHandling.RAISE) -> list:
    with path.open("rb") as fp:
        return list(importer.read(fp, filename=path.name, errors=errors))


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_shipped_profiles_load_and_each_file_finds_its_own():
    assert {p.name for p in shipped_profiles()} == {
        "Withings weight export",
        "Withings blood pressure export",
        "OMRON connect blood pressure report",
    }
    for path in (DATA / "withings-weight.csv", DATA / "withings-bp.csv", OMRON):
        assert registry.detect(path.read_bytes()[:65536], path.name).format == "csv"
    with pytest.raises(IngestError):
        registry.detect((DATA / "my-scale.csv").read_bytes(), "my-scale.csv")


def test_withings_weight_export(stockholm):
    items = read(DATA / "withings-weight.csv")
    notes = [i.message for i in items if isinstance(i, Warning_)]
    assert (
        notes[0] == "read with the profile 'Withings weight export' (profiles/withings-weight.toml)"
    )
    assert "this computer's time zone" in notes[1]
    weights = [i for i in items if isinstance(i, Quantity) and i.type_code == "body_mass"]
    with (DATA / "withings-weight.csv").open() as fp:
        rows = list(csv.DictReader(fp))
    assert [w.value for w in weights] == [float(r["Weight (kg)"]) for r in rows]
    assert weights[0].start_ms == ms("2025-10-12T10:45:50+02:00")  # CEST
    assert weights[0].start_offset_min == 120
    assert weights[2].start_offset_min == 120  # 2025-03-30 07:30 is after the change to CEST
    fat = [i for i in items if isinstance(i, Quantity) and i.type_code == "withings:fat_mass"]
    assert [(f.value, f.known) for f in fat] == [(10.21, False)]
    assert weights[2].meta == {"csv_profile": "Withings weight export", "comment": "after a run"}
    assert {w.source.name for w in weights} == {"Withings"}


def test_withings_blood_pressure_pairs_become_correlations(stockholm):
    items = read(DATA / "withings-bp.csv")
    pairs = [i for i in items if isinstance(i, Correlation)]
    rates = [i.value for i in items if isinstance(i, Quantity) and i.type_code == "heart_rate"]
    assert [{s.type_code: s.value for s in p.samples} for p in pairs] == [
        {"blood_pressure_systolic": 121, "blood_pressure_diastolic": 79},
        {"blood_pressure_systolic": 135, "blood_pressure_diastolic": 88},
    ]
    assert rates == [61, 64, 70]


def test_omron_report_with_12_and_24_hour_times(stockholm):
    items = read(OMRON)
    pairs = [i for i in items if isinstance(i, Correlation)]
    assert [p.start_ms for p in pairs] == [
        ms("2025-01-12T08:12:00+01:00"),
        ms("2025-01-10T19:49:00+01:00"),
        ms("2025-01-06T08:46:00+01:00"),
    ]
    assert {p.source.name for p in pairs} == {"OMRON connect"}
    pulses = [i.value for i in items if isinstance(i, Quantity)]
    assert pulses == [47, 52, 50]


def test_own_profile_units_decimal_commas_and_daylight_saving():
    profile = load_profile(DATA / "my-scale.toml")
    items = read(DATA / "my-scale.csv", ProfileImporter(profile), ErrorHandling.WARN)
    weights = [i for i in items if isinstance(i, Quantity) and i.type_code == "body_mass"]
    assert [round(w.value, 4) for w in weights] == [
        round(165.4 * 0.45359237, 4),
        round(165.0 * 0.45359237, 4),
        round(164.2 * 0.45359237, 4),
    ]
    assert [w.start_offset_min for w in weights] == [60, 120, 120]  # CET, then CEST
    assert weights[0].start_ms == ms("2024-03-31T01:30:00+01:00")
    waist = [i for i in items if isinstance(i, Quantity) and i.type_code == "waist_circumference"]
    assert [w.value for w in waist] == pytest.approx([83.82, 85.09])  # empty on the last row
    assert {w.unit for w in waist} == {"cm"}
    # The row that does not parse is named by its line in the file (line 1 is the preamble).
    warnings = [(w.location, w.message) for w in items if isinstance(w, Warning_)]
    assert warnings == [
        ("line 5", "column 'Vikt (lb)': 'oops' is not a number; the row was skipped")
    ]


def test_a_bad_row_refuses_the_file_under_raise():
    profile = load_profile(DATA / "my-scale.toml")
    with pytest.raises(MalformedFile) as caught:
        read(DATA / "my-scale.csv", ProfileImporter(profile), ErrorHandling.RAISE)
    assert caught.value.location == "line 5"
    assert caught.value.source == "my-scale.csv"
    assert "'oops' is not a number" in caught.value.message


def test_a_header_without_the_mapped_columns_is_refused():
    profile = load_profile(DATA / "my-scale.toml")
    with pytest.raises(MalformedFile, match="lacks the column") as caught:
        read(DATA / "withings-weight.csv", ProfileImporter(profile))
    assert caught.value.location == "line 2"


def test_times_that_do_not_match_are_reported():
    profile = load_profile(DATA / "my-scale.toml")
    data = b"x\nDatum;Vikt (lb)\n31/03/2024;160\n"
    with pytest.raises(MalformedFile, match=r"does not match the format\(s\) '%Y-%m-%d %H:%M'"):
        list(
            ProfileImporter(profile).read(
                io.BytesIO(data), filename="s.csv", errors=ErrorHandling.RAISE
            )
        )


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d.pop("time"), "key time"),
        (lambda d: d["columns"][0].update(type="weight"), "key columns[0].type"),
        (lambda d: d["columns"][0].update(unit="mmHg"), "key columns[0].unit"),
        (lambda d: d["time"].update(timezone="Mars/Olympus"), "key time.timezone"),
        (lambda d: d["csv"].update(decimal=";"), "key csv.decimal"),
        (lambda d: d.update(columns=[]), "key columns"),
        (lambda d: d["columns"][0].update(type="sleep_analysis"), "key columns[0].type"),
    ],
)
def test_profile_mistakes_name_the_key(change, key):
    import tomllib

    document = tomllib.loads((DATA / "my-scale.toml").read_text())
    change(document)
    with pytest.raises(MalformedFile) as caught:
        parse_profile(document, origin="my-scale.toml")
    assert caught.value.location == key
    assert caught.value.source == "my-scale.toml"


def test_a_profile_that_is_not_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[time\n')
    with pytest.raises(MalformedFile, match="not valid TOML"):
        load_profile(path)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b'Date,"Weight (kg)","Fat mass (kg)"\n"2025-10-12 10:45:50",\xff\xfe,\n', "not utf-8-sig"),
        (b'Date,"Weight (kg)","Fat mass (kg)"\n"2025-10-12 10:45:50",7\x003,\n', "not a number"),
    ],
)
def test_undecodable_or_nul_text_names_the_line(data, what):
    with pytest.raises(MalformedFile, match=what) as caught:
        list(IMPORTER.read(io.BytesIO(data), filename="w.csv", errors=ErrorHandling.RAISE))
    assert caught.value.location == "line 2"


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_any_rows_give_samples_warnings_or_our_error(body):
    data = ('Date,"Weight (kg)","Fat mass (kg)"\n' + body).encode()
    for errors in ErrorHandling:
        with contextlib.suppress(IngestError):
            list(IMPORTER.read(io.BytesIO(data), filename="w.csv", errors=errors))


def test_import_with_a_profile_counts_and_second_import_adds_nothing(pod):
    from healthpod.ingest.run import import_file

    report = import_file(pod, OMRON, errors=ErrorHandling.RAISE)
    assert report.format == "csv"
    assert report.added == {
        "blood_pressure": 3,
        "blood_pressure_systolic": 3,
        "blood_pressure_diastolic": 3,
        "heart_rate": 3,
    }
    with as_superuser(pod.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 9
    again = import_file(pod, OMRON, errors=ErrorHandling.RAISE)
    assert again.total_added == 0


def test_an_older_export_without_some_columns_says_which(stockholm):
    data = b'Date,"Weight (kg)","Fat mass (kg)"\n"2020-01-05 08:00:00",80.1,12.0\n'
    items = list(IMPORTER.read(io.BytesIO(data), filename="weight.csv", errors=ErrorHandling.RAISE))
    absent = [w for w in items if isinstance(w, Warning_) and w.location == "line 1"]
    assert [w.message for w in absent] == [
        "the file has no column(s) 'Bone mass (kg)', 'Muscle mass (kg)', 'Hydration (kg)'"
    ]
    assert [i.value for i in items if isinstance(i, Quantity)] == [80.1, 12.0]


def test_a_zip_of_exports_imports_each_through_its_profile(pod, tmp_path, stockholm):
    import zipfile

    from healthpod.ingest.run import import_path

    archive = tmp_path / "withings.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # zip members cannot seek: profiles peek
        zf.write(DATA / "withings-weight.csv", "data_ME/weight.csv")
        zf.write(DATA / "withings-bp.csv", "data_ME/bp.csv")
    reports = import_path(pod, archive, errors=ErrorHandling.RAISE)
    assert [(r.status, r.format) for r in reports] == [("completed", "csv"), ("completed", "csv")]
    added = {code: n for r in reports for code, n in r.added.items()}
    assert added["body_mass"] == 3
    assert added["blood_pressure"] == 2


def run_cli(home: Path, *args: str):
    from click.testing import CliRunner

    from healthpod.cli import cli

    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def test_cli_import_with_a_profile_reports_the_bad_row_by_line(tmp_path):
    import json

    assert run_cli(tmp_path, "init").exit_code == 0
    result = run_cli(
        tmp_path,
        "import",
        str(DATA / "my-scale.csv"),
        "--profile",
        str(DATA / "my-scale.toml"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["format"] == "csv"
    assert report["added"] == {"body_mass": 3, "body_fat_percentage": 2, "waist_circumference": 2}
    assert "Warning: my-scale.csv, line 5: column 'Vikt (lb)': 'oops' is not a number" in (
        result.stderr
    )
    again = run_cli(
        tmp_path,
        "import",
        str(DATA / "my-scale.csv"),
        "--profile",
        str(DATA / "my-scale.toml"),
        "--json",
    )
    assert json.loads(again.stdout)["added"] == {}


def test_cli_without_a_profile_says_how_to_give_one(tmp_path):
    run_cli(tmp_path, "init")
    result = run_cli(tmp_path, "import", str(DATA / "my-scale.csv"))
    assert result.exit_code == 1
    assert "my-scale.csv" in result.stderr
    assert "Traceback" not in result.output


def test_cli_refuses_a_broken_profile_with_its_key(tmp_path):
    run_cli(tmp_path, "init")
    broken = tmp_path / "broken.toml"
    broken.write_text(
        (DATA / "my-scale.toml").read_text().replace('type = "body_mass"', 'type = "weight"')
    )
    result = run_cli(tmp_path, "import", str(DATA / "my-scale.csv"), "--profile", str(broken))
    assert result.exit_code == 1
    assert "broken.toml, key columns[0].type: 'weight' is not a healthpod type" in result.stderr
