"""What the tables of Health Connect's database hold, and what each becomes in healthpod.

Written from Android's own Health Connect service (the `*RecordHelper` classes of
packages/modules/HealthFitness, Apache 2.0), which creates these tables:

- every record table has `row_id`, `uuid`, `last_modified_time`, `client_record_id`,
  `client_record_version`, `device_info_id`, `app_info_id`, `recording_method`, `dedupe_hash`;
- an instant record adds `time` (epoch ms, UTC) and `zone_offset` (seconds east of UTC);
- an interval record adds `start_time`, `start_zone_offset`, `end_time`, `end_zone_offset`;
- series (heart rate, speed, power, cadence) keep their samples in a child table whose
  `parent_key` is the record's `row_id`, each with `epoch_millis`; so do sleep stages and an
  exercise session's segments, laps and route.

Values are in Health Connect's internal units: energy in calories (not kilocalories), mass in
grams, length in metres, volume in litres, power in watts, temperature in °C, percentages 0 to 100.
"""

from __future__ import annotations

from dataclasses import dataclass

RECORD_COLUMNS = ("row_id", "app_info_id", "device_info_id")
INSTANT_COLUMNS = ("time", "zone_offset")
INTERVAL_COLUMNS = ("start_time", "start_zone_offset", "end_time", "end_zone_offset")

APP_TABLE = "application_info_table"
APP_COLUMNS = ("row_id", "package_name", "app_name")
DEVICE_TABLE = "device_info_table"
DEVICE_COLUMNS = ("row_id", "manufacturer", "model", "device_type")

# The lowest database version whose record tables have the columns above (UUIDs as blobs),
# and a ceiling well above any version Android has shipped: beyond it the file is not believed.
MIN_VERSION = 9
MAX_VERSION = 99

CAL_TO_KCAL = 0.001
G_TO_KG = 0.001
WATT_TO_KCAL_PER_DAY = 86_400 / 4_184  # 1 W over a day, in kilocalories


@dataclass(frozen=True, slots=True)
class Value:
    """One value column and the sample it becomes."""

    column: str
    type_code: str
    unit: str
    factor: float = 1.0
    known: bool = True


@dataclass(frozen=True, slots=True)
class Measurement:
    """An instant or interval record table of plain values (one sample per value column)."""

    table: str
    instant: bool
    values: tuple[Value, ...]
    meta: tuple[str, ...] = ()  # other columns, kept in the sample's metadata


@dataclass(frozen=True, slots=True)
class Series:
    """A record whose samples sit in a child table (heart rate, speed, power, cadence)."""

    table: str  # the record (parent) table
    samples: str  # the child table
    value: Value


@dataclass(frozen=True, slots=True)
class Coded:
    """A record with a coded value (menstrual flow, ovulation test …) → a category sample."""

    table: str
    instant: bool
    type_code: str
    column: str | None  # the coded column; None: the record itself is the event
    codes: dict[int, str]
    default: str = "HKCategoryValueNotApplicable"
    meta: tuple[str, ...] = ()


def _m(table: str, instant: bool, *values: Value, meta: tuple[str, ...] = ()) -> Measurement:
    return Measurement(table, instant, values, meta)


