"""Sample Observations encoded straight to JSON bytes, for search pages.

A page of 100 Observations built as dicts and then encoded spent most of its time building
dicts that only lived to be encoded. Here the parts that are the same for every sample of a
type (meta profile, category, code, subject) are encoded once and cached, and each sample
adds only its id, instants, value and device. The bytes are exactly what encoding
`render.sample_observation(row, patient_id)` gives (tests compare them), so a resource
reads the same whichever path built it; blood pressure panels and category samples, which
are rare in a page, take that path.
"""

from __future__ import annotations

import functools

import orjson

from healthpod.fhir import render
from healthpod.fhir.render import EncodedResource
from healthpod.store.observations import SampleRow


def sample_observation(row: SampleRow, patient_id: str) -> EncodedResource:
    """`render.sample_observation` as encoded JSON."""
    fhir_id = row.fhir_id
    if row.kind != "q":
        encoded = orjson.dumps(render.sample_observation(row, patient_id))
        return EncodedResource("Observation", fhir_id, encoded)
    if row.end_ms == row.start_ms:
        effective = b'"effectiveDateTime":"%s"' % _ascii(
            render.instant(row.start_ms, row.start_offset_min)
        )
    else:
        effective = b'"effectivePeriod":{"start":"%s","end":"%s"}' % (
            _ascii(render.instant(row.start_ms, row.start_offset_min)),
            _ascii(render.instant(row.end_ms, row.end_offset_min)),
        )
    parts = [
        b'{"resourceType":"Observation","id":"',
        fhir_id.encode(),
        b'","meta":{"versionId":"1","lastUpdated":"',
        _ascii(render.instant(row.updated_ms)),
        _middle(row.type_code, patient_id),
        effective,
        b',"valueQuantity":{"value":',
        orjson.dumps(row.value),
        _unit(row.unit),
    ]
    if row.source_name:
        parts.append(_device(row.source_name))
    parts.append(b"}")
    return EncodedResource("Observation", fhir_id, b"".join(parts))


def _ascii(text: str) -> bytes:
    return text.encode("ascii")


@functools.lru_cache(maxsize=1024)
def _middle(type_code: str, patient_id: str) -> bytes:
    """From the end of `lastUpdated` to just before effective[x], for one type and patient."""
    code, fhir_category = render._code(type_code)
    profile = b""
    if fhir_category == "vital-signs":
        profile = b',"profile":' + orjson.dumps([render.VITAL_SIGNS_PROFILE])
    category = render._category(fhir_category)
    category_json = b'"category":' + orjson.dumps(category) + b"," if category else b""
    subject = orjson.dumps({"reference": f"Patient/{patient_id}"})
    return (
        b'"'
        + profile
        + b'},"status":"final",'
        + category_json
        + b'"code":'
        + orjson.dumps(code)
        + b',"subject":'
        + subject
        + b","
    )


@functools.lru_cache(maxsize=256)
def _unit(unit: str) -> bytes:
    """The end of valueQuantity after its value."""
    quantity = render.quantity(0.0, unit)
    return (
        b',"unit":'
        + orjson.dumps(quantity["unit"])
        + b',"system":'
        + orjson.dumps(quantity["system"])
        + b',"code":'
        + orjson.dumps(quantity["code"])
        + b"}"
    )


@functools.lru_cache(maxsize=256)
def _device(name: str) -> bytes:
    return b',"device":' + orjson.dumps({"display": name})
