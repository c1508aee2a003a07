"""Opening files that come from outside without trusting them.

Guards, each with a message naming the file: zip members are checked while they stream (a
zip bomb is caught by the bytes it actually inflates to, not by the header's claim), member
names with `../` or absolute paths are refused, macOS junk (`__MACOSX/`, `._*`, `.DS_Store`)
is skipped, and XML parsers get entities, DTD loading and network access switched off (an
internal DTD subset, as real Apple exports have, still parses).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import IO, Any, BinaryIO, cast

import numpy as np
from lxml import etree

from healthpod.errors import MalformedFile
from healthpod.ingest import zip_inflate

MiB = 1024 * 1024
MAX_MEMBER_BYTES = 20 * 1024 * MiB  # no real export member is near 20 GB
MAX_RATIO = 100  # export.xml deflates about 15 to 30 times; 100 times is a bomb
RATIO_GRACE_BYTES = 16 * MiB  # small members may have any ratio (a file of zeros, say)
MAX_MEMBERS = 200_000
MAX_LINE_BYTES = 64 * MiB  # an XML "line" (text between tags) longer than this is hostile

JUNK_DIRS = ("__MACOSX/",)
JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


def is_junk(name: str) -> bool:
    """True for macOS/Windows litter that is never health data."""
    if name.startswith(JUNK_DIRS) or "/__MACOSX/" in name:
        return True
    base = PurePosixPath(name).name
    return base.startswith("._") or base in JUNK_NAMES or name.endswith("/")


def check_member_name(archive: str, name: str) -> None:
    """Refuse member names that point outside the archive.

    Raises:
        MalformedFile: the name is absolute or climbs with `..`.
    """
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":") or ".." in posix.split("/"):
        raise MalformedFile(
            f"the archive holds a file named {name!r}, which points outside the archive.",
            source=archive,
            hint="This is not an export written by a health app; it was not imported.",
        )


def list_members(archive: str, zf: zipfile.ZipFile) -> list[str]:
    """Member names worth reading: checked for traversal, without junk and directories.

    Raises:
        MalformedFile: a hostile name, or far too many members.
    """
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise MalformedFile(
            f"the archive holds {len(infos):,} files, more than any health export.",
            source=archive,
        )
    names = []
    for info in infos:
        check_member_name(archive, info.filename)
        if not is_junk(info.filename):
            names.append(info.filename)
    return names


def open_zip(archive: str, fp: IO[bytes]) -> zipfile.ZipFile:
    """Open a zip archive.

    Raises:
        MalformedFile: not a zip, or a damaged one.
    """
    try:
        return zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise MalformedFile(
            f"this is not a readable zip archive ({exc}).",
            source=archive,
            hint="The download may be incomplete; export or download it again.",
        ) from exc


_READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    *zip_inflate.ERRORS,
)


class GuardedMember(io.RawIOBase):
    """A zip member's stream that stops when it inflates to more than is believable."""

    def __init__(self, archive: str, zf: zipfile.ZipFile, name: str) -> None:
        super().__init__()
        self._label = f"{archive}, member {name}"
        self._info = zf.getinfo(name)
        # The header's compressed size may lie; the member cannot be larger than the archive.
        archive_size = 0
        if zf.fp is not None:
            position = zf.fp.tell()
            archive_size = zf.fp.seek(0, io.SEEK_END)
            zf.fp.seek(position)
        self._compressed = max(1, min(self._info.compress_size, archive_size or 1 << 62))
        self._inner: io.RawIOBase | io.BufferedIOBase
        try:
            if zf.fp is not None and zip_inflate.can_inflate(self._info):
                self._inner = zip_inflate.InflatedMember(zf.fp, self._info, self._label)
            else:
                self._inner = cast(io.BufferedIOBase, zf.open(self._info))
        # zipfile raises NotImplementedError for a compression method it lacks (e.g. Deflate64)
        # and RuntimeError for an encrypted member: both are facts about the file.
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise MalformedFile(f"the member cannot be read ({exc}).", source=self._label) from exc
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._inner.readinto(buffer) or 0
        except _READ_ERRORS as exc:
            raise MalformedFile(
                f"the archive is damaged ({exc}).",
                source=self._label,
                hint=zip_inflate.DAMAGED_HINT,
            ) from exc
        self._read += n
        self._check()
        return n

    def _check(self) -> None:
        compressed = self._compressed
        if self._read > MAX_MEMBER_BYTES or (
            self._read > RATIO_GRACE_BYTES and self._read / compressed > MAX_RATIO
        ):
            raise MalformedFile(
                f"the member inflates to more than {self._read // MiB:,} MB from "
                f"{compressed // MiB or compressed:,} {'MB' if compressed >= MiB else 'bytes'} "
                "(a zip bomb); stopped reading.",
                source=self._label,
                hint="This is not an export written by a health app; it was not imported.",
            )

    def close(self) -> None:
        self._inner.close()
        super().close()


