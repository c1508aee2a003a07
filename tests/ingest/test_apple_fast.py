"""The fast record scanner reads exactly what lxml reads, or leaves the bytes to lxml.

Every test parses the same bytes twice, with the fast path and without it, and asserts the
same items come out (batch boundaries aside) or the same error is raised.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ingest.apple_builder import HEAD, TAIL, export_xml

from healthpod.errors import HealthpodError, MalformedFile
from healthpod.ingest.apple import export, fast_records
from healthpod.ingest.base import ErrorHandling, SampleBatch, Warning_

DATA = Path(__file__).parents[1] / "data" / "apple"
WATCH = "&lt;&lt;HKDevice: 0x2811&gt;, name:Apple Watch, manufacturer:Apple Inc.&gt;"


class Trickle(io.RawIOBase):
    """A file that hands out at most `step` bytes a read, to cut records anywhere."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        piece = self.data[self.at : self.at + min(self.step, size if size >= 0 else self.step)]
        self.at += len(piece)
        return piece


def outcome(data: bytes, *, fast: bool, step: int | None = None) -> Any:
    """The items as comparable rows, or the error's class and message."""
    fp: Any = io.BytesIO(data) if step is None else Trickle(data, step)
    try:
        items = list(export.parse(fp, "export.xml", ErrorHandling.WARN, fast=fast))
    except HealthpodError as exc:
        return ("error", type(exc).__name__, str(exc))
    rows: list[Any] = []
    for item in items:
        if isinstance(item, SampleBatch):
            for r in range(len(item.start_ms)):
                rows.append(
                    (
                        item.keys[item.key_index[r]],
                        item.start_ms[r],
                        item.end_ms[r],
                        item.start_offset_min[r],
                        item.end_offset_min[r],
                        item.values[r],
                        item.sources[item.source_index[r]],
                        item.versions[item.version_index[r]],
                        item.devices[item.device_index[r]],
                        item.created_ms[r],
                        repr(item.meta[r]),
                    )
                )
        elif isinstance(item, Warning_):  # the fast path can name the line; lxml's cannot
            rows.append(("warning", re.sub(r"^line \d+, ", "", item.location), item.message))
        else:
            rows.append(repr(item))
    return Counter(repr(row) for row in rows)


def assert_same(data: bytes, step: int | None = None) -> Any:
    slow = outcome(data, fast=False)
    assert outcome(data, fast=True, step=step) == slow
    return slow


def record(
    value: str = "72",
    *,
    indent: str = " ",
    source: str = "Apple\u00a0Watch",
    device: str | None = WATCH,
    extra: str = "",
    metadata: tuple[tuple[str, str], ...] = (),
) -> str:
    attrs = (
        f'type="HKQuantityTypeIdentifierHeartRate" sourceName="{source}" sourceVersion="10.2"'
        + (f' device="{device}"' if device is not None else "")
        + ' unit="count/min" creationDate="2024-01-01 10:00:05 +0100"'
        + ' startDate="2024-01-01 10:00:00 +0100" endDate="2024-01-01 10:00:00 +0100"'
        + f' value="{value}"{extra}'
    )
    if not metadata:
        return f"{indent}<Record {attrs}/>\n"
    entries = "".join(f'{indent} <MetadataEntry key="{k}" value="{v}"/>\n' for k, v in metadata)
    return f"{indent}<Record {attrs}>\n{entries}{indent}</Record>\n"


def document(*parts: str) -> bytes:
    return HEAD + "".join(parts).encode() + TAIL


def test_the_shared_real_exports_read_the_same() -> None:
    files = sorted(DATA.rglob("export.xml"))
    assert files
    for path in files:
        assert not isinstance(assert_same(path.read_bytes()), tuple), path


def hrv(beats: int, *, metadata: bool = True) -> str:
    entry = '  <MetadataEntry key="HKAlgorithmVersion" value="2"/>\n' if metadata else ""
    listed = "".join(
        f'   <InstantaneousBeatsPerMinute bpm="{60 + i}" time="7:51:{10 + i}.41 PM"/>\n'
        for i in range(beats)
    )
    return (
        record("48").replace("HeartRate", "HeartRateVariabilitySDNN").replace("/>\n", ">\n")
        + entry
        + f"  <HeartRateVariabilityMetadataList>\n{listed}  </HeartRateVariabilityMetadataList>\n"
        + " </Record>\n"
    )


@pytest.mark.parametrize(
    "beats",
    [
        hrv(3),
        hrv(0),
        hrv(2, metadata=False),
        hrv(2)
        .replace("<HeartRateVariabilityMetadataList>", "<HeartRateVariabilityMetadataList/>")
        .replace("</HeartRateVariabilityMetadataList>", ""),
        record("48").replace("/>", "></Record>"),
        record("48").replace("/>", ">\n </Record>"),
    ],
    ids=["hrv", "no-beats", "no-metadata", "self-closed-list", "empty", "empty-lines"],
)
def test_records_with_beat_lists_or_no_children_read_the_same(beats: str) -> None:
    assert_same(document(record("70"), beats, record("71"), beats))


