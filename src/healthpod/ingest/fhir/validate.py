"""Structural validation of FHIR R4 resources with fhir.resources' R4B models.

fhir.resources 8 ships R5 (default), R4B and STU3 models, no plain R4. R4B is R4 4.0.1 plus a
few new types: the resources people get from healthcare (Patient, Observation, Condition,
MedicationRequest, …) have the same structure in both. The dozen R4 types that R4B dropped
(the MedicinalProduct* family, EffectEvidenceSynthesis, …) are accepted without a structural
check, and the import says so.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import ValidationError

# R4 4.0.1 resource types that R4B no longer has (so no model exists for them).
R4_ONLY_TYPES = frozenset(
    {
        "EffectEvidenceSynthesis",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "RiskEvidenceSynthesis",
        "SubstanceSpecification",
    }
)
_MAX_PROBLEMS = 3


@lru_cache(maxsize=256)
def _model(resource_type: str) -> Any:
    # Imported on first use: loading fhir.resources takes seconds, which every CLI command
    # would otherwise pay.
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError, ImportError):
        return None
    # Data types (Coding, Period, …) have models too; only resources count here.
    return model if isinstance(model, type) and issubclass(model, Resource) else None


def is_resource_type(name: object) -> bool:
    """True for the name of a FHIR R4 (or R4B) resource type."""
    if not isinstance(name, str) or not name.isalpha() or not name[:1].isupper():
        return False
    return name in R4_ONLY_TYPES or _model(name) is not None


def has_model(resource_type: str) -> bool:
    return _model(resource_type) is not None


def problems(resource: dict[str, Any]) -> list[str]:
    """What is structurally wrong with `resource`, as "Type.path: message" (empty: valid)."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not is_resource_type(resource_type):
        return [f"resourceType {resource_type!r} is not a FHIR R4 resource type"]
    nul = _nul_path(resource)
    if nul is not None:
        return [f"{nul}: a string holds a NUL character, which FHIR strings cannot"]
    model = _model(resource_type)
    if model is None:  # an R4-only type: no model to check against
        return []
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        found = [_describe(resource_type, error) for error in exc.errors()]
        more = len(found) - _MAX_PROBLEMS
        return found[:_MAX_PROBLEMS] + ([f"and {more} more"] if more > 0 else [])
    except (ValueError, TypeError) as exc:
        return [f"{resource_type}: {exc}"]
    return []


def _describe(resource_type: str, error: Any) -> str:
    path = resource_type
    for part in error.get("loc", ()):
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    message = str(error.get("msg", "invalid")).replace("Value error, ", "")
    return f"{path}: {message}"


def _nul_path(resource: dict[str, Any]) -> str | None:
    """The path of the first string (or key) holding U+0000, which PostgreSQL cannot store."""
    stack: list[tuple[Any, str]] = [(resource, str(resource.get("resourceType")))]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path
        elif isinstance(node, dict):
            for key, value in node.items():
                if "\x00" in key:
                    return path
                stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
    return None
