"""SMART scope parsing: v2 and v1, deduplicated, unknown ones dropped, never an error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from healthpod.oauth.scopes import parse_scopes


def test_fhirclients_duplicate_launch_scope_is_merged():
    scopes = parse_scopes("launch/patient launch/patient patient/Observation.rs openid fhirUser")
    assert scopes.text() == "launch/patient openid fhirUser patient/Observation.rs"


def test_unknown_and_malformed_scopes_are_dropped():
    scopes = parse_scopes("bogus/scope patient/Observation.sr system/*.rs patient/Foo.xyz")
    assert scopes.text() == ""


def test_v1_scopes_mean_their_v2_letters():
    assert parse_scopes("patient/*.read").text() == "patient/*.rs"
    assert parse_scopes("user/Observation.write").text() == "patient/Observation.cud"
    assert parse_scopes("patient/Observation.*").text() == "patient/Observation.cruds"


def test_granular_category_scope():
    scopes = parse_scopes("patient/Observation.rs?category=vital-signs")
    assert scopes.observation_filter() == frozenset({"vital-signs"})
    assert "heart" in {c.value for c in scopes.categories()}
    assert "activity" not in {c.value for c in scopes.categories()}
    system = "http://terminology.hl7.org/CodeSystem/observation-category"
    assert parse_scopes(f"patient/Observation.rs?category={system}|laboratory").text() == (
        "patient/Observation.rs?category=laboratory"
    )


def test_what_scopes_reach():
    scopes = parse_scopes("patient/Condition.rs patient/Observation.c")
    assert {c.value for c in scopes.categories("r")} == {"conditions"}
    assert scopes.allows("Observation", "c") and not scopes.allows("Observation", "r")
    assert parse_scopes("patient/*.rs").allows("Immunization", "s")


def test_restrict_to_never_widens():
    granted = parse_scopes("patient/Observation.rs offline_access")
    assert parse_scopes("patient/*.cruds").restrict_to(granted).text() == ""
    narrower = parse_scopes("patient/Observation.r").restrict_to(granted)
    assert narrower.text() == "patient/Observation.r"


@given(st.text(max_size=300))
def test_any_text_parses_without_error(text):
    scopes = parse_scopes(text)
    assert parse_scopes(scopes.text()) == scopes  # the normal form is stable
