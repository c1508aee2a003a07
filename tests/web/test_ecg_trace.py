"""An ECG from Apple's export shows on the records page as a trace of its first seconds."""

from __future__ import annotations

import re
import zipfile

from tests.ingest.test_apple_electrocardiograms import APPLE, ecg_csv
from tests.web.conftest import HTML

from healthpod.ingest.run import import_file
from healthpod.web import ecg


def test_the_records_page_draws_the_ecg(logged_in, pod, tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(APPLE / "apple_health_export" / "export.xml", "apple_health_export/export.xml")
        zf.writestr("apple_health_export/electrocardiograms/ecg_2020-02-05.csv", ecg_csv())
    import_file(pod, path)
    page = logged_in.get("/records", headers=HTML).text
    assert "Electrocardiogram (Apple Watch)" in page
    assert "Sinus Rhythm" in page
    (points,) = re.findall(r'<polyline points="([^"]+)"', page)
    xy = [tuple(map(float, p.split(","))) for p in points.split(" ")]
    assert len(xy) <= ecg.WIDTH + 1
    assert all(0 <= x <= ecg.WIDTH and 0 <= y <= ecg.HEIGHT for x, y in xy)
    # the R waves (1,200 uV, one a second) reach the top of the box ten times
    assert sum(1 for _, y in xy if y < 5) >= 10


def test_a_resource_that_is_not_an_ecg_has_no_trace():
    assert ecg.trace({"resourceType": "Observation", "code": {"text": "Weight"}}) is None
    broken = {
        "resourceType": "Observation",
        "code": {"coding": [{"code": ecg.ECG_CODE}]},
        "component": [{"valueSampledData": {"period": 2, "data": "1 2 x 4"}}],
    }
    assert ecg.trace(broken) is None
