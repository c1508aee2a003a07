"""Which importers exist, and which one reads a given file (by its content, not only its name).

To add a format: write a module with an object following `ingest.base.Importer` and add it to
`IMPORTERS`. An importer that reads a whole zip archive (as Apple Health does) also has
`sniff_zip(names) -> bool`; zips no importer claims are opened and each member imported alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from healthpod.errors import UnsupportedFormat
from healthpod.ingest.android.google_fit import IMPORTER as GOOGLE_FIT_TAKEOUT
from healthpod.ingest.android.health_connect import IMPORTER as HEALTH_CONNECT
from healthpod.ingest.android.samsung_health import IMPORTER as SAMSUNG_HEALTH
from healthpod.ingest.apple.export import IMPORTER as APPLE_HEALTH
from healthpod.ingest.base import Importer
from healthpod.ingest.csv.profiles import IMPORTER as CSV_PROFILES
from healthpod.ingest.fhir.r4_json import IMPORTER as FHIR
from healthpod.ingest.fit.fit_files import IMPORTER as FIT
from healthpod.ingest.pod_export.reader import IMPORTER as POD_EXPORT
from healthpod.ingest.routes.gpx import IMPORTER as GPX
from healthpod.ingest.routes.tcx import IMPORTER as TCX
from healthpod.ingest.vendors.api_payloads import IMPORTER as VENDOR_API
from healthpod.ingest.vendors.fitbit_export import IMPORTER as FITBIT
from healthpod.ingest.vendors.garmin_connect import IMPORTER as GARMIN_CONNECT

IMPORTERS: list[Importer] = [
    POD_EXPORT,
    APPLE_HEALTH,
    HEALTH_CONNECT,
    FHIR,
    FIT,
    GPX,
    TCX,
    GOOGLE_FIT_TAKEOUT,
    GARMIN_CONNECT,
    FITBIT,
    VENDOR_API,
    SAMSUNG_HEALTH,
    CSV_PROFILES,
]

FORMATS: tuple[str, ...] = tuple(importer.format for importer in IMPORTERS)

ZIP_MAGIC = b"PK\x03\x04"
SUPPORTED = (
    "healthpod exports (`healthpod export`), "
    "Apple Health export (export.zip or export.xml), Health Connect export (the zip, or the "
    "health_connect_export.db in it), FHIR R4 JSON Bundles and NDJSON, "
    "Garmin .FIT files, GPX and TCX tracks, Samsung Health CSV, Google Fit Takeout, "
    "Garmin Connect export, "
    "CSV from scales and cuffs, Fitbit/Google exports"
)


def by_name(format_name: str) -> Importer:
    """The importer called `format_name`.

    Raises:
        UnsupportedFormat: no importer has that name.
    """
    for importer in IMPORTERS:
        if importer.format == format_name:
            return importer
    raise UnsupportedFormat(
        f"Unknown format {format_name!r}.", hint=f"Choose one of: {', '.join(FORMATS)}."
    )


def is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC) or head.startswith(b"PK\x05\x06")


def claims_zip(names: Sequence[str]) -> Importer | None:
    """The importer that reads this archive as a whole, or None to import member by member."""
    for importer in IMPORTERS:
        sniff_zip = getattr(importer, "sniff_zip", None)
        if sniff_zip is not None and sniff_zip(names):
            return importer
    return None


def detect(head: bytes, filename: str) -> Importer:
    """The importer for a file that starts with `head`.

    Raises:
        UnsupportedFormat: no importer recognises the content; says what it looks like.
    """
    for importer in IMPORTERS:
        if importer.sniff(head, filename):
            return importer
    raise UnsupportedFormat(
        f"{filename}: healthpod cannot import this file; it looks like {describe(head)}.",
        hint=f"healthpod reads: {SUPPORTED}. If it is one of these, pass --format.",
    )


def describe(head: bytes) -> str:
    """A few words on what a file seems to be, for error messages."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        return "an empty file"
    if is_zip(head):
        return "a zip archive"
    if stripped.startswith(b"<"):
        return "an XML or HTML document of another kind"
    if stripped.startswith((b"{", b"[")):
        return "JSON of another kind"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "text"
