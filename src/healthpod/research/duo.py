"""The GA4GH Data Use Ontology (DUO) codes a study may declare: one permission, any modifiers.

A study says what its data may be used for with exactly one permission code (GRU, HMB, DS with
a MONDO disease id, POA, NRES) and any number of modifiers (NCU, IRB, PUB, ...). Codes are
written as their DUO shorthand; a disease-specific study as `DS:MONDO:0005148`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from healthpod.errors import InvalidRequest

DUO = "http://purl.obolibrary.org/obo/DUO_"
MONDO = "http://purl.obolibrary.org/obo/MONDO_"
# The code systems of a FHIR Coding, as the DUO and MONDO releases name their ontologies; the
# code is the CURIE (DUO:0000006, MONDO:0005148).
DUO_SYSTEM = "http://purl.obolibrary.org/obo/duo.owl"
MONDO_SYSTEM = "http://purl.obolibrary.org/obo/mondo.owl"


@dataclass(frozen=True, slots=True)
class DuoTerm:
    code: str  # the shorthand, e.g. HMB
    id: str  # the DUO id, e.g. DUO:0000006
    label: str  # in plain words, English
    label_sv: str


PERMISSIONS: dict[str, DuoTerm] = {
    t.code: t
    for t in (
        DuoTerm("NRES", "DUO:0000004", "any use, no restriction", "all användning"),
        DuoTerm("GRU", "DUO:0000042", "general research use", "all forskning"),
        DuoTerm(
            "HMB",
            "DUO:0000006",
            "health, medical or biomedical research",
            "hälso-, medicinsk eller biomedicinsk forskning",
        ),
        DuoTerm("DS", "DUO:0000007", "research on one disease", "forskning om en sjukdom"),
        DuoTerm(
            "POA",
            "DUO:0000011",
            "research on population origins or ancestry",
            "forskning om befolkningens ursprung",
        ),
    )
}

MODIFIERS: dict[str, DuoTerm] = {
    t.code: t
    for t in (
        DuoTerm("NCU", "DUO:0000046", "non-commercial use only", "endast icke-kommersiellt"),
        DuoTerm(
            "NPU", "DUO:0000045", "non-profit organisations only", "endast ideella organisationer"
        ),
        DuoTerm(
            "NPUNCU",
            "DUO:0000018",
            "non-profit, non-commercial use only",
            "endast ideellt och icke-kommersiellt",
        ),
        DuoTerm("IRB", "DUO:0000021", "ethics approval required", "etikgodkännande krävs"),
        DuoTerm("PUB", "DUO:0000019", "results must be published", "resultaten ska publiceras"),
        DuoTerm("TS", "DUO:0000025", "for a limited time", "under begränsad tid"),
        DuoTerm("GS", "DUO:0000022", "within a geographic area", "inom ett geografiskt område"),
        DuoTerm("MOR", "DUO:0000024", "publication moratorium", "publiceringsmoratorium"),
        DuoTerm(
            "RTN",
            "DUO:0000029",
            "results returned to the resource",
            "resultaten lämnas tillbaka",
        ),
        DuoTerm("US", "DUO:0000026", "named users only", "endast namngivna användare"),
        DuoTerm("PS", "DUO:0000027", "this project only", "endast detta projekt"),
        DuoTerm("IS", "DUO:0000028", "named institutions only", "endast namngivna institutioner"),
        DuoTerm("COL", "DUO:0000020", "collaboration required", "samarbete krävs"),
        DuoTerm("GSO", "DUO:0000016", "genetic studies only", "endast genetiska studier"),
        DuoTerm("NMDS", "DUO:0000015", "no general methods research", "ingen metodforskning"),
    )
}
_ALIASES = {"RT": "RTN"}
_DS = re.compile(r"^DS[:-](MONDO[:_]\d{7})$")


def parse_codes(text: str) -> list[str]:
    """The codes of `--duo HMB,NCU` checked and normalised: exactly one permission first.

    Raises:
        InvalidRequest: an unknown code, no permission or more than one, DS without a MONDO
            disease id, or a code given twice.
    """
    given = [c.strip().upper() for c in text.split(",") if c.strip()]
    permissions: list[str] = []
    modifiers: list[str] = []
    for raw in given:
        code = _ALIASES.get(raw, raw)
        disease = _DS.match(code)
        if disease:
            permissions.append("DS:" + disease.group(1).replace("_", ":"))
        elif code == "DS":
            raise InvalidRequest(
                "DS (disease-specific research) needs the disease's MONDO id.",
                hint="Write it as DS:MONDO:0005148 (type 2 diabetes, for example).",
            )
        elif code in PERMISSIONS:
            permissions.append(code)
        elif code in MODIFIERS:
            modifiers.append(code)
        else:
            raise InvalidRequest(
                f"Unknown DUO code {raw!r}.",
                hint="Permissions: "
                + ", ".join(PERMISSIONS)
                + "; modifiers: "
                + ", ".join(MODIFIERS)
                + ".",
            )
    if len(permissions) != 1:
        raise InvalidRequest(
            "A study needs exactly one DUO permission code"
            + (f"; {len(permissions)} were given." if permissions else "; none was given."),
            hint="One of " + ", ".join(PERMISSIONS) + ", then any modifiers (NCU, IRB, ...).",
        )
    if len(set(modifiers)) != len(modifiers):
        raise InvalidRequest("A DUO modifier was given twice.", hint="Name each code once.")
    return permissions + sorted(modifiers)


def describe(code: str, *, lang: str = "en") -> str:
    """A stored code in plain words ("research on one disease (MONDO:0005148)")."""
    if code.startswith("DS:"):
        term = PERMISSIONS["DS"]
        label = term.label_sv if lang == "sv" else term.label
        return f"{label} ({code[3:]})"
    found = PERMISSIONS.get(code) or MODIFIERS.get(code)
    if found is None:
        return code
    return found.label_sv if lang == "sv" else found.label


def duo_id(code: str) -> str:
    """The DUO id of a stored code (DS:MONDO:... is DUO:0000007)."""
    if code.startswith("DS:"):
        return PERMISSIONS["DS"].id
    term = PERMISSIONS.get(code) or MODIFIERS.get(code)
    return term.id if term is not None else code


def codings(codes: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    """A study's stored codes as FHIR Codings: one DUO coding per code, and for DS the
    disease's MONDO coding right after it."""
    found: list[dict[str, str]] = []
    for code in codes:
        term = PERMISSIONS["DS"] if code.startswith("DS:") else PERMISSIONS.get(code)
        term = term or MODIFIERS.get(code)
        if term is None:
            continue
        found.append({"system": DUO_SYSTEM, "code": term.id, "display": term.label})
        if code.startswith("DS:"):
            found.append({"system": MONDO_SYSTEM, "code": code[3:], "display": code[3:]})
    return found
