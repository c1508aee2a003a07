"""One record from healthcare as the Records page shows it: what it is, its value (blood pressure
as 114/83 mmHg, a lab result with its unit and reference range), its status and dates in words,
and where it came from.

Everything here is already in the page's language: `describe` is given the page's gettext and
formatter. Names that come from the file itself (a diagnosis, a vaccine) stay as the file wrote
them; everything of ours (statuses, units, labels) is translated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from babel.numbers import format_decimal

from healthpod.vocabulary import BY_LOINC
from healthpod.web import ecg, labels, ucum
from healthpod.web.i18n import N_, Formatter

Gettext = Callable[..., str]
LOINC = "http://loinc.org"
BLOOD_PRESSURE_PANELS = frozenset({"85354-9", "55284-4"})
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"

# FHIR status codes (status, clinicalStatus, verificationStatus) in words.
STATUSES: dict[str, str] = {
    "active": N_("Current"),
    "inactive": N_("Inactive"),
    "resolved": N_("Resolved"),
    "remission": N_("In remission"),
    "recurrence": N_("Came back"),
    "relapse": N_("Relapsed"),
    "confirmed": N_("Confirmed"),
    "unconfirmed": N_("Unconfirmed"),
    "provisional": N_("Provisional"),
    "differential": N_("Possible"),
    "refuted": N_("Ruled out"),
    "entered-in-error": N_("Entered in error"),
    "completed": N_("Carried out"),
    "not-done": N_("Not carried out"),
    "stopped": N_("Stopped"),
    "on-hold": N_("Paused"),
    "cancelled": N_("Cancelled"),
    "draft": N_("Draft"),
    "intended": N_("Planned"),
    "planned": N_("Planned"),
    "not-taken": N_("Not taken"),
    "final": N_("Final"),
    "preliminary": N_("Preliminary"),
    "amended": N_("Corrected"),
    "corrected": N_("Corrected"),
    "registered": N_("Registered"),
    "partial": N_("Partial"),
    "finished": N_("Finished"),
    "in-progress": N_("In progress"),
    "arrived": N_("In progress"),
    "unknown": N_("Unknown"),
}
CRITICALITY: dict[str, str] = {
    "low": N_("Low risk"),
    "high": N_("High risk"),
    "unable-to-assess": N_("Risk not assessed"),
}
# Which date elements a record shows, by resource type: (element, label msgid).
DATES: dict[str, tuple[tuple[str, str], ...]] = {
    "CarePlan": (("period", N_("Period")),),
    "Condition": (
        ("onset", N_("Began")),
        ("abatement", N_("Ended")),
        ("recordedDate", N_("Recorded")),
    ),
    "AllergyIntolerance": (("onset", N_("Began")), ("recordedDate", N_("Recorded"))),
    "MedicationRequest": (("authoredOn", N_("Prescribed")),),
    "MedicationStatement": (("effective", N_("Taken")),),
    "Procedure": (("performed", N_("Carried out")),),
}


@dataclass(frozen=True, slots=True)
class Line:
    """One labelled line under a record ("Reference range: 3.1 to 6.2 mmol/L")."""

    label: str
    text: str


@dataclass(frozen=True, slots=True)
class RecordView:
    fhir_id: str
    resource_type: str
    kind: str  # the category, in words
    title: str
    value: str  # "114/83 mmHg", "6.3 mmol/L", "Former smoker", or ""
    flag: str  # "above the reference range" and the like, or ""
    status: str
    when_ms: int | None
    lines: list[Line] = field(default_factory=list)
    origin: str = ""
    trace: str | None = None
    id: str = ""  # Type/id as stored, what "mark as wrong" names
    wrong: str | None = None  # the reason ("" without one) when marked wrong

    def text(self) -> str:
        """Everything shown, for the text filter."""
        parts = [self.kind, self.title, self.value, self.flag, self.status, self.origin]
        parts += [f"{line.label} {line.text}" for line in self.lines]
        return " ".join(parts)


def concept_text(concept: Any) -> str:
    """A CodeableConcept's text, else its first coding's display, else its code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _loinc(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") == LOINC:
            return str(coding.get("code"))
    return None


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c.get("code")) for c in concept.get("coding") or [] if isinstance(c, dict)]


