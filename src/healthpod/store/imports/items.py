"""What an import hands the store: normalised items, as the parsers in `ingest/` yield them.

Every item is already in our terms (our type code, UCUM unit, UTC epoch milliseconds plus the
local offset). The store's import writers (`store.imports.writers`) take them; the parsers
never see the database. This module imports nothing heavy: the reader process (see
`ingest.reader_process`) builds these and sends them through a pipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str  # exact characters as the producer wrote them
    kind: str = "app"  # app|device|healthcare
    bundle_id: str | None = None


@dataclass(frozen=True, slots=True)
class Quantity:
    type_code: str  # our code, or the producer identifier for an unknown type
    start_ms: int
    end_ms: int
    start_offset_min: int
    end_offset_min: int
    value: float
    unit: str  # canonical UCUM for known types; as written for unknown ones
    source: SourceRef
    source_version: str | None = None
    device: str | None = None
    created_ms: int | None = None
    meta: dict[str, Any] | None = None
    known: bool = True


@dataclass(frozen=True, slots=True)
class CategoryValue:
    type_code: str
    start_ms: int
    end_ms: int
    start_offset_min: int
    end_offset_min: int
    value_code: str
    source: SourceRef
    source_version: str | None = None
    device: str | None = None
    created_ms: int | None = None
    meta: dict[str, Any] | None = None
    known: bool = True


Sample = Quantity | CategoryValue


@dataclass(frozen=True, slots=True)
class SampleKey:
    """The type of samples in a `SampleBatch`: code, kind, unit and whether we know the type."""

    code: str
    kind: str  # quantity|category
    unit: str
    known: bool = True


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Many samples as columns, one entry per sample in each list (the fast path for bulk).

    Strings that repeat (types, sources, versions, devices) are listed once and referenced by
    index, and numbers may be numpy arrays, so a batch is cheap to build, to send between
    processes and to write.
    """

    keys: list[SampleKey]
    key_index: list[int]
    start_ms: list[int] | NDArray[Any]
    end_ms: list[int] | NDArray[Any]
    start_offset_min: list[int] | NDArray[Any]
    end_offset_min: list[int] | NDArray[Any]
    values: list[Any] | NDArray[Any]  # float for quantity keys, the value code for category keys
    sources: list[str]
    source_index: list[int]
    versions: list[str | None]
    version_index: list[int]
    devices: list[str | None]
    device_index: list[int]
    created_ms: list[int | None] | NDArray[Any]
    meta: list[str | None]  # as JSON text; rows with the same metadata share one text

    def __len__(self) -> int:
        return len(self.key_index)


@dataclass(frozen=True, slots=True)
class Correlation:
    type_code: str  # blood_pressure, food, or the producer identifier
    start_ms: int
    end_ms: int
    start_offset_min: int
    end_offset_min: int
    source: SourceRef
    samples: tuple[Sample, ...]
    source_version: str | None = None
    device: str | None = None
    created_ms: int | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Workout:
    activity_type: str
    start_ms: int
    end_ms: int
    start_offset_min: int
    end_offset_min: int
    source: SourceRef
    duration_s: float | None = None
    distance_km: float | None = None
    energy_kcal: float | None = None
    source_version: str | None = None
    device: str | None = None
    created_ms: int | None = None
    meta: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    statistics: list[dict[str, Any]] | None = None
    route: dict[str, Any] | None = None
    original: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ActivitySummary:
    date_on: date
    active_energy_kcal: float | None = None
    active_energy_goal_kcal: float | None = None
    move_time_min: float | None = None
    move_time_goal_min: float | None = None
    exercise_min: float | None = None
    exercise_goal_min: float | None = None
    stand_hours: float | None = None
    stand_hours_goal: float | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PersonInfo:
    """Characteristics of the person (Apple's <Me>): kept whole, a few also as columns."""

    birth_date: date | None = None
    sex: str | None = None
    blood_type: str | None = None
    characteristics: dict[str, str] = field(default_factory=dict)
    time_zone: str | None = None  # an IANA name the person set in the pod exported from
    language: str | None = None  # the language (en|sv) the person chose in that pod's web app


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """Facts about the file itself: when it was exported, which other files it refers to."""

    export_ms: int | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Warning_:
    location: str  # "line 48213", "entry 7", "byte 1024"
    message: str


@dataclass(frozen=True, slots=True)
class ClinicalResource:
    """A FHIR resource from healthcare, kept whole (see store/resources.py).

    References inside the file are already rewritten to `Type/id`, and `id` is set.
    """

    resource: dict[str, Any]
    location: str  # "entry 7", "line 12": where in the file it stood
    source_file: str | None = None  # the file, or the member inside an archive
    organisation: str | None = None  # who recorded it, when the file says
    provenance: str = "professional"  # professional|person|device|actor


@dataclass(frozen=True, slots=True)
class RouteFile:
    """A route file an export's workout names by path (Apple's `workout-routes/*.gpx`), read:
    its points become that workout's route."""

    path: str  # as the workout's route names it: "/workout-routes/route_2019-06-11_3.00pm.gpx"
    points: list[dict[str, Any]]  # {"t_ms", "lat", "lon", "alt_m"}, as the workouts table keeps


@dataclass(frozen=True, slots=True)
class SampleTypeInfo:
    """A type as another pod stored it (a healthpod export): created first, as written."""

    code: str
    kind: str  # quantity|category
    unit: str
    known: bool = True


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A source with its place in the person's order (a healthpod export carries these)."""

    source: SourceRef
    priority: int


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device, stored even when no sample names it any more."""

    description: str


@dataclass(frozen=True, slots=True)
class TypePriority:
    """A per-type source order: `source_name` comes at `priority` for `type_code`."""

    type_code: str
    source_name: str
    priority: int


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """A record of another pod kept read-only (see `schema.moved_history`): its import
    history, consents, the actors they named, its access log."""

    kind: str  # imports|consents|consent_history|actors|access_log
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowKey:
    """A stored row named by its natural key, as another pod's ids mean nothing here: a
    sample (kind q or c) by type code, times, source and value; a blood pressure (bp) by its
    correlation type, times and source; a workout (w) by activity type, times and source."""

    kind: str  # q|c|bp|w
    code: str
    start_ms: int
    end_ms: int
    source: str
    value: float | str | None = None  # q: the value; c: the value code


# A record of healthcare is named by `ResourceType/id` (the same in every pod); a whole type
# by its code. Anything else by its natural key.
Target = str | RowKey


@dataclass(frozen=True, slots=True)
class CarriedMark:
    """What the person marked wrong in the pod exported from, with their reason."""

    target: Target
    reason: str | None
    created_ms: int


@dataclass(frozen=True, slots=True)
class CarriedRestriction:
    """What the person marked "only me" in the pod exported from: a type or a record."""

    level: str  # type|record
    target: Target
    created_ms: int


@dataclass(frozen=True, slots=True)
class CarriedTombstone:
    """What the person deleted in the pod exported from (`schema.tombstones`, by natural key
    already), so that importing that data here does not bring it back either."""

    kind: str
    code: str
    start_ms: int | None
    end_ms: int | None
    source: str | None
    value: float | None
    text: str | None
    target: str
    deleted_ms: int


Item = (
    Quantity
    | CategoryValue
    | SampleBatch
    | Correlation
    | Workout
    | ActivitySummary
    | PersonInfo
    | ExportInfo
    | Warning_
    | ClinicalResource
    | RouteFile
    | SampleTypeInfo
    | SourceInfo
    | DeviceInfo
    | TypePriority
    | HistoryRecord
    | CarriedMark
    | CarriedRestriction
    | CarriedTombstone
)
