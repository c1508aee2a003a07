"""The ECGs of Apple's export.zip, stored as FHIR Observations with their voltages."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import schema

APPLE = Path(__file__).parents[1] / "data" / "apple" / "healthkit-to-sqlite" / "zip_contents"


def ecg_csv(samples: int = 512 * 30, *, comma: bool = False, recorded: str | None = None) -> str:
    """An ECG file in the layout the Health app writes (one beat a second)."""
    lines = [
        "Name,Test Person",
        'Date of Birth,"Feb 5, 1952"',
        f"Recorded Date,{recorded or '2020-02-05 09:14:40 -0400'}",
        "Classification,Sinus Rhythm",
        "Symptoms,",
        "Software Version,1.51",
        'Device,"Watch5,4"',
        "Sample Rate,512.844 hertz",
        "",
        "Lead,Lead I",
        "Unit,µV",
        "",
    ]
    for i in range(samples):
        t = (i % 512) / 512
        value = (
            1200 * math.sin((t - 0.2) / 0.04 * math.pi)
            if 0.2 < t < 0.24
            else 60 * math.sin(t * 6.283)
        )
        text = f"{value:.3f}"
        lines.append(text.replace(".", ",") if comma else text)
    return "\n".join(lines) + "\n"


def export(tmp_path: Path, ecgs: dict[str, str]) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(APPLE.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(APPLE).as_posix())
        for name, text in ecgs.items():
            zf.writestr(f"apple_health_export/electrocardiograms/{name}", text)
    return path


def observations(pod: Pod) -> list[dict]:
    r = schema.resources
    with as_superuser(pod.engine) as conn:
        return list(conn.scalars(select(r.c.json).where(r.c.resource_type == "Observation")))


def test_an_ecg_is_stored_with_every_voltage(pod: Pod, tmp_path: Path) -> None:
    text = ecg_csv()
    path = export(tmp_path, {"ecg_2020-02-05.csv": text})
    report = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert report.status == "completed"
    (ecg,) = observations(pod)
    voltages = [line for line in text.splitlines()[12:] if line]
    data = ecg["component"][0]["valueSampledData"]
    assert len(data["data"].split(" ")) == len(voltages) == 512 * 30
    assert [float(v) for v in data["data"].split(" ")[:3]] == [float(v) for v in voltages[:3]]
    assert data["period"] == pytest.approx(1000 / 512.844)
    assert ecg["effectiveDateTime"] == "2020-02-05T09:14:40-04:00"
    assert ecg["valueCodeableConcept"] == {"text": "Sinus Rhythm"}
    assert ecg["device"] == {"display": "Watch5,4, ECG app 1.51"}
    assert "Test Person" not in str(ecg) and "1952" not in str(ecg)  # name and birth date stay out
    again = import_file(pod, path)
    assert again.total_added == 0


def test_a_decimal_comma_reads_as_a_point(pod: Pod, tmp_path: Path) -> None:
    path = export(tmp_path, {"ecg_2020-02-05.csv": ecg_csv(600, comma=True)})
    import_file(pod, path, errors=ErrorHandling.RAISE)
    (ecg,) = observations(pod)
    expected = [float(v.replace(",", ".")) for v in ecg_csv(600, comma=True).splitlines()[12:] if v]
    assert [
        float(v) for v in ecg["component"][0]["valueSampledData"]["data"].split(" ")
    ] == expected


def test_an_ecg_without_a_date_is_a_warning_or_refuses_the_export(pod: Pod, tmp_path: Path) -> None:
    path = export(tmp_path, {"ecg_bad.csv": ecg_csv(100, recorded="yesterday")})
    report = import_file(pod, path)
    assert [w.location for w in report.warnings if "ECG was not read" in w.message] == [
        "apple_health_export/electrocardiograms/ecg_bad.csv"
    ]
    assert observations(pod) == []
    with pytest.raises(MalformedFile, match=r"ecg_bad\.csv: the ECG has no readable Recorded Date"):
        import_file(pod, path, errors=ErrorHandling.RAISE)
