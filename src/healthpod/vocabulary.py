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

    # who the person is: name, birth date, sex, identifiers, contact details (FHIR Patient)
    IDENTITY = "identity"
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
HKQ, HKC = "HKQuantityTypeIdentifier", "HKCategoryTypeIdentifier"


def _q(
    code: str,
    unit: str,
    aggregation: Aggregation,
    category: Category,
    display: str,
    apple: str,
    loinc: str | None = None,
    fhir_category: str | None = None,
) -> SampleType:
    return SampleType(
        code, Q, unit, aggregation, category, display, loinc, fhir_category, (HKQ + apple,)
    )


def _c(
    code: str, category: Category, display: str, apple: str, loinc: str | None = None
) -> SampleType:
    return SampleType(code, C, "", CAT, category, display, loinc, None, (HKC + apple,))


A, H, S, B = Category.ACTIVITY, Category.HEART, Category.SLEEP, Category.BODY
BP, BG, R, N = (
    Category.BLOOD_PRESSURE,
    Category.BLOOD_GLUCOSE,
    Category.RESPIRATORY,
    Category.NUTRITION,
)
M, OT = Category.MINDFULNESS, Category.OTHER

# Every HealthKit quantity and category type up to iOS 18. Units are canonical UCUM; values are
# converted on import (healthpod.ingest.units). LOINC codes only where one clearly fits.
SAMPLE_TYPES: tuple[SampleType, ...] = (
    # activity
    _q("steps", "{steps}", CUM, A, "Steps", "StepCount", "55423-8", ACT),
    _q(
        "distance_walking_running",
        "km",
        CUM,
        A,
        "Walking and running distance",
        "DistanceWalkingRunning",
        "41953-1",
        ACT,
    ),
    _q("distance_cycling", "km", CUM, A, "Cycling distance", "DistanceCycling", None, ACT),
    _q("distance_swimming", "km", CUM, A, "Swimming distance", "DistanceSwimming", None, ACT),
    _q("distance_wheelchair", "km", CUM, A, "Wheelchair distance", "DistanceWheelchair", None, ACT),
    _q(
        "distance_downhill_snow_sports",
        "km",
        CUM,
        A,
        "Downhill snow sports distance",
        "DistanceDownhillSnowSports",
        None,
        ACT,
    ),
    _q(
        "distance_cross_country_skiing",
        "km",
        CUM,
        A,
        "Cross-country skiing distance",
        "DistanceCrossCountrySkiing",
        None,
        ACT,
    ),
    _q(
        "distance_paddle_sports",
        "km",
        CUM,
        A,
        "Paddle sports distance",
        "DistancePaddleSports",
        None,
        ACT,
    ),
    _q("distance_rowing", "km", CUM, A, "Rowing distance", "DistanceRowing", None, ACT),
    _q(
        "distance_skating_sports",
        "km",
        CUM,
        A,
        "Skating distance",
        "DistanceSkatingSports",
        None,
        ACT,
    ),
    _q("push_count", "{pushes}", CUM, A, "Wheelchair pushes", "PushCount", None, ACT),
    _q(
        "swimming_strokes",
        "{strokes}",
        CUM,
        A,
        "Swimming strokes",
        "SwimmingStrokeCount",
        None,
        ACT,
    ),
    _q(
        "active_energy",
        "kcal",
        CUM,
        A,
        "Active energy burned",
        "ActiveEnergyBurned",
        "41981-2",
        ACT,
    ),
    _q("basal_energy", "kcal", CUM, A, "Resting energy burned", "BasalEnergyBurned", None, ACT),
    _q("exercise_time", "min", CUM, A, "Exercise minutes", "AppleExerciseTime", "55411-3", ACT),
    _q("stand_time", "min", CUM, A, "Stand minutes", "AppleStandTime", None, ACT),
    _q("move_time", "min", CUM, A, "Move minutes", "AppleMoveTime", None, ACT),
    _q("flights_climbed", "{flights}", CUM, A, "Flights climbed", "FlightsClimbed", None, ACT),
    _q("nike_fuel", "{nikefuel}", CUM, A, "NikeFuel", "NikeFuel", None, ACT),
    _q("time_in_daylight", "min", CUM, A, "Time in daylight", "TimeInDaylight", None, ACT),
    _q("physical_effort", "kcal/(kg.h)", DIS, A, "Physical effort", "PhysicalEffort", None, ACT),
    _q("vo2_max", "mL/(kg.min)", DIS, A, "VO2 max", "VO2Max", "60842-2", ACT),
    _q("walking_speed", "km/h", DIS, A, "Walking speed", "WalkingSpeed", None, ACT),
    _q("walking_step_length", "cm", DIS, A, "Walking step length", "WalkingStepLength", None, ACT),
    _q(
        "walking_asymmetry",
        "%",
        DIS,
        A,
        "Walking asymmetry",
        "WalkingAsymmetryPercentage",
        None,
        ACT,
    ),
    _q(
        "walking_double_support",
        "%",
        DIS,
        A,
        "Double support time",
        "WalkingDoubleSupportPercentage",
        None,
        ACT,
    ),
    _q(
        "walking_steadiness", "%", DIS, A, "Walking steadiness", "AppleWalkingSteadiness", None, ACT
    ),
    _q("stair_ascent_speed", "m/s", DIS, A, "Stair speed up", "StairAscentSpeed", None, ACT),
    _q("stair_descent_speed", "m/s", DIS, A, "Stair speed down", "StairDescentSpeed", None, ACT),
    _q(
        "six_minute_walk_distance",
        "m",
        DIS,
        A,
        "Six-minute walk distance",
        "SixMinuteWalkTestDistance",
        None,
        ACT,
    ),
    _q("running_speed", "m/s", DIS, A, "Running speed", "RunningSpeed", None, ACT),
    _q("running_power", "W", DIS, A, "Running power", "RunningPower", None, ACT),
    _q(
        "running_stride_length",
        "m",
        DIS,
        A,
        "Running stride length",
        "RunningStrideLength",
        None,
        ACT,
    ),
    _q(
        "running_vertical_oscillation",
        "cm",
        DIS,
        A,
        "Vertical oscillation",
        "RunningVerticalOscillation",
        None,
        ACT,
    ),
    _q(
        "running_ground_contact_time",
        "ms",
        DIS,
        A,
        "Ground contact time",
        "RunningGroundContactTime",
        None,
        ACT,
    ),
    _q("cycling_speed", "km/h", DIS, A, "Cycling speed", "CyclingSpeed", None, ACT),
    _q("cycling_power", "W", DIS, A, "Cycling power", "CyclingPower", None, ACT),
    _q("cycling_cadence", "/min", DIS, A, "Cycling cadence", "CyclingCadence", None, ACT),
    _q(
        "cycling_ftp",
        "W",
        DIS,
        A,
        "Cycling functional threshold power",
        "CyclingFunctionalThresholdPower",
        None,
        ACT,
    ),
    _q("underwater_depth", "m", DIS, A, "Underwater depth", "UnderwaterDepth", None, ACT),
    _q("water_temperature", "Cel", DIS, OT, "Water temperature", "WaterTemperature", None, None),
    # heart
    _q("heart_rate", "/min", DIS, H, "Heart rate", "HeartRate", "8867-4", VS),
    _q(
        "resting_heart_rate",
        "/min",
        DIS,
        H,
        "Resting heart rate",
        "RestingHeartRate",
        "40443-4",
        VS,
    ),
    _q(
        "walking_heart_rate",
        "/min",
        DIS,
        H,
        "Walking heart rate average",
        "WalkingHeartRateAverage",
        None,
        VS,
    ),
    _q(
        "hrv_sdnn",
        "ms",
        DIS,
        H,
        "Heart rate variability (SDNN)",
        "HeartRateVariabilitySDNN",
        "80404-7",
        VS,
    ),
    _q(
        "heart_rate_recovery",
        "/min",
        DIS,
        H,
        "Heart rate recovery (1 minute)",
        "HeartRateRecoveryOneMinute",
        None,
        VS,
    ),
    _q(
        "atrial_fibrillation_burden",
        "%",
        DIS,
        H,
        "AFib history",
        "AtrialFibrillationBurden",
        None,
        None,
    ),
    _q(
        "peripheral_perfusion_index",
        "%",
        DIS,
        H,
        "Peripheral perfusion index",
        "PeripheralPerfusionIndex",
        None,
        None,
    ),
    # respiratory
    _q("respiratory_rate", "/min", DIS, R, "Respiratory rate", "RespiratoryRate", "9279-1", VS),
    _q("oxygen_saturation", "%", DIS, R, "Oxygen saturation", "OxygenSaturation", "59408-5", VS),
    _q(
        "forced_vital_capacity",
        "L",
        DIS,
        R,
        "Forced vital capacity",
        "ForcedVitalCapacity",
        "19870-5",
        None,
    ),
    _q(
        "forced_expiratory_volume_1",
        "L",
        DIS,
        R,
        "Forced expiratory volume, 1 s",
        "ForcedExpiratoryVolume1",
        "20150-9",
        None,
    ),
    _q(
        "peak_expiratory_flow",
        "L/min",
        DIS,
        R,
        "Peak expiratory flow",
        "PeakExpiratoryFlowRate",
        "19935-6",
        None,
    ),
    _q("inhaler_usage", "{uses}", CUM, R, "Inhaler usage", "InhalerUsage", None, None),
    # body
    _q("body_temperature", "Cel", DIS, B, "Body temperature", "BodyTemperature", "8310-5", VS),
    _q(
        "basal_body_temperature",
        "Cel",
        DIS,
        B,
        "Basal body temperature",
        "BasalBodyTemperature",
        None,
        None,
    ),
    _q(
        "wrist_temperature",
        "Cel",
        DIS,
        B,
        "Sleeping wrist temperature",
        "AppleSleepingWristTemperature",
        None,
        None,
    ),
    _q("body_mass", "kg", DIS, B, "Body weight", "BodyMass", "29463-7", VS),
    _q("body_mass_index", "kg/m2", DIS, B, "Body mass index", "BodyMassIndex", "39156-5", VS),
    _q("body_height", "cm", DIS, B, "Height", "Height", "8302-2", VS),
    _q(
        "body_fat_percentage",
        "%",
        DIS,
        B,
        "Body fat percentage",
        "BodyFatPercentage",
        "41982-0",
        None,
    ),
    _q("lean_body_mass", "kg", DIS, B, "Lean body mass", "LeanBodyMass", "91557-9", None),
    _q("waist_circumference", "cm", DIS, B, "Waist circumference", "WaistCircumference", "8280-0"),
    _q(
        "electrodermal_activity",
        "uS",
        DIS,
        B,
        "Electrodermal activity",
        "ElectrodermalActivity",
        None,
        None,
    ),
    # blood pressure and glucose
    _q(
        "blood_pressure_systolic",
        "mm[Hg]",
        DIS,
        BP,
        "Systolic blood pressure",
        "BloodPressureSystolic",
        "8480-6",
        VS,
    ),
    _q(
        "blood_pressure_diastolic",
        "mm[Hg]",
        DIS,
        BP,
        "Diastolic blood pressure",
        "BloodPressureDiastolic",
        "8462-4",
        VS,
    ),
    _q("blood_glucose", "mmol/L", DIS, BG, "Blood glucose", "BloodGlucose", "15074-8", None),
    _q("insulin_delivery", "[IU]", CUM, BG, "Insulin delivery", "InsulinDelivery", None, None),
    # other measurements
    _q(
        "blood_alcohol_content",
        "%",
        DIS,
        OT,
        "Blood alcohol content",
        "BloodAlcoholContent",
        None,
        None,
    ),
    _q(
        "alcoholic_beverages",
        "{drinks}",
        CUM,
        N,
        "Alcoholic beverages",
        "NumberOfAlcoholicBeverages",
        None,
        None,
    ),
    _q("falls", "{falls}", CUM, OT, "Number of times fallen", "NumberOfTimesFallen", None, None),
    _q("uv_exposure", "{index}", DIS, OT, "UV index exposure", "UVExposure", None, None),
    _q(
        "environmental_audio_exposure",
        "dB[SPL]",
        DIS,
        OT,
        "Environmental sound levels",
        "EnvironmentalAudioExposure",
        None,
        None,
    ),
    _q(
        "headphone_audio_exposure",
        "dB[SPL]",
        DIS,
        OT,
        "Headphone audio levels",
        "HeadphoneAudioExposure",
        None,
        None,
    ),
    _q(
        "environmental_sound_reduction",
        "dB[SPL]",
        DIS,
        OT,
        "Environmental sound reduction",
        "EnvironmentalSoundReduction",
        None,
        None,
    ),
    # nutrition
    _q("dietary_energy", "kcal", CUM, N, "Dietary energy", "DietaryEnergyConsumed", "9052-2", None),
    _q("dietary_water", "mL", CUM, N, "Water", "DietaryWater", None, None),
    _q("dietary_caffeine", "mg", CUM, N, "Caffeine", "DietaryCaffeine", None, None),
    _q("dietary_protein", "g", CUM, N, "Protein", "DietaryProtein", None, None),
    _q("dietary_carbohydrates", "g", CUM, N, "Carbohydrates", "DietaryCarbohydrates", None, None),
    _q("dietary_fiber", "g", CUM, N, "Fiber", "DietaryFiber", None, None),
    _q("dietary_sugar", "g", CUM, N, "Sugar", "DietarySugar", None, None),
    _q("dietary_fat_total", "g", CUM, N, "Total fat", "DietaryFatTotal", None, None),
    _q("dietary_fat_saturated", "g", CUM, N, "Saturated fat", "DietaryFatSaturated", None, None),
    _q(
        "dietary_fat_monounsaturated",
        "g",
        CUM,
        N,
        "Monounsaturated fat",
        "DietaryFatMonounsaturated",
        None,
        None,
    ),
    _q(
        "dietary_fat_polyunsaturated",
        "g",
        CUM,
        N,
        "Polyunsaturated fat",
        "DietaryFatPolyunsaturated",
        None,
        None,
    ),
    _q("dietary_cholesterol", "mg", CUM, N, "Cholesterol", "DietaryCholesterol", None, None),
    _q("dietary_sodium", "mg", CUM, N, "Sodium", "DietarySodium", None, None),
    _q("dietary_potassium", "mg", CUM, N, "Potassium", "DietaryPotassium", None, None),
    _q("dietary_calcium", "mg", CUM, N, "Calcium", "DietaryCalcium", None, None),
    _q("dietary_iron", "mg", CUM, N, "Iron", "DietaryIron", None, None),
    _q("dietary_magnesium", "mg", CUM, N, "Magnesium", "DietaryMagnesium", None, None),
    _q("dietary_phosphorus", "mg", CUM, N, "Phosphorus", "DietaryPhosphorus", None, None),
    _q("dietary_zinc", "mg", CUM, N, "Zinc", "DietaryZinc", None, None),
    _q("dietary_copper", "mg", CUM, N, "Copper", "DietaryCopper", None, None),
    _q("dietary_manganese", "mg", CUM, N, "Manganese", "DietaryManganese", None, None),
    _q("dietary_chloride", "mg", CUM, N, "Chloride", "DietaryChloride", None, None),
    _q("dietary_selenium", "ug", CUM, N, "Selenium", "DietarySelenium", None, None),
    _q("dietary_chromium", "ug", CUM, N, "Chromium", "DietaryChromium", None, None),
    _q("dietary_molybdenum", "ug", CUM, N, "Molybdenum", "DietaryMolybdenum", None, None),
    _q("dietary_iodine", "ug", CUM, N, "Iodine", "DietaryIodine", None, None),
    _q("dietary_vitamin_a", "ug", CUM, N, "Vitamin A", "DietaryVitaminA", None, None),
    _q("dietary_vitamin_b6", "mg", CUM, N, "Vitamin B6", "DietaryVitaminB6", None, None),
    _q("dietary_vitamin_b12", "ug", CUM, N, "Vitamin B12", "DietaryVitaminB12", None, None),
    _q("dietary_vitamin_c", "mg", CUM, N, "Vitamin C", "DietaryVitaminC", None, None),
    _q("dietary_vitamin_d", "ug", CUM, N, "Vitamin D", "DietaryVitaminD", None, None),
    _q("dietary_vitamin_e", "mg", CUM, N, "Vitamin E", "DietaryVitaminE", None, None),
    _q("dietary_vitamin_k", "ug", CUM, N, "Vitamin K", "DietaryVitaminK", None, None),
    _q("dietary_folate", "ug", CUM, N, "Folate", "DietaryFolate", None, None),
    _q("dietary_biotin", "ug", CUM, N, "Biotin", "DietaryBiotin", None, None),
    _q("dietary_niacin", "mg", CUM, N, "Niacin", "DietaryNiacin", None, None),
    _q(
        "dietary_pantothenic_acid",
        "mg",
        CUM,
        N,
        "Pantothenic acid",
        "DietaryPantothenicAcid",
        None,
        None,
    ),
    _q("dietary_riboflavin", "mg", CUM, N, "Riboflavin", "DietaryRiboflavin", None, None),
    _q("dietary_thiamin", "mg", CUM, N, "Thiamin", "DietaryThiamin", None, None),
    # category types: a coded value with a duration
    _c("sleep_analysis", S, "Sleep", "SleepAnalysis", "93832-4"),
    _c("sleep_apnea_event", S, "Breathing disturbance event", "SleepApneaEvent"),
    _c("stand_hour", A, "Stand hour", "AppleStandHour"),
    _c("mindful_session", M, "Mindful session", "MindfulSession"),
    _c("high_heart_rate_event", H, "High heart rate notification", "HighHeartRateEvent"),
    _c("low_heart_rate_event", H, "Low heart rate notification", "LowHeartRateEvent"),
    _c(
        "irregular_heart_rhythm_event",
        H,
        "Irregular rhythm notification",
        "IrregularHeartRhythmEvent",
    ),
    _c("low_cardio_fitness_event", H, "Low cardio fitness notification", "LowCardioFitnessEvent"),
    _c(
        "walking_steadiness_event",
        A,
        "Walking steadiness notification",
        "AppleWalkingSteadinessEvent",
    ),
    _c(
        "headphone_audio_exposure_event",
        OT,
        "Headphone audio notification",
        "HeadphoneAudioExposureEvent",
    ),
    _c(
        "environmental_audio_exposure_event",
        OT,
        "Noise notification",
        "EnvironmentalAudioExposureEvent",
    ),
    _c("audio_exposure_event", OT, "Loud environment notification", "AudioExposureEvent"),
    _c("toothbrushing", OT, "Toothbrushing", "ToothbrushingEvent"),
    _c("handwashing", OT, "Handwashing", "HandwashingEvent"),
    # reproductive health (kept under "other" until consent has a category of its own)
    _c("menstrual_flow", OT, "Menstrual flow", "MenstrualFlow"),
    _c("intermenstrual_bleeding", OT, "Spotting", "IntermenstrualBleeding"),
    _c("ovulation_test_result", OT, "Ovulation test result", "OvulationTestResult"),
    _c("cervical_mucus_quality", OT, "Cervical mucus quality", "CervicalMucusQuality"),
    _c("sexual_activity", OT, "Sexual activity", "SexualActivity"),
    _c("pregnancy_test_result", OT, "Pregnancy test result", "PregnancyTestResult"),
    _c("progesterone_test_result", OT, "Progesterone test result", "ProgesteroneTestResult"),
    _c("pregnancy", OT, "Pregnancy", "Pregnancy"),
    _c("lactation", OT, "Lactation", "Lactation"),
    _c("contraceptive", OT, "Contraceptive", "Contraceptive"),
    _c("infrequent_menstrual_cycles", OT, "Infrequent periods", "InfrequentMenstrualCycles"),
    _c("irregular_menstrual_cycles", OT, "Irregular cycles", "IrregularMenstrualCycles"),
    _c(
        "persistent_intermenstrual_bleeding",
        OT,
        "Persistent spotting",
        "PersistentIntermenstrualBleeding",
    ),
    _c("prolonged_menstrual_periods", OT, "Prolonged periods", "ProlongedMenstrualPeriods"),
    _c("bleeding_during_pregnancy", OT, "Bleeding during pregnancy", "BleedingDuringPregnancy"),
    _c("bleeding_after_pregnancy", OT, "Bleeding after pregnancy", "BleedingAfterPregnancy"),
    # symptoms
    *(
        _c("symptom_" + code, OT, display, apple)
        for code, display, apple in (
            ("abdominal_cramps", "Abdominal cramps", "AbdominalCramps"),
            ("acne", "Acne", "Acne"),
            ("appetite_changes", "Appetite changes", "AppetiteChanges"),
            ("bladder_incontinence", "Bladder incontinence", "BladderIncontinence"),
            ("bloating", "Bloating", "Bloating"),
            ("breast_pain", "Breast pain", "BreastPain"),
            ("chest_pain", "Chest tightness or pain", "ChestTightnessOrPain"),
            ("chills", "Chills", "Chills"),
            ("constipation", "Constipation", "Constipation"),
            ("coughing", "Coughing", "Coughing"),
            ("diarrhea", "Diarrhea", "Diarrhea"),
            ("dizziness", "Dizziness", "Dizziness"),
            ("dry_skin", "Dry skin", "DrySkin"),
            ("fainting", "Fainting", "Fainting"),
            ("fatigue", "Fatigue", "Fatigue"),
            ("fever", "Fever", "Fever"),
            ("body_ache", "Body and muscle ache", "GeneralizedBodyAche"),
            ("hair_loss", "Hair loss", "HairLoss"),
            ("headache", "Headache", "Headache"),
            ("heartburn", "Heartburn", "Heartburn"),
            ("hot_flashes", "Hot flashes", "HotFlashes"),
            ("loss_of_smell", "Loss of smell", "LossOfSmell"),
            ("loss_of_taste", "Loss of taste", "LossOfTaste"),
            ("lower_back_pain", "Lower back pain", "LowerBackPain"),
            ("memory_lapse", "Memory lapse", "MemoryLapse"),
            ("mood_changes", "Mood changes", "MoodChanges"),
            ("nausea", "Nausea", "Nausea"),
            ("night_sweats", "Night sweats", "NightSweats"),
            ("pelvic_pain", "Pelvic pain", "PelvicPain"),
            (
                "rapid_heartbeat",
                "Rapid, pounding or fluttering heartbeat",
                "RapidPoundingOrFlutteringHeartbeat",
            ),
            ("runny_nose", "Runny nose", "RunnyNose"),
            ("shortness_of_breath", "Shortness of breath", "ShortnessOfBreath"),
            ("sinus_congestion", "Sinus congestion", "SinusCongestion"),
            ("skipped_heartbeat", "Skipped heartbeat", "SkippedHeartbeat"),
            ("sleep_changes", "Sleep changes", "SleepChanges"),
            ("sore_throat", "Sore throat", "SoreThroat"),
            ("vaginal_dryness", "Vaginal dryness", "VaginalDryness"),
            ("vomiting", "Vomiting", "Vomiting"),
            ("wheezing", "Wheezing", "Wheezing"),
        )
    ),
    # types HealthKit has no identifier for (Health Connect, Google Fit, Samsung Health)
    SampleType("total_energy", Q, "kcal", CUM, A, "Total energy burned", None, ACT),
    SampleType("hrv_rmssd", Q, "ms", DIS, H, "Heart rate variability (RMSSD)", None, VS),
    SampleType("basal_metabolic_rate", Q, "kcal/d", DIS, B, "Basal metabolic rate"),
    SampleType("elevation_gained", Q, "m", CUM, A, "Elevation gained", None, ACT),
    SampleType("bone_mass", Q, "kg", DIS, B, "Bone mass"),
    SampleType("body_water_mass", Q, "kg", DIS, B, "Body water mass"),
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


# Resources that say who a person is: kept from healthcare, shown only under `identity`.
IDENTITY_RESOURCES: frozenset[str] = frozenset({"Patient", "Person", "RelatedPerson"})


def resource_category(resource_type: str) -> Category:
    """The consent category of a (non-Observation) FHIR resource type."""
    if resource_type in IDENTITY_RESOURCES:
        return Category.IDENTITY
    return RESOURCE_CATEGORIES.get(resource_type, Category.OTHER_RECORDS)
