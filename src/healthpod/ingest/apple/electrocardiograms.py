"""The ECGs of an Apple Health export (`electrocardiograms/ecg_*.csv`) as FHIR Observations.

Each file is a short header of `key,value` lines, then one voltage per line:

    Name,…
    Date of Birth,"…"
    Recorded Date,2020-02-05 09:14:40 -0400
    Classification,Sinus Rhythm
    Symptoms,
    Software Version,1.51
    Device,"Watch5,4"
    Sample Rate,512.844 hertz

    Lead,Lead I
    Unit,µV

    -48.673
    …

Each ECG becomes one Observation (LOINC 11524-6, EKG study; category procedure) kept with the
person's clinical records: the recording time with its offset, the classification as its value,
the average heart rate where the file gives one, the symptoms as a note, the watch as the device,
and the voltages as SampledData (µV, the period from the sample rate). The name and birth date
of the header are not kept: they are the person's own, already known. A voltage written with a
decimal comma (some locales) reads as with a point.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from datetime import datetime
from typing import Any, BinaryIO

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ClinicalResource

MAX_SAMPLES = 200_000  # a 30-second ECG at 512 Hz is 15,360; no Apple ECG is near this
MAX_HEADER_LINES = 40
HINT = "Export the Health data again from the Health app and import export.zip."
RATE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(hertz|hz)?\s*$", re.IGNORECASE)
HEART_RATE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(bpm)?\s*$", re.IGNORECASE)
LOINC = "http://loinc.org"
MDC = "urn:oid:2.16.840.1.113883.6.24"


def electrocardiogram(fp: BinaryIO, member: str) -> ClinicalResource:
    """The Observation of one ECG file.

    Raises:
        MalformedFile: not UTF-8, no recorded date or sample rate, a voltage that is not a
            number, or more than MAX_SAMPLES voltages.
    """
    header: dict[str, str] = {}
    samples: list[str] = []
    for number, raw in enumerate(fp, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError as exc:
            raise MalformedFile(
                "the ECG file is not UTF-8 text.", source=member, location=f"line {number}"
            ) from exc
        if not line:
            continue
        value = line.replace(",", ".")
        if samples or _is_number(value):
            if not _is_number(value):
                raise MalformedFile(
                    f"the voltage {line[:40]!r} is not a number.",
                    source=member,
                    location=f"line {number}",
                    hint=HINT,
                )
            samples.append(_short(value))
            if len(samples) > MAX_SAMPLES:
                raise MalformedFile(
                    f"the ECG holds more than {MAX_SAMPLES:,} voltages; an Apple Watch ECG has "
                    "about 15,000.",
                    source=member,
                    hint=HINT,
                )
            continue
        if number > MAX_HEADER_LINES:
            raise MalformedFile(
                "no voltages follow the header; this is not an Apple ECG file.",
                source=member,
                location=f"line {number}",
                hint=HINT,
            )
        cells = next(csv.reader([line]), [])
        if cells:
            header[cells[0].strip()] = ",".join(cells[1:]).strip()
    return ClinicalResource(
        resource=_observation(header, samples, member),
        location=member,
        source_file=member,
        provenance="device",
    )


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _short(value: str) -> str:
    """A voltage as FHIR's SampledData wants it: a decimal without needless zeros."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(round(number, 6))


def _observation(header: dict[str, str], samples: list[str], member: str) -> dict[str, Any]:
    recorded = header.get("Recorded Date", "")
    try:
        when = datetime.strptime(recorded, "%Y-%m-%d %H:%M:%S %z")
    except ValueError as exc:
        raise MalformedFile(
            f"the ECG has no readable Recorded Date ({recorded[:40]!r}); files exported in "
            "another language than English are not read yet.",
            source=member,
            hint=HINT,
        ) from exc
    rate_text = header.get("Sample Rate", "")
    rate = RATE.match(rate_text)
    hertz = float(rate.group(1).replace(",", ".")) if rate else 0.0
    if not samples or hertz <= 0:
        raise MalformedFile(
            f"the ECG has {'no sample rate' if hertz <= 0 else 'no voltages'}.",
            source=member,
            hint=HINT,
        )
    classification = header.get("Classification") or "Unclassified"
    digest = hashlib.sha256(f"{when.isoformat()}|{member.rsplit('/', 1)[-1]}".encode())
    components: list[dict[str, Any]] = [
        {
            "code": {
                "coding": [{"system": MDC, "code": "131329", "display": "MDC_ECG_ELEC_POTL_I"}],
                "text": header.get("Lead") or "Lead I",
            },
            "valueSampledData": {
                "origin": {
                    "value": 0,
                    "unit": "uV",
                    "system": "http://unitsofmeasure.org",
                    "code": "uV",
                },
                "period": round(1000 / hertz, 6),
                "dimensions": 1,
                "data": " ".join(samples),
            },
        }
    ]
    average = HEART_RATE.match(header.get("Average Heart Rate", ""))
    if average:
        components.append(
            {
                "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
                "valueQuantity": {
                    "value": float(average.group(1).replace(",", ".")),
                    "unit": "/min",
                    "system": "http://unitsofmeasure.org",
                    "code": "/min",
                },
            }
        )
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"apple-ecg-{digest.hexdigest()[:24]}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "procedure",
                        "display": "Procedure",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}],
            "text": "Electrocardiogram (Apple Watch)",
        },
        "effectiveDateTime": when.isoformat(),
        "valueCodeableConcept": {"text": classification},
        "component": components,
    }
    device = header.get("Device")
    if device:
        software = header.get("Software Version")
        observation["device"] = {
            "display": f"{device}{f', ECG app {software}' if software else ''}"
        }
    symptoms = header.get("Symptoms")
    if symptoms:
        observation["note"] = [{"text": f"Symptoms: {symptoms}"}]
    return observation
