"""Consent: who may see what of a person's data, decided on every request and logged.

`model` (the values), `engine.decide` (the pure decision), `store` (consents in the database),
`actors` (registered clients), `audit` (the hash-chained access log), `access.authorize` (the
one path from a request to data: decide, log, commit), `receipt` and `fhir_consent` (how a
consent is shown to others).
"""

from healthpod.consent.engine import decide
from healthpod.consent.model import (
    AccessRequest,
    Action,
    Consent,
    ConsentState,
    ConsentStatus,
    Decision,
    Granularity,
    Purpose,
    Scope,
)

__all__ = [
    "AccessRequest",
    "Action",
    "Consent",
    "ConsentState",
    "ConsentStatus",
    "Decision",
    "Granularity",
    "Purpose",
    "Scope",
    "decide",
]
