"""Apple Health's "Export All Health Data": export.zip or a bare export.xml, streamed.

Every element of the format across iOS versions becomes an item: `Record` (with
`MetadataEntry` and HRV beat lists), `Correlation` with its records, `Workout` (events,
statistics, routes by file reference or inline locations, iOS 16 `WorkoutActivity`),
`ActivitySummary`, `Me`, `ExportDate`; `ClinicalRecord` and route files become references.
An element healthpod does not know is kept under its own name and listed as unknown.

The parse uses lxml's target interface (callbacks, no tree), with entities, DTD loading and
network off; `safe_files.PrologueGuard` refuses entity declarations and external DTDs first,
and `safe_files.LongTokenGuard` any gigantic tag or value. Element conversion is in
`elements`; batches of top-level records in `record_batches`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any, BinaryIO, ClassVar

from lxml import etree

from healthpod.errors import MalformedFile, UnsupportedFormat
from healthpod.ingest import safe_files
from healthpod.ingest.apple import fast_records
from healthpod.ingest.apple.archive import pick_member
from healthpod.ingest.apple.elements import (
    Node,
    Problem,
    activity_summary,
    correlation,
    instant,
    metadata,
    person_info,
    record,
    record_type,
    unknown_element,
    workout,
)
from healthpod.ingest.apple.record_batches import Meta, RecordColumns, Run
from healthpod.ingest.base import (
    ErrorHandling,
    ExportInfo,
    Item,
    ProgressFn,
    RouteFile,
    Sample,
    Warning_,
)

FORMAT = "apple-health"
CHUNK = 256 * 1024
RECORD_BATCH = 10_000
NODE_BATCH = 50_000  # child elements (metadata, HRV beats) that also end a batch: memory
ROOT = "HealthData"
HINT = (
    "Export again from the Health app (Profile → Export All Health Data) and import the new file."
)


class _Target:
    """lxml parser target: builds each top-level element as small lists, converts it at its end.

    The callbacks run for every element of the file, so they do as little as possible: a
    depth counter instead of a stack for the top level, and a top-level `<Record>` is only
    filed away for `RecordColumns` to convert in bulk.
    """

    def __init__(self, filename: str, errors: ErrorHandling) -> None:
        self.filename = filename
        self.errors = errors
        self.out: list[Item] = []
        self.depth = 0
        self.top_tag = ""
        self.top_attrib: dict[str, str] = {}
        self.top_children: list[Node] | None = None
        self.stack: list[Node] = []  # open elements below the top level
        self.count = 0  # top-level elements seen
        self.nodes = 0  # elements below the top level since the last batch
        self.records = RecordColumns()
        self.lines = 1  # lines fed to the parser so far (for "cut short" errors)
        self.saw_root = False

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth == 2:
            self.top_tag, self.top_attrib, self.top_children = tag, attrib, None
        elif depth > 2:
            self.nodes += 1
            node: Node = [tag, attrib, None]
            if depth == 3:
                if self.top_children is None:
                    self.top_children = [node]
                else:
                    self.top_children.append(node)
            else:
                parent = self.stack[-1]
                if parent[2] is None:
                    parent[2] = [node]
                else:
                    parent[2].append(node)
            self.stack.append(node)
        elif tag != ROOT:
            raise UnsupportedFormat(
                f"{self.filename}: this XML is not an Apple Health export "
                f"(its root element is <{tag}>, not <{ROOT}>).",
                hint=HINT,
            )
        else:
            self.saw_root = True

    def end(self, tag: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == 2:
            self.count += 1
            if tag == "Record":  # the hot path: almost every element of a large export
                records = self.records
                records.append(self.top_attrib, self.top_children, self.count)
                if len(records) >= RECORD_BATCH or self.nodes >= NODE_BATCH:
                    self.flush_records()
            else:
                self.top_level([tag, self.top_attrib, self.top_children])
        elif depth > 2:
            self.stack.pop()

    def take(
        self,
        columns: list[list[Any]],
        metas: dict[int, Meta],
        count: int,
        nodes: int,
        run: Run,
    ) -> None:
        """Records the fast scanner read (`fast_records`), in document order with the rest."""
        self.records.extend(columns, metas, self.count + 1, run)
        self.count += count
        self.nodes += nodes
        if len(self.records) >= RECORD_BATCH or self.nodes >= NODE_BATCH:
            self.flush_records()

    def flush_records(self) -> None:
        """Convert the collected top-level records as one batch (plus any odd ones singly)."""
        if not len(self.records):
            return
        batch, singles = self.records.convert(record_type, metadata, self.one_record)
        self.records = RecordColumns()
        self.nodes = 0
        if len(batch):
            self.out.append(batch)
        self.out.extend(singles)

    def one_record(
        self,
        ordinal: int,
        attrib: dict[str, str],
        children: Any,
        line: Callable[[], int | None] = lambda: None,
    ) -> Sample | None:
        try:
            return record(attrib, children)
        except Problem as exc:
            self.warn(f"a <Record> {exc}.", ["Record", attrib, children], ordinal, line())
            return None

    def close(self) -> None:
        # lxml calls this even when the parse failed; the syntax error is the better message,
        # so a file that merely ends too early is reported by `parse` after close() returns.
        pass

    def check_complete(self) -> None:
        if self.depth > 0:
            inside = self.stack[-1][0] if self.stack else self.top_tag if self.depth > 1 else ROOT
            raise MalformedFile(
                f"the file ends inside <{inside}>: it is cut short.",
                source=self.filename,
                location=f"line {self.lines}",
                hint=HINT,
            )

    def warn(
        self,
        message: str,
        node: Node | None = None,
        ordinal: int | None = None,
        line: int | None = None,
    ) -> None:
        where = self.location(node, self.count if ordinal is None else ordinal)
        if line is not None:
            where = f"line {line}, {where}"
        if self.errors is ErrorHandling.RAISE:
            raise MalformedFile(message, source=self.filename, location=where, hint=HINT)
        if self.errors is ErrorHandling.WARN:
            self.out.append(Warning_(where, message))

    def location(self, node: Node | None, ordinal: int) -> str:
        if node is None:
            return f"element {ordinal:,}"
        attrib = node[1]
        ident = attrib.get("type") or attrib.get("workoutActivityType") or ""
        when = attrib.get("startDate") or attrib.get("dateComponents") or ""
        detail = " ".join(part for part in (ident, when) if part)
        return f"element {ordinal:,} (<{node[0]}{' ' + detail if detail else ''}>)"

    def top_level(self, node: Node) -> None:
        tag, attrib, children = node
        try:
            if tag == "Correlation":
                self.out.append(
                    correlation(attrib, children, lambda m: self.warn(f"a <Correlation> {m}", node))
                )
            elif tag == "Workout":
                item, files = workout(attrib, children)
                self.out.append(item)
                if files:
                    self.out.append(ExportInfo(references=tuple(files)))
            elif tag == "ActivitySummary":
                self.out.append(activity_summary(attrib))
            elif tag == "Me":
                self.out.append(person_info(attrib))
            elif tag == "ExportDate":
                value = attrib.get("value")
                if value:
                    self.out.append(ExportInfo(export_ms=instant(attrib, "value")[0]))
            elif tag == "ClinicalRecord":
                path = attrib.get("resourceFilePath")
                if path:
                    self.out.append(ExportInfo(references=(path,)))
            else:
                self.out.append(unknown_element(node))
        except Problem as exc:
            self.warn(f"a <{tag}> {exc}.", node)


class AppleHealthImporter:
    """Reads export.zip (the Health app's archive) or a bare export.xml."""

    format: ClassVar[str] = FORMAT
    parallel: ClassVar[bool] = True  # large exports are parsed in a second process

    def sniff(self, head: bytes, filename: str) -> bool:
        return b"<" + ROOT.encode() in head or b"HealthKit Export Version" in head

    def sniff_zip(self, names: Sequence[str]) -> bool:
        return pick_member(names) is not None

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the export's items, streaming; a zip is read member by member, never unpacked.

        Raises:
            MalformedFile: broken or hostile XML or zip; names the file and line.
            UnsupportedFormat: a zip without export.xml, or XML that is not a Health export.
        """
        if safe_files.peek(fp, 4).startswith(b"PK"):
            zf = safe_files.open_zip(filename, fp)
            names = safe_files.list_members(filename, zf)
            member = pick_member(names)
            if member is None:
                raise UnsupportedFormat(
                    f"{filename}: this zip archive is not an Apple Health export "
                    f"(it has no export.xml; it holds {describe_names(names)}).",
                    hint=HINT,
                )
            label = f"{filename}/{member}"
            with safe_files.open_member(filename, zf, member) as xml:
                yield from parse(xml, label, errors)
            yield from clinical_records(filename, zf, names, errors)
            yield from workout_routes(filename, zf, names, errors)
            yield from electrocardiograms(filename, zf, names, errors)
        else:
            yield from parse(fp, filename, errors)


def clinical_records(
    filename: str, zf: Any, names: Sequence[str], errors: ErrorHandling
) -> Iterator[Item]:
    """The FHIR resources of Health Records (`clinical-records/*.json`) in the archive."""
    records = [
        name
        for name in names
        if (path := PurePosixPath(name)).parent.name == "clinical-records"
        and path.suffix.lower() == ".json"
    ]
    if not records:
        return
    # Only here: the FHIR reader loads its models and the store's, half a second at the end
    # of an export without Health Records.
    from healthpod.ingest.fhir import r4_json

    for name in records:
        with safe_files.open_member(filename, zf, name) as member:
            yield from r4_json.read_member(member, member=f"{filename}/{name}", errors=errors)


def workout_routes(
    filename: str, zf: Any, names: Sequence[str], errors: ErrorHandling
) -> Iterator[Item]:
    """The archive's route files (`workout-routes/*.gpx`), each for the workout naming it.

    Raises:
        MalformedFile: under ErrorHandling.RAISE, a route file that cannot be read.
    """
    routes = [
        name
        for name in names
        if (path := PurePosixPath(name)).parent.name == "workout-routes"
        and path.suffix.lower() == ".gpx"
    ]
    if not routes:
        return
    from healthpod.ingest.routes import gpx

    for name in routes:
        label = f"{filename}/{name}"
        try:
            with safe_files.open_member(filename, zf, name) as member:
                points = gpx.route_of(member, label)
        except MalformedFile as exc:
            if errors is ErrorHandling.RAISE:
                raise
            if errors is ErrorHandling.WARN:
                yield Warning_(name, f"the route file was not read: {exc.message}")
            continue
        yield RouteFile(path=f"/workout-routes/{PurePosixPath(name).name}", points=points)


def electrocardiograms(
    filename: str, zf: Any, names: Sequence[str], errors: ErrorHandling
) -> Iterator[Item]:
    """The archive's ECGs (`electrocardiograms/*.csv`), each as an Observation.

    Raises:
        MalformedFile: under ErrorHandling.RAISE, an ECG file that cannot be read.
    """
    files = [
        name
        for name in names
        if (path := PurePosixPath(name)).parent.name == "electrocardiograms"
        and path.suffix.lower() == ".csv"
    ]
    if not files:
        return
    from healthpod.ingest.apple.electrocardiograms import electrocardiogram

    for name in files:
        label = f"{filename}/{name}"
        try:
            with safe_files.open_member(filename, zf, name) as member:
                record = electrocardiogram(member, label)
        except MalformedFile as exc:
            if errors is ErrorHandling.RAISE:
                raise
            if errors is ErrorHandling.WARN:
                yield Warning_(name, f"the ECG was not read: {exc.message}")
            continue
        yield record


def describe_names(names: Sequence[str]) -> str:
    if not names:
        return "no files"
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def parse(
    fp: BinaryIO, filename: str, errors: ErrorHandling, *, fast: bool = True
) -> Iterator[Item]:
    """Stream-parse export.xml from `fp`; `fast=False` leaves every record to lxml (tests).

    Raises:
        MalformedFile: the XML is broken, hostile or cut short.
        UnsupportedFormat: it is not a Health export.
    """
    target = _Target(filename, errors)
    parser = safe_files.xml_parser(target=target)
    prologue = safe_files.PrologueGuard(filename)
    long_tokens = safe_files.LongTokenGuard(filename)
    scanner: fast_records.Scanner | None = None
    tail = b""
    first = True
    try:
        while True:
            chunk = fp.read(CHUNK)
            if not chunk:
                break
            prologue.check(chunk)
            long_tokens.check(chunk)
            target.lines = long_tokens.lines
            if first and fast and fast_records.is_plain_document(chunk):
                scanner = fast_records.Scanner(lambda: target.depth, parser.feed, target.take)
            first = False
            if scanner is None:
                parser.feed(chunk)
            else:
                tail = scanner.feed(tail + chunk, final=False)
            if target.out:
                yield from target.out
                target.out.clear()
        if scanner is not None and tail:
            scanner.feed(tail, final=True)
        if not target.saw_root:
            raise UnsupportedFormat(
                f"{filename}: this is not an Apple Health export (no <{ROOT}> element).",
                hint=HINT,
            )
        try:
            parser.close()
        except etree.XMLSyntaxError as exc:
            if (getattr(exc, "lineno", 0) or 0) >= target.lines - 1:
                raise MalformedFile(
                    "the file ends in the middle of an element: it is cut short.",
                    source=filename,
                    location=f"line {target.lines}",
                    hint=HINT,
                ) from None
            raise
        target.check_complete()
        target.flush_records()
    except etree.XMLSyntaxError as exc:
        raise safe_files.syntax_error(filename, exc, hint=HINT) from None
    yield from target.out
    target.out.clear()


IMPORTER = AppleHealthImporter()