MEASUREMENTS: tuple[Measurement, ...] = (
    _m("steps_record_table", False, Value("count", "steps", "{steps}")),
    _m("distance_record_table", False, Value("distance", "distance_walking_running", "km", 0.001)),
    _m(
        "active_calories_burned_record_table",
        False,
        Value("energy", "active_energy", "kcal", CAL_TO_KCAL),
    ),
    _m(
        "total_calories_burned_record_table",
        False,
        Value("energy", "total_energy", "kcal", CAL_TO_KCAL),
    ),
    _m("elevation_gained_record_table", False, Value("elevation", "elevation_gained", "m")),
    _m("floors_climbed_record_table", False, Value("floors", "flights_climbed", "{flights}")),
    _m("wheelchair_pushes_record_table", False, Value("count", "push_count", "{pushes}")),
    _m("hydration_record_table", False, Value("volume", "dietary_water", "mL", 1000.0)),
    _m("weight_record_table", True, Value("weight", "body_mass", "kg", G_TO_KG)),
    _m("height_record_table", True, Value("height", "body_height", "cm", 100.0)),
    _m("body_fat_record_table", True, Value("percentage", "body_fat_percentage", "%")),
    _m("lean_body_mass_record_table", True, Value("mass", "lean_body_mass", "kg", G_TO_KG)),
    _m("bone_mass_record_table", True, Value("mass", "bone_mass", "kg", G_TO_KG)),
    _m(
        "body_water_mass_record_table",
        True,
        Value("body_water_mass", "body_water_mass", "kg", G_TO_KG),
    ),
    _m(
        "basal_metabolic_rate_record_table",
        True,
        Value("basal_metabolic_rate", "basal_metabolic_rate", "kcal/d", WATT_TO_KCAL_PER_DAY),
    ),
    _m(
        "resting_heart_rate_record_table",
        True,
        Value("beats_per_minute", "resting_heart_rate", "/min"),
    ),
    _m(
        "heart_rate_variability_rmssd_record_table",
        True,
        Value("heart_rate_variability_millis", "hrv_rmssd", "ms"),
    ),
    _m("oxygen_saturation_record_table", True, Value("percentage", "oxygen_saturation", "%")),
    _m("respiratory_rate_record_table", True, Value("rate", "respiratory_rate", "/min")),
    _m(
        "body_temperature_record_table",
        True,
        Value("temperature", "body_temperature", "Cel"),
        meta=("measurement_location",),
    ),
    _m(
        "basal_body_temperature_record_table",
        True,
        Value("temperature", "basal_body_temperature", "Cel"),
        meta=("measurement_location",),
    ),
    _m(
        "blood_glucose_record_table",
        True,
        Value("level", "blood_glucose", "mmol/L"),
        meta=("specimen_source", "relation_to_meal", "meal_type"),
    ),
    _m(
        "vo2_max_record_table",
        True,
        Value("vo2_milliliters_per_minute_kilogram", "vo2_max", "mL/(kg.min)"),
        meta=("measurement_method",),
    ),
)

SERIES: tuple[Series, ...] = (
    Series(
        "heart_rate_record_table",
        "heart_rate_record_series_table",
        Value("beats_per_minute", "heart_rate", "/min"),
    ),
    Series(
        "CyclingPedalingCadenceRecordTable",
        "cycling_pedaling_cadence_record_table",
        Value("revolutions_per_minute", "cycling_cadence", "/min"),
    ),
    Series(
        "SpeedRecordTable",
        "speed_record_table",
        Value("speed", "healthconnect:speed", "m/s", known=False),
    ),
    Series(
        "PowerRecordTable",
        "power_record_table",
        Value("power", "healthconnect:power", "W", known=False),
    ),
    Series(
        "StepsCadenceRecordTable",
        "steps_cadence_record_table",
        Value("rate", "healthconnect:steps_cadence", "/min", known=False),
    ),
)

CODED: tuple[Coded, ...] = (
    Coded(
        "menstruation_flow_record_table",
        True,
        "menstrual_flow",
        "flow",
        {
            1: "HKCategoryValueMenstrualFlowLight",
            2: "HKCategoryValueMenstrualFlowMedium",
            3: "HKCategoryValueMenstrualFlowHeavy",
        },
        "HKCategoryValueMenstrualFlowUnspecified",
    ),
    Coded("intermenstrual_bleeding_record_table", True, "intermenstrual_bleeding", None, {}),
    Coded(
        "ovulation_test_record_table",
        True,
        "ovulation_test_result",
        "result",
        {
            0: "HKCategoryValueOvulationTestResultIndeterminate",
            1: "HKCategoryValueOvulationTestResultLuteinizingHormoneSurge",
            2: "HKCategoryValueOvulationTestResultEstrogenSurge",
            3: "HKCategoryValueOvulationTestResultNegative",
        },
    ),
    Coded(
        "cervical_mucus_record_table",
        True,
        "cervical_mucus_quality",
        "appearance",
        {
            1: "HKCategoryValueCervicalMucusQualityDry",
            2: "HKCategoryValueCervicalMucusQualitySticky",
            3: "HKCategoryValueCervicalMucusQualityCreamy",
            4: "HKCategoryValueCervicalMucusQualityWatery",
            5: "HKCategoryValueCervicalMucusQualityEggWhite",
        },
        meta=("sensation",),
    ),
    Coded(
        "sexual_activity_record_table", True, "sexual_activity", None, {}, meta=("protection_used",)
    ),
    Coded(
        "mindfulness_session_record_table",
        False,
        "mindful_session",
        None,
        {},
        meta=("type", "title"),
    ),
)