class Describer:
    """Turns stored resources into `RecordView`s in one language."""

    def __init__(self, gettext: Gettext, fmt: Formatter) -> None:
        self._ = gettext
        self.fmt = fmt

    def word(self, msgid: str) -> str:
        return self._(msgid) if msgid else ""

    def status(self, code: str | None) -> str:
        if not code:
            return ""
        return self.word(STATUSES[code]) if code in STATUSES else code.replace("-", " ")

    def unit(self, quantity: dict[str, Any]) -> str:
        system = quantity.get("system")
        code = quantity.get("code") if system in (None, "http://unitsofmeasure.org") else None
        return self.word(ucum.words(str(code or quantity.get("unit") or "")))

    def number(self, value: float) -> str:
        """A measured value with as many decimals as it needs (114, 83, 6.3, 0.25)."""
        places = 0 if abs(value) >= 100 else (1 if abs(value) >= 10 else 2)
        pattern = "#,##0" + ("." + "#" * places if places else "")
        return format_decimal(round(value, places), format=pattern, locale=self.fmt.locale)

    def quantity(self, quantity: Any, unit: bool = True, whole: bool = False) -> str:
        if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
            return ""
        comparator = str(quantity.get("comparator") or "")
        words = self.unit(quantity) if unit else ""
        value = float(quantity["value"])
        shown = comparator + (self.fmt.number(round(value)) if whole else self.number(value))
        return f"{shown} {words}".strip()

    def value(self, node: dict[str, Any]) -> str:
        """The value[x] of an Observation or of one of its components."""
        if "valueQuantity" in node:
            return self.quantity(node["valueQuantity"])
        if isinstance(node.get("valueCodeableConcept"), dict):
            return concept_text(node["valueCodeableConcept"])
        for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
            if key in node and node[key] is not None:
                found = node[key]
                if isinstance(found, bool):
                    return self._("Yes") if found else self._("No")
                return str(found)
        return ""

    def date_text(self, value: Any) -> str:
        """A FHIR date, dateTime or Period as the day it names (a year or month stays so)."""
        if isinstance(value, dict):
            start, end = self.date_text(value.get("start")), self.date_text(value.get("end"))
            if start and end and start != end:
                return self._("%(start)s to %(end)s", start=start, end=end)
            if start and end:
                return start
            return self._("since %(date)s", date=start) if start else end
        if not isinstance(value, str):
            return ""
        try:
            return self.fmt.date(date.fromisoformat(value[:10]))
        except ValueError:
            return value[:7]  # "2010" or "2015-03", as written

    def describe(
        self,
        resource: dict[str, Any],
        *,
        category: str,
        when_ms: int | None,
        origin: str,
        lookup: Callable[[str, str], dict[str, Any] | None] | None = None,
    ) -> RecordView:
        kind = str(resource.get("resourceType") or "")
        title = self.title(resource, lookup)
        value, flag, lines = "", "", list[Line]()
        if kind == "Observation":
            value, flag, lines = self.observation(resource)
        lines += self.dates(resource)
        lines += self.details(resource)
        return RecordView(
            fhir_id=str(resource.get("id") or ""),
            resource_type=kind,
            kind=self.word(labels.CATEGORIES.get(category, N_("Other records"))),
            title=title,
            value=value,
            flag=flag,
            status=self.statuses(resource),
            when_ms=when_ms,
            lines=lines,
            origin=origin,
            trace=ecg.trace(resource),
        )

    def title(
        self, resource: dict[str, Any], lookup: Callable[[str, str], dict[str, Any] | None] | None
    ) -> str:
        code = resource.get("code")
        loinc = _loinc(code)
        if loinc in BLOOD_PRESSURE_PANELS:
            return self._("Blood pressure")
        if loinc in BY_LOINC and BY_LOINC[loinc].code in labels.TYPES:
            return self._(labels.TYPES[BY_LOINC[loinc].code])
        for key in ("code", "vaccineCode", "medicationCodeableConcept", "type", "category"):
            found = resource.get(key)
            if isinstance(found, list):
                found = found[0] if found else None
            text = concept_text(found)
            if text:
                return text
        reference = resource.get("medicationReference")
        if isinstance(reference, dict):
            target = str(reference.get("reference") or "")
            if lookup is not None and target.startswith("Medication/"):
                medication = lookup("Medication", target.removeprefix("Medication/"))
                if medication and concept_text(medication.get("code")):
                    return concept_text(medication.get("code"))
            if reference.get("display"):
                return str(reference["display"])
        return self._("A record without a name")

    def observation(self, resource: dict[str, Any]) -> tuple[str, str, list[Line]]:
        components = [c for c in resource.get("component") or [] if isinstance(c, dict)]
        by_code = {code: c for c in components for code in _codes(c.get("code"))}
        if SYSTOLIC in by_code and DIASTOLIC in by_code:
            systolic, diastolic = by_code[SYSTOLIC], by_code[DIASTOLIC]
            high_q, low_q = systolic.get("valueQuantity"), diastolic.get("valueQuantity")
            if isinstance(high_q, dict) and isinstance(low_q, dict):
                shown = (
                    self.quantity(high_q, unit=False, whole=True)
                    + "/"
                    + self.quantity(low_q, whole=True)
                )
                lines = [
                    Line(self._("Component"), f"{concept_text(c.get('code'))}: {self.value(c)}")
                    for c in components
                    if c is not systolic and c is not diastolic and self.value(c)
                ]
                return shown, "", lines
        value = self.value(resource)
        lines = [
            Line(self._("Component"), f"{concept_text(c.get('code'))}: {self.value(c)}")
            for c in components
            if self.value(c)
        ]
        flag = ""
        for reference in resource.get("referenceRange") or []:
            if not isinstance(reference, dict):
                continue
            low, high = reference.get("low"), reference.get("high")
            text = self.range_text(low, high) or str(reference.get("text") or "")
            if text:
                lines.insert(0, Line(self._("Reference range"), text))
            flag = flag or self.outside(resource.get("valueQuantity"), low, high)
            break
        return value, flag, lines

    def range_text(self, low: Any, high: Any) -> str:
        low_text, high_text = self.quantity(low, unit=False), self.quantity(high, unit=False)
        unit = self.unit(high if isinstance(high, dict) else low) if low_text or high_text else ""
        if low_text and high_text:
            return f"{low_text}\u2013{high_text} {unit}".strip()
        if high_text:
            return f"\u2264 {high_text} {unit}".strip()
        if low_text:
            return f"\u2265 {low_text} {unit}".strip()
        return ""

    def outside(self, value: Any, low: Any, high: Any) -> str:
        def number(quantity: Any) -> float | None:
            if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
                return float(quantity["value"])
            return None

        measured, bottom, top = number(value), number(low), number(high)
        if measured is None:
            return ""
        if top is not None and measured > top:
            return self._("above the reference range")
        if bottom is not None and measured < bottom:
            return self._("below the reference range")
        return ""

    def statuses(self, resource: dict[str, Any]) -> str:
        shown: list[str] = []
        for key in ("clinicalStatus", "verificationStatus"):
            codes = _codes(resource.get(key))
            if codes:
                shown.append(self.status(codes[0]))
        if not shown and isinstance(resource.get("status"), str):
            shown.append(self.status(resource["status"]))
        return ", ".join(dict.fromkeys(s for s in shown if s))

    def dates(self, resource: dict[str, Any]) -> list[Line]:
        lines = []
        for element, label in DATES.get(str(resource.get("resourceType")), ()):
            for found in _choices(resource, element):
                text = self.date_text(found)
                if text:
                    lines.append(Line(self._(label), text))
                    break
        return lines

    def details(self, resource: dict[str, Any]) -> list[Line]:
        lines = []
        for dosage in resource.get("dosageInstruction") or resource.get("dosage") or []:
            if isinstance(dosage, dict) and dosage.get("text"):
                lines.append(Line(self._("Dosage"), str(dosage["text"])))
        criticality = resource.get("criticality")
        if isinstance(criticality, str) and criticality in CRITICALITY:
            lines.append(Line(self._("Risk"), self._(CRITICALITY[criticality])))
        reactions = [
            concept_text(m)
            for reaction in resource.get("reaction") or []
            if isinstance(reaction, dict)
            for m in reaction.get("manifestation") or []
        ]
        if any(reactions):
            lines.append(Line(self._("Reaction"), ", ".join(r for r in reactions if r)))
        severity = concept_text(resource.get("severity"))
        if severity:
            lines.append(Line(self._("Severity"), severity))
        results = [
            str(r.get("display"))
            for r in resource.get("result") or []
            if isinstance(r, dict) and r.get("display")
        ]
        if results:
            lines.append(Line(self._("Results"), ", ".join(results)))
        return lines


def _choices(resource: dict[str, Any], element: str) -> Iterable[Any]:
    """The values of `element` or of its choice forms (onsetDateTime, onsetPeriod, …)."""
    if element in resource:
        yield resource[element]
    for suffix in ("DateTime", "Period", "Date", "String"):
        if element + suffix in resource:
            yield resource[element + suffix]