def test_records_cut_at_every_chunk_size_read_the_same() -> None:
    data = document(
        *(
            record(str(60 + i), metadata=(("HKMetadataKeyHeartRateMotionContext", "1"),))
            for i in range(5)
        ),
        *(record(str(80 + i)) for i in range(5)),
        hrv(4),
        record("90"),
    )
    for step in (1, 7, 64, 333):
        assert_same(data, step=step)


def test_records_inside_a_correlation_stay_in_the_correlation() -> None:
    nested = record("120", indent="  ").replace("HeartRate", "BloodPressureSystolic")
    data = document(
        record("70"),
        ' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Cuff"'
        ' creationDate="2024-01-01 10:00:05 +0100" startDate="2024-01-01 10:00:00 +0100"'
        ' endDate="2024-01-01 10:00:00 +0100">\n',
        nested,
        " </Correlation>\n",
        record("71"),
    )
    rows = assert_same(data)
    assert any("Correlation" in row for row in rows)


@pytest.mark.parametrize(
    "odd",
    [
        ' <!-- a comment with a record: <Record type="X" sourceName="Y"'
        ' startDate="2024-01-01 10:00:00 +0100" endDate="2024-01-01 10:00:00 +0100"/> -->\n',
        " <![CDATA[ <Record /> ]]>\n",
        ' <?pi <Record type="X"/> ?>\n',
        " text between elements &amp; more\n",
    ],
    ids=["comment", "cdata", "processing-instruction", "text"],
)
def test_markup_that_hides_records_turns_the_fast_path_off(odd: str) -> None:
    assert_same(document(record("70"), odd, record("71"), record("72")))


@pytest.mark.parametrize(
    "text",
    [
        "Health &amp; Fitness",
        "A&#38;B",  # a character reference: left to lxml
        "Anna\u2019s iPhone",
        "quote &quot;x&quot; &apos;y&apos; &gt;",
        "&amp;lt;",  # stays the four characters &lt;
    ],
)
def test_escaped_and_unicode_text_reads_the_same(text: str) -> None:
    assert_same(document(record("70", source=text, device=text), record("71", source=text)))


@pytest.mark.parametrize(
    "broken",
    [
        record("7&2"),  # a bare ampersand
        record("72", source="Apple\x01Watch"),  # a control character
        record("72", source="bad\uffffchar"),  # a noncharacter
        record("72", extra=' value="73"'),  # a repeated attribute
        record("72").replace("/>", ">"),  # never closed
    ],
    ids=["ampersand", "control", "noncharacter", "repeated", "unclosed"],
)
def test_broken_records_fail_the_same_way_on_the_same_line(broken: str) -> None:
    result = assert_same(document(record("70"), record("71"), broken, record("73")))
    assert result[0] == "error"


@pytest.mark.parametrize(
    "odd",
    [
        record("72").replace("<Record", "<Record\t"),
        record("72").replace('value="72"', "value='72'"),
        record("72").replace('unit="count/min"', 'unit = "count/min"'),
        record("72").replace(" sourceVersion", "\n   sourceVersion"),
        record("72").replace(
            'type="HKQuantityTypeIdentifierHeartRate" sourceName="Apple\u00a0Watch"',
            'sourceName="Apple\u00a0Watch" type="HKQuantityTypeIdentifierHeartRate"',
        ),
    ],
    ids=["tab", "single-quotes", "spaced-equals", "multi-line", "reordered"],
)
def test_valid_records_in_another_layout_read_the_same(odd: str) -> None:
    assert_same(document(record("70"), odd, record("73")))


NO_CREATION = record("74").replace(' creationDate="2024-01-01 10:00:05 +0100"', "")


