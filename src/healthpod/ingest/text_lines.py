"""The text lines of a binary file, decoded one at a time, so an error names its line and a
line without end cannot fill the memory."""

from __future__ import annotations

from codecs import lookup as codecs_lookup
from collections.abc import Iterator
from typing import IO

from healthpod.errors import MalformedFile


class TextLines:
    """Lines of at most `max_bytes`, decoded with `encoding` (a byte-order mark is allowed on
    the first line only)."""

    def __init__(
        self,
        fp: IO[bytes],
        filename: str,
        *,
        encoding: str = "utf-8-sig",
        max_bytes: int,
        too_long: str,
        hint: str,
        decode_hint: str | None = None,
    ) -> None:
        self.fp, self.filename, self.encoding = fp, filename, encoding
        self.max_bytes, self.too_long = max_bytes, too_long
        self.hint, self.decode_hint = hint, decode_hint or hint
        self.number = 0
        try:
            codecs_lookup(encoding)
        except LookupError as exc:
            raise MalformedFile(f"the encoding {encoding!r} is unknown", source=filename) from exc

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.fp.readline(self.max_bytes + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > self.max_bytes:
            raise MalformedFile(
                f"a line is longer than {self.max_bytes // 1024} KB{self.too_long}",
                source=self.filename,
                location=f"line {self.number}",
                hint=self.hint,
            )
        encoding = self.encoding if self.number == 1 else self.encoding.replace("-sig", "")
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise MalformedFile(
                f"the text is not {self.encoding} ({exc.reason} at byte {exc.start} of the line)",
                source=self.filename,
                location=f"line {self.number}",
                hint=self.decode_hint,
            ) from exc
