"""Read a Garmin/ANT FIT file with fitdecode into plain per-file structures.

A FIT stream may hold several FIT files one after the other (a "chained" file); each becomes
one `FitFile`. Everything needed later is kept in compact form, because the local time offset
of an activity is only known from its `activity` message, which devices write at the very end:
the items can only be made once the whole file is read. FIT files are small (a day of 1 Hz
records is a few MB), so this holds no more than one file's samples at a time.

Errors in the byte stream (a bad CRC, a cut-short file, an undefined message) stop the read with
a `MalformedFile` that names the byte offset, so nothing of a broken file is stored.
"""

from __future__ import annotations

import re
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

import fitdecode

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling, ProgressFn

FIT_EPOCH_S = 631065600  # 1989-12-31T00:00:00Z, second 0 of FIT time
RELATIVE_TIME_LIMIT = 0x10000000  # below this a FIT time counts seconds since the device started
SEMICIRCLE_DEG = 180.0 / 2**31
MAX_FIT_BYTES = 128 * 1024 * 1024  # a day of 1 Hz records is a few MB; we hold one file's values


@dataclass(slots=True)
class RecordRow:
    """One `record` message: a point of an activity's time series."""

    t: int  # unix seconds
    heart_rate: float | None = None
    speed: float | None = None  # m/s
    cadence: float | None = None  # /min
    power: float | None = None  # W
    lat: float | None = None  # degrees
    lon: float | None = None
    altitude: float | None = None  # m
    distance: float | None = None  # m since the start
    temperature: float | None = None  # Cel


@dataclass(slots=True)
class MonitoringRow:
    """One `monitoring` message, its timestamp completed from the last full one."""

    t: int
    activity_type: str | None
    steps: int | None = None  # cumulative for the day, per activity type
    distance: float | None = None  # m, cumulative likewise
    active_calories: float | None = None  # kcal, cumulative likewise
    heart_rate: float | None = None
    moderate_min: float | None = None
    vigorous_min: float | None = None


@dataclass(slots=True)
class FitFile:
    """What one FIT file (one link of a chain) holds, in plain values."""

    index: int  # 0 for the first file of a chain
    start_byte: int
    file_type: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    serial: int | None = None
    software: str | None = None
    created_s: int | None = None
    local_offsets_s: list[int] = field(default_factory=list)  # local_timestamp - timestamp
    sport: str | None = None
    records: list[RecordRow] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    laps: list[dict[str, Any]] = field(default_factory=list)
    lengths: int = 0
    monitoring: list[MonitoringRow] = field(default_factory=list)
    weights: list[dict[str, Any]] = field(default_factory=list)
    user_profiles: int = 0
    rr_intervals_s: list[float] = field(default_factory=list)
    stress: list[tuple[int, int]] = field(default_factory=list)  # (unix s, 0..100)
    hr_beats: list[tuple[float, float]] = field(default_factory=list)  # (unix s, bpm) of `hr`
    developer_fields: dict[str, str] = field(default_factory=dict)  # name -> units
    relative_times: int = 0  # messages that cannot be placed in time: device clock not set
    unplaced_records: list[RecordRow] = field(default_factory=list)  # t: s since device start
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (location, message)


def sniff(head: bytes) -> bool:
    """True if `head` starts with a FIT file header (".FIT" at byte 8)."""
    return len(head) >= 12 and head[0] in (12, 14) and head[8:12] == b".FIT"