@contextmanager
def open_member(archive: str, zf: zipfile.ZipFile, name: str) -> Iterator[BinaryIO]:
    """A buffered, bomb-guarded stream of one member."""
    raw = GuardedMember(archive, zf, name)
    with io.BufferedReader(raw, buffer_size=1 * MiB) as fp:
        yield cast(BinaryIO, fp)


def peek(fp: BinaryIO, size: int) -> bytes:
    """The next `size` bytes of `fp` without consuming them (seekable or buffered streams)."""
    if fp.seekable():
        position = fp.tell()
        head = fp.read(size)
        fp.seek(position)
        return head
    peeked = getattr(fp, "peek", None)
    if peeked is None:
        raise TypeError("peek() needs a seekable or buffered stream")
    return bytes(peeked(size)[:size])


class TrackedFile(io.RawIOBase):
    """A file that reports how far it has been read (for progress bars), seekable for zipfile."""

    def __init__(self, raw: IO[bytes], on_progress: Callable[[int], None] | None) -> None:
        super().__init__()
        self._raw = raw
        self._on_progress = on_progress
        self._reported = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if self._on_progress is not None:
            position = self._raw.tell()
            if position - self._reported >= MiB or n == 0 or position < self._reported:
                self._reported = position
                self._on_progress(position)
        return int(n or 0)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._on_progress is not None:
            position = self._raw.tell()
            if position - self._reported >= MiB or not data or position < self._reported:
                self._reported = position
                self._on_progress(position)
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


def xml_parser(**kwargs: Any) -> etree.XMLParser:
    """An lxml parser that reads nothing outside the file and has no DTD loaded.

    Entities stay "internal": with resolution off, libxml2 hands `&amp;` in attributes over as
    `&#38;`; `PrologueGuard` has refused every entity declaration before the parse starts,
    so only the five predefined entities and character references remain.
    """
    parser: etree.XMLParser = etree.XMLParser(
        resolve_entities="internal",
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        **kwargs,
    )
    return parser


# The document type declaration may hold element and attribute lists (Apple's does) but no
# entity declarations and no external subset: those are how entity bombs and XXE start.
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_EXTERNAL_DTD = re.compile(rb"<!DOCTYPE\s+[^\s\[>]+\s+(SYSTEM|PUBLIC)\b", re.IGNORECASE)
MAX_PROLOGUE_BYTES = 4 * MiB
NEWLINE = b"\n"


