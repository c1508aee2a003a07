"""Small Apple Health exports written on the fly, for tests that need volume or a broken part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 14 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
]>
<HealthData locale="en_US">
 <ExportDate value="2024-01-31 22:00:00 +0100"/>
"""
TAIL = b"</HealthData>\n"
TYPES = (
    ("HKQuantityTypeIdentifierHeartRate", "count/min", "Apple\u00a0Watch"),
    ("HKQuantityTypeIdentifierStepCount", "count", "Anna\u2019s iPhone"),
    ("HKQuantityTypeIdentifierActiveEnergyBurned", "kcal", "Apple\u00a0Watch"),
)


def record(i: int) -> bytes:
    hk_type, unit, source = TYPES[i % len(TYPES)]
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=37 * i)
    stamp = (start + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S +0100")
    return (
        f' <Record type="{hk_type}" sourceName="{source}" sourceVersion="10.2" unit="{unit}" '
        f'creationDate="{stamp}" startDate="{stamp}" endDate="{stamp}" value="{60 + i % 50}"/>\n'
    ).encode()


def records(first: int, count: int) -> bytes:
    return b"".join(record(i) for i in range(first, first + count))


def export_xml(count: int, *, first: int = 0, middle: bytes = b"") -> bytes:
    """`count` records; `middle` (say, a broken element) goes in after the first half."""
    half = count // 2
    return HEAD + records(first, half) + middle + records(first + half, count - half) + TAIL
