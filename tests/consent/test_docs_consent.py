"""docs/consent.md names every category, purpose and JSON API route it promises."""

from __future__ import annotations

from pathlib import Path

from healthpod.consent.purpose import PURPOSES
from healthpod.vocabulary import Category

DOC = (Path(__file__).parents[2] / "docs" / "consent.md").read_text()


def test_every_category_has_a_row():
    for category in Category:
        assert f"| `{category.value}` |" in DOC, category


def test_every_purpose_has_a_row():
    for key in PURPOSES:
        assert f"| `{key}` |" in DOC, key


def test_every_api_route_is_listed():
    from healthpod.api.consents import router

    for route in router.routes:
        path = route.path  # type: ignore[attr-defined]
        assert path.split("{")[0].rstrip("/") in DOC, path