class PrologueGuard:
    """Checks the bytes before the root element for entity declarations and external DTDs."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.buffer = b""
        self.done = False

    def check(self, chunk: bytes) -> None:
        """Look at the next chunk of the file until the root element has started.

        Raises:
            MalformedFile: the file declares entities or an external DTD, or its prologue is huge.
        """
        if self.done:
            return
        self.buffer += chunk
        text = _COMMENT.sub(b"", self.buffer)
        if _ENTITY.search(text):
            raise MalformedFile(
                "the file declares XML entities, which health exports never do "
                "(a way to attack XML readers); it was not imported.",
                source=self.filename,
                location=_line_of(self.buffer, b"<!ENTITY"),
                hint="Import the export exactly as the app wrote it.",
            )
        if _EXTERNAL_DTD.search(text):
            raise MalformedFile(
                "the file refers to an external document type (DTD), which health exports never "
                "do; nothing was fetched and it was not imported.",
                source=self.filename,
                location=_line_of(self.buffer, b"<!DOCTYPE"),
                hint="Import the export exactly as the app wrote it.",
            )
        root_started = _root_started(text)
        if root_started:
            self.done = True
            self.buffer = b""
        elif len(self.buffer) > MAX_PROLOGUE_BYTES:
            raise MalformedFile(
                "the part before the first element is larger than 4 MB, which no health "
                "export has; it was not imported.",
                source=self.filename,
                hint="Import the export exactly as the app wrote it.",
            )


MAX_TOKEN_BYTES = 8 * MiB  # no tag, attribute or text of a health export comes near this


class LongTokenGuard:
    """Stops at a tag, value or text run longer than `MAX_TOKEN_BYTES` (a gigabyte-long line).

    libxml2 would buffer such a token whole; this looks only for the `>` that ends each tag,
    two searches per chunk, and knows the line the long token started on.
    """

    def __init__(self, filename: str, limit: int = MAX_TOKEN_BYTES) -> None:
        self.filename = filename
        self.limit = limit
        self.since = 0  # bytes since the last ">"
        self.lines = 1  # line at the start of the next chunk
        # Where the run after the last ">" starts: a chunk, its first line and an offset.
        # The line itself is only counted when it is needed, for the error.
        self.token_at: tuple[bytes, int, int] = (b"", 1, 0)

    def check(self, chunk: bytes) -> None:
        """Raises MalformedFile when the run since the last `>` gets too long."""
        first = chunk.find(b">")
        if first < 0:
            self.since += len(chunk)
        elif self.since + first > self.limit:
            self.since += first
        else:
            last = chunk.rfind(b">")
            rest = chunk[last + 1 :]
            blank = len(rest) - len(rest.lstrip())
            self.token_at = (chunk, self.lines, last + 1 + blank)
            self.since = len(rest)
        if self.since > self.limit:
            where, line, offset = self.token_at
            raise MalformedFile(
                f"a single tag, value or line is longer than {self.limit // MiB} MB, far longer "
                "than any health export has; stopped reading.",
                source=self.filename,
                location=f"line {line + where.count(NEWLINE, 0, offset)}",
                hint="This is not an export as the app wrote it; export again and import that.",
            )
        self.lines += count_newlines(chunk)


def count_newlines(data: bytes, start: int = 0, stop: int | None = None) -> int:
    """`data.count(b"\\n", start, stop)`, a few times faster on long data (numpy compares in
    SIMD; bytes.count goes byte by byte)."""
    if (len(data) if stop is None else stop) - start < 4096:
        return data.count(NEWLINE, start, stop)
    return int(np.count_nonzero(np.frombuffer(data, np.uint8)[start:stop] == 10))


def _root_started(text: bytes) -> bool:
    """True once an element start tag (not <? or <!) appears after any DOCTYPE has closed."""
    position = 0
    doctype = text.find(b"<!DOCTYPE")
    if doctype >= 0:
        subset = text.find(b"[", doctype)
        close = text.find(b"]>", doctype) if subset >= 0 else text.find(b">", doctype)
        if close < 0:
            return False
        position = close
    return re.search(rb"<[^?!]", text[position:]) is not None


def _line_of(data: bytes, needle: bytes) -> str | None:
    index = data.upper().find(needle.upper())
    if index < 0:
        return None
    return f"line {data.count(NEWLINE, 0, index) + 1}"


def syntax_error(filename: str, exc: Any, *, hint: str) -> MalformedFile:
    """Our error for an lxml syntax error: the file, the line and what was wrong, in words."""
    line = getattr(exc, "lineno", None) or (
        exc.position[0] if getattr(exc, "position", None) else None
    )
    raw = str(getattr(exc, "msg", None) or exc)
    lowered = raw.lower()
    if "huge" in lowered or "too long" in lowered or "limit" in lowered:
        message = (
            "a single value or line is far longer than any health export has; stopped reading."
        )
    elif "premature end" in lowered or "end of data" in lowered:
        message = f"the file ends in the middle of the XML: it is cut short ({raw.strip()})."
    elif "entity" in lowered or "amplification" in lowered:
        message = f"the file uses XML entities, which health exports never do ({raw.strip()})."
    elif "document is empty" in lowered or "start tag expected" in lowered:
        message = f"this is not XML ({raw.strip()})."
    else:
        message = f"the XML is broken: {raw.strip()}."
    return MalformedFile(
        message,
        source=filename,
        location=None if not line else f"line {line}",
        hint=hint,
    )