def decode(
    fp: BinaryIO,
    *,
    filename: str,
    on_progress: ProgressFn | None = None,
    errors: ErrorHandling = ErrorHandling.WARN,
) -> Iterator[FitFile]:
    """Yield each FIT file of the stream once it has been read whole and its CRC checked.

    Raises:
        MalformedFile: not a FIT file, a bad CRC, a cut-short file or an undefined message,
            with the byte offset where it broke.
    """
    handling = {
        ErrorHandling.RAISE: fitdecode.ErrorHandling.RAISE,
        ErrorHandling.WARN: fitdecode.ErrorHandling.WARN,
        ErrorHandling.IGNORE: fitdecode.ErrorHandling.IGNORE,
    }[errors]
    reader = fitdecode.FitReader(
        fp, check_crc=fitdecode.CrcCheck.RAISE, error_handling=handling, keep_raw_chunks=False
    )
    current: FitFile | None = None
    state = _State()
    count = frames = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for frame in reader:
                if isinstance(frame, fitdecode.FitHeader):
                    if current is not None:
                        yield current
                    current = FitFile(index=count, start_byte=_tell(fp))
                    state = _State()
                    count += 1
                elif isinstance(frame, fitdecode.FitDataMessage) and current is not None:
                    _take(current, state, frame)
                    for warning in caught:
                        current.warnings.append((f"byte {_tell(fp)}", str(warning.message)))
                    caught.clear()
                if on_progress is not None and isinstance(frame, fitdecode.FitCRC):
                    on_progress(_tell(fp))
                frames += 1
                if frames % 1024 == 0 and _tell(fp) > MAX_FIT_BYTES:
                    raise MalformedFile(
                        f"the file is larger than {MAX_FIT_BYTES // (1024 * 1024)} MB, more than "
                        "any device writes",
                        source=filename,
                        location=f"byte {_tell(fp)}",
                        hint="Import the activity files one by one.",
                    )
    except fitdecode.FitError as exc:
        raise _malformed(exc, fp, filename) from exc
    except (
        ValueError,
        OverflowError,
        TypeError,
        IndexError,
        KeyError,
        struct.error,
        AssertionError,  # fitdecode checks record sizes against the header with `assert`
    ) as exc:
        # fitdecode's own failures on damaged bytes that it does not wrap in FitError
        raise MalformedFile(
            f"a value could not be decoded ({exc})",
            source=filename,
            location=f"byte {_tell(fp)}",
            hint="The FIT file is damaged; copy it from the device again.",
        ) from exc
    if current is None:
        raise MalformedFile(
            "the file is empty; a FIT file starts with a 12 or 14 byte header",
            source=filename,
            location="byte 0",
            hint="Copy the .fit file from the device (GARMIN/Activity) again.",
        )
    yield current


def _tell(fp: BinaryIO) -> int:
    try:
        return fp.tell()
    except (OSError, ValueError):
        return 0


_OFFSET = re.compile(r"(?:@|offset:)\s*(\d+)")


def _malformed(exc: fitdecode.FitError, fp: BinaryIO, filename: str) -> MalformedFile:
    offset = getattr(exc, "offset", None)
    if offset is None:
        found = _OFFSET.search(str(exc))
        offset = int(found.group(1)) if found else _tell(fp)
    if isinstance(exc, fitdecode.FitCRCError):
        what = "the checksum (CRC) does not match: the file is damaged"
    elif isinstance(exc, fitdecode.FitEOFError):
        what = "the file is cut short"
    elif isinstance(exc, fitdecode.FitHeaderError):
        what = "this is not a FIT file header" if offset else "this is not a FIT file"
    else:
        what = "the FIT data cannot be read"
    return MalformedFile(
        f"{what} ({exc})",
        source=filename,
        location=f"byte {offset}",
        hint="Nothing from this file was stored. Copy the .fit file from the device again.",
    )


@dataclass(slots=True)
class _State:
    last_full_s: int | None = None  # FIT seconds of the last full timestamp


