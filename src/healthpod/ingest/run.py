"""Running an import: detect the format, stream the items into the store in one transaction.

One file is one import and one transaction: it completes, or the store is as before (a
`failed` row in `imports` is then written in a transaction of its own, for the history).
De-duplication is the tables' natural keys, so re-importing a file, or a newer export that
holds the old data too, adds only what is new.

This module decides what to read and how (format, archive members, a reader process); the
writing, the transaction and the `imports` row are the store's (`store.imports`).
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast
from zoneinfo import ZoneInfo

from healthpod.errors import (
    HealthpodError,
    IngestError,
    InvalidRequest,
    MalformedFile,
    UnsupportedFormat,
)
from healthpod.ingest import registry, safe_files, zones
from healthpod.ingest.base import ErrorHandling, Importer, Warning_
from healthpod.ingest.reader_process import (
    PARALLEL_MIN_BYTES,
    ReaderSpec,
    child_items,
    parsed_bytes,
)
from healthpod.pod import DEFAULT_PERSON, Pod, now_ms
from healthpod.store import person_settings
from healthpod.store.imports.transaction import (
    STORAGE_ERRORS,
    ImportTransaction,
    begin_import,
    record_failure,
)

logger = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024

# Reports progress as (name of the file being read, bytes read so far, total bytes).
Progress = Callable[[str, int, int], None]
Opener = Callable[[], AbstractContextManager[BinaryIO]]


@dataclass
class ImportReport:
    """What one import did: the `--json` output of `healthpod import`."""

    import_id: int | None
    filename: str
    format: str
    status: str  # completed|failed|skipped (in a folder or zip: not a format we read)
    added: dict[str, int] = field(default_factory=dict)
    already_present: int = 0
    present_by_type: dict[str, int] = field(default_factory=dict)
    unknown_types: list[str] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None

    @property
    def total_added(self) -> int:
        return sum(self.added.values())

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "import_id": self.import_id,
            "filename": self.filename,
            "format": self.format,
            "status": self.status,
            "added": dict(sorted(self.added.items())),
            "already_present": self.already_present,
            "unknown_types": self.unknown_types,
            "warnings": [{"location": w.location, "message": w.message} for w in self.warnings],
        }
        if self.error is not None:
            document["error"] = self.error
            document["hint"] = self.hint
        return document


def import_file(
    pod: Pod,
    path: Path,
    *,
    person: str = DEFAULT_PERSON,
    person_id: int | None = None,
    format: str | None = None,
    on_progress: Progress | None = None,
    errors: ErrorHandling = ErrorHandling.WARN,
    parallel: bool | None = None,
    importer: Importer | None = None,
    zone: ZoneInfo | None = None,
) -> ImportReport:
    """Import one file (any format, or an archive one importer reads whole) in one transaction.

    `importer` reads the file with that importer instead of detecting one (a CSV profile).
    `zone` is the time zone of sources that write none (see `zones`; default: the person's).

    `parallel` parses in a second process while this one writes (None: for large files of
    formats that support it).

    Raises:
        UnsupportedFormat: no importer reads it (a zip of several files: use `import_path`).
        MalformedFile: the file is broken or hostile; nothing was stored.
        StorageError: the database failed (full disk, say); nothing was stored.
    """
    reports = import_path(
        pod,
        path,
        person=person,
        person_id=person_id,
        format=format,
        on_progress=on_progress,
        errors=errors,
        parallel=parallel,
        importer=importer,
        zone=zone,
    )
    if len(reports) != 1:
        raise IngestError(
            f"{path.name} holds {len(reports)} files; import it with import_path.",
        )
    return reports[0]


def import_path(
    pod: Pod,
    path: Path,
    *,
    person: str = DEFAULT_PERSON,
    person_id: int | None = None,
    format: str | None = None,
    on_progress: Progress | None = None,
    errors: ErrorHandling = ErrorHandling.WARN,
    parallel: bool | None = None,
    importer: Importer | None = None,
    zone: ZoneInfo | None = None,
) -> list[ImportReport]:
    """Import a file, every file in a directory, or every file in a zip no importer claims.

    A single file that fails raises; inside a directory or archive, each file is its own
    import and a failed one is reported (status "failed") while the others go on.
    `person_id` names the person by id (a queued job's), instead of by name (`person`).

    Raises:
        UnsupportedFormat, MalformedFile, StorageError: for a single file, as `import_file`.
    """
    if zone is not None:
        with zones.assumed_zone(zone):  # for every file below, read by `run_import`
            return import_path(
                pod,
                path,
                person=person,
                person_id=person_id,
                format=format,
                on_progress=on_progress,
                errors=errors,
                parallel=parallel,
                importer=importer,
            )
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not safe_files.is_junk(p.relative_to(path).as_posix())
        )
        if not files:
            raise IngestError(f"{path}: the folder holds no files to import.")
        return [
            _guarded(
                pod,
                f,
                lambda f=f: import_path(  # type: ignore[misc]
                    pod,
                    f,
                    person=person,
                    person_id=person_id,
                    format=format,
                    on_progress=on_progress,
                    errors=errors,
                    parallel=parallel,
                    importer=importer,
                ),
            )
            for f in files
        ]
    if not path.is_file():
        raise IngestError(f"{path}: no such file.", hint="Check the path and try again.")
    with path.open("rb") as fp:
        head = fp.read(HEAD_BYTES)
    if importer is None and format:
        importer = registry.by_name(format)
    if importer is None and registry.is_zip(head):
        with path.open("rb") as fp:
            zf = safe_files.open_zip(path.name, fp)
            names = safe_files.list_members(path.name, zf)
            importer = registry.claims_zip(names)
            if importer is None:
                return _import_members(
                    pod, path, zf, names, person, on_progress, errors, person_id=person_id
                )
    if importer is None:
        importer = registry.detect(head, path.name)
    size = path.stat().st_size

    @contextmanager
    def opener() -> Iterator[BinaryIO]:
        with path.open("rb") as raw:
            progress = None
            if on_progress is not None:
                progress = lambda done: on_progress(path.name, done, size)  # noqa: E731
            yield cast(BinaryIO, safe_files.TrackedFile(raw, progress))

    if parallel is None:
        parallel = getattr(importer, "parallel", False) and parsed_bytes(path) >= PARALLEL_MIN_BYTES
    reader = None
    if parallel:
        reader = ReaderSpec(type(importer).__module__, str(path), None, path.name, errors)
    with ThreadPoolExecutor(max_workers=1) as hasher:  # hashlib lets go of the GIL
        digest = hasher.submit(_sha256_file, path)
        report = run_import(
            pod,
            importer,
            opener,
            filename=path.name,
            sha256=digest.result,
            person=person,
            person_id=person_id,
            errors=errors,
            reader=reader,
            on_bytes=None if on_progress is None else lambda n: on_progress(path.name, n, size),
        )
    if on_progress is not None:
        on_progress(path.name, size, size)
    return [report]


def _import_members(
    pod: Pod,
    path: Path,
    zf: zipfile.ZipFile,
    names: list[str],
    person: str,
    on_progress: Progress | None,
    errors: ErrorHandling,
    *,
    person_id: int | None = None,
) -> list[ImportReport]:
    if not names:
        raise UnsupportedFormat(
            f"{path.name}: the zip archive holds no files (only folders or macOS litter).",
            hint="Export again from the app and import the archive it writes.",
        )
    readable = [name for name in names if _detect_member(path, zf, name) is not None]
    if not readable:
        raise UnsupportedFormat(
            f"{path.name}: this zip archive is not an export healthpod can read; none of its "
            f"files is in a known format ({', '.join(names[:5])}"
            f"{f' and {len(names) - 5} more' if len(names) > 5 else ''}).",
            hint=f"healthpod reads: {registry.SUPPORTED}.",
        )
    reports: list[ImportReport] = []
    for name in names:
        label = f"{path.name}:{name}"

        def one(name: str = name, label: str = label) -> list[ImportReport]:
            with safe_files.open_member(path.name, zf, name) as member:
                head = member.read(HEAD_BYTES)
            importer = registry.detect(head, label)
            size = zf.getinfo(name).file_size
            if on_progress is not None:
                on_progress(label, 0, size)  # a bar per member, from its start
            sha = hashlib.sha256()
            with safe_files.open_member(path.name, zf, name) as member:
                for chunk in iter(lambda: member.read(1024 * 1024), b""):
                    sha.update(chunk)

            def opener() -> AbstractContextManager[BinaryIO]:
                return safe_files.open_member(path.name, zf, name)

            report = run_import(
                pod,
                importer,
                opener,
                filename=label,
                sha256=sha.hexdigest(),
                person=person,
                person_id=person_id,
                errors=errors,
            )
            if on_progress is not None:
                on_progress(label, size, size)
            return [report]

        reports.append(_guarded(pod, Path(label), one))
    return reports


def _detect_member(path: Path, zf: zipfile.ZipFile, name: str) -> Importer | None:
    with safe_files.open_member(path.name, zf, name) as member:
        head = member.read(HEAD_BYTES)
    try:
        return registry.detect(head, name)
    except UnsupportedFormat:
        return None


def _person_zone(transaction: ImportTransaction) -> ZoneInfo | None:
    """The zone the person set (`healthpod settings set timezone`), if it still exists."""
    person_id = transaction.person_id
    name = person_settings.time_zone(transaction.conn, person_id)
    if not name:
        return None
    try:
        return zones.parse_zone(name)
    except InvalidRequest:
        logger.warning("person_id=%s has a time zone this system does not know", person_id)
        return None


def _guarded(pod: Pod, path: Path, work: Callable[[], list[ImportReport]]) -> ImportReport:
    """Run one file's import inside a batch; a failure becomes a failed report, and a file in
    no format we read (a stray note or photo in the folder) a skipped one."""
    try:
        reports = work()
    except HealthpodError as exc:
        logger.info("import of one file in a batch failed: %s", exc.message)
        return ImportReport(
            import_id=None,
            filename=str(path.name),
            format="unknown",
            status="skipped" if isinstance(exc, UnsupportedFormat) else "failed",
            error=exc.message,
            hint=exc.hint,
        )
    return reports[0] if len(reports) == 1 else _merge(reports)


def _merge(reports: list[ImportReport]) -> ImportReport:
    # A nested directory inside a directory: report its files as one line.
    merged = ImportReport(None, reports[0].filename, "several", "completed")
    for r in reports:
        for code, n in r.added.items():
            merged.added[code] = merged.added.get(code, 0) + n
        merged.already_present += r.already_present
        for code, n in r.present_by_type.items():
            merged.present_by_type[code] = merged.present_by_type.get(code, 0) + n
        merged.unknown_types = sorted({*merged.unknown_types, *r.unknown_types})
        merged.warnings.extend(r.warnings)
    statuses = {r.status for r in reports}
    if "failed" in statuses:
        merged.status = "failed"
    elif "completed" not in statuses:
        merged.status = "skipped"
    return merged


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        for chunk in iter(lambda: fp.read(4 * 1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_import(
    pod: Pod,
    importer: Importer,
    opener: Opener,
    *,
    filename: str,
    sha256: str | Callable[[], str],
    person: str = DEFAULT_PERSON,
    person_id: int | None = None,
    errors: ErrorHandling = ErrorHandling.WARN,
    reader: ReaderSpec | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> ImportReport:
    """Stream `importer`'s items from the opened file into the store, all or nothing.

    With `reader`, the file is parsed in a child process (see reader_process) and `opener`
    is not used. `sha256` may be a callable, for a hash computed while the import runs.

    Raises:
        MalformedFile, UnsupportedFormat: the file; StorageError: the database. Nothing stored.
    """
    if person_id is None:
        person_id = pod.person_id(person)
    started = now_ms()

    def failed(message: str) -> None:
        record_failure(
            pod.engine,
            person_id=person_id,
            filename=filename,
            sha256=_hash(sha256),
            format=importer.format,
            started_ms=started,
            finished_ms=now_ms(),
            error=message,
        )

    try:
        with (
            begin_import(
                pod.engine,
                person_id=person_id,
                filename=filename,
                format=importer.format,
                started_ms=started,
            ) as transaction,
            ExitStack() as stack,
        ):
            # The reader process gets its file before this process imports the writers (numpy,
            # the dialects' inserts, the summaries), so it parses while they load.
            items = None if reader is None else stack.enter_context(child_items(reader, on_bytes))
            from healthpod.insights import summaries  # the daily rows, computed while writing

            transaction.session(summaries)
            if items is not None:
                transaction.write(items)
            else:
                zone = zones.assumed() or _person_zone(transaction)
                with opener() as fp, zones.assumed_zone(zone):
                    transaction.write(
                        importer.read(fp, filename=filename, on_progress=None, errors=errors)
                    )
            tally = transaction.complete(
                sha256=sha256() if callable(sha256) else sha256, finished_ms=now_ms()
            )
            report = ImportReport(
                import_id=transaction.import_id,
                filename=filename,
                format=importer.format,
                status="completed",
                added=dict(tally.added),
                already_present=sum(tally.present.values()),
                present_by_type=dict(tally.present),
                unknown_types=sorted(tally.unknown_types),
                warnings=tally.warnings,
                references=tally.references,
            )
    except HealthpodError as exc:  # StorageError included: the store wraps its own errors
        failed(exc.message)
        raise
    except OSError as exc:
        error = MalformedFile(
            f"reading stopped ({exc.strerror or exc}); nothing was stored.",
            source=filename,
            hint="Check that the file is complete and readable, then import again.",
        )
        failed(error.message)
        raise error from exc
    if report.total_added:
        _refresh_daily_summaries(pod, person_id)
    logger.info(
        "import finished import_id=%s format=%s added=%d already_present=%d",
        report.import_id,
        report.format,
        report.total_added,
        report.already_present,
    )
    return report


def _hash(sha256: str | Callable[[], str]) -> str:
    try:
        return sha256() if callable(sha256) else sha256
    except OSError:
        return ""


def _refresh_daily_summaries(pod: Pod, person_id: int) -> None:
    """Bring the daily statistics up to date now, so the first chart after an import is fast.

    Runs after the import committed: the samples are safe whatever happens here, and a reader
    that finds the summaries behind catches up itself.
    """
    from healthpod.insights import summaries  # numpy and friends, only once data arrived

    try:
        summaries.ensure_fresh(pod.engine, person_id)
    except STORAGE_ERRORS:
        logger.warning("daily summaries left for the next reader person_id=%s", person_id)
