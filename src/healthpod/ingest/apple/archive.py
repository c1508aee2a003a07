"""Recognising the Health app's archive (export.zip) by the names of its members.

Kept apart from the importer, with nothing heavy imported, so that `healthpod import` can
recognise a large export and start the reader process on it at once (`early_reader`), while
it is still loading the store.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from healthpod.ingest.reader_process import ReaderSpec

# `type(IMPORTER).__module__` of the Apple Health importer, as a reader spec names it.
IMPORTER_MODULE = "healthpod.ingest.apple.export"


def pick_member(names: Sequence[str]) -> str | None:
    """The archive's export.xml (not export_cda.xml), at any depth."""
    candidates = [n for n in names if PurePosixPath(n).name.lower() == "export.xml"]
    if not candidates:
        return None
    return min(candidates, key=lambda n: n.count("/"))


def is_export_archive(path: Path) -> bool:
    """Whether `path` looks like the Health app's export.zip (a guess: nothing is checked
    for safety here; the import opens it with every guard)."""
    from healthpod.ingest.reader_process import UNREADABLE_ZIP

    try:
        with zipfile.ZipFile(path) as zf:
            return pick_member(zf.namelist()) is not None
    except UNREADABLE_ZIP:
        return False


def early_reader(path: Path) -> ReaderSpec | None:
    """The reader process an import of `path` will most likely ask for: an export.zip large
    enough to be parsed in a child, read as `healthpod import` reads it.

    Only a guess, made before the importers and the store are loaded so that the child can
    start reading at once; the import decides for itself, and `reader_process.child_items`
    ends an early child whose spec is not the one it wants.
    """
    from healthpod.ingest.base import ErrorHandling
    from healthpod.ingest.reader_process import PARALLEL_MIN_BYTES, ReaderSpec, parsed_bytes

    try:
        large = path.is_file() and parsed_bytes(path) >= PARALLEL_MIN_BYTES
    except OSError:
        return None
    if not large or not is_export_archive(path):
        return None
    return ReaderSpec(IMPORTER_MODULE, str(path), None, path.name, ErrorHandling.WARN)
