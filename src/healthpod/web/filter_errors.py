"""A filter value a page cannot use (a date that is not one, an unknown kind): the page shows
its message and hint, in its language, above the form as it was sent."""

from __future__ import annotations

from typing import Any


class BadFilter(Exception):
    """Its message and hint are msgids; `params` fill their placeholders."""

    def __init__(self, message: str, hint: str, **params: Any) -> None:
        super().__init__(message)
        self.message, self.hint, self.params = message, hint, params
