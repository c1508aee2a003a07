"""A healthpod export zip (`healthpod export`, docs/export-format.md), read back into a pod.

The manifest is checked before anything is read: the format and its version, that the zip
holds exactly the files it lists, and each file's sha256 and NDJSON line count (CSV row
counts are checked as each file is read; the import is one transaction, so a lie found late
still stores nothing). Then the CSV files, which are authoritative for re-import, become the
store's ordinary import items: types, sources with their order, devices and per-type orders
first, then the samples in column batches, the correlations with their records, workouts,
activity summaries, the person's characteristics and the clinical resources, and last what
the person decided there (tombstones, marks with their reasons, "only me"), every old id
replaced by the natural key of the row it named. The FHIR NDJSON files are for people and
other services; they are verified but not read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, BinaryIO, ClassVar

from healthpod import json_input
from healthpod.config import LANGUAGES
from healthpod.errors import InvalidRequest, MalformedFile, UnsupportedFormat
from healthpod.ingest import safe_files
from healthpod.ingest.base import (
    ActivitySummary,
    CategoryValue,
    ClinicalResource,
    Correlation,
    ErrorHandling,
    Item,
    PersonInfo,
    ProgressFn,
    Quantity,
    SampleBatch,
    SampleKey,
    SourceRef,
    Warning_,
    Workout,
)
from healthpod.ingest.zones import parse_zone
from healthpod.store.export_format import FORMAT, FORMAT_VERSION
from healthpod.store.imports.items import (
    CarriedMark,
    CarriedRestriction,
    CarriedTombstone,
    DeviceInfo,
    HistoryRecord,
    RowKey,
    SampleTypeInfo,
    SourceInfo,
    TypePriority,
)

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1024 * 1024  # a real manifest is a few kB
BATCH = 50_000  # samples per column batch
# The old pod's records that are no live part of a new one: kept read-only (moved_history).
HISTORY = ("imports", "actors", "consents", "consent_history", "access_log")
_ROW_ID = re.compile(r"^(q|c|bp|w)-(\d{1,18})$")  # a row named by the old pod's id
HINT = "Export the pod again with `healthpod export` and import the new zip."
csv.field_size_limit(64 * 1024 * 1024)  # a workout route or a resource is one cell


class PodExportImporter:
    """Reads the zip `healthpod export` writes (claimed by its manifest and csv/ folder)."""

    format: ClassVar[str] = FORMAT
    # A large export is checked and read in a second process while this one writes, as an
    # Apple export is (`ingest.reader_process`): checking every member's sha256 and reading
    # the CSV cost about as much as writing the rows.
    parallel: ClassVar[bool] = True

    def sniff(self, head: bytes, filename: str) -> bool:
        return False  # a zip: claimed whole by `sniff_zip`, never one member alone

    def sniff_zip(self, names: Sequence[str]) -> bool:
        return MANIFEST in names and any(name.startswith("csv/") for name in names)

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the export's items after checking its manifest.

        Raises:
            MalformedFile: the manifest does not match the files (names the file), or the zip
                is hostile; nothing is stored.
            UnsupportedFormat: not a healthpod export, or one from a newer version.
        """
        zf = safe_files.open_zip(filename, fp)
        names = safe_files.list_members(filename, zf)
        archive = _Archive(filename, zf, _manifest(filename, zf, names))
        archive.verify(names)
        try:
            yield from archive.items()
        except (KeyError, ValueError, TypeError) as exc:
            # Only a zip written by hand gets here: the sums matched, the content is not ours.
            raise archive.fail(
                archive.current, f"a row does not fit its columns ({exc!r})"
            ) from exc


