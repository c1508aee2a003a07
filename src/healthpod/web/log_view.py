"""The access log in plain words: who (the actor's name, or "you"), what data (category names),
when (local time), the outcome, and why, in the page's language.

The log stores each verdict's reason in English, as the consent engine and the other writers
put it ("consent 1 does not cover heart"); here each known form becomes a sentence of the
catalogue with its parts translated (category names, dates in the locale). The stored reason
stays available under "Details". Sign-ins by the person on one day are folded into one row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from healthpod.web import labels
from healthpod.web.i18n import N_, Formatter

Gettext = Callable[..., str]

# (pattern, msgid): the first that matches the whole of a reason (or of one part of a refusal
# that lists why several consents did not count) gives its sentence. Named groups fill the
# msgid's placeholders; `categories`, `date` and `action` are translated first.
REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        # The consent engine, allowed.
        (
            r"consent (?P<id>\d+) \([^)]*\): .*?; not covered, so not returned: (?P<categories>.+)",
            N_("Consent #%(id)s covers part of this; not %(categories)s, so that was not sent."),
        ),
        (r"consent (?P<id>\d+) \([^)]*\): .*", N_("Your consent #%(id)s covers this.")),
        # The consent engine, denied.
        (r"actor \d+ has no consent from this person", N_("You have not given them a consent.")),
        (
            r"consent (?P<id>\d+) is not a consent of this person for actor \d+",
            N_("They named a consent that you did not give them."),
        ),
        (
            r"unknown data category (?P<what>.+)",
            N_("They asked for a kind of data that does not exist (%(what)s)."),
        ),
        (
            r"consent (?P<id>\d+) counts no more: the actor has been disabled",
            N_("The pod's operator has disabled them."),
        ),
        (
            r"consent (?P<id>\d+) was revoked on (?P<date>.+)",
            N_("You revoked consent #%(id)s on %(date)s."),
        ),
        (
            r"consent (?P<id>\d+) expired on (?P<date>.+)",
            N_("Consent #%(id)s expired on %(date)s."),
        ),
        (
            r"consent (?P<id>\d+) starts on (?P<date>.+)",
            N_("Consent #%(id)s starts only on %(date)s."),
        ),
        (
            r"consent (?P<id>\d+) does not allow (?P<action>\w+)",
            N_("Consent #%(id)s does not allow them to %(action)s."),
        ),
        (
            r"consent (?P<id>\d+) does not cover (?P<categories>.+)",
            N_("Consent #%(id)s does not cover %(categories)s."),
        ),
        (
            r"the token's scopes do not cover (?P<action>\w+) of \w+",
            N_("The access you allowed the app does not let it %(action)s this kind of data."),
        ),
        # Research studies: a request that broke the study's rules.
        (
            r"study (?P<id>\d+): .+",
            N_("Refused by the rules of study #%(id)s; nothing of yours was read."),
        ),
        # The person's own acts.
        (
            r"joined study (?P<id>\d+) with consent (?P<consent>\d+): .*",
            N_(
                "You joined study #%(id)s with consent #%(consent)s. Its answers may be grouped "
                "by your age band or your sex: your pod works out your group, and only the "
                "group's name leaves it, never who you are."
            ),
        ),
        (r"logged in", N_("You signed in.")),
        (r"logged in with e-ID \((?P<what>.+)\)", N_("You signed in with e-ID (%(what)s).")),
        (
            r"joined with e-ID \((?P<what>.+)\) and accepted the terms, version (?P<version>.+)",
            N_("You joined with e-ID (%(what)s) and accepted the terms, version %(version)s."),
        ),
        (
            r"login failed: wrong password",
            N_("Someone tried to sign in to your account with a wrong password."),
        ),
        (
            r"login refused: the account is disabled",
            N_("A sign-in was refused because the account is disabled."),
        ),
        (r"consent (?P<id>\d+) granted: .*", N_("You gave consent #%(id)s.")),
        (r"consent (?P<id>\d+) narrowed: .*", N_("You narrowed consent #%(id)s.")),
        (r"consent (?P<id>\d+) revoked: .*", N_("You revoked consent #%(id)s.")),
        (r"you downloaded everything in your pod", N_("You downloaded everything in your pod.")),
        (r"you revoked share link (?P<id>\d+)", N_("You revoked share link #%(id)s.")),
        (r"you marked data as only yours", N_("You marked data as only yours.")),
        (r"you lifted 'only me' from data", N_("You lifted “only me” from data.")),
        # Share links.
        (r"share link (?P<id>\d+): .*", N_("Share link #%(id)s covers this.")),
        (
            r"share link (?P<id>\d+) was revoked on (?P<date>.+)",
            N_("You revoked share link #%(id)s on %(date)s."),
        ),
        (
            r"share link (?P<id>\d+) expired on (?P<date>.+)",
            N_("Share link #%(id)s expired on %(date)s."),
        ),
        (
            r"share link (?P<id>\d+) is locked after too many wrong passcodes",
            N_("Share link #%(id)s is locked after too many wrong passcodes."),
        ),
        (
            r"wrong passcode for share link (?P<id>\d+); (?P<left>\d+) attempts left",
            N_("A wrong passcode for share link #%(id)s; %(left)s attempts are left."),
        ),
        (r"the file URL has expired", N_("The link to the file had expired.")),
        # Apps asking for access (OAuth).
        (r"the person said no to .+", N_("You said no.")),
        (r"the person allowed .+ to ask for tokens", N_("You allowed them to ask for access.")),
        (r"issued tokens for .+", N_("They got an access token.")),
        (r"refreshed tokens for .+", N_("They renewed their access token.")),
        (r"the client revoked its \w+ token", N_("They gave up their access token.")),
        (
            r"an authorization code was used twice; \d+ tokens revoked",
            N_("An access code was used twice, so its tokens were withdrawn."),
        ),
        (r"token refresh refused: .+", N_("Renewing their access was refused.")),
        (
            r"a rotated refresh token was presented again; \d+ tokens revoked",
            N_("An old renewal token was used again, so the tokens were withdrawn."),
        ),
    )
)
ACTIONS: dict[str, str] = {"read": N_("read your data"), "write": N_("add data")}
ALLOWED, DENIED, DONE = "allowed", "denied", "done"
OUTCOME_WORDS: dict[str, str] = {
    ALLOWED: N_("Allowed"),
    DENIED: N_("Denied"),
    DONE: N_("Done"),
}


@dataclass(slots=True)
class LogRow:
    """One row of the page: an entry, or the person's sign-ins of one day folded together."""

    seq: int
    at_ms: int
    who: str
    by: str  # person | actor | recipient
    actor_id: int | None
    what: str
    outcome: str  # allowed | denied | done
    why: str
    consent_id: int | None
    stored_reason: str
    path: str = ""
    returned: Mapping[str, Any] | None = None
    count: int = 1  # sign-ins folded into this row
    first_ms: int | None = None  # the earliest of them
    raw_outcome: str = ""
    extra: list[str] = field(default_factory=list)


