"""Garbage, or a real file cut or flipped anywhere, fails only with our own error."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthpod.errors import IngestError
from healthpod.ingest.android.google_fit import IMPORTER as GOOGLE_FIT
from healthpod.ingest.android.health_connect import IMPORTER as HEALTH_CONNECT
from healthpod.ingest.android.samsung_health import IMPORTER as SAMSUNG
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.routes.gpx import IMPORTER as GPX
from healthpod.ingest.routes.tcx import IMPORTER as TCX
from healthpod.ingest.vendors.garmin_connect import IMPORTER as GARMIN

DATA = Path(__file__).parents[2] / "data"
SAMPLES: list[tuple[Any, Path, str]] = [
    (GPX, DATA / "routes" / "strava-ride.gpx", "ride.gpx"),
    (TCX, DATA / "routes" / "garmin-run.tcx", "run.tcx"),
    (
        SAMSUNG,
        DATA
        / "samsung"
        / "samsunghealth_anna_20240601120000"
        / "com.samsung.shealth.tracker.heart_rate.20240601120000.csv",
        "com.samsung.shealth.tracker.heart_rate.20240601120000.csv",
    ),
    (
        GOOGLE_FIT,
        DATA / "google-fit" / "Takeout" / "Fit" / "Daily activity metrics" / "2024-05-04.csv",
        "2024-05-04.csv",
    ),
    (GARMIN, DATA / "garmin" / "UDSFile_2024-05-01_2024-08-09.json", "UDSFile.json"),
]


def consume(importer: Any, data: bytes, name: str) -> None:
    with contextlib.suppress(IngestError):
        list(importer.read(io.BytesIO(data), filename=name, errors=ErrorHandling.RAISE))


@pytest.mark.parametrize(
    ("importer", "path", "name"), SAMPLES, ids=lambda v: getattr(v, "format", "")
)
@settings(max_examples=60, deadline=None)
@given(cut=st.floats(min_value=0, max_value=1), flip=st.integers(0, 255), at=st.floats(0, 1))
def test_a_cut_or_flipped_file_gives_our_error_or_items(
    importer: Any, path: Path, name: str, cut: float, flip: int, at: float
) -> None:
    data = bytearray(path.read_bytes())
    if data:
        data[int(at * (len(data) - 1))] ^= flip
    consume(importer, bytes(data[: int(cut * len(data))]), name)


@pytest.mark.parametrize("importer", [GPX, TCX, SAMSUNG, GOOGLE_FIT, GARMIN, HEALTH_CONNECT])
@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=2048))
def test_garbage_raises_only_ingest_errors(importer: Any, data: bytes) -> None:
    consume(importer, data, "garbage.bin")


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=100, max_size=4096))
def test_garbage_after_the_sqlite_header_raises_only_ingest_errors(data: bytes) -> None:
    consume(HEALTH_CONNECT, b"SQLite format 3\x00" + data, "health_connect_export.db")