BLOOD_PRESSURE_TABLE = "blood_pressure_record_table"
BLOOD_PRESSURE_COLUMNS = ("systolic", "diastolic", "body_position", "measurement_location")

NUTRITION_TABLE = "nutrition_record_table"
# column → (our type, unit, factor from Health Connect's grams or calories)
NUTRIENTS: dict[str, tuple[str, str, float]] = {
    "energy": ("dietary_energy", "kcal", CAL_TO_KCAL),
    "protein": ("dietary_protein", "g", 1.0),
    "total_carbohydrate": ("dietary_carbohydrates", "g", 1.0),
    "total_fat": ("dietary_fat_total", "g", 1.0),
    "saturated_fat": ("dietary_fat_saturated", "g", 1.0),
    "monounsaturated_fat": ("dietary_fat_monounsaturated", "g", 1.0),
    "polyunsaturated_fat": ("dietary_fat_polyunsaturated", "g", 1.0),
    "dietary_fiber": ("dietary_fiber", "g", 1.0),
    "sugar": ("dietary_sugar", "g", 1.0),
    "cholesterol": ("dietary_cholesterol", "mg", 1000.0),
    "sodium": ("dietary_sodium", "mg", 1000.0),
    "potassium": ("dietary_potassium", "mg", 1000.0),
    "calcium": ("dietary_calcium", "mg", 1000.0),
    "iron": ("dietary_iron", "mg", 1000.0),
    "magnesium": ("dietary_magnesium", "mg", 1000.0),
    "phosphorus": ("dietary_phosphorus", "mg", 1000.0),
    "zinc": ("dietary_zinc", "mg", 1000.0),
    "copper": ("dietary_copper", "mg", 1000.0),
    "manganese": ("dietary_manganese", "mg", 1000.0),
    "chloride": ("dietary_chloride", "mg", 1000.0),
    "caffeine": ("dietary_caffeine", "mg", 1000.0),
    "vitamin_c": ("dietary_vitamin_c", "mg", 1000.0),
    "vitamin_e": ("dietary_vitamin_e", "mg", 1000.0),
    "vitamin_b6": ("dietary_vitamin_b6", "mg", 1000.0),
    "niacin": ("dietary_niacin", "mg", 1000.0),
    "riboflavin": ("dietary_riboflavin", "mg", 1000.0),
    "thiamin": ("dietary_thiamin", "mg", 1000.0),
    "pantothenic_acid": ("dietary_pantothenic_acid", "mg", 1000.0),
    "selenium": ("dietary_selenium", "ug", 1e6),
    "chromium": ("dietary_chromium", "ug", 1e6),
    "molybdenum": ("dietary_molybdenum", "ug", 1e6),
    "iodine": ("dietary_iodine", "ug", 1e6),
    "vitamin_a": ("dietary_vitamin_a", "ug", 1e6),
    "vitamin_b12": ("dietary_vitamin_b12", "ug", 1e6),
    "vitamin_d": ("dietary_vitamin_d", "ug", 1e6),
    "vitamin_k": ("dietary_vitamin_k", "ug", 1e6),
    "folate": ("dietary_folate", "ug", 1e6),
    "biotin": ("dietary_biotin", "ug", 1e6),
}
NUTRITION_META = ("meal_type", "meal_name")

