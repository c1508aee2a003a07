"""Vendor web-API payloads (Withings, iHealth, Google Fit, Fitbit), one JSON document a file.

These are the responses Open mHealth Shimmer maps; a person gets them from a vendor's API or a
tool that saved them. The vendor is recognised by the document's shape, not its file name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling, Item, ProgressFn, Warning_
from healthpod.ingest.vendors import fitbit_api, googlefit_api, ihealth_api, withings_api
from healthpod.ingest.vendors.common import load_json

Vendor = tuple[str, Callable[[Any], bool], Callable[[dict[str, Any]], Iterator[Item]]]
VENDORS: tuple[Vendor, ...] = (
    ("Withings", withings_api.claims, withings_api.read),
    ("iHealth", ihealth_api.claims, ihealth_api.read),
    ("Google Fit", googlefit_api.claims, googlefit_api.read),
    ("Fitbit", fitbit_api.claims, fitbit_api.read),
)

# Keys near the start of each vendor's payload; sniffing sees only the first bytes.
_SIGNATURES = re.compile(
    rb'"(measuregrps|ARDataList|BPDataList|BGDataList|SRDataList|BODataList|SPORTDataList|'
    rb"WeightDataList|dataSourceId|activities-heart|activities-steps)\"|"
    rb'"status"\s*:\s*0\s*,\s*"body"|"body"\s*:\s*\{\s*"(series|activities|measuregrps)"|'
    rb'^\s*\{\s*"(weight|sleep|activities)"\s*:\s*\['
)


class VendorPayloadImporter:
    """Reads one Withings, iHealth, Google Fit or Fitbit API response."""

    format: ClassVar[str] = "vendor-api"

    def sniff(self, head: bytes, filename: str) -> bool:
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return stripped.startswith(b"{") and _SIGNATURES.search(stripped) is not None

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the samples of one payload; problems with single entries become warnings.

        Raises:
            MalformedFile: not JSON, or JSON of no vendor healthpod knows; under
                `ErrorHandling.RAISE` also an entry that cannot be read.
        """
        document = load_json(fp, filename)
        for vendor, claims, read in VENDORS:
            if claims(document):
                if isinstance(document, dict) and document.get("status") not in (None, 0):
                    raise MalformedFile(
                        f"the {vendor} response reports an error (status {document['status']})",
                        source=filename,
                        hint="Save a successful response and import that.",
                    )
                for item in read(document):
                    if isinstance(item, Warning_) and item.message.endswith("; skipped"):
                        if errors is ErrorHandling.RAISE:
                            raise MalformedFile(
                                item.message.removesuffix("; skipped"),
                                source=filename,
                                location=item.location,
                            )
                        if errors is ErrorHandling.IGNORE:
                            continue
                    yield item
                if on_progress is not None:
                    on_progress(fp.tell())
                return
        raise MalformedFile(
            "JSON of no vendor healthpod knows (Withings, iHealth, Google Fit, Fitbit)",
            source=filename,
            hint="See docs/import-devices.md for the payloads healthpod reads.",
        )


IMPORTER = VendorPayloadImporter()
