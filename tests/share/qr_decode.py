"""Decode a QR code from the SVG segno writes, with zxing-cpp (an independent decoder).

segno draws each row of dark modules as one path of relative moves and horizontal lines
(`M4 4.5h7m7 0h7m-21 1h1…`), stroked one module wide at half-module y. This turns that path
back into pixels and lets zxing-cpp read them.
"""

from __future__ import annotations

import re

import numpy as np
import zxingcpp

_STROKED = re.compile(
    r'<path[^>]*stroke="#000"[^>]*\sd="([^"]+)"|<path[^>]*\sd="([^"]+)"[^>]*stroke="#000"'
)
_SIZE = re.compile(r'<path[^>]*fill="#fff"[^>]*d="M0 0h(\d+)v(\d+)')


def svg_pixels(svg: str, scale: int = 4) -> np.ndarray:
    path = _STROKED.search(svg)
    size = _SIZE.search(svg)
    assert path and size, "not an SVG segno wrote"
    width, height = int(size.group(1)), int(size.group(2))
    modules = np.full((height, width), 255, dtype=np.uint8)
    x = y = 0.0
    for command, a, b in re.findall(
        r"([MmHh])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?", path.group(1) or path.group(2)
    ):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            length = float(a) if command == "h" else float(a) - x
            start = round(x)
            modules[int(y - 0.5), start : start + round(length)] = 0
            x += length
    return np.kron(modules, np.ones((scale, scale), dtype=np.uint8))


def decode_svg(svg: str) -> str:
    found = zxingcpp.read_barcode(svg_pixels(svg))
    assert found is not None, "zxing-cpp found no code"
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return str(found.text)


def decode_pixels(pixels: np.ndarray) -> str:
    found = zxingcpp.read_barcode(pixels)
    assert found is not None, "zxing-cpp found no code"
    return str(found.text)
