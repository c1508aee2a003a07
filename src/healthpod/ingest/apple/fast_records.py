"""Top-level `<Record>` elements in the Health app's own layout, read without the XML parser.

A large export is almost all one-line records such as

    <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Apple Watch" … value="72"/>

and calling back into Python for every element is what made lxml's parse the slowest step
(about 5 µs a record). Here one anchored regular expression takes a whole record, its
attributes in the order the Health app writes them and any `<MetadataEntry>` children, and the
text is handed over to `RecordColumns` column by column.

It is a fast path, never a second parser with its own idea of XML: a record is taken only
where the answer is certain to be the same as lxml's, and every other byte still goes to lxml
in order. So the XML parser keeps deciding well-formedness, depth, errors and their line
numbers (a taken record reaches it as its newlines). Taken are only:

- records directly under `<HealthData>`: lxml's depth is 1, the last markup it was given
  closed an element, and after the root there has been no comment, CDATA or processing
  instruction (inside one, `<Record` is text);
- records whose attributes are exactly `name="value"` pairs in Apple's order, with values free
  of `<`, control characters, U+FFFE/U+FFFF and character references (only the five named
  entities, which are undone here), in valid UTF-8;
- in XML 1.0 documents whose encoding is UTF-8.

`tests/ingest/test_apple_fast.py` checks that the items are the same with and without it.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable
from itertools import chain
from typing import Any, cast

from healthpod.ingest.apple.record_batches import FIELDS, Meta, Run
from healthpod.ingest.safe_files import count_newlines

_PLAIN = rb'[^"<&\x00-\x1f]*'  # no entity at all: types, dates, numbers, metadata keys
_TEXT = rb'[^"<\x00-\x1f]*'  # named entities allowed, checked per run (_BARE_AMPERSAND)


def _optional(name: bytes, value: bytes) -> bytes:
    return rb"(?: " + name + rb'="(' + value + rb')")?'


def _record(plain: bytes, text: bytes) -> re.Pattern[bytes]:
    """A record, its attribute values matched by `plain` or `text`; its children strictly."""
    return re.compile(
        rb'[ \t\r\n]*<Record type="('
        + plain
        + rb')" sourceName="('
        + text
        + rb')"'
        + _optional(b"sourceVersion", text)
        + _optional(b"device", text)
        + _optional(b"unit", text)
        + _optional(b"creationDate", plain)
        + rb' startDate="('
        + plain
        + rb')" endDate="('
        + plain
        + rb')"'
        + _optional(b"value", plain)
        + rb'(?:/>|>((?:[ \t\r\n]*<MetadataEntry key="'
        + _PLAIN
        + rb'" value="'
        + _TEXT
        + rb'"/>)*)'
        + rb"(?:[ \t\r\n]*<HeartRateVariabilityMetadataList>((?:[ \t\r\n]*"
        + rb'<InstantaneousBeatsPerMinute bpm="'
        + _PLAIN
        + rb'" time="'
        + _PLAIN
        + rb'"/>)*)[ \t\r\n]*</HeartRateVariabilityMetadataList>)?'
        + rb"[ \t\r\n]*</Record>)"
    )


RECORD = _record(_PLAIN, _TEXT)
# The same with any attribute value up to its closing quote: sre scans `[^"]*` in a tight
# loop but tests a character class byte by byte, and the attribute values are most of an
# export's bytes. What the strict classes refuse is then looked for per column (`_checked_columns`),
# mostly in the few distinct values of the long ones (device, source); a run with anything
# doubtful is taken again with RECORD.
LOOSE_RECORD = _record(rb'[^"]*', rb'[^"]*')
_METADATA = re.compile(rb'<MetadataEntry key="(' + _PLAIN + rb')" value="(' + _TEXT + rb')"/>')
_BEAT = re.compile(
    rb'<InstantaneousBeatsPerMinute bpm="(' + _PLAIN + rb')" time="(' + _PLAIN + rb')"/>'
)
_BEATS = "HeartRateVariabilityMetadataList"
_BEAT_JSON = b'{"bpm": "%s", "time": "%s"}, '  # one beat, as json.dumps writes it
# What lxml would refuse or read otherwise: a bare or numeric `&`, U+FFFE, U+FFFF.
_BARE_AMPERSAND = re.compile(rb"&(?!(?:lt|gt|amp|quot|apos);)")
_NONCHARACTER = re.compile(rb"\xef\xbf[\xbe\xbf]")
_DECLARED_ENCODING = re.compile(rb'encoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']')
_DECLARED_VERSION = re.compile(rb'version\s*=\s*["\']([0-9.]+)["\']')
_ATTLIST = re.compile(rb"<!ATTLIST\s+(?:Record|MetadataEntry)\s([^>]*)>")
_PLAIN_ATTRIBUTES = re.compile(rb"\s*(?:[\w:.-]+\s+CDATA\s+#(?:REQUIRED|IMPLIED)\s*)*")
_META_COLUMN = len(FIELDS)
_NUL = b"\x00"
_ABSENT = b"\x01"  # stands for a missing attribute while a column is decoded in one go


def _declares_other_attributes(prologue: bytes) -> bool:
    """Whether the DTD gives Record or MetadataEntry attributes a type or default.

    lxml would then normalise or add values (XML 1.0 §3.3), which the fast path does not.
    """
    for declared in _ATTLIST.finditer(prologue):
        if not _PLAIN_ATTRIBUTES.fullmatch(declared.group(1)):
            return True
    return False


def is_plain_document(head: bytes) -> bool:
    """Whether the document's first bytes make it XML 1.0 in UTF-8 (declared or by default).

    XML 1.1 reads more characters as line ends and controls; other encodings need decoding.
    """
    if head.startswith((b"\xfe\xff", b"\xff\xfe", b"\x00", b"\x4c\x6f\xa7\x94")):
        return False  # UTF-16/32 or EBCDIC
    head = head.removeprefix(b"\xef\xbb\xbf")
    declaration = head[: head.find(b"?>") + 2] if head.startswith(b"<?xml") else b""
    version = _DECLARED_VERSION.search(declaration)
    if version is not None and version.group(1) != b"1.0":
        return False
    encoding = _DECLARED_ENCODING.search(declaration)
    return encoding is None or encoding.group(1).lower() in (b"utf-8", b"utf8")


def unescape(text: str) -> str:
    """Undo the five named entities (`&amp;` last, so `&amp;lt;` stays `&lt;`)."""
    if "&" not in text:
        return text
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


class Scanner:
    """Splits the document between this fast path and lxml's `feed`, in document order.

    `depth` and `feed_xml` are the XML side: the parser target's current depth and the
    parser's feed. Records taken go to `take(columns, metas, count, nodes, run)`: their
    attribute columns in `FIELDS` order, their metadata by row, how many there are, how many
    child elements (metadata entries, beats) they had, which bound a batch's memory, and
    where they stood (`Run`, for line numbers).
    """

    def __init__(
        self,
        depth: Callable[[], int],
        feed_xml: Callable[[bytes], None],
        take: Callable[[list[list[Any]], dict[int, Meta], int, int, Run], None],
    ) -> None:
        self.depth = depth
        self.feed_xml = feed_xml
        self.take = take
        self.armed = False  # the root element is open and nothing after it rules us out
        self.disabled = False
        self.closed = False  # the last markup lxml was given ended an element
        self.saw_root = False
        self.line = 1  # the line the data of the current `feed` starts on
        self.counted = (0, 1)  # a position in that data and its line
        self.prologue: list[bytes] = []  # bytes before the root element (bounded by PrologueGuard)

    def feed(self, data: bytes, *, final: bool) -> bytes:
        """Hand `data` to the fast path and lxml; return the tail kept for the next call.

        The tail starts at the last `<Record` (or else the last line), so that a record is
        not cut in two between calls; it is never longer than 1 MB.
        """
        end = len(data)
        if not final:
            end = data.rfind(b"<Record ")
            if end <= 0:
                end = data.rfind(b"\n") + 1
            if end <= 0 or len(data) - end > 1 << 20:
                end = len(data)
        pos = 0
        self.counted = (0, self.line)
        while pos < end:
            if self.armed and self.closed and self.depth() == 1:
                pos = self._take_run(data, pos, end)
                if pos >= end:
                    break
            candidate = data.find(b"<Record ", pos + 1, end)
            stop = end if candidate < 0 or self.disabled else candidate
            self._feed_xml(data, pos, stop)
            pos = stop
        self.line = self._line_at(data, end)
        return data[end:]

    def _line_at(self, data: bytes, pos: int) -> int:
        """The line of `data[pos]`, counting on from the last position asked about."""
        since, line = self.counted
        line += count_newlines(data, since, pos)
        self.counted = (pos, line)
        return line

    def _feed_xml(self, data: bytes, start: int, stop: int) -> None:
        segment = data[start:stop]
        self.feed_xml(segment)
        if self.disabled:
            return
        if not self.saw_root:
            root = segment.find(b"<HealthData")
            if root < 0:
                self.prologue.append(segment)
                return
            self.saw_root = True
            self.prologue.append(segment[:root])
            if _declares_other_attributes(b"".join(self.prologue)):
                self.disabled = True
                return
            self.prologue.clear()
            segment = segment[root:]
        if b"<!" in segment or b"<?" in segment:
            self.disabled = True
            self.armed = False
            return
        # The last markup lxml was given (a few hundred bytes of whitespace at most follow);
        # whitespace alone changes nothing.
        tail = segment[-512:].rstrip()
        if tail or len(segment) > 512:
            last_open = tail.rfind(b"<")
            self.closed = last_open >= 0 and (
                tail.endswith(b"/>")
                or (tail.endswith(b">") and tail[last_open + 1 : last_open + 2] == b"/")
            )
        if not self.armed and self.depth() == 1:
            self.armed = True

    def _take_run(self, data: bytes, pos: int, end: int) -> int:
        """Take the records that follow each other from `pos`; return where they stop."""
        rows, ends = _matches(LOOSE_RECORD, data, pos, end)
        if not rows:
            return pos
        try:
            columns, metas, nodes = _checked_columns(rows)
        except _Doubtful:
            return self._take_strict_run(data, pos, end)
        return self._hand_over(data, pos, ends, (columns, metas, nodes), len(rows))

    def _take_strict_run(self, data: bytes, pos: int, end: int) -> int:
        """`_take_run` where a loosely matched record held something doubtful: the records
        before the first byte lxml might read otherwise."""
        rows, ends = _matches(RECORD, data, pos, end)
        if not rows:
            return pos
        cut = self._first_doubtful(data, pos, ends[-1])
        if cut is not None:
            keep = bisect_right(ends, cut)  # the records that end before the doubtful byte
            del rows[keep:]
            if not rows:
                return pos
        return self._hand_over(data, pos, ends, _columns(rows), len(rows))

    def _hand_over(
        self,
        data: bytes,
        start: int,
        ends: list[int],
        read: tuple[list[list[Any]], dict[int, Meta], int],
        count: int,
    ) -> int:
        """Give the first `count` records from `start` to `take`; return where they end."""
        pos = ends[count - 1]
        first_line = self._line_at(data, start)
        newlines = self._line_at(data, pos) - first_line
        self.feed_xml(b"\n" * newlines)  # lxml's line numbers stay true
        columns, metas, nodes = read
        run = Run(0, first_line, data, start, ends if count == len(ends) else ends[:count])
        self.take(columns, metas, count, nodes, run)
        self.closed = True
        return pos

    @staticmethod
    def _first_doubtful(data: bytes, start: int, stop: int) -> int | None:
        """The first byte in [start, stop) that lxml might read otherwise, or None."""
        # Two searches, each with a literal first byte, scan at memchr speed; one
        # alternation of both would try every position.
        doubtful = [
            found.start()
            for pattern in (_BARE_AMPERSAND, _NONCHARACTER)
            if (found := pattern.search(data, start, stop)) is not None
        ]
        first = min(doubtful, default=None)
        run = data[start : stop if first is None else first]
        if not run.isascii():
            try:
                run.decode("utf-8")
            except UnicodeDecodeError as exc:
                first = start + exc.start
        return first


def _matches(
    pattern: re.Pattern[bytes], data: bytes, pos: int, end: int
) -> tuple[list[tuple[bytes | None, ...]], list[int]]:
    """The groups of the records that follow each other from `pos`, and where each ends."""
    match = pattern.match
    rows: list[tuple[bytes | None, ...]] = []
    ends: list[int] = []
    while True:
        found = match(data, pos, end)
        if found is None:
            return rows, ends
        rows.append(found.groups())
        pos = found.end()
        ends.append(pos)


class _Doubtful(Exception):
    """A loosely matched run holds a value lxml might read otherwise."""


# Columns with few distinct values (checked and decoded once per value) and the rest.
_REPEATING = frozenset(
    FIELDS.index(name) for name in ("type", "sourceName", "sourceVersion", "device", "unit")
)
_ENTITIES_ALLOWED = frozenset(
    FIELDS.index(name) for name in ("sourceName", "sourceVersion", "device", "unit")
)
_REFUSED_TEXT = re.compile(rb"[<\x00-\x1f]|&(?!(?:lt|gt|amp|quot|apos);)|\xef\xbf[\xbe\xbf]")
_REFUSED_PLAIN = re.compile(rb"[<&\x00-\x1f]|\xef\xbf[\xbe\xbf]")
_REFUSED_JOINED = re.compile(rb"[<&\x01-\x1f]|\xef\xbf[\xbe\xbf]")  # NUL joins values
_REFUSED_ASCII = bytes([*range(0x20), ord("<"), ord("&")])


def _checked_columns(
    rows: list[tuple[bytes | None, ...]],
) -> tuple[list[list[Any]], dict[int, Meta], int]:
    """`_columns` of loosely matched rows, or _Doubtful where RECORD would not have taken
    them all (a refused byte, a character reference, invalid UTF-8, U+FFFE/U+FFFF)."""
    raw = list(zip(*rows, strict=True))
    columns = [
        _repeating(raw[i], i in _ENTITIES_ALLOWED) if i in _REPEATING else _distinct(raw[i])
        for i in range(_META_COLUMN)
    ]
    try:
        metas, nodes = _children(raw[_META_COLUMN], raw[_META_COLUMN + 1], checked=True)
    except UnicodeDecodeError:
        raise _Doubtful from None
    return columns, metas, nodes


def _repeating(column: tuple[bytes | None, ...], entities: bool) -> list[str | None]:
    """A column of few distinct values, each checked and decoded once."""
    refused = _REFUSED_TEXT if entities else _REFUSED_PLAIN
    texts: dict[bytes | None, str | None] = {}
    first = column[0]
    # Within a run, the type and unit and often the source are one value throughout.
    alike = column.count(first) == len(column)
    for value in (first,) if alike else dict.fromkeys(column):
        if value is None:
            texts[value] = None
            continue
        if refused.search(value):
            raise _Doubtful
        try:
            texts[value] = unescape(value.decode("utf-8"))
        except UnicodeDecodeError:
            raise _Doubtful from None
    if alike:
        return [texts[first]] * len(column)
    return list(map(texts.__getitem__, column))


def _distinct(column: tuple[bytes | None, ...]) -> list[str | None]:
    """A column of mostly different values (dates, numbers): checked and decoded at once."""
    absent = None in column
    present = [v for v in column if v is not None] if absent else cast(tuple[bytes], column)
    joined = _NUL.join(present)
    if not joined.isascii():
        if joined.count(_NUL) != len(present) - 1 or _REFUSED_JOINED.search(joined):
            raise _Doubtful
        try:
            text = joined.decode("utf-8")
        except UnicodeDecodeError:
            raise _Doubtful from None
    else:
        # translate() drops the refused bytes (and the NULs between values) in one pass.
        if len(joined) - len(joined.translate(None, _REFUSED_ASCII)) != len(present) - 1:
            raise _Doubtful
        text = joined.decode("ascii")
    texts: list[Any] = text.split("\x00")
    if absent:
        found = iter(texts)
        texts = [None if v is None else next(found) for v in column]
    return texts


def _columns(
    rows: list[tuple[bytes | None, ...]],
) -> tuple[list[list[Any]], dict[int, Meta], int]:
    """The rows' attribute columns as text (None where absent), their metadata by row, and
    the number of child elements behind that metadata."""
    raw = list(zip(*rows, strict=True))
    columns = [_decode(column) for column in raw[:_META_COLUMN]]
    metas, nodes = _children(raw[_META_COLUMN], raw[_META_COLUMN + 1], checked=False)
    return columns, metas, nodes


def _children(
    blocks: tuple[bytes | None, ...], beat_lists: tuple[bytes | None, ...], *, checked: bool
) -> tuple[dict[int, Meta], int]:
    """Metadata by row (a beat list's already as JSON text) and the number of child elements
    behind it; `checked`: raise _Doubtful where the run was not already checked for what
    lxml might read otherwise."""
    metas: dict[int, Meta] = {}
    nodes = 0
    # Most metadata repeats (a time zone, "was user entered"): one dict per distinct block,
    # shared by its rows, which also lets it be encoded once.
    seen: dict[bytes, dict[str, Any]] = {}
    for row, (block, beats) in enumerate(zip(blocks, beat_lists, strict=True)):
        if beats is not None:  # beat lists are never alike
            if checked and (not beats.isascii() or _doubtful_block(block or b"")):
                raise _Doubtful
            metas[row], children = _with_beats(block or b"", beats)
            nodes += children
        elif block:
            shared = seen.get(block)
            if shared is None:
                if checked and _doubtful_block(block):
                    raise _Doubtful
                shared = seen[block] = _metadata(block)
            metas[row] = shared
            nodes += len(shared)
    return metas, nodes


def _with_beats(block: bytes, beats: bytes) -> tuple[str, int]:
    """A record's metadata with its beat list, as the JSON text `json.dumps` gives for it,
    and the number of child elements behind it.

    Thousands of beats a minute of HRV data would otherwise be a dict each, to pickle, send,
    unpickle and encode. Text that JSON escapes (non-ASCII, a backslash) takes that way.
    """
    meta = _metadata(block)
    if _BEATS in meta or b"\\" in beats or not beats.isascii():
        listed = [{"bpm": b.decode(), "time": t.decode()} for b, t in _BEAT.findall(beats)]
        meta[_BEATS] = listed
        return json.dumps(meta), len(meta) + len(listed)
    meta[_BEATS] = []
    head = json.dumps(meta)  # ends with the empty list: `[]}`
    pairs = _BEAT.findall(beats)
    # One %-format for the whole list: re.sub would call a Python function per beat.
    items = (_BEAT_JSON * len(pairs) % tuple(chain.from_iterable(pairs)))[:-2].decode("ascii")
    return f"{head[:-2]}{items}]}}", len(meta) + len(pairs)


def _doubtful_block(block: bytes) -> bool:
    """Whether metadata entries hold what lxml reads otherwise (bad UTF-8 fails decoding)."""
    return bool(_BARE_AMPERSAND.search(block) or _NONCHARACTER.search(block))


def _metadata(block: bytes) -> dict[str, Any]:
    return {key.decode(): unescape(value.decode()) for key, value in _METADATA.findall(block)}


def _decode(column: tuple[bytes | None, ...]) -> list[str | None]:
    """A column of UTF-8 bytes as text in one decode (values hold neither NUL nor \\x01)."""
    absent = None in column
    present = (
        [_ABSENT if v is None else v for v in column] if absent else cast(tuple[bytes], column)
    )
    joined = _NUL.join(present)
    text = joined.decode("utf-8")
    texts: list[Any] = unescape(text).split("\x00")  # entities never span a NUL
    if absent:
        texts = [None if t == "\x01" else t for t in texts]
    return texts
