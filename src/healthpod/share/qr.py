"""A QR code of a share link (segno), to show on a phone or print: SVG, no third party."""

from __future__ import annotations

import segno


def qr_code(text: str) -> segno.QRCode:
    """The QR code of `text` (error correction M: a printed code survives a smudge)."""
    return segno.make(text, error="m", micro=False)


def svg(text: str, *, title: str = "QR code of the share link", scale: int = 4) -> str:
    """An inline SVG element of the QR code of `text`, dark on light, with a title."""
    return qr_code(text).svg_inline(
        scale=scale, title=title, dark="#000", light="#fff", svgclass="qr", lineclass=None
    )


def save_svg(text: str, path: str, *, scale: int = 4) -> None:
    """Write the QR code of `text` to an SVG file."""
    qr_code(text).save(path, kind="svg", scale=scale, dark="#000", light="#fff")
