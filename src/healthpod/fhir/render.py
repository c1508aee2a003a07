"""Our compact rows as FHIR R4 JSON: samples as Observations, Bundles with absolute links.

Samples carry a LOINC code and a UCUM unit where one exists, so vital signs fit the FHIR
vital-signs profile (category, code, subject, effective[x], valueQuantity with UCUM). A blood
pressure correlation becomes one panel (85354-9) with systolic and diastolic components. A daily
summary is one Observation per type and local day, with an effectivePeriod over that day.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import orjson

from healthpod.store.observations import DailyRow, SampleRow
from healthpod.store.person_data import Identity
from healthpod.vocabulary import sample_type

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# Our own code system for types without a LOINC code, and for category values (sleep stages).
SAMPLE_TYPE_SYSTEM = "https://healthpod.dev/fhir/CodeSystem/sample-type"
VALUE_SYSTEM = "https://healthpod.dev/fhir/CodeSystem/sample-value"
VITAL_SIGNS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
UNIT_DISPLAY = {"/min": "beats/minute", "mm[Hg]": "mmHg", "Cel": "degrees C", "%": "%"}


def instant(ms: int, offset_min: int = 0) -> str:
    """An instant in the producer's local offset, as FHIR dateTime (seconds, or ms if any).

    Built from cached parts (the date, the time of day, the milliseconds, the offset): it runs
    twice per Observation, and formatting it was a third of the time of rendering a page.
    """
    days, rest = divmod(ms + offset_min * 60_000, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    return (
        _date_part(days) + _TIME_PARTS.times[seconds] + _MILLIS[millis] + _offset_part(offset_min)
    )


class _TimesOfDay:
    """ "THH:MM:SS" for every second of a day (5 MB, built on first use)."""

    @functools.cached_property
    def times(self) -> tuple[str, ...]:
        return tuple(
            f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        )


_TIME_PARTS = _TimesOfDay()
_MILLIS = ("", *(f".{n:03d}" for n in range(1, 1000)))


@functools.lru_cache(maxsize=4096)
def _date_part(days: int) -> str:
    t = time.gmtime(days * 86_400)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


@functools.lru_cache(maxsize=256)
def _offset_part(offset_min: int) -> str:
    if offset_min == 0:
        return "Z"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{'+' if offset_min > 0 else '-'}{hours:02d}:{minutes:02d}"


@functools.lru_cache(maxsize=512)
def _code(type_code: str) -> tuple[dict[str, Any], str | None]:
    # Cached: the same dict goes into many resources, which is fine as nothing mutates them.
    known = sample_type(type_code)
    ours = {"system": SAMPLE_TYPE_SYSTEM, "code": type_code}
    if known is None:
        return {"coding": [ours], "text": type_code}, None
    ours["display"] = known.display
    codings = [ours]
    if known.loinc:
        codings.insert(0, {"system": LOINC, "code": known.loinc, "display": known.display})
    return {"coding": codings, "text": known.display}, known.fhir_category


@functools.lru_cache(maxsize=16)
def _category(fhir_category: str | None) -> list[dict[str, Any]]:
    if fhir_category is None:
        return []
    display = {"vital-signs": "Vital Signs", "activity": "Activity"}.get(fhir_category)
    coding = {"system": OBSERVATION_CATEGORY, "code": fhir_category, "display": display}
    return [{"coding": [coding], "text": display}]


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": UNIT_DISPLAY.get(unit, unit), "system": UCUM, "code": unit}


def _meta(updated_ms: int, vital: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"versionId": "1", "lastUpdated": instant(updated_ms)}
    if vital:
        meta["profile"] = [VITAL_SIGNS_PROFILE]
    return meta


def sample_observation(row: SampleRow, patient_id: str) -> dict[str, Any]:
    """One raw sample (or blood pressure pair) as an Observation.

    A search renders a hundred of these per page: the parts shared by every sample of a type
    come from a cache, and the dict is built in one go in its final key order.
    """
    if row.kind == "bp":
        code, category, vital = _BP_CODE, _category("vital-signs"), True
    else:
        code, category, vital = _type_parts(row.type_code)
    meta: dict[str, Any] = {"versionId": "1", "lastUpdated": instant(row.updated_ms)}
    if vital:
        meta["profile"] = _VITAL_PROFILES
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{row.kind}-{row.id}",
        "meta": meta,
        "status": "final",
    }
    if category:
        resource["category"] = category
    resource["code"] = code
    resource["subject"] = {"reference": f"Patient/{patient_id}"}
    start = instant(row.start_ms, row.start_offset_min)
    if row.end_ms == row.start_ms:
        resource["effectiveDateTime"] = start
    else:
        end = instant(row.end_ms, row.end_offset_min)
        resource["effectivePeriod"] = {"start": start, "end": end}
    if row.kind == "bp":
        resource["component"] = [
            {
                "code": _code(type_code)[0],
                "valueQuantity": quantity(value, "mm[Hg]"),
            }
            for type_code, value in row.components
        ]
    elif row.kind == "c":
        resource["valueCodeableConcept"] = {
            "coding": [{"system": VALUE_SYSTEM, "code": row.value_code}],
            "text": row.value_code,
        }
    else:
        resource["valueQuantity"] = quantity(row.value, row.unit)
    if row.source_name:
        resource["device"] = {"display": row.source_name}
    return resource


class Rendered:
    """A resource already encoded as JSON, with what its Bundle entry needs.

    A plain class on purpose: JSON encoders write tuples and dataclasses field by field, and
    must instead ask `outcome.encode`'s hook, which writes the text as it is.
    """

    __slots__ = ("id", "json", "resource_type")

    def __init__(self, resource_type: str, fhir_id: str, json: bytes) -> None:
        self.resource_type = resource_type
        self.id = fhir_id
        self.json = json


def sample_resource(row: SampleRow, patient_id: str) -> dict[str, Any] | Rendered:
    """A sample for a search page or an export.

    Quantity samples, nearly all of a pod, are written as JSON text from cached parts (the
    same bytes orjson makes of `sample_observation`, a test holds them equal): that takes a
    third of building the dict and encoding it, which was a fifth of serving a page.
    """
    if row.kind != "q":
        return sample_observation(row, patient_id)
    head, vital_tail, middle, value_tail = _quantity_parts(
        row.type_code, row.unit, row.source_name, patient_id
    )
    start = instant(row.start_ms, row.start_offset_min)
    if row.end_ms == row.start_ms:
        effective = f'"effectiveDateTime":"{start}"'
    else:
        end = instant(row.end_ms, row.end_offset_min)
        effective = f'"effectivePeriod":{{"start":"{start}","end":"{end}"}}'
    fhir_id = f"q-{row.id}"
    text = (
        f'{{"resourceType":"Observation","id":"{fhir_id}",{head}{instant(row.updated_ms)}'
        f'{vital_tail}{middle}{effective},"valueQuantity":{{"value":'
        f"{orjson.dumps(row.value).decode()}{value_tail}"
    )
    return Rendered("Observation", fhir_id, text.encode())


def quantity_lines(type_code: str, rows: Sequence[Sequence[Any]], patient_id: str) -> list[bytes]:
    """Quantity samples as the JSON text `sample_resource` makes of each, from the store's
    tuples (`store.observations.quantity_pages`): the export writes a pod's every sample,
    and a `SampleRow`, a call and three `instant`s per sample were half of its time. Here
    a page's instants are formatted at once (`_instants`)."""
    if not rows:
        return []
    ids, _types, starts, ends, start_offs, end_offs, created, values, units, sources = zip(
        *rows, strict=True
    )
    start_at = _instants(starts, start_offs)
    end_at = _instants(ends, end_offs)
    updated_at = _instants([e if c is None else c for e, c in zip(ends, created, strict=True)])
    kept: dict[tuple[str, str | None], tuple[str, str, str, str]] = {}
    dumps = orjson.dumps
    lines = []
    for row_id, start_ms, end_ms, start, end, updated, value, unit, source in zip(
        ids, starts, ends, start_at, end_at, updated_at, values, units, sources, strict=True
    ):
        parts = kept.get((unit, source))
        if parts is None:
            parts = kept[(unit, source)] = _quantity_parts(type_code, unit, source, patient_id)
        head, vital_tail, middle, value_tail = parts
        if end_ms == start_ms:
            effective = f'"effectiveDateTime":"{start}"'
        else:
            effective = f'"effectivePeriod":{{"start":"{start}","end":"{end}"}}'
        lines.append(
            f'{{"resourceType":"Observation","id":"q-{row_id}",{head}{updated}'
            f'{vital_tail}{middle}{effective},"valueQuantity":{{"value":'
            f"{dumps(float(value)).decode()}{value_tail}".encode()
        )
    return lines


