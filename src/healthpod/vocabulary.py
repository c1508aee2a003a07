"""Our sample types: each with its producer identifiers, LOINC code, UCUM unit and aggregation.

This is the one place that says what a type is. Importers map producer identifiers to a
`SampleType`; statistics use `aggregation`; consent uses `category`; the FHIR API uses `loinc`,
`unit` and `fhir_category`. See docs/vocabulary.md for the table in prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Aggregation(StrEnum):
    CUMULATIVE = "cumulative"  # summed per bucket, de-duplicated across sources (steps)
    DISCRETE = "discrete"  # min/max/mean per bucket (heart rate)
    CATEGORY = "category"  # coded values with a duration (sleep stages)


class Category(StrEnum):
    """Data categories as a person thinks of them; consents are granted per category."""

    ACTIVITY = "activity"
    HEART = "heart"
    SLEEP = "sleep"
    BODY = "body"
    BLOOD_PRESSURE = "blood-pressure"
    BLOOD_GLUCOSE = "blood-glucose"
    RESPIRATORY = "respiratory"
    NUTRITION = "nutrition"
    MINDFULNESS = "mindfulness"
    OTHER = "other"
    # records from healthcare (FHIR resources)
    LAB_RESULTS = "lab-results"
    CONDITIONS = "conditions"
    MEDICATIONS = "medications"
    IMMUNIZATIONS = "immunizations"
    ALLERGIES = "allergies"
    PROCEDURES = "procedures"
    ENCOUNTERS = "encounters"
    DOCUMENTS = "documents"
    QUESTIONNAIRES = "questionnaires"
    OTHER_RECORDS = "other-records"


@dataclass(frozen=True, slots=True)
class SampleType:
    code: str
    kind: str  # quantity|category
    unit: str  # canonical UCUM unit ("" for category types)
    aggregation: Aggregation
    category: Category
    display: str
    loinc: str | None = None
    fhir_category: str | None = None  # vital-signs | activity | None
    apple: tuple[str, ...] = ()


Q, C = "quantity", "category"
CUM, DIS, CAT = Aggregation.CUMULATIVE, Aggregation.DISCRETE, Aggregation.CATEGORY
VS, ACT = "vital-signs", "activity"

SAMPLE_TYPES: tuple[SampleType, ...] = (
    # activity
    SampleType(
        "steps",
        Q,
        "{steps}",
        CUM,
        Category.ACTIVITY,
        "Steps",
        "55423-8",
        ACT,
        ("HKQuantityTypeIdentifierStepCount",),
    ),
    SampleType(
        "distance_walking_running",
        Q,
        "km",
        CUM,
        Category.ACTIVITY,
        "Walking and running distance",
        "41953-1",
        ACT,
        ("HKQuantityTypeIdentifierDistanceWalkingRunning",),
    ),
    SampleType(
        "distance_cycling",
        Q,
        "km",
        CUM,
        Category.ACTIVITY,
        "Cycling distance",
        None,
        ACT,
        ("HKQuantityTypeIdentifierDistanceCycling",),
    ),
    SampleType(
        "distance_swimming",
        Q,
        "km",
        CUM,
        Category.ACTIVITY,
        "Swimming distance",
        None,
        ACT,
        ("HKQuantityTypeIdentifierDistanceSwimming",),
    ),
    SampleType(
        "active_energy",
        Q,
        "kcal",
        CUM,
        Category.ACTIVITY,
        "Active energy burned",
        "41981-2",
        ACT,
        ("HKQuantityTypeIdentifierActiveEnergyBurned",),
    ),
    SampleType(
        "basal_energy",
        Q,
        "kcal",
        CUM,
        Category.ACTIVITY,
        "Resting energy burned",
        None,
        ACT,
        ("HKQuantityTypeIdentifierBasalEnergyBurned",),
    ),
    SampleType(
        "exercise_time",
        Q,
        "min",
        CUM,
        Category.ACTIVITY,
        "Exercise minutes",
        "55411-3",
        ACT,
        ("HKQuantityTypeIdentifierAppleExerciseTime",),
    ),
    SampleType(
        "stand_time",
        Q,
        "min",
        CUM,
        Category.ACTIVITY,
        "Stand minutes",
        None,
        ACT,
        ("HKQuantityTypeIdentifierAppleStandTime",),
    ),
    SampleType(
        "flights_climbed",
        Q,
        "{flights}",
        CUM,
        Category.ACTIVITY,
        "Flights climbed",
        None,
        ACT,
        ("HKQuantityTypeIdentifierFlightsClimbed",),
    ),
    SampleType(
        "vo2_max",
        Q,
        "mL/(kg.min)",
        DIS,
        Category.ACTIVITY,
        "VO2 max",
        "60842-2",
        ACT,
        ("HKQuantityTypeIdentifierVO2Max",),
    ),
    # heart
    SampleType(
        "heart_rate",
        Q,
        "/min",
        DIS,
        Category.HEART,
        "Heart rate",
        "8867-4",
        VS,
        ("HKQuantityTypeIdentifierHeartRate",),
    ),
    SampleType(
        "resting_heart_rate",
        Q,
        "/min",
        DIS,
        Category.HEART,
        "Resting heart rate",
        "40443-4",
        VS,
        ("HKQuantityTypeIdentifierRestingHeartRate",),
    ),
    SampleType(
        "walking_heart_rate",
        Q,
        "/min",
        DIS,
        Category.HEART,
        "Walking heart rate average",
        None,
        VS,
        ("HKQuantityTypeIdentifierWalkingHeartRateAverage",),
    ),
    SampleType(
        "hrv_sdnn",
        Q,
        "ms",
        DIS,
        Category.HEART,
        "Heart rate variability (SDNN)",
        "80404-7",
        VS,
        ("HKQuantityTypeIdentifierHeartRateVariabilitySDNN",),
    ),
    # respiratory
    SampleType(
        "respiratory_rate",
        Q,
        "/min",
        DIS,
        Category.RESPIRATORY,
        "Respiratory rate",
        "9279-1",
        VS,
        ("HKQuantityTypeIdentifierRespiratoryRate",),
    ),
    SampleType(
        "oxygen_saturation",
        Q,
        "%",
        DIS,
        Category.RESPIRATORY,
        "Oxygen saturation",
        "59408-5",
        VS,
        ("HKQuantityTypeIdentifierOxygenSaturation",),
    ),
    # body
    SampleType(
        "body_temperature",
        Q,
        "Cel",
        DIS,
        Category.BODY,
        "Body temperature",
        "8310-5",
        VS,
        ("HKQuantityTypeIdentifierBodyTemperature",),
    ),
    SampleType(
        "body_mass",
        Q,
        "kg",
        DIS,
        Category.BODY,
        "Body weight",
        "29463-7",
        VS,
        ("HKQuantityTypeIdentifierBodyMass",),
    ),
    SampleType(
        "body_mass_index",
        Q,
        "kg/m2",
        DIS,
        Category.BODY,
        "Body mass index",
        "39156-5",
        VS,
        ("HKQuantityTypeIdentifierBodyMassIndex",),
    ),
    SampleType(
        "body_height",
        Q,
        "cm",
        DIS,
        Category.BODY,
        "Body height",
        "8302-2",
        VS,
        ("HKQuantityTypeIdentifierHeight",),
    ),
    SampleType(
        "body_fat_percentage",
        Q,
        "%",
        DIS,
        Category.BODY,
        "Body fat percentage",
        "41982-0",
        None,
        ("HKQuantityTypeIdentifierBodyFatPercentage",),
    ),
    SampleType(
        "lean_body_mass",
        Q,
        "kg",
        DIS,
        Category.BODY,
        "Lean body mass",
        "91557-9",
        None,
        ("HKQuantityTypeIdentifierLeanBodyMass",),
    ),
    SampleType(
        "waist_circumference",
        Q,
        "cm",
        DIS,
        Category.BODY,
        "Waist circumference",
        "8280-0",
        None,
        ("HKQuantityTypeIdentifierWaistCircumference",),
    ),
    # blood pressure and glucose
    SampleType(
        "blood_pressure_systolic",
        Q,
        "mm[Hg]",
        DIS,
        Category.BLOOD_PRESSURE,
        "Systolic blood pressure",
        "8480-6",
        VS,
        ("HKQuantityTypeIdentifierBloodPressureSystolic",),
    ),
    SampleType(
        "blood_pressure_diastolic",
        Q,
        "mm[Hg]",
        DIS,
        Category.BLOOD_PRESSURE,
        "Diastolic blood pressure",
        "8462-4",
        VS,
        ("HKQuantityTypeIdentifierBloodPressureDiastolic",),
    ),
    SampleType(
        "blood_glucose",
        Q,
        "mmol/L",
        DIS,
        Category.BLOOD_GLUCOSE,
        "Blood glucose",
        "15074-8",
        None,
        ("HKQuantityTypeIdentifierBloodGlucose",),
    ),
    # nutrition
    SampleType(
        "dietary_energy",
        Q,
        "kcal",
        CUM,
        Category.NUTRITION,
        "Dietary energy",
        "9052-2",
        None,
        ("HKQuantityTypeIdentifierDietaryEnergyConsumed",),
    ),
    SampleType(
        "dietary_water",
        Q,
        "mL",
        CUM,
        Category.NUTRITION,
        "Water",
        None,
        None,
        ("HKQuantityTypeIdentifierDietaryWater",),
    ),
    # category types
    SampleType(
        "sleep_analysis",
        C,
        "",
        CAT,
        Category.SLEEP,
        "Sleep",
        "93832-4",
        None,
        ("HKCategoryTypeIdentifierSleepAnalysis",),
    ),
    SampleType(
        "stand_hour",
        C,
        "",
        CAT,
        Category.ACTIVITY,
        "Stand hour",
        None,
        None,
        ("HKCategoryTypeIdentifierAppleStandHour",),
    ),
    SampleType(
        "mindful_session",
        C,
        "",
        CAT,
        Category.MINDFULNESS,
        "Mindful session",
        None,
        None,
        ("HKCategoryTypeIdentifierMindfulSession",),
    ),
)

BY_CODE: dict[str, SampleType] = {t.code: t for t in SAMPLE_TYPES}
BY_APPLE: dict[str, SampleType] = {ident: t for t in SAMPLE_TYPES for ident in t.apple}


def sample_type(code: str) -> SampleType | None:
    """The known type with this code, or None for a type stored under a producer identifier."""
    return BY_CODE.get(code)


# FHIR resource types from healthcare and the category a person grants them under. Observations
# are categorised by their code (a known sample type's category) or FHIR category (laboratory).
RESOURCE_CATEGORIES: dict[str, Category] = {
    "Condition": Category.CONDITIONS,
    "MedicationRequest": Category.MEDICATIONS,
    "MedicationStatement": Category.MEDICATIONS,
    "MedicationAdministration": Category.MEDICATIONS,
    "MedicationDispense": Category.MEDICATIONS,
    "Medication": Category.MEDICATIONS,
    "Immunization": Category.IMMUNIZATIONS,
    "AllergyIntolerance": Category.ALLERGIES,
    "Procedure": Category.PROCEDURES,
    "DiagnosticReport": Category.LAB_RESULTS,
    "Specimen": Category.LAB_RESULTS,
    "Encounter": Category.ENCOUNTERS,
    "DocumentReference": Category.DOCUMENTS,
    "Composition": Category.DOCUMENTS,
    "QuestionnaireResponse": Category.QUESTIONNAIRES,
    "Questionnaire": Category.QUESTIONNAIRES,
}

BY_LOINC: dict[str, SampleType] = {t.loinc: t for t in SAMPLE_TYPES if t.loinc}


def resource_category(resource_type: str) -> Category:
    """The consent category of a (non-Observation) FHIR resource type."""
    return RESOURCE_CATEGORIES.get(resource_type, Category.OTHER_RECORDS)
