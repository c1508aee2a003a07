"""Swedish and English: gettext catalogues, the person's language, and locale-aware formatting.

The catalogues are the `.po` files in `web/locales/`; they are compiled in memory on first use
(Babel's own compiler), so a fresh clone needs no `compile` step and no `.mo` files in git.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from datetime import date, timedelta, timezone, tzinfo
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from healthpod.config import LANGUAGES as LANGUAGES
from healthpod.config import Language as Language

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGE_COOKIE = "hp_lang"
NO_VALUE = "\u2013"  # an en dash where a value is missing


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; it is translated when shown."""
    return message


@functools.cache
def translations(language: str) -> Translations:
    """The compiled catalogue of `language` (English falls back to the msgids)."""
    po_path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as fp:
        catalog = read_po(fp, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def pick_language(chosen: str | None, accept_language: str | None, default: str) -> Language:
    """The person's choice if any, else the browser's best supported language, else `default`."""
    if chosen in LANGUAGES:
        return chosen
    for tag in _accepted(accept_language or ""):
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return default if default in LANGUAGES else "en"


def _accepted(header: str) -> list[str]:
    """Language tags of an Accept-Language header, best first."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag or tag == "*":
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


class Formatter:
    """Numbers, dates and times in one language, for templates (`fmt.number(x)`)."""

    def __init__(self, language: str, offset_min: int = 0, zone: tzinfo | None = None) -> None:
        self.language = language
        self.offset_min = offset_min  # the person's local offset, for instants without one
        self.zone = zone  # the person's time zone, when known: it wins over the offset
        self.locale = Locale.parse("sv_SE" if language == "sv" else "en_GB")

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return NO_VALUE
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, fraction: float | None) -> str:
        return NO_VALUE if fraction is None else format_percent(fraction, locale=self.locale)

    def date(self, value: date | None, style: str = "medium") -> str:
        return NO_VALUE if value is None else format_date(value, format=style, locale=self.locale)

    def datetime(self, value: dt.datetime | None, style: str = "medium") -> str:
        if value is None:
            return NO_VALUE
        return format_datetime(value, format=style, tzinfo=value.tzinfo, locale=self.locale)

    def time(self, value: dt.datetime | None) -> str:
        if value is None:
            return NO_VALUE
        return format_time(value, format="short", tzinfo=value.tzinfo, locale=self.locale)

    def local_ms(
        self, epoch_ms: int | None, offset_min: int | None = None, style: str = "medium"
    ) -> str:
        """An instant stored as UTC milliseconds, in the offset it was recorded in (or the
        person's)."""
        if epoch_ms is None:
            return NO_VALUE
        zone = self._zone() if offset_min is None else timezone(timedelta(minutes=offset_min))
        return self.datetime(dt.datetime.fromtimestamp(epoch_ms / 1000, tz=zone), style)

    def _zone(self) -> tzinfo:
        return self.zone or timezone(timedelta(minutes=self.offset_min))

    def date_ms(self, epoch_ms: int | None) -> str:
        """The person's local date of an instant stored as UTC milliseconds."""
        if epoch_ms is None:
            return NO_VALUE
        return self.date(dt.datetime.fromtimestamp(epoch_ms / 1000, tz=self._zone()).date())

    def time_ms(self, epoch_ms: int | None) -> str:
        """The person's local time of day (24-hour in Swedish) of an instant in UTC ms."""
        if epoch_ms is None:
            return NO_VALUE
        return self.time(dt.datetime.fromtimestamp(epoch_ms / 1000, tz=self._zone()))

    def duration_min(self, minutes: float | None) -> str:
        if minutes is None:
            return NO_VALUE
        hours, mins = divmod(round(minutes), 60)
        if hours:
            return f"{hours} h {mins:02d} min"
        return f"{mins} min"