def _unix(value: Any) -> int | None:
    """Unix seconds of a FIT time, or None if absent or relative to the device start."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _take(fit: FitFile, state: _State, message: fitdecode.FitDataMessage) -> None:
    name = message.name
    values: dict[str, Any] = {}
    for f in message.fields:
        if f.value is not None:
            values[f.name] = f.value
            if f.field_def is not None and f.field_def.is_dev:
                fit.developer_fields.setdefault(str(f.name), str(f.units or ""))
    stamp = values.get("timestamp")
    if isinstance(stamp, datetime):
        state.last_full_s = int(stamp.timestamp()) - FIT_EPOCH_S
    elif isinstance(stamp, int) and stamp < RELATIVE_TIME_LIMIT:
        fit.relative_times += 1
        if name == "record":  # kept for inspection; without a date they cannot be stored
            _take_record(fit, state, values, relative=True)
        return
    if name == "hr":  # several event_timestamp fields in one message: not a dict's work
        _take_hr(fit, message)
        return
    taker = _TAKERS.get(name)
    if taker is not None:
        taker(fit, state, values)


def _take_hr(fit: FitFile, message: fitdecode.FitDataMessage) -> None:
    """Heart rate a strap stored and sent after a swim: bpm with their event times."""
    times = [f.value for f in message.fields if f.name == "event_timestamp" and f.value is not None]
    rates = next((f.value for f in message.fields if f.name == "filtered_bpm"), None)
    if not isinstance(rates, tuple):
        rates = (rates,)
    for moment, bpm in zip(times, rates, strict=False):
        if isinstance(moment, datetime) and isinstance(bpm, int) and 0 < bpm < 255:
            fit.hr_beats.append((moment.timestamp(), float(bpm)))


def _take_file_id(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    if fit.file_type is not None:
        return  # a second file_id in one file (seen in real files): the first one names it
    fit.file_type = str(values.get("type")) if values.get("type") is not None else None
    fit.manufacturer = _text(values.get("manufacturer"))
    fit.product = _text(values.get("garmin_product", values.get("product")))
    serial = values.get("serial_number")
    fit.serial = serial if isinstance(serial, int) else None
    fit.created_s = _unix(values.get("time_created"))


def _take_device_info(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    if values.get("device_index") in ("creator", 0) and fit.software is None:
        software = values.get("software_version")
        fit.software = None if software is None else f"{software:g}"
        if fit.serial is None and isinstance(values.get("serial_number"), int):
            fit.serial = values["serial_number"]


def _take_offset(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    utc, local = _unix(values.get("timestamp")), values.get("local_timestamp")
    if utc is not None and isinstance(local, datetime):
        fit.local_offsets_s.append(int(local.timestamp()) - utc)


def _take_sport(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    fit.sport = fit.sport or _text(values.get("sport"))


def _take_record(
    fit: FitFile, state: _State, values: dict[str, Any], *, relative: bool = False
) -> None:
    stamp = values.get("timestamp")
    t = stamp if relative else _unix(stamp)
    if not isinstance(t, int):
        return
    lat, lon = values.get("position_lat"), values.get("position_long")
    position = None
    if isinstance(lat, int) and isinstance(lon, int) and (lat, lon) != (0, 0):
        position = (lat * SEMICIRCLE_DEG, lon * SEMICIRCLE_DEG)
    power = values.get("power")
    if power is None:  # a power meter that writes through a developer field (Stryd)
        power = values.get("Power")
    (fit.unplaced_records if relative else fit.records).append(
        RecordRow(
            t=t,
            heart_rate=_positive(values.get("heart_rate")),
            speed=_num(values.get("enhanced_speed", values.get("speed"))),
            cadence=_num(values.get("cadence")),
            power=_num(power),
            lat=None if position is None else position[0],
            lon=None if position is None else position[1],
            altitude=_num(values.get("enhanced_altitude", values.get("altitude"))),
            distance=_num(values.get("distance")),
            temperature=_num(values.get("temperature")),
        )
    )


def _take_session(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    fit.sessions.append(values)


def _take_lap(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    fit.laps.append(values)


def _take_length(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    fit.lengths += 1


def _take_monitoring_info(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    _take_offset(fit, state, values)


def _take_monitoring(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    t = _unix(values.get("timestamp"))
    ts16 = values.get("timestamp_16")
    if t is None and isinstance(ts16, int) and state.last_full_s is not None:
        # A 16-bit timestamp counts on from the last full one and wraps every 18.2 hours.
        full = state.last_full_s + ((ts16 - state.last_full_s) & 0xFFFF)
        state.last_full_s = full
        t = full + FIT_EPOCH_S
    if t is None:
        return
    activity = _text(values.get("activity_type"))
    raw_cycles = _raw(values, "cycles", "steps")
    steps = None
    if activity in ("walking", "running") and raw_cycles is not None:
        steps = int(raw_cycles)  # the "steps" sub-field of cycles: one count per step
    fit.monitoring.append(
        MonitoringRow(
            t=t,
            activity_type=activity,
            steps=steps,
            distance=_num(values.get("distance")),
            active_calories=_num(values.get("active_calories")),
            heart_rate=_positive(values.get("heart_rate")),
            moderate_min=_num(values.get("moderate_activity_minutes")),
            vigorous_min=_num(values.get("vigorous_activity_minutes")),
        )
    )


def _raw(values: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = values.get(name)
        if name == "cycles" and isinstance(value, float):
            return value * 2  # fitdecode applied the cycles scale (2); steps have scale 1
        if isinstance(value, int | float):
            return float(value)
    return None


def _take_weight(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    if _unix(values.get("timestamp")) is not None:
        fit.weights.append(values)


def _take_user_profile(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    fit.user_profiles += 1


def _take_hrv(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    times = values.get("time")
    if not isinstance(times, tuple | list):
        times = (times,)
    fit.rr_intervals_s.extend(t for t in times if isinstance(t, float) and 0.25 <= t <= 2.5)


def _take_stress(fit: FitFile, state: _State, values: dict[str, Any]) -> None:
    t = _unix(values.get("stress_level_time"))
    level = values.get("stress_level_value")
    if t is not None and isinstance(level, int) and 0 <= level <= 100:  # -1/-2: off wrist, moving
        fit.stress.append((t, level))


_TAKERS = {
    "file_id": _take_file_id,
    "device_info": _take_device_info,
    "activity": _take_offset,
    "sport": _take_sport,
    "record": _take_record,
    "session": _take_session,
    "lap": _take_lap,
    "length": _take_length,
    "monitoring_info": _take_monitoring_info,
    "monitoring": _take_monitoring,
    "weight_scale": _take_weight,
    "user_profile": _take_user_profile,
    "hrv": _take_hrv,
    "stress_level": _take_stress,
}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _positive(value: Any) -> float | None:
    number = _num(value)
    return number if number is not None and number > 0 else None
