"""SMART App Launch scopes: parse what a client asks for into what it may touch.

v2 scopes look like `patient/Observation.rs?category=vital-signs`; v1 scopes like
`patient/*.read` are still sent by real clients, so both are understood. Unknown scopes are
dropped and duplicates removed (fhirclient sends `launch/patient` twice), never an error.
A scope only caps what a token may do: the person's consent decides what it actually gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from healthpod.vocabulary import RESOURCE_CATEGORIES, SAMPLE_TYPES, Category

# Scopes that are not about resources, kept as they are when asked for.
PLAIN_SCOPES = (
    "launch",
    "launch/patient",
    "openid",
    "fhirUser",
    "profile",
    "offline_access",
    "online_access",
)

_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\."
    r"(?P<perms>read|write|\*|[cruds]+)(?:\?(?P<query>[^\s]*))?$"
)
_V2_ORDER = "cruds"

# FHIR Observation categories we can filter by, and the consent categories they touch.
OBSERVATION_CATEGORIES: dict[str, frozenset[Category]] = {
    "vital-signs": frozenset(t.category for t in SAMPLE_TYPES if t.fhir_category == "vital-signs"),
    "activity": frozenset(t.category for t in SAMPLE_TYPES if t.fhir_category == "activity"),
    "laboratory": frozenset({Category.LAB_RESULTS}),
}
OBSERVATION_ALL = frozenset(
    {t.category for t in SAMPLE_TYPES} | {Category.LAB_RESULTS, Category.OTHER_RECORDS}
)
# The resource types the API serves; a scope for another type is kept but grants nothing.
SERVED_TYPES = ("Patient", "Observation", *sorted(RESOURCE_CATEGORIES))


@dataclass(frozen=True, slots=True)
class ResourceScope:
    """One resource scope: `patient/Observation.rs?category=vital-signs`."""

    resource_type: str  # a FHIR type or "*"
    permissions: frozenset[str]  # subset of "cruds"
    observation_category: str | None = None  # from `?category=`

    def text(self) -> str:
        perms = "".join(p for p in _V2_ORDER if p in self.permissions)
        query = f"?category={self.observation_category}" if self.observation_category else ""
        return f"patient/{self.resource_type}.{perms}{query}"

    def covers(self, resource_type: str, permission: str) -> bool:
        return permission in self.permissions and self.resource_type in ("*", resource_type)


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """What a token may do, as parsed from its scope string."""

    plain: frozenset[str]
    resources: tuple[ResourceScope, ...]

    @property
    def offline(self) -> bool:
        return "offline_access" in self.plain

    def text(self) -> str:
        """The normalised scope string (deduplicated, unknown scopes dropped)."""
        parts = [s for s in PLAIN_SCOPES if s in self.plain]
        parts += [r.text() for r in self.resources]
        return " ".join(dict.fromkeys(parts))

    def allows(self, resource_type: str, permission: str) -> bool:
        return any(r.covers(resource_type, permission) for r in self.resources)

    def categories(self, permission: str = "r") -> frozenset[Category]:
        """The consent categories these scopes reach for `permission`."""
        found: set[Category] = set()
        for scope in self.resources:
            if permission not in scope.permissions:
                continue
            if scope.resource_type == "*":
                found |= set(Category)
            elif scope.resource_type == "Observation":
                found |= _observation_categories(scope)
            elif scope.resource_type == "Patient":
                found.add(Category.IDENTITY)
            elif scope.resource_type in RESOURCE_CATEGORIES:
                found.add(RESOURCE_CATEGORIES[scope.resource_type])
        return frozenset(found)

    def observation_filter(self, permission: str = "r") -> frozenset[str] | None:
        """FHIR Observation categories a token is limited to, or None when not limited."""
        limits: set[str] = set()
        for scope in self.resources:
            if not scope.covers("Observation", permission):
                continue
            if scope.observation_category is None:
                return None
            limits.add(scope.observation_category)
        return frozenset(limits)

    def restrict_to(self, granted: ScopeSet) -> ScopeSet:
        """Only the parts of self that `granted` also has (refresh may narrow, never widen)."""
        resources = tuple(
            r
            for r in self.resources
            if any(
                g.resource_type in ("*", r.resource_type)
                and r.permissions <= g.permissions
                and g.observation_category in (None, r.observation_category)
                for g in granted.resources
            )
        )
        return ScopeSet(plain=self.plain & granted.plain, resources=resources)


def _observation_categories(scope: ResourceScope) -> frozenset[Category]:
    if scope.observation_category is None:
        return OBSERVATION_ALL
    return OBSERVATION_CATEGORIES.get(scope.observation_category, frozenset())


def _permissions(perms: str) -> frozenset[str] | None:
    if perms == "read":
        return frozenset("rs")
    if perms == "write":
        return frozenset("cud")
    if perms == "*":
        return frozenset(_V2_ORDER)
    # v2 requires the letters in c-r-u-d-s order without repeats.
    if "".join(p for p in _V2_ORDER if p in perms) != perms:
        return None
    return frozenset(perms)


def _resource_scope(text: str) -> ResourceScope | None:
    match = _RESOURCE_SCOPE.match(text)
    if match is None or match["context"] == "system":
        return None
    permissions = _permissions(match["perms"])
    if permissions is None:
        return None
    category = None
    if match["query"]:
        key, _, value = match["query"].partition("=")
        value = value.rpartition("|")[2]  # `category=http://…|vital-signs` → the code
        if key != "category" or match["type"] != "Observation":
            return None
        if value not in OBSERVATION_CATEGORIES:
            return None
        category = value
    return ResourceScope(match["type"], permissions, category)


def parse_scopes(scope: str | Iterable[str] | None) -> ScopeSet:
    """Parse a scope string: duplicates merged, unknown or malformed scopes dropped."""
    words = scope.split() if isinstance(scope, str) else list(scope or ())
    plain: set[str] = set()
    resources: dict[ResourceScope, None] = {}
    for word in words:
        if word in PLAIN_SCOPES:
            plain.add(word)
        elif (parsed := _resource_scope(word)) is not None:
            resources[parsed] = None
    return ScopeSet(plain=frozenset(plain), resources=tuple(resources))


def supported_scopes() -> list[str]:
    """Examples of the scopes we understand, for `.well-known/smart-configuration`."""
    return [
        *PLAIN_SCOPES,
        "patient/*.rs",
        "patient/*.read",
        "patient/Patient.rs",
        "patient/Observation.rs",
        "patient/Observation.rs?category=vital-signs",
        "patient/Observation.rs?category=activity",
        "patient/Observation.rs?category=laboratory",
        "patient/Observation.c",
    ]


_READ, _WRITE = frozenset("rs"), frozenset("cud")


def granted(asked: ScopeSet, categories: frozenset[str], actions: frozenset[str]) -> ScopeSet:
    """The scopes a token gets: what was asked for, cut to the consent the person gave, in
    SMART's words (RFC 6749 §5.1: the token response names the scope actually granted).

    `categories` and `actions` are the consent's (`Category` and `Action` values). Read or
    write the person did not allow loses its letters; a scope whose resource type reaches no
    allowed category is dropped; `*` becomes the resource types the allowed categories reach
    unless every category was allowed. `Patient` (the person themselves) stays with read.
    Scopes cannot say "heart rate but not steps", so a part of Observation shows as
    `patient/Observation.rs`; the consent decides the rest on every request.
    """
    allowed = frozenset().union(
        _READ if "read" in actions else frozenset(), _WRITE if "write" in actions else frozenset()
    )
    kept: dict[ResourceScope, None] = {}
    for scope in asked.resources:
        perms = scope.permissions & allowed
        if not perms:
            continue
        if scope.resource_type == "*":
            for expanded in _expand(perms, categories):
                kept[expanded] = None
            continue
        reach = {c.value for c in ScopeSet(frozenset(), (scope,)).categories(min(perms))}
        if scope.resource_type == "Patient" or reach & categories:
            kept[ResourceScope(scope.resource_type, perms, scope.observation_category)] = None
    return ScopeSet(asked.plain, tuple(kept))


def _expand(perms: frozenset[str], categories: frozenset[str]) -> list[ResourceScope]:
    if categories >= {c.value for c in Category}:
        return [ResourceScope("*", perms)]
    found = []
    if perms & _READ:
        found.append(ResourceScope("Patient", perms & _READ))
    if categories & {c.value for c in OBSERVATION_ALL}:
        found.append(ResourceScope("Observation", perms))
    for resource_type in SERVED_TYPES:
        category = RESOURCE_CATEGORIES.get(resource_type)
        if category is not None and category.value in categories and perms & _READ:
            found.append(ResourceScope(resource_type, perms & _READ))
    return found
