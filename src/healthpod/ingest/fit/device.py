"""Who made a FIT file: a readable source name ("Garmin Forerunner 935") and a device line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from healthpod.ingest.base import Quantity, SourceRef
from healthpod.ingest.fit.decode import FitFile

MANUFACTURERS = {
    "garmin": "Garmin",
    "dynastream": "Garmin",  # Dynastream is Garmin's ANT subsidiary
    "dynastream_oem": "Garmin",
    "wahoo_fitness": "Wahoo",
    "coros": "COROS",
    "stryd": "Stryd",
    "sigmasport": "SIGMA",
    "strava": "Strava",
    "zwift": "Zwift",
    "suunto": "Suunto",
    "polar": "Polar",
    "development": "FIT development",
}

# Garmin product identifiers (fitdecode's `garmin_product` names) start with a family name.
PRODUCT_FAMILIES = (
    ("vivo_active", "Vivoactive"),
    ("vivoactive", "Vivoactive"),
    ("vivo_fit", "Vivofit"),
    ("vivofit", "Vivofit"),
    ("vivo_smart", "Vivosmart"),
    ("vivosmart", "Vivosmart"),
    ("fenix", "Fenix"),
    ("edge", "Edge"),
    ("venu", "Venu"),
    ("approach", "Approach"),
    ("instinct", "Instinct"),
    ("index_smart_scale", "Index smart scale"),
    ("fr", "Forerunner"),
    ("hrm", "HRM"),
)


def product_name(product: str) -> str:
    """`fr935` → "Forerunner 935", `vivo_active_hr` → "Vivoactive HR", `edge500` → "Edge 500"."""
    for prefix, family in PRODUCT_FAMILIES:
        if product.startswith(prefix):
            rest = product[len(prefix) :].strip("_")
            words = [w.upper() for w in re.split(r"_+", rest) if w]
            return " ".join([family, *words])
    return product.replace("_", " ")


def source_name(fit: FitFile) -> str:
    """The name the person knows the device by, e.g. "Garmin Forerunner 935"."""
    raw_maker = fit.manufacturer or ""
    maker = MANUFACTURERS.get(raw_maker, raw_maker.replace("_", " ").title()) or "FIT device"
    product = fit.product or ""
    if not product or product == "0" or product.startswith("hrm_fit_single_byte"):
        return maker  # no product, or the SDK's placeholder product id
    if product.isdigit():
        return f"{maker} (product {product})"
    if raw_maker in ("garmin", "dynastream", "dynastream_oem"):
        return f"{maker} {product_name(product)}"
    return f"{maker} {product.replace('_', ' ')}"


def describe_device(fit: FitFile) -> str:
    """A device line in the style of Apple's HKDevice string: every fact the file gives."""
    parts = [f"name:{source_name(fit)}"]
    for key, value in (
        ("manufacturer", fit.manufacturer),
        ("product", fit.product),
        ("serial", fit.serial),
        ("software", fit.software),
    ):
        if value is not None:
            parts.append(f"{key}:{value}")
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class FitContext:
    """What every item of one FIT file shares: source, device, version, offset, creation time."""

    source: SourceRef
    device: str
    version: str | None
    offset_min: int
    created_ms: int | None

    def quantity(
        self,
        type_code: str,
        start_s: float,
        end_s: float,
        value: float,
        unit: str,
        *,
        known: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> Quantity:
        return Quantity(
            type_code=type_code,
            start_ms=round(start_s * 1000),
            end_ms=round(end_s * 1000),
            start_offset_min=self.offset_min,
            end_offset_min=self.offset_min,
            value=value,
            unit=unit,
            source=self.source,
            source_version=self.version,
            device=self.device,
            created_ms=self.created_ms,
            meta=meta,
            known=known,
        )
