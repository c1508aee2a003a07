"""Every msgid of the web (templates and Python) has a Swedish translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import healthpod.web

WEB = Path(healthpod.web.__file__).parent
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def _msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        WEB, METHODS, OPTIONS, keywords=KEYWORDS, comment_tags=()
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def _swedish() -> dict[str, object]:
    with (WEB / "locales" / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale="sv")
    return {
        message.id if isinstance(message.id, str) else message.id[0]: message.string
        for message in catalog
        if message.id
    }


def test_every_msgid_has_a_swedish_translation():
    swedish = _swedish()
    msgids = _msgids()
    assert len(msgids) > 20
    missing = [
        f"{where}: {msgid!r}"
        for msgid, where in msgids.items()
        if (
            msgid not in swedish
            and not any(msgid in key for key in swedish if isinstance(key, str))
        )
        or (msgid in swedish and not _complete(swedish[msgid]))
    ]
    assert not missing, "Swedish lacks:\n" + "\n".join(missing)


def _complete(translation: object) -> bool:
    if isinstance(translation, tuple):
        return all(translation)
    return bool(translation)


def test_placeholders_survive_translation():
    with (WEB / "locales" / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale="sv")
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(set(_placeholders(ids[-1])))
        for string in strings:
            assert sorted(set(_placeholders(string))) == wanted, message.id


def _placeholders(text: str) -> list[str]:
    import re

    return re.findall(r"%\((\w+)\)s", text)


@pytest.mark.parametrize("language", ["en", "sv"])
def test_every_catalogue_entry_has_its_msgstr(language):
    """A merge that drops a `msgstr` line makes Babel warn at every start and lose the entry."""
    po = WEB / "locales" / language / "LC_MESSAGES" / "messages.po"
    lines = po.read_text(encoding="utf-8").splitlines()
    missing = []
    for number, line in enumerate(lines):
        if not line.startswith("msgid "):
            continue
        following = number + 1
        while following < len(lines) and lines[following].startswith('"'):
            following += 1
        if following >= len(lines) or not lines[following].startswith("msgstr"):
            missing.append(line)
    assert missing == []
