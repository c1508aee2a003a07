"""Rendering pages: one Jinja2 environment, a context with the person's language and CSRF token."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from healthpod import __version__
from healthpod.web import i18n, labels, security
from healthpod.web.i18n import N_

TEMPLATES_DIR = Path(__file__).parent / "templates"

# The main navigation: (path, label). Labels are msgids, translated when the page renders.
NAV: tuple[tuple[str, str], ...] = (
    ("/", N_("Overview")),
    ("/all-data", N_("All my data")),
    ("/import", N_("Import")),
    ("/records", N_("Records")),
    ("/sharing", N_("Sharing")),
    ("/research", N_("Research")),
    ("/access-log", N_("Access log")),
    ("/inbox", N_("Inbox")),
    ("/data", N_("Your data")),
    ("/settings", N_("Settings")),
)

PERSON_ONLY_NAV = frozenset({"/data", "/settings"})  # refused while acting (web.acting)


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["todate"] = date.fromisoformat
    return env


def language(request: Request) -> i18n.Language:
    """The language of this request: the person's choice (cookie), else the browser's."""
    cached = getattr(request.state, "language", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    chosen = i18n.pick_language(
        request.cookies.get(i18n.LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
        request.app.state.settings.default_locale,
    )
    request.state.language = chosen
    return chosen


def gettext_for(request: Request) -> Callable[..., str]:
    """`_(message, **params)` in the request's language; params fill `%(name)s` placeholders."""
    catalogue = i18n.translations(language(request))

    def _(message: str, **params: Any) -> str:
        text = catalogue.gettext(message)
        return text % params if params else text

    return _


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    person: str | None = None,
) -> HTMLResponse:
    """Render `template` with the common context and set the CSRF cookie when it is new."""
    lang = language(request)
    catalogue = i18n.translations(lang)
    _ = gettext_for(request)

    def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
        text = catalogue.ngettext(singular, plural, n)
        return text % {"num": n, **params}

    page = environment().get_template(template)
    html = page.render(
        {
            "request": request,
            "_": _,
            "ngettext": ngettext,
            "lang": lang,
            "fmt": i18n.Formatter(
                lang, getattr(request.state, "offset_min", 0), getattr(request.state, "zone", None)
            ),
            "csrf_token": security.csrf_token(request),
            "csrf_field": security.CSRF_FIELD,
            # Someone acting for another person is not offered what only the person may open.
            "nav": [
                item
                for item in NAV
                if not (getattr(request.state, "acting_for", None) and item[0] in PERSON_ONLY_NAV)
            ],
            "path": request.url.path,
            "person": person if person is not None else getattr(request.state, "username", None),
            "version": __version__,
            "acting_for": getattr(request.state, "acting_for", None),
            "demo": request.app.state.pod.is_demo,  # a banner on every page (`healthpod demo`)
            "labels": labels,
            **(context or {}),
        }
    )
    response = HTMLResponse(html, status_code=status_code)
    security.remember_csrf(request, response)
    return response
