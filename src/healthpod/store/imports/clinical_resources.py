"""Storing the FHIR importer's ClinicalResource items (`writers` hands them over)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from healthpod.store import resources
from healthpod.store.imports.items import ClinicalResource, Warning_
from healthpod.store.imports.session import ImportSession
from healthpod.store.resources import PROVENANCES, Provenance, ResourceInput

_NAMED = 5  # how many resources a summary warning names


def write_clinical_resources(session: ImportSession, items: Sequence[ClinicalResource]) -> None:
    """Store a batch of resources for the import's person; count added and already present."""
    inputs = [
        ResourceInput(
            item.resource,
            provenance=_provenance(item.provenance),
            source_file=item.source_file,
            organisation=item.organisation,
        )
        for item in items
    ]
    result = resources.write(session.conn, session.person_id, inputs, import_id=session.import_id)
    session.tally.added.update(result.added)
    session.tally.present.update(result.unchanged)
    if result.updated:
        changed = sum(result.updated.values())
        session.tally.warnings.append(
            Warning_(
                "import",
                f"{changed} resource(s) already stored with other content were replaced by "
                "this file's version (FHIR: same type and id is the same resource).",
            )
        )
    if result.superseded:
        session.tally.warnings.append(
            Warning_(
                "import",
                f"{_named(result.superseded)} stood more than once in the file; the last "
                "one was kept (the same type and id are one resource).",
            )
        )
    if result.kept_stored:
        session.tally.warnings.append(
            Warning_(
                "import",
                f"kept the stored, newer version of {_named(result.kept_stored)} (its "
                "meta.lastUpdated is later than this file's).",
            )
        )


def _named(refs: list[str]) -> str:
    more = len(refs) - _NAMED
    return ", ".join(refs[:_NAMED]) + (f" and {more} more" if more > 0 else "")


def _provenance(value: str) -> Provenance:
    return cast(Provenance, value) if value in PROVENANCES else "professional"
