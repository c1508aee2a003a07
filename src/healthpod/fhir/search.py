"""Parse and check FHIR search parameters before anything touches data: the one parser.

Dates become `store.search_values.DateBound`s and `system|code` values `Token`s, which the
store applies alike to samples, daily summaries and records from healthcare.

Everything a client can put in a query string is validated here and turned into a frozen
query object; a bad value raises `InvalidRequest` naming the parameter. Unknown parameters
are an error under `Prefer: handling=strict` and ignored (and left out of the self link)
under `handling=lenient`, which is the default.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from healthpod.errors import InvalidRequest
from healthpod.store.search_values import PREFIXES, DateBound, Token

DEFAULT_COUNT = 50
MAX_COUNT = 1000
# Parameters every search accepts. `_totalMethod` is sent by fhirpy's `.count()`.
COMMON = frozenset({"_count", "_sort", "_summary", "_total", "_totalMethod", "_format", "_cursor"})
OBSERVATION_PARAMS = frozenset(
    {
        "patient",
        "subject",
        "subject:Patient",
        "code",
        "category",
        "date",
        "_lastUpdated",
        "_id",
        "_include",
    }
)
# The `_include` values we honour: the Observation's subject, who is always the person.
OBSERVATION_INCLUDES = ("Observation:patient", "Observation:subject", "Observation:subject:Patient")
RESOURCE_PARAMS = frozenset(
    {"patient", "subject", "subject:Patient", "_lastUpdated", "_id", "code", "category", "date"}
)

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_CURSOR = re.compile(r"^(-?\d{1,16})\.([a-z]{1,3})\.(\d{1,18})$")  # fits 64-bit columns


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: after the row with this sort key."""

    at_ms: int
    kind: str
    row_id: int

    def text(self) -> str:
        return f"{self.at_ms}.{self.kind}.{self.row_id}"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    patient_ids: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    codes: tuple[Token, ...] = ()
    categories: tuple[Token, ...] = ()
    dates: tuple[DateBound, ...] = ()
    last_updated: tuple[DateBound, ...] = ()
    count: int = DEFAULT_COUNT
    descending: bool = False
    summary_count: bool = False
    want_total: bool = False
    cursor: Cursor | None = None
    include_patient: bool = False
    used: tuple[tuple[str, str], ...] = field(default=())  # the parameters we applied, in order


