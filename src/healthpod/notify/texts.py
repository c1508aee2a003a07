"""How a notification reads, in English and Swedish (the web app's inbox and the digests).

Each text takes only the notification's parameters: names of actors, links and delegates,
counts, days. A test checks that no message carries a measured value, a code or a record.
"""

from __future__ import annotations

from collections.abc import Mapping

from healthpod.store import notifications as n

# kind -> (English, Swedish); %(who)s, %(count)s, %(day)s, %(action)s, %(age)s, %(child)s
TEXTS: dict[str, tuple[str, str]] = {
    n.CONSENT_NEW: (
        "You gave %(who)s a consent.",
        "Du gav %(who)s ett samtycke.",
    ),
    n.ACCESS_REFUSED: (
        "An access by %(who)s was refused.",
        "En åtkomst av %(who)s nekades.",
    ),
    n.LINK_OPENED: (
        "Your %(who)s was opened.",
        "Din %(who)s öppnades.",
    ),
    n.DELEGATE_ACTION: (
        "%(who)s acted for you (%(action)s).",
        "%(who)s företrädde dig (%(action)s).",
    ),
    n.FIRST_READ: (
        "%(who)s read your data for the first time.",
        "%(who)s läste dina data för första gången.",
    ),
    n.CONSENT_EXPIRING: (
        "Your consent for %(who)s ends after %(day)s.",
        "Ditt samtycke för %(who)s upphör efter %(day)s.",
    ),
    n.DELEGATION_GRANTED: (
        "You may now act for %(person)s.",
        "Du kan nu företräda %(person)s.",
    ),
    n.GUARDIANSHIP_ENDED: (
        "The guardianship of %(child)s ended when they turned %(age)s.",
        "Vårdnadshavarens åtkomst för %(child)s upphörde när hen fyllde %(age)s.",
    ),
}
ACTIONS: dict[str, tuple[str, str]] = {
    "read": ("read", "läste"),
    "import": ("import", "importerade"),
    "share": ("sharing", "delning"),
    "delegate": ("delegate", "ombud"),
}
KIND_NAMES: dict[str, tuple[str, str]] = {
    n.CONSENT_NEW: ("New consents", "Nya samtycken"),
    n.ACCESS_REFUSED: ("Accesses refused", "Nekade åtkomster"),
    n.LINK_OPENED: ("Share links opened", "Delningslänkar som öppnats"),
    n.DELEGATE_ACTION: ("A delegate's actions", "Ett ombuds åtgärder"),
    n.FIRST_READ: ("An actor's first read", "En aktörs första läsning"),
    n.CONSENT_EXPIRING: ("Consents about to end", "Samtycken som snart upphör"),
    n.DELEGATION_GRANTED: ("Delegations given to you", "Ombudskap du fått"),
    n.GUARDIANSHIP_ENDED: ("Guardianships ended", "Vårdnadshavares åtkomst som upphört"),
}


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language == "sv" else pair[0]


def describe(kind: str, params: Mapping[str, object], language: str = "en") -> str:
    """One notification as a sentence."""
    pair = TEXTS.get(kind)
    if pair is None:
        return kind
    values = {key: str(value) for key, value in params.items()}
    if "action" in values:
        values["action"] = _pick(ACTIONS.get(values["action"], (values["action"],) * 2), language)
    try:
        return _pick(pair, language) % _Defaults(values)
    except (KeyError, ValueError, TypeError):
        return _pick(KIND_NAMES.get(kind, (kind, kind)), language)


def kind_name(kind: str, language: str = "en") -> str:
    return _pick(KIND_NAMES.get(kind, (kind, kind)), language)


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "…"
