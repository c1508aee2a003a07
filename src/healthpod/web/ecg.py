"""An ECG's voltages (FHIR SampledData) as the points of an SVG line, for the records page.

Only the first `SECONDS` are drawn, at most `WIDTH` points: each point is the sample with the
largest deflection in its slice, so no R wave falls between two points.
"""

from __future__ import annotations

from typing import Any

ECG_CODE = "11524-6"
SECONDS = 10.0
WIDTH = 1000
HEIGHT = 200


def is_ecg(resource: dict[str, Any]) -> bool:
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    return any(isinstance(c, dict) and c.get("code") == ECG_CODE for c in codings or [])


def trace(resource: dict[str, Any]) -> str | None:
    """The `points` of an SVG polyline in a WIDTH by HEIGHT box, or None when not an ECG."""
    if resource.get("resourceType") != "Observation" or not is_ecg(resource):
        return None
    for component in resource.get("component") or []:
        sampled = component.get("valueSampledData") if isinstance(component, dict) else None
        if not isinstance(sampled, dict) or not isinstance(sampled.get("data"), str):
            continue
        period = sampled.get("period")
        if not isinstance(period, int | float) or period <= 0:
            return None
        count = int(SECONDS * 1000 / period)
        values = []
        for text in sampled["data"].split(" ", count)[:count]:
            try:
                values.append(float(text))
            except ValueError:
                return None
        return _points(values) if len(values) >= 2 else None
    return None


def _points(values: list[float]) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = max(1, -(-len(values) // WIDTH))  # rounded up: at most WIDTH points
    middle = (high + low) / 2
    points = []
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        peak = max(chunk, key=lambda v: abs(v - middle))
        x = start / (len(values) - 1) * WIDTH
        y = HEIGHT - (peak - low) / span * HEIGHT
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)
