"""A head start for `healthpod import`: its reader process starts before anything heavy loads.

The import command calls `start_reader` first, with its parsed arguments: before the settings
(pydantic), the store (SQLAlchemy) and the importers load, which takes a few tenths of a
second. A reader process started now has done its own start-up (Python, numpy, lxml) by the
time the import wants it; given a Health export.zip it is reading the file already. The import
takes it (`reader_process.child_items`) or, if it wants another, ends it; the command ends an
unused one (`reader_process.discard_spare`). See docs/decisions/0005-two-process-apple-reader.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from healthpod.ingest import reader_process


def start_reader(paths: Sequence[Path], *, format: str | None, profile: bool) -> None:
    """Before an import of `paths` loads anything heavy, start the reader process it will most
    likely want, so that its start-up overlaps this process's (settings, store, importers).

    Only when some file is large enough to be parsed in a child (`parsed_bytes`), and not for a
    CSV profile (read here). One Health export.zip with its format not given is handed to the
    child at once, which then reads while this process loads the store
    (`apple.archive.early_reader`).
    """
    if profile or not any(_large(path) for path in paths):
        return
    early = None
    if len(paths) == 1 and format is None:
        from healthpod.ingest.apple.archive import early_reader

        early = early_reader(paths[0])
    reader_process.prestart(early)


def _large(path: Path) -> bool:
    """Whether `path` is a file large enough that its format may parse it in a second process."""
    try:
        return (
            path.is_file()
            and reader_process.parsed_bytes(path) >= reader_process.PARALLEL_MIN_BYTES
        )
    except OSError:
        return False
