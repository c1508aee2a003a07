"""Zip members inflated by ISA-L: the same bytes as `zipfile` gives, and damage refused."""

from __future__ import annotations

import io
import os
import random
import zipfile
from pathlib import Path

import pytest

from healthpod.errors import MalformedFile
from healthpod.ingest import safe_files, zip_inflate

EXPORT = Path(__file__).parents[1] / "data" / "apple" / "handmade" / "export.xml"


def _archive(tmp_path: Path, members: dict[str, bytes], level: int | None = None) -> Path:
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _read(path: Path, name: str, size: int = 7_777) -> bytes:
    with path.open("rb") as fp, safe_files.open_member(path.name, zipfile.ZipFile(fp), name) as m:
        return b"".join(iter(lambda: m.read(size), b""))


def test_members_inflate_to_what_zipfile_gives(tmp_path: Path) -> None:
    rng = random.Random(7)
    members = {
        "apple_health_export/export.xml": EXPORT.read_bytes() * 300,  # compresses well
        "noise.bin": bytes(rng.getrandbits(8) for _ in range(300_000)),  # does not
        "empty.txt": b"",
    }
    path = _archive(tmp_path, members)
    with zipfile.ZipFile(path) as zf:
        assert all(zip_inflate.can_inflate(info) for info in zf.infolist())
    for name, data in members.items():
        assert _read(path, name) == data
    assert _read(path, "noise.bin", size=1) == members["noise.bin"]  # a byte at a time


def test_two_members_read_in_turns_each_keep_their_place(tmp_path: Path) -> None:
    first, second = os.urandom(200_000) * 3, EXPORT.read_bytes() * 50
    path = _archive(tmp_path, {"a": first, "b": second})
    got = {"a": io.BytesIO(), "b": io.BytesIO()}
    with path.open("rb") as fp:
        zf = zipfile.ZipFile(fp)
        with (
            safe_files.open_member("archive.zip", zf, "a") as a,
            safe_files.open_member("archive.zip", zf, "b") as b,
        ):
            while True:
                chunks = {"a": a.read(50_000), "b": b.read(50_000)}
                if not any(chunks.values()):
                    break
                for name, chunk in chunks.items():
                    got[name].write(chunk)
    assert got["a"].getvalue() == first
    assert got["b"].getvalue() == second


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_changed_bytes_in_stored_deflate_blocks_fail_the_checksum(tmp_path: Path) -> None:
    # Level 0: Deflate's stored blocks, so a changed byte still inflates, to other bytes.
    path = _archive(tmp_path, {"export.xml": EXPORT.read_bytes()}, level=0)
    _flip(path, 30 + len("export.xml") + 200)  # inside the member's data
    with pytest.raises(MalformedFile, match="checksum"):
        _read(path, "export.xml")


def test_corrupt_compressed_data_is_refused(tmp_path: Path) -> None:
    path = _archive(tmp_path, {"export.xml": EXPORT.read_bytes() * 20})
    for offset in range(40, 120, 7):
        _flip(path, offset)
    with pytest.raises(MalformedFile, match="damaged"):
        _read(path, "export.xml")


def test_a_member_whose_data_ends_early_is_refused(tmp_path: Path) -> None:
    path = _archive(tmp_path, {"export.xml": EXPORT.read_bytes() * 20})
    with path.open("rb") as fp:
        info = zipfile.ZipFile(fp).getinfo("export.xml")
        info.compress_size //= 2  # the directory claims less than the stream needs
        member = zip_inflate.InflatedMember(fp, info, "archive.zip, member export.xml")
        with pytest.raises(MalformedFile, match="ends too early"):
            member.read()


def test_a_missing_local_header_is_refused(tmp_path: Path) -> None:
    path = _archive(tmp_path, {"export.xml": EXPORT.read_bytes()})
    _flip(path, 0)  # the local header's signature
    with path.open("rb") as fp:
        info = zipfile.ZipFile(fp).getinfo("export.xml")
        with pytest.raises(MalformedFile, match="local header"):
            zip_inflate.InflatedMember(fp, info, "archive.zip, member export.xml")


def test_other_methods_and_encrypted_members_are_left_to_zipfile(tmp_path: Path) -> None:
    path = tmp_path / "stored.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("export.xml", EXPORT.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("export.xml")
        assert not zip_inflate.can_inflate(info)
        info.compress_type, info.flag_bits = zipfile.ZIP_DEFLATED, 0x1
        assert not zip_inflate.can_inflate(info)
    assert _read(path, "export.xml") == EXPORT.read_bytes()