# Instants numpy formats as `instant` does: years 1 to 9999 (any other goes one by one).
_FIRST_MS, _LAST_MS = -62_135_596_800_000, 253_402_300_799_999


def _instants(ms: Sequence[int], offsets: Sequence[int] | None = None) -> list[str]:
    """`instant(m, o)` of each pair, formatted for all of them at once."""
    import numpy as np

    local = np.asarray(ms, dtype=np.int64)
    if offsets is not None:
        local = local + np.asarray(offsets, dtype=np.int64) * 60_000
    if len(local) and (local.min() < _FIRST_MS or local.max() > _LAST_MS):
        zones = offsets if offsets is not None else [0] * len(ms)
        return [instant(m, o) for m, o in zip(ms, zones, strict=True)]
    whole = local % 1000 == 0
    text = np.datetime_as_string(local.astype("datetime64[ms]"), unit="ms").astype(object)
    if whole.any():  # no milliseconds: written to the second
        seconds = (local[whole] // 1000).astype("datetime64[s]")
        text[whole] = np.datetime_as_string(seconds, unit="s")
    if offsets is None:
        return [t + "Z" for t in text.tolist()]
    return [t + _offset_part(o) for t, o in zip(text.tolist(), offsets, strict=True)]


@functools.lru_cache(maxsize=1024)
def _quantity_parts(
    type_code: str, unit: str, source_name: str | None, patient_id: str
) -> tuple[str, str, str, str]:
    """The JSON around a quantity sample's own values, shared by all samples of a type."""
    code, category, vital = _type_parts(type_code)

    def text(value: Any) -> str:
        return orjson.dumps(value).decode()

    head = '"meta":{"versionId":"1","lastUpdated":"'
    vital_tail = f'","profile":{text(_VITAL_PROFILES)}}},' if vital else '"},'
    middle = '"status":"final",'
    if category:
        middle += f'"category":{text(category)},'
    middle += f'"code":{text(code)},"subject":{text({"reference": f"Patient/{patient_id}"})},'
    value_tail = (
        f',"unit":{text(UNIT_DISPLAY.get(unit, unit))},"system":"{UCUM}","code":{text(unit)}}}'
    )
    if source_name:
        value_tail += f',"device":{text({"display": source_name})}'
    return head, vital_tail, middle, value_tail + "}"


_BP_CODE: dict[str, Any] = {
    "coding": [{"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]}],
    "text": "Blood pressure",
}
_VITAL_PROFILES = [VITAL_SIGNS_PROFILE]


@functools.lru_cache(maxsize=512)
def _type_parts(type_code: str) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """(code, category, whether a vital sign) of a sample type, shared by its Observations."""
    code, fhir_category = _code(type_code)
    return code, _category(fhir_category), fhir_category == "vital-signs"


def daily_observation(row: DailyRow, patient_id: str) -> dict[str, Any]:
    """One type's summary for one local day: a sum for cumulative types, else the mean."""
    code, fhir_category = _code(row.type_code)
    tz = timezone(timedelta(minutes=row.offset_min))
    start = datetime(row.day.year, row.day.month, row.day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    start_ms = int(start.timestamp() * 1000)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": row.fhir_id,
        "meta": _meta(int(end.astimezone(UTC).timestamp() * 1000), False),
        "status": "final",
        "category": _category(fhir_category),
        "code": code,
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectivePeriod": {
            "start": instant(start_ms, row.offset_min),
            "end": instant(int(end.timestamp() * 1000), row.offset_min),
        },
        "valueQuantity": quantity(row.value, row.unit),
        "method": {"text": f"daily {row.statistic} of {row.sample_count} samples"},
    }
    if row.minimum is not None and row.maximum is not None:
        resource["referenceRange"] = [
            {
                "low": quantity(row.minimum, row.unit),
                "high": quantity(row.maximum, row.unit),
                "text": "lowest and highest value of the day",
            }
        ]
    if not resource["category"]:
        del resource["category"]
    return resource


REDACTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}


def patient(identity: Identity) -> dict[str, Any]:
    """The person as a Patient; without `identity` in the scope, the id and a REDACTED label."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(identity.person_id),
        "meta": {"versionId": "1"},
    }
    if not identity.shown:
        resource["meta"]["security"] = [REDACTED]
        return resource
    resource["active"] = True
    resource["name"] = [{"text": identity.name}]
    sex = identity.sex
    gender = {"HKBiologicalSexFemale": "female", "HKBiologicalSexMale": "male"}.get(sex or "")
    if sex in ("female", "male", "other", "unknown"):
        gender = sex
    if gender:
        resource["gender"] = gender
    if identity.birth_date is not None:
        resource["birthDate"] = identity.birth_date.isoformat()
    return resource


def link(base: str, resource_type: str, params: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(params))
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")


def searchset(
    base: str,
    resource_type: str,
    resources: Sequence[dict[str, Any] | Rendered],
    *,
    self_params: Sequence[tuple[str, str]],
    next_params: Sequence[tuple[str, str]] | None,
    total: int | None,
) -> dict[str, Any]:
    """A searchset Bundle; `base` is the public FHIR base URL, so links are absolute."""
    links = [{"relation": "self", "url": link(base, resource_type, self_params)}]
    if next_params is not None:
        links.append({"relation": "next", "url": link(base, resource_type, next_params)})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "link": links,
    }
    if total is not None:
        bundle["total"] = total
    bundle["entry"] = [_match(base, r) for r in resources]
    if not bundle["entry"]:
        del bundle["entry"]
    return bundle


def _match(base: str, resource: dict[str, Any] | Rendered) -> dict[str, Any]:
    if isinstance(resource, Rendered):
        return {
            "fullUrl": f"{base}/{resource.resource_type}/{resource.id}",
            "resource": resource,  # `outcome.encode` writes its text as it is
            "search": {"mode": "match"},
        }
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": "match"},
    }