def handling(prefer: str | None) -> str:
    """`strict` or `lenient` from a `Prefer` header (lenient when absent)."""
    for part in (prefer or "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip() == "handling" and value.strip() in ("strict", "lenient"):
            return value.strip()
    return "lenient"


def parse_date(value: str, *, name: str = "date") -> DateBound:
    """Parse `ge2024-01-05` and friends into a prefix and an implicit-precision range.

    Raises:
        InvalidRequest: an unknown prefix or a date that does not exist.
    """
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    if prefix not in PREFIXES:
        raise InvalidRequest(
            f"{name}={value}: unknown prefix {prefix!r}.",
            hint="Use one of eq, ne, ge, gt, le, lt, sa, eb (ap is not supported).",
        )
    match = _DATE.match(text)
    if match is None:
        raise InvalidRequest(
            f"{name}={value}: not a FHIR date.",
            hint="Write it as YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][Z|+hh:mm].",
        )
    try:
        start, end = _range(match)
    except ValueError as exc:
        raise InvalidRequest(
            f"{name}={value}: that date does not exist ({exc}).",
            hint="Check the month, day, hour and minute.",
        ) from exc
    except OverflowError:
        raise _out_of_range(name, value) from None
    try:
        return DateBound(prefix, _ms(start), _ms(end))
    except OverflowError:  # a local time whose instant falls before year 1 or after 9999 in UTC
        raise _out_of_range(name, value) from None


def _out_of_range(name: str, value: str) -> InvalidRequest:
    return InvalidRequest(
        f"{name}={value}: that is outside the dates this server can search "
        "(the years 0001 to 9999, in UTC).",
        hint="Use a date inside those years, or leave this bound out.",
    )


def _range(match: re.Match[str]) -> tuple[datetime, datetime]:
    g = match.groupdict()
    tz = UTC if g["tz"] in (None, "Z") else _offset(g["tz"])
    year = int(g["y"])
    if g["m"] is None:
        start = datetime(year, 1, 1, tzinfo=tz)
        return start, datetime(year + 1, 1, 1, tzinfo=tz)
    month = int(g["m"])
    if g["d"] is None:
        start = datetime(year, month, 1, tzinfo=tz)
        days = calendar.monthrange(year, month)[1]
        return start, start + timedelta(days=days)
    day = int(g["d"])
    if g["H"] is None:
        start = datetime(year, month, day, tzinfo=tz)
        return start, start + timedelta(days=1)
    if g["tz"] is None:
        raise ValueError("a time needs a time zone, Z or +hh:mm")
    fraction = (g["f"] or "").ljust(6, "0")[:6]
    start = datetime(
        year, month, day, int(g["H"]), int(g["M"]), int(g["S"] or 0), int(fraction), tzinfo=tz
    )
    step = timedelta(minutes=1) if g["S"] is None else timedelta(seconds=1)
    if g["f"]:
        step = timedelta(milliseconds=1)
    return start, start + step


def _offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise InvalidRequest(f"time zone {text} is out of range.", hint="Use -12:00 to +14:00.")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def parse_token(value: str, *, name: str = "code") -> Token:
    """`system|code`, `|code`, `system|` or `code`, as FHIR token search writes them.

    Raises:
        InvalidRequest: empty, or `|` alone.
    """
    if "|" not in value:
        if not value:
            raise InvalidRequest(f"{name}: an empty token.", hint="Write system|code.")
        return Token(None, value)
    system, _, code = value.partition("|")
    if not system and not code:
        raise InvalidRequest(f"{name}: a token of '|' alone.", hint="Write system|code.")
    return Token(system, code or None)


def parse_count(value: str) -> int:
    """Raises InvalidRequest for anything but a whole number ≥ 0; caps at MAX_COUNT."""
    if not (value.isascii() and value.isdigit()) or len(value) > 12:  # "³" is a digit too
        raise InvalidRequest(
            f"_count={value}: must be a whole number of 0 or more.",
            hint=f"Use _count=0 for the total only; pages hold at most {MAX_COUNT}.",
        )
    return min(int(value), MAX_COUNT)


CURSOR_KINDS = frozenset({"q", "c", "bp", "d", "r"})


def parse_cursor(value: str) -> Cursor:
    match = _CURSOR.match(value)
    if match is None or match[2] not in CURSOR_KINDS:
        raise InvalidRequest(
            "_cursor: not a paging cursor this server made.",
            hint="Follow the `next` link of the previous page unchanged.",
        )
    return Cursor(int(match[1]), match[2], int(match[3]))


def _reference_id(value: str) -> str:
    return value.rstrip("/").rpartition("/")[2]


def parse(
    resource_type: str,
    params: Iterable[tuple[str, str]],
    *,
    strict: bool,
    allowed: frozenset[str] | None = None,
) -> SearchQuery:
    """Turn query-string pairs into a `SearchQuery`.

    Raises:
        InvalidRequest: a value is malformed, or (strict) a parameter is unknown.
    """
    known = (allowed if allowed is not None else RESOURCE_PARAMS) | COMMON
    values: dict[str, object] = {}
    patients: list[str] = []
    ids: list[str] = []
    codes: list[Token] = []
    categories: list[Token] = []
    dates: list[DateBound] = []
    updated: list[DateBound] = []
    used: list[tuple[str, str]] = []
    for name, value in params:
        if name not in known:
            if strict:
                raise InvalidRequest(
                    f"Unknown or unsupported search parameter {name!r} for {resource_type}.",
                    hint="See /fhir/metadata for the parameters we support, or send "
                    "`Prefer: handling=lenient` to have it ignored.",
                )
            continue
        if name == "_include" and value not in OBSERVATION_INCLUDES:
            if strict:
                raise InvalidRequest(
                    f"_include={value}: not supported.",
                    hint="Only _include=Observation:patient (or Observation:subject) is.",
                )
            continue
        if name != "_cursor":
            used.append((name, value))
        _check_value(name, value)
        match name:
            case "patient" | "subject" | "subject:Patient":
                patients.extend(_reference_id(v) for v in value.split(","))
            case "_id":
                ids.extend(value.split(","))
            case "code":
                codes.extend(parse_token(v) for v in value.split(","))
            case "category":
                categories.extend(parse_token(v, name="category") for v in value.split(","))
            case "date":
                dates.append(parse_date(value))
            case "_lastUpdated":
                updated.append(parse_date(value, name="_lastUpdated"))
            case "_count":
                values["count"] = parse_count(value)
            case "_sort":
                values["descending"] = _parse_sort(value)
            case "_summary":
                if value not in ("count", "false"):
                    raise InvalidRequest(
                        f"_summary={value}: not supported.", hint="Use _summary=count."
                    )
                values["summary_count"] = value == "count"
            case "_total":
                if value not in ("none", "estimate", "accurate"):
                    raise InvalidRequest(
                        f"_total={value}: must be none, estimate or accurate.", hint=None
                    )
                values["want_total"] = value != "none"
            case "_cursor":
                values["cursor"] = parse_cursor(value)
            case "_include":
                values["include_patient"] = True
            case _:
                pass  # _format, _totalMethod: accepted, nothing to do
    count = values.get("count", DEFAULT_COUNT)
    return SearchQuery(
        resource_type=resource_type,
        patient_ids=tuple(patients),
        ids=tuple(ids),
        codes=tuple(codes),
        categories=tuple(categories),
        dates=tuple(dates),
        last_updated=tuple(updated),
        count=int(count),  # type: ignore[call-overload]
        descending=bool(values.get("descending", False)),
        summary_count=bool(values.get("summary_count", False)),
        want_total=bool(values.get("want_total", False)) or count == 0,
        cursor=values.get("cursor"),  # type: ignore[arg-type]
        include_patient=bool(values.get("include_patient", False)),
        used=tuple(used),
    )


def _check_value(name: str, value: str) -> None:
    if not value or len(value) > 2000 or "\x00" in value:
        raise InvalidRequest(
            f"{name}: the value is empty, too long or holds a NUL character.",
            hint="Give a short, plain value.",
        )


def _parse_sort(value: str) -> bool:
    keys = [k.strip() for k in value.split(",")]
    if keys not in (["date"], ["-date"]):
        raise InvalidRequest(
            f"_sort={value}: we can only sort by date.", hint="Use _sort=date or _sort=-date."
        )
    return keys[0].startswith("-")


def self_params(query: SearchQuery) -> Sequence[tuple[str, str]]:
    """The parameters of the self link: what we applied, nothing we ignored."""
    return query.used