@pytest.mark.parametrize(
    "odd",
    [
        record("7<2").encode(),
        record("7&amp;2").encode(),
        record("7\u00e92").encode(),
        record("7\uffff2").encode(),
        record("7\x002").encode(),
        record("72").replace("10:00:00 +0100", "10:00:00\t+0100", 1).encode(),
        record("72").replace("+0100", "+01\u00a0", 1).encode(),
        record("72").encode().replace(b'value="72"', b'value="7\xc22"'),
        record("72").encode().replace(b"10:00:00 +0100", b"10:00:00 +01\xc2", 1),
        record("72", device="dev\xf0ice").encode(),
        record("72", metadata=(("k", "a & b"),)).encode(),
        record("72", metadata=(("k", "a \ufffe b"),)).encode(),
        record("72", metadata=(("k", "\u00e9"),)).encode().replace(b"\xc3\xa9", b"\xc3"),
        hrv(2).replace("PM", "P\u00c9").encode(),
        hrv(2).replace("PM", "P\uffff").encode(),
        hrv(2).replace("PM", "P\\M").encode(),
        NO_CREATION.encode(),
    ],
    ids=[
        "lt",
        "entity",
        "non-ascii-value",
        "noncharacter-value",
        "nul",
        "tab-in-date",
        "non-ascii-date",
        "bad-utf8-value",
        "bad-utf8-date",
        "bad-utf8-device",
        "metadata-ampersand",
        "metadata-noncharacter",
        "metadata-bad-utf8",
        "beat-non-ascii",
        "beat-noncharacter",
        "beat-backslash",
        "no-creation-date",
    ],
)
def test_values_the_loose_match_lets_through_read_the_same(odd: bytes) -> None:
    head, tail = document(record("70"), record("71")), document(NO_CREATION, record("75"))
    body = head[: -len(TAIL)] + odd + tail[len(HEAD) :]
    assert_same(body)
    assert_same(body, step=64)


def test_invalid_utf8_fails_the_same_way() -> None:
    data = document(record("70"), record("71")).replace(b"Apple\xc2\xa0Watch", b"Apple\xc2Watch", 1)
    assert assert_same(data)[0] == "error"


def test_a_dtd_that_types_record_attributes_turns_the_fast_path_off() -> None:
    head = HEAD.replace(b"]>", b"<!ATTLIST Record sourceName NMTOKEN #IMPLIED>\n]>")
    data = head + record("70", source=" Watch ").encode() + TAIL
    assert_same(data)


def test_documents_in_another_encoding_are_left_to_lxml() -> None:
    assert not fast_records.is_plain_document(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert fast_records.is_plain_document(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert fast_records.is_plain_document(b"<HealthData>")
    assert fast_records.is_plain_document(b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>")
    assert not fast_records.is_plain_document(b'<?xml version="1.1" encoding="UTF-8"?>')
    assert not fast_records.is_plain_document("<HealthData>".encode("utf-16"))
    data = document(record("70", source="Caf\u00e9")).replace(b"UTF-8", b"ISO-8859-1", 1)
    assert_same(data.replace("Caf\u00e9".encode(), b"Caf\xe9"))


def test_a_large_generated_export_reads_the_same() -> None:
    assert_same(export_xml(25_000))


_value = st.lists(
    st.sampled_from(
        ["a", "Z", "7", ".", " ", "&amp;", "&lt;", "&gt;", "&quot;", "\u00a0", "\u2019", "é", ","]
    ),
    max_size=12,
).map("".join)
_record = st.builds(
    record,
    value=st.one_of(st.just("72"), st.just("7,5"), st.just("1e3"), _value),
    source=_value,
    device=st.one_of(st.none(), _value),
    metadata=st.lists(st.tuples(st.sampled_from(["HKTimeZone", "k"]), _value), max_size=3).map(
        tuple
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_record, min_size=1, max_size=12), st.sampled_from([None, 5, 64]))
def test_any_mix_of_records_reads_the_same(records: list[str], step: int | None) -> None:
    assert_same(document(*records), step=step)


def test_batches_of_records_with_beat_lists_stay_small(monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch ends after NODE_BATCH child elements on either path: memory stays flat even
    # where every record carries a beat list.
    monkeypatch.setattr(export, "NODE_BATCH", 5_000)
    data = document(*(hrv(50) for _ in range(1_000)))
    items = list(export.parse(io.BytesIO(data), "export.xml", ErrorHandling.RAISE))
    sizes = [len(item.start_ms) for item in items if isinstance(item, SampleBatch)]
    assert sum(sizes) == 1_000
    assert max(sizes) < 300


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "lxml"])
def test_an_odd_record_is_named_by_its_line_where_the_scanner_read_it(fast: bool) -> None:
    bad = record("70").replace('startDate="2024-01-01 10:00:00 +0100"', 'startDate="soon"')
    lines = [record(str(60 + i), metadata=(("k", "v"),) if i % 2 else ()) for i in range(9)]
    data = document(*lines[:5], bad, *lines[5:])
    line = data[: data.index(b'startDate="soon"')].count(b"\n") + 1
    items = list(export.parse(io.BytesIO(data), "export.xml", ErrorHandling.WARN, fast=fast))
    (warning,) = [item for item in items if isinstance(item, Warning_)]
    assert "element 7 (<Record HKQuantityTypeIdentifierHeartRate soon>)" in warning.location
    assert warning.location.startswith(f"line {line}, ") == fast  # lxml's callbacks know no line
    with pytest.raises(MalformedFile) as raised:
        list(export.parse(io.BytesIO(data), "export.xml", ErrorHandling.RAISE, fast=fast))
    assert (f"line {line}" in str(raised.value)) == fast