def _manifest(filename: str, zf: zipfile.ZipFile, names: list[str]) -> dict[str, Any]:
    if MANIFEST not in names:
        raise UnsupportedFormat(f"{filename}: this zip has no {MANIFEST}.", hint=HINT)
    if zf.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
        raise MalformedFile(
            f"{MANIFEST} is {zf.getinfo(MANIFEST).file_size:,} bytes, far more than a "
            "healthpod export's manifest; it was not read.",
            source=filename,
            hint=HINT,
        )
    with safe_files.open_member(filename, zf, MANIFEST) as member:
        try:
            manifest = json_input.loads(member.read(MAX_MANIFEST_BYTES + 1))
        except ValueError as exc:
            raise MalformedFile(
                f"{MANIFEST} is not JSON ({exc}).", source=filename, hint=HINT
            ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise UnsupportedFormat(
            f"{filename}: {MANIFEST} does not describe a healthpod export "
            f"(its format is {found!r}, not {FORMAT!r}).",
            hint=HINT,
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MalformedFile(
            f"{MANIFEST} has no valid format_version ({version!r}).", source=filename, hint=HINT
        )
    if version > FORMAT_VERSION:
        raise UnsupportedFormat(
            f"{filename}: this export is in format version {version}; this healthpod reads "
            f"versions up to {FORMAT_VERSION}.",
            hint="Update healthpod on this machine, then import the zip again.",
        )
    files, sums = manifest.get("files"), manifest.get("sha256")
    if not (
        isinstance(files, dict)
        and isinstance(sums, dict)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in files.values())
        and all(isinstance(s, str) for s in sums.values())
        and set(files) == set(sums)
    ):
        raise MalformedFile(
            f"{MANIFEST}: `files` and `sha256` must list the same files, with a count and a "
            "sha256 each.",
            source=filename,
            hint=HINT,
        )
    return manifest


class _Archive:
    def __init__(self, filename: str, zf: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
        self.filename = filename
        self.zf = zf
        self.counts: dict[str, int] = manifest["files"]
        self.sums: dict[str, str] = manifest["sha256"]
        self.current = MANIFEST  # the file being read, for messages
        # The old ids the person's marks and restrictions name, by kind (q|c|bp|w), and the
        # natural keys of those rows, found as the rows are read ("q-12" → its RowKey).
        self.wanted: dict[str, set[str]] = defaultdict(set)
        self.keys: dict[str, RowKey] = {}

    # -- checks -----------------------------------------------------------------------------
    def _language(self, text: str | None) -> str | None:
        """The web app's language the person chose in the old pod (None when they chose none).

        Raises:
            MalformedFile: it is not a language this pod speaks.
        """
        if not text:
            return None
        if text not in LANGUAGES:
            raise self.fail(
                "csv/persons.csv",
                f"{text[:16]!r} is not a language this pod has ({', '.join(LANGUAGES)})",
            )
        return text

    def _zone(self, text: str | None) -> str | None:
        """The time zone the person set in the old pod, checked (None when they set none).

        Raises:
            MalformedFile: it is not an IANA time zone.
        """
        if not text:
            return None
        try:
            return parse_zone(text).key
        except InvalidRequest:
            raise self.fail("csv/persons.csv", f"{text[:64]!r} is not a time zone") from None

    def fail(self, name: str, message: str) -> MalformedFile:
        return MalformedFile(f"{name}: {message}; nothing was stored.", source=self.filename)

    def verify(self, names: list[str]) -> None:
        present = set(names) - {MANIFEST}
        for name in sorted(set(self.counts) - present):
            raise self.fail(name, "the manifest lists this file but the zip does not hold it")
        for name in sorted(present - set(self.counts)):
            raise self.fail(name, "the zip holds this file but the manifest does not list it")
        for name in sorted(self.counts):
            digest = hashlib.sha256()
            lines = 0
            with safe_files.open_member(self.filename, self.zf, name) as member:
                for chunk in iter(lambda m=member: m.read(1024 * 1024), b""):  # type: ignore[misc]
                    digest.update(chunk)
                    lines += chunk.count(b"\n")
            if digest.hexdigest() != self.sums[name]:
                raise self.fail(
                    name, "its sha256 is not the one the manifest gives (the file was changed)"
                )
            if name.endswith(".ndjson") and lines != self.counts[name]:
                raise self.fail(
                    name, f"it has {lines:,} lines; the manifest says {self.counts[name]:,}"
                )

    def rows(self, table: str) -> Iterator[dict[str, str]]:
        """The rows of csv/<table>.csv as {column: text}, counted against the manifest."""
        name = f"csv/{table}.csv"
        if name not in self.counts:
            return
        count = 0
        self.current = name
        with safe_files.open_member(self.filename, self.zf, name) as member:
            text = io.TextIOWrapper(member, encoding="utf-8", newline="")
            try:
                for row in csv.DictReader(text):
                    count += 1
                    yield row
            except (csv.Error, UnicodeDecodeError) as exc:
                raise self.fail(name, f"row {count + 1} cannot be read ({exc})") from exc
        if count != self.counts[name]:
            raise self.fail(name, f"it has {count:,} rows; the manifest says {self.counts[name]:,}")

    # -- items ------------------------------------------------------------------------------
    def items(self) -> Iterator[Item]:
        # What the person decided (small files): read first, so that the rows their targets
        # name are picked out on the way (`self.keys`) and named by natural key at the end.
        marks = list(self.rows("marked_wrong"))
        restricted = list(self.rows("restrictions"))
        for row in [*marks, *restricted]:
            found = _ROW_ID.match(row["target"])
            if found is not None and row.get("level") != "type":
                self.wanted[found[1]].add(found[2])
        types = {row["id"]: row for row in self.rows("sample_types")}
        sources = {row["id"]: row for row in self.rows("sources")}
        devices = {row["id"]: row["description"] for row in self.rows("devices")}
        for row in self.rows("persons"):
            yield PersonInfo(
                birth_date=_date(row["birth_date"]),
                sex=_text(row["sex"]),
                blood_type=_text(row["blood_type"]),
                characteristics=_json(row["characteristics"]) or {},
                time_zone=self._zone(row.get("time_zone")),
                language=self._language(row.get("language")),
            )
        for t in types.values():
            yield SampleTypeInfo(t["code"], t["kind"], t["unit"], t["known"] != "0")
        for s in sources.values():
            yield SourceInfo(_source(s), int(s["priority"]))
        for description in devices.values():
            yield DeviceInfo(description)
        for row in self.rows("source_type_priorities"):
            yield TypePriority(
                types[row["type_id"]]["code"],
                sources[row["source_id"]]["name"],
                int(row["priority"]),
            )
        correlated: dict[str, list[Quantity | CategoryValue]] = defaultdict(list)
        for kind in ("quantity", "category"):
            yield from self._batches(kind, types, sources, devices, correlated)
        for row in self.rows("correlations"):
            if row["id"] in self.wanted["bp"]:
                self.keys[f"bp-{row['id']}"] = _key("bp", row["type_code"], row, sources)
            yield Correlation(
                type_code=row["type_code"],
                **_times(row),
                source=_source(sources[row["source_id"]]),
                samples=tuple(correlated.pop(row["id"], ())),
                source_version=_text(row["source_version"]),
                device=devices.get(row["device_id"]),
                created_ms=_int(row["created_ms"]),
                meta=_json(row["meta"]),
            )
        if correlated:
            name = "csv/quantity_samples.csv or csv/category_samples.csv"
            raise self.fail(name, f"samples name correlations {sorted(correlated)[:5]} not found")
        for row in self.rows("workouts"):
            if row["id"] in self.wanted["w"]:
                self.keys[f"w-{row['id']}"] = _key("w", row["activity_type"], row, sources)
            yield Workout(
                activity_type=row["activity_type"],
                **_times(row),
                source=_source(sources[row["source_id"]]),
                duration_s=_float(row["duration_s"]),
                distance_km=_float(row["distance_km"]),
                energy_kcal=_float(row["energy_kcal"]),
                source_version=_text(row["source_version"]),
                device=devices.get(row["device_id"]),
                created_ms=_int(row["created_ms"]),
                meta=_json(row["meta"]),
                events=_json(row["events"]),
                statistics=_json(row["statistics"]),
                route=_json(row["route"]),
                original=_json(row["original"]),
            )
        for row in self.rows("activity_summaries"):
            yield ActivitySummary(
                date_on=date.fromisoformat(row["date_on"]),
                **{
                    column: _float(row[column])
                    for column in (
                        "active_energy_kcal",
                        "active_energy_goal_kcal",
                        "move_time_min",
                        "move_time_goal_min",
                        "exercise_min",
                        "exercise_goal_min",
                        "stand_hours",
                        "stand_hours_goal",
                    )
                },
                meta=_json(row["meta"]),
            )
        for kind in HISTORY:
            for row in self.rows(kind):
                yield HistoryRecord(kind, dict(row))
        for row in self.rows("moved_history"):  # what that pod had kept from an earlier one
            yield HistoryRecord(row["kind"], _json(row["record"]))
        for number, row in enumerate(self.rows("resources"), start=1):
            yield ClinicalResource(
                resource=_json(row["json"]),
                location=f"csv/resources.csv row {number}",
                source_file=_text(row["source_file"]),
                organisation=_text(row["organisation"]),
                provenance=row["provenance"],
            )
        yield from self._decisions(marks, restricted)

    def _decisions(
        self, marks: list[dict[str, str]], restricted: list[dict[str, str]]
    ) -> Iterator[Item]:
        """Tombstones, marks (one per target: a blood pressure's parts come with its panel)
        and restrictions, every old id replaced by the natural key of the row it named."""
        for row in self.rows("tombstones"):
            yield CarriedTombstone(
                kind=row["kind"],
                code=row["code"],
                start_ms=_int(row["start_ms"]),
                end_ms=_int(row["end_ms"]),
                source=_text(row["source"]),
                value=_float(row["value"]),
                text=_text(row["text"]),
                target=row["target"],
                deleted_ms=int(row["deleted_ms"]),
            )
        seen: set[str] = set()
        for row in marks:
            if row["target"] in seen:
                continue
            seen.add(row["target"])
            target = self._target(row["target"])
            if target is None:
                yield _lost("csv/marked_wrong.csv", row["target"])
            else:
                yield CarriedMark(target, _text(row["reason"]), int(row["created_ms"]))
        for row in restricted:
            level = row["level"]
            target = row["target"] if level == "type" else self._target(row["target"])
            if target is None:
                yield _lost("csv/restrictions.csv", row["target"])
            else:
                yield CarriedRestriction(level, target, int(row["created_ms"]))

    def _target(self, text: str) -> str | RowKey | None:
        """A target as the new pod can find it: a row by natural key (None: the export holds
        no row with that id), a record of healthcare (`Type/id`) as it is."""
        if _ROW_ID.match(text) is None:
            return text
        return self.keys.get(text)

    def _batches(
        self,
        kind: str,
        types: dict[str, dict[str, str]],
        sources: dict[str, dict[str, str]],
        devices: dict[str, str],
        correlated: dict[str, list[Quantity | CategoryValue]],
    ) -> Iterator[SampleBatch]:
        """The samples of one table as column batches; those in a correlation are kept aside
        for it (`correlated`, by the old correlation id)."""
        batch = _Batch(kind)
        short = kind[0]  # q|c, as ids are written
        wanted = self.wanted[short]
        for row in self.rows(f"{kind}_samples"):
            t = types[row["type_id"]]
            unit = row["unit"] if kind == "quantity" else t["unit"]
            if wanted and row["id"] in wanted:
                value = float(row["value"]) if short == "q" else row["value_code"]
                self.keys[f"{short}-{row['id']}"] = _key(short, t["code"], row, sources, value)
            if row["correlation_id"]:
                correlated[row["correlation_id"]].append(
                    _sample(kind, t, unit, row, sources, devices)
                )
                continue
            batch.add(
                SampleKey(t["code"], kind, unit, t["known"] != "0"),
                row,
                sources[row["source_id"]]["name"],
                devices.get(row["device_id"]),
            )
            if len(batch) >= BATCH:
                yield batch.done()
                batch = _Batch(kind)
        if len(batch):
            yield batch.done()


class _Batch:
    """Columns of one SampleBatch being filled, with the repeating strings listed once."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.keys: dict[SampleKey, int] = {}
        self.sources: dict[str, int] = {}
        self.versions: dict[str | None, int] = {}
        self.devices: dict[str | None, int] = {}
        self.metas: dict[str, str] = {}
        self.key_index: list[int] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.start_offset: list[int] = []
        self.end_offset: list[int] = []
        self.values: list[Any] = []
        self.source_index: list[int] = []
        self.version_index: list[int] = []
        self.device_index: list[int] = []
        self.created: list[int | None] = []
        self.meta: list[str | None] = []

    def __len__(self) -> int:
        return len(self.key_index)

    def add(self, key: SampleKey, row: dict[str, str], source: str, device: str | None) -> None:
        self.key_index.append(self.keys.setdefault(key, len(self.keys)))
        self.start.append(int(row["start_ms"]))
        self.end.append(int(row["end_ms"]))
        self.start_offset.append(int(row["start_offset_min"]))
        self.end_offset.append(int(row["end_offset_min"]))
        self.values.append(float(row["value"]) if self.kind == "quantity" else row["value_code"])
        self.source_index.append(self.sources.setdefault(source, len(self.sources)))
        version = _text(row["source_version"])
        self.version_index.append(self.versions.setdefault(version, len(self.versions)))
        self.device_index.append(self.devices.setdefault(device, len(self.devices)))
        self.created.append(_int(row["created_ms"]))
        meta = row["meta"]
        self.meta.append(self.metas.setdefault(meta, meta) if meta else None)

    def done(self) -> SampleBatch:
        return SampleBatch(
            keys=list(self.keys),
            key_index=self.key_index,
            start_ms=self.start,
            end_ms=self.end,
            start_offset_min=self.start_offset,
            end_offset_min=self.end_offset,
            values=self.values,
            sources=list(self.sources),
            source_index=self.source_index,
            versions=list(self.versions),
            version_index=self.version_index,
            devices=list(self.devices),
            device_index=self.device_index,
            created_ms=self.created,
            meta=self.meta,
        )


def _sample(
    kind: str,
    t: dict[str, str],
    unit: str,
    row: dict[str, str],
    sources: dict[str, dict[str, str]],
    devices: dict[str, str],
) -> Quantity | CategoryValue:
    common: dict[str, Any] = {
        "type_code": t["code"],
        **_times(row),
        "source": _source(sources[row["source_id"]]),
        "source_version": _text(row["source_version"]),
        "device": devices.get(row["device_id"]),
        "created_ms": _int(row["created_ms"]),
        "meta": _json(row["meta"]),
        "known": t["known"] != "0",
    }
    if kind == "quantity":
        return Quantity(value=float(row["value"]), unit=unit, **common)
    return CategoryValue(value_code=row["value_code"], **common)


def _lost(name: str, target: str) -> Warning_:
    return Warning_(name, f"{target} names no row of the export; it was not carried over.")


def _key(
    kind: str,
    code: str,
    row: dict[str, str],
    sources: dict[str, dict[str, str]],
    value: float | str | None = None,
) -> RowKey:
    source = sources[row["source_id"]]["name"]
    return RowKey(kind, code, int(row["start_ms"]), int(row["end_ms"]), source, value)


def _times(row: dict[str, str]) -> dict[str, int]:
    return {
        name: int(row[name])
        for name in ("start_ms", "end_ms", "start_offset_min", "end_offset_min")
    }


def _source(row: dict[str, str]) -> SourceRef:
    return SourceRef(row["name"], row["kind"], _text(row["bundle_id"]))


def _text(cell: str) -> str | None:
    return cell if cell != "" else None


def _int(cell: str) -> int | None:
    return int(cell) if cell != "" else None


def _float(cell: str) -> float | None:
    return float(cell) if cell != "" else None


def _date(cell: str) -> date | None:
    return date.fromisoformat(cell) if cell else None


def _json(cell: str) -> Any:
    return json_input.loads(cell, allow_nul=True) if cell else None


IMPORTER = PodExportImporter()
