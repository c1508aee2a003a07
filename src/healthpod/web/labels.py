"""What pages call things: type names, units, actor kinds, categories and log events, as msgids.

Each value is marked with `N_` so it lands in the catalogues; templates translate it with `_()`.
Anything without an entry is shown as stored (a producer's own type identifier, say).
"""

from __future__ import annotations

from healthpod.vocabulary import SAMPLE_TYPES
from healthpod.web import ucum
from healthpod.web.i18n import N_
from healthpod.web.type_names import MORE_TYPES

TYPES: dict[str, str] = {
    "steps": N_("Steps"),
    "distance_walking_running": N_("Walking and running distance"),
    "distance_cycling": N_("Cycling distance"),
    "active_energy": N_("Active energy"),
    "basal_energy": N_("Resting energy"),
    "exercise_time": N_("Exercise minutes"),
    "stand_time": N_("Stand minutes"),
    "flights_climbed": N_("Flights climbed"),
    "vo2_max": N_("VO2 max"),
    "heart_rate": N_("Heart rate"),
    "resting_heart_rate": N_("Resting heart rate"),
    "walking_heart_rate": N_("Walking heart rate"),
    "hrv_sdnn": N_("Heart rate variability"),
    "respiratory_rate": N_("Respiratory rate"),
    "oxygen_saturation": N_("Oxygen saturation"),
    "body_temperature": N_("Body temperature"),
    "body_mass": N_("Weight"),
    "body_mass_index": N_("Body mass index"),
    "body_height": N_("Height"),
    "body_fat_percentage": N_("Body fat"),
    "lean_body_mass": N_("Lean body mass"),
    "waist_circumference": N_("Waist circumference"),
    "blood_pressure_systolic": N_("Blood pressure, systolic"),
    "blood_pressure_diastolic": N_("Blood pressure, diastolic"),
    "blood_glucose": N_("Blood glucose"),
    "dietary_energy": N_("Dietary energy"),
    "dietary_water": N_("Water"),
    "sleep_analysis": N_("Sleep"),
    "stand_hour": N_("Stand hours"),
    "mindful_session": N_("Mindful minutes"),
    **MORE_TYPES,
}

UNITS: dict[str, str] = {
    "{steps}": N_("steps"),
    "{flights}": N_("flights"),
    "/min": N_("per minute"),
    "min": N_("min"),
    "km": "km",
    "kcal": "kcal",
    "kg": "kg",
    "cm": "cm",
    "ms": "ms",
    "%": "%",
    "Cel": "°C",
    "mm[Hg]": "mmHg",
    "mmol/L": "mmol/L",
    "mL": "ml",
    "kg/m2": "kg/m²",
    "mL/(kg.min)": "ml/(kg·min)",
}

# In the order a person reads them (the consent screen lists them so).
CATEGORIES: dict[str, str] = {
    "identity": N_("Who you are (name, birth date, sex, identifiers, contact details)"),
    "activity": N_("Activity"),
    "heart": N_("Heart"),
    "sleep": N_("Sleep"),
    "body": N_("Body measurements"),
    "blood-pressure": N_("Blood pressure"),
    "blood-glucose": N_("Blood glucose"),
    "respiratory": N_("Breathing"),
    "nutrition": N_("Nutrition"),
    "mindfulness": N_("Mindfulness"),
    "other": N_("Other measurements"),
    "lab-results": N_("Lab results"),
    "conditions": N_("Conditions"),
    "medications": N_("Medications"),
    "immunizations": N_("Immunizations"),
    "allergies": N_("Allergies"),
    "procedures": N_("Procedures"),
    "encounters": N_("Visits"),
    "documents": N_("Documents"),
    "questionnaires": N_("Questionnaires"),
    "other-records": N_("Other records"),
}

ACTOR_KINDS: dict[str, str] = {
    "app": N_("App"),
    "coach": N_("Coach"),
    "clinic": N_("Clinic"),
    "research": N_("Research"),
}

GRANULARITY: dict[str, str] = {
    "raw": N_("Every measurement"),
    "daily": N_("Daily summaries only"),
}