SLEEP_TABLE = "sleep_session_record_table"
SLEEP_STAGES_TABLE = "sleep_stages_table"
SLEEP_STAGE_COLUMNS = ("parent_key", "stage_start_time", "stage_end_time", "stage_type")
SLEEP_STAGES: dict[int, str] = {
    1: "HKCategoryValueSleepAnalysisAwake",
    2: "HKCategoryValueSleepAnalysisAsleepUnspecified",
    3: "HKCategoryValueSleepAnalysisAwake",  # awake, out of bed
    4: "HKCategoryValueSleepAnalysisAsleepCore",  # light
    5: "HKCategoryValueSleepAnalysisAsleepDeep",
    6: "HKCategoryValueSleepAnalysisAsleepREM",
    7: "HKCategoryValueSleepAnalysisAwake",  # awake, in bed
}
IN_BED = "HKCategoryValueSleepAnalysisInBed"
ASLEEP = "HKCategoryValueSleepAnalysisAsleepUnspecified"

EXERCISE_TABLE = "exercise_session_record_table"
EXERCISE_COLUMNS = ("exercise_type", "title", "notes")
SEGMENTS_TABLE = "exercise_segments_table"
SEGMENT_COLUMNS = (
    "parent_key",
    "segment_start_time",
    "segment_end_time",
    "segment_type",
    "repetitions_count",
)
LAPS_TABLE = "exercise_laps_table"
LAP_COLUMNS = ("parent_key", "lap_start_time", "lap_end_time", "lap_length")
ROUTE_TABLE = "exercise_route_table"
ROUTE_COLUMNS = ("parent_key", "timestamp_millis", "latitude", "longitude", "altitude")

# ExerciseSessionType constants → our activity names (as the FIT importer writes them)
EXERCISE_NAMES = (
    "unknown",
    "badminton",
    "baseball",
    "basketball",
    "biking",
    "biking_stationary",
    "boot_camp",
    "boxing",
    "calisthenics",
    "cricket",
    "dancing",
    "exercise_class",
    "fencing",
    "football_american",
    "football_australian",
    "frisbee_disc",
    "golf",
    "guided_breathing",
    "gymnastics",
    "handball",
    "high_intensity_interval_training",
    "hiking",
    "ice_hockey",
    "ice_skating",
    "martial_arts",
    "paddling",
    "paragliding",
    "pilates",
    "racquetball",
    "rock_climbing",
    "roller_hockey",
    "rowing",
    "rugby",
    "running",
    "running_treadmill",
    "sailing",
    "scuba_diving",
    "skating",
    "skiing",
    "snowboarding",
    "snowshoeing",
    "soccer",
    "softball",
    "squash",
    "stair_climbing",
    "strength_training",
    "stretching",
    "surfing",
    "swimming_open_water",
    "swimming_pool",
    "table_tennis",
    "tennis",
    "volleyball",
    "walking",
    "water_polo",
    "weightlifting",
    "wheelchair",
    "yoga",
    "other_workout",
    "stair_climbing_machine",
    "elliptical",
    "rowing_machine",
)
EXERCISE_TYPES: dict[int, str] = dict(enumerate(EXERCISE_NAMES))

DEVICE_TYPES = {
    1: "watch",
    2: "phone",
    3: "scale",
    4: "ring",
    5: "head-mounted",
    6: "fitness band",
    7: "chest strap",
    8: "smart display",
}

# Tables of the Health Connect database that hold no health records of the person (logs,
# settings, priorities) or that the readers above read as children: passed over in silence.
SERVICE_TABLES = frozenset(
    {
        APP_TABLE,
        DEVICE_TABLE,
        SLEEP_STAGES_TABLE,
        SEGMENTS_TABLE,
        LAPS_TABLE,
        ROUTE_TABLE,
        "access_logs_table",
        "change_logs_table",
        "change_logs_request_table",
        "preference_table",
        "health_data_category_priority_table",
        "activity_date_table",
        "migration_entity_table",
        "priority_migration_table",
        "read_access_logs_table",
        "backup_change_token_table",
        "android_metadata",
        "sqlite_sequence",
        "sqlite_stat1",
    }
)


def record_tables() -> frozenset[str]:
    """Every record table this module reads."""
    return frozenset(
        {m.table for m in MEASUREMENTS}
        | {s.table for s in SERIES}
        | {s.samples for s in SERIES}
        | {c.table for c in CODED}
        | {BLOOD_PRESSURE_TABLE, NUTRITION_TABLE, SLEEP_TABLE, EXERCISE_TABLE}
    )