class LogWords:
    """Turns log entries into `LogRow`s in one language."""

    def __init__(self, gettext: Gettext, fmt: Formatter, actor_names: Mapping[int, str]) -> None:
        self._ = gettext
        self.fmt = fmt
        self.names = actor_names

    def categories(self, codes: Sequence[str] | str) -> str:
        items = codes.split(", ") if isinstance(codes, str) else list(codes)
        return ", ".join(
            self._(labels.CATEGORIES[c]) if c in labels.CATEGORIES else c for c in items
        )

    def day(self, text: str) -> str:
        try:
            return self.fmt.date(date.fromisoformat(text.strip()))
        except ValueError:
            return text

    def sentence(self, reason: str) -> str | None:
        """The reason in plain words, or None when its form is not known."""
        for pattern, msgid in REASONS:
            match = pattern.fullmatch(reason.strip())
            if match is None:
                continue
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            if "categories" in params:
                params["categories"] = self.categories(params["categories"])
            if "date" in params:
                params["date"] = self.day(params["date"])
            if "action" in params:
                params["action"] = self._(ACTIONS.get(params["action"], params["action"]))
            wanted = set(re.findall(r"%\((\w+)\)s", msgid))
            return self._(msgid, **{k: v for k, v in params.items() if k in wanted})
        return None

    def why(self, reason: str, outcome: str, consent_id: int | None) -> str:
        found = self.sentence(reason)
        if found is not None:
            return found
        if outcome == DENIED:
            # A refusal may list why each of several consents did not count.
            parts = [self.sentence(p) for p in re.split(r"; (?=consent \d)", reason)]
            if len(parts) > 1 and all(parts):
                return " ".join(p for p in parts if p)
            return self._("Refused; the details below say why.")
        if consent_id is not None:
            return self._("Your consent #%(id)s covers this.", id=consent_id)
        return self._("Allowed.")

    def row(self, entry: Mapping[str, Any], returned: Mapping[str, Any] | None) -> LogRow:
        details = entry["details"] if isinstance(entry["details"], dict) else {}
        by = str(entry["done_by"])
        actor_id = entry["actor_id"]
        actor = self.names.get(actor_id, f"#{actor_id}") if actor_id else ""
        if by == "recipient":
            who = f"{details.get('recipient', '')} ({entry['via']})".strip()
        elif by == "person" or not actor_id:
            who = self._("You")
        else:
            who = actor
        event = str(entry["event"])
        what = self._(labels.EVENTS.get(event, N_("Other")))
        if by == "person" and actor:
            what += f" ({actor})"
        if details.get("categories"):
            what += f" ({self.categories(details['categories'])})"
        raw = str(entry["outcome"])
        outcome = (
            DONE
            if by == "person" and raw == "ok"
            else ALLOWED
            if raw in ("allowed", "ok")
            else DENIED
        )
        return LogRow(
            seq=int(entry["seq"]),
            at_ms=int(entry["at_ms"]),
            who=who,
            by=by,
            actor_id=actor_id,
            what=what,
            outcome=outcome,
            why=self.why(str(entry["reason"]), outcome, entry["consent_id"]),
            consent_id=entry["consent_id"],
            stored_reason=str(entry["reason"]),
            path=str(details.get("path") or ""),
            returned=returned,
            raw_outcome=raw,
        )

    def fold_sign_ins(self, rows: list[LogRow]) -> list[LogRow]:
        """Runs of the person's own sign-ins on one local day become one row."""
        folded: list[LogRow] = []
        for row in rows:
            last = folded[-1] if folded else None
            if (
                last is not None
                and _is_sign_in(row)
                and _is_sign_in(last)
                and self.fmt.date_ms(row.at_ms) == self.fmt.date_ms(last.at_ms)
            ):
                last.count += 1
                last.first_ms = row.at_ms
                last.why = self._(
                    "You signed in %(count)s times on %(day)s.",
                    count=self.fmt.number(last.count),
                    day=self.fmt.date_ms(last.at_ms),
                )
                continue
            folded.append(row)
        return folded


def _is_sign_in(row: LogRow) -> bool:
    return row.by == "person" and row.raw_outcome == "ok" and row.stored_reason == "logged in"