CONSENT_STATES: dict[str, str] = {
    "pending": N_("Not started yet"),
    "active": N_("Active"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
}

LINK_STATES: dict[str, str] = {
    "active": N_("Active"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
    "locked": N_("Locked after wrong passcodes"),
}

DELEGATION_STATES: dict[str, str] = {
    "active": N_("Active"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
    "aged-out": N_("Ended at the age limit"),
    "no-birth-date": N_("Needs a birth date"),
}

OUTCOMES: dict[str, str] = {
    "allowed": N_("Allowed"),
    "denied": N_("Denied"),
    "ok": N_("Allowed"),
    "failed": N_("Failed"),
}

BUCKETS: dict[str, str] = {
    "hour": N_("Hour"),
    "day": N_("Day"),
    "week": N_("Week"),
    "month": N_("Month"),
}


# What an import counts besides sample types: correlations, workouts, records from healthcare.
ADDED: dict[str, str] = {
    "blood_pressure": N_("Blood pressure"),
    "workout": N_("Workouts"),
    "activity_summary": N_("Activity rings"),
    "workout_route": N_("Workout routes"),
    "history": N_("Earlier imports"),
    "AllergyIntolerance": N_("Allergies"),
    "CarePlan": N_("Care plans"),
    "CareTeam": N_("Care teams"),
    "Claim": N_("Claims"),
    "Composition": N_("Summaries"),
    "Condition": N_("Conditions"),
    "Coverage": N_("Insurance"),
    "Device": N_("Devices"),
    "DiagnosticReport": N_("Lab reports"),
    "DocumentReference": N_("Documents"),
    "Encounter": N_("Visits"),
    "ExplanationOfBenefit": N_("Benefit statements"),
    "Goal": N_("Goals"),
    "ImagingStudy": N_("Imaging studies"),
    "Immunization": N_("Immunizations"),
    "Location": N_("Places"),
    "Medication": N_("Medicines"),
    "MedicationAdministration": N_("Medicines given"),
    "MedicationRequest": N_("Prescriptions"),
    "MedicationStatement": N_("Medications"),
    "Observation": N_("Observations"),
    "Organization": N_("Organisations"),
    "Patient": N_("Who you are"),
    "Practitioner": N_("Care professionals"),
    "PractitionerRole": N_("Care professionals"),
    "Procedure": N_("Procedures"),
    "Provenance": N_("Provenance"),
    "QuestionnaireResponse": N_("Questionnaire answers"),
    "SupplyDelivery": N_("Supplies"),
}


def type_label(code: str) -> str:
    """The msgid for a type, or its English display name, or the code itself."""
    if code in TYPES:
        return TYPES[code]
    if code in ADDED:
        return ADDED[code]
    for known in SAMPLE_TYPES:
        if known.code == code:
            return known.display
    return code.replace("_", " ").capitalize()  # never a raw code such as blood_pressure


# Why an upload was refused, by the error's code, as a sentence of our own (the importer's
# exact words follow it, in English).
IMPORT_FAILURES: dict[str, str] = {
    "": N_("The file could not be imported."),
    "not-supported": N_("healthpod cannot read this kind of file."),
    "structure": N_("The file is damaged or cut short, so healthpod could not read it."),
    "invalid": N_("The file holds something healthpod cannot store."),
    "not-found": N_("Your person record is missing, so nothing was imported."),
    "gone": N_(
        "The uploaded file was no longer on the server, so nothing of it was stored. "
        "Upload it again."
    ),
    "exception": N_("Something went wrong on our side. Your data is safe."),
}


# Import formats (the importers' names), for the upload form's format choice.
FORMATS: dict[str, str] = {
    "apple-health": N_("Apple Health (export.zip or export.xml)"),
    "health-connect": N_("Health Connect (Android)"),
    "samsung-health": N_("Samsung Health"),
    "google-fit-takeout": N_("Google Fit (Takeout)"),
    "garmin-connect": N_("Garmin Connect export"),
    "fitbit": N_("Fitbit export"),
    "fit": N_("FIT file (Garmin, Wahoo, Coros …)"),
    "gpx": N_("GPX track"),
    "tcx": N_("TCX track"),
    "fhir": N_("Records from healthcare (FHIR JSON or NDJSON)"),
    "vendor-api": N_("Withings or Oura data (JSON)"),
    "csv": N_("CSV from a scale or cuff"),
}


# Workout activities as stored (our codes, or Apple's identifiers without their prefix).
ACTIVITIES: dict[str, str] = {
    "running": N_("Running"),
    "cycling": N_("Cycling"),
    "walking": N_("Walking"),
    "hiking": N_("Hiking"),
    "swimming": N_("Swimming"),
    "rowing": N_("Rowing"),
    "yoga": N_("Yoga"),
    "cross_country_skiing": N_("Cross-country skiing"),
    "strength_training": N_("Strength training"),
    "traditional_strength_training": N_("Strength training"),
    "functional_strength_training": N_("Strength training"),
    "elliptical": N_("Elliptical"),
    "other": N_("Other workout"),
}


def activity_label(activity: str) -> str:
    """The msgid of a workout activity, or the stored name made readable."""
    key = activity.removeprefix("HKWorkoutActivityType")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in key).lstrip("_").lower()
    found = ACTIVITIES.get(key) or ACTIVITIES.get(snake)
    return found if found else key.replace("_", " ").capitalize()


def unit_label(unit: str) -> str:
    """The msgid (or plain symbols) of a UCUM unit: never raw braces or brackets."""
    return UNITS.get(unit) or ucum.words(unit)


# Where a UCUM unit reads better with the type's own word ("bpm", not "per minute").
TYPE_UNITS: dict[str, str] = {
    "heart_rate": N_("bpm"),
    "resting_heart_rate": N_("bpm"),
    "walking_heart_rate": N_("bpm"),
    "heart_rate_recovery": N_("bpm"),
    "respiratory_rate": N_("breaths/min"),
    "cycling_cadence": N_("rpm"),
}


def unit_for(code: str, unit: str) -> str:
    """The msgid of the unit to show beside a value of type `code`."""
    return TYPE_UNITS.get(code) if unit == "/min" and code in TYPE_UNITS else unit_label(unit)  # type: ignore[return-value]


PURPOSES: dict[str, str] = {
    "TREAT": N_("Treatment"),
    "ETREAT": N_("Emergency treatment"),
    "CAREMGT": N_("Care management"),
    "COC": N_("Coordination of care"),
    "PATRQT": N_("Requested by you"),
    "HRESCH": N_("Healthcare research"),
    "CLINTRCH": N_("Clinical trial research"),
    "PUBHLTH": N_("Public health"),
    "HOPERAT": N_("Healthcare operations"),
    "dpv:ServiceProvision": N_("Providing the service you use"),
    "dpv:ServicePersonalisation": N_("Personalising the service"),
    "dpv:AcademicResearch": N_("Academic research"),
    "dpv:CommercialResearch": N_("Commercial research"),
    "dpv:ResearchAndDevelopment": N_("Research and development"),
}

ACTIONS: dict[str, str] = {"read": N_("Read"), "write": N_("Write")}

CHANGES: dict[str, str] = {
    "granted": N_("Granted"),
    "narrowed": N_("Narrowed"),
    "revoked": N_("Revoked"),
}

EVENTS: dict[str, str] = {
    "login": N_("Log in"),
    "delivery": N_("Delivery from healthcare"),
    "logout": N_("Log out"),
    "fhir.search": N_("Search"),
    "fhir.read": N_("Read"),
    "fhir.create": N_("Add data"),
    "fhir.everything": N_("Read everything"),
    "fhir.export": N_("Bulk export"),
    "consent.granted": N_("Consent given"),
    "consent.narrowed": N_("Consent narrowed"),
    "consent.revoked": N_("Consent revoked"),
    "study.joined": N_("Joined a study"),
    "fhir.include": N_("Read"),
    "fhir.export_start": N_("Bulk export started"),
    "fhir.export_status": N_("Bulk export checked"),
    "research.export": N_("Pseudonymised records for a study"),
    "export": N_("Download of everything"),
    "returned": N_("Returned"),
    "oauth.code_issued": N_("Access allowed"),
    "oauth.denied": N_("Access declined"),
    "oauth.token_issued": N_("Access token issued"),
    "oauth.token_refreshed": N_("Access token renewed"),
    "oauth.token_revoked": N_("Access token revoked"),
    "oauth.refresh_refused": N_("Access token renewal refused"),
    "oauth.refresh_reused": N_("Access token renewal refused"),
    "oauth.code_reused": N_("Access token refused"),
    "restrict": N_("Marked data only mine"),
    "unrestrict": N_("Shared data again"),
    "mark-wrong": N_("Marked data wrong"),
    "unmark-wrong": N_("Counted data again"),
    "delete": N_("Deleted data"),
    "note": N_("Added a note"),
    "lift-tombstones": N_("Let imports bring deleted data back"),
}

# Category values as stored (Apple's identifiers without their prefix, or an importer's own).
CATEGORY_VALUES: dict[str, str] = {
    "InBed": N_("In bed"),
    "Asleep": N_("Asleep"),
    "AsleepUnspecified": N_("Asleep"),
    "AsleepCore": N_("Core sleep"),
    "AsleepDeep": N_("Deep sleep"),
    "AsleepREM": N_("REM sleep"),
    "Awake": N_("Awake"),
}
