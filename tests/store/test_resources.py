"""store.resources: write, read and search FHIR resources, with the consent scope in the query."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from tests.conftest import as_superuser

from healthpod.errors import InvalidRequest
from healthpod.fhir.search import parse_date, parse_token
from healthpod.store import resources, schema
from healthpod.store.person_data import OWNER_SCOPE
from healthpod.store.resource_index import date_range
from healthpod.store.resources import ResourceInput
from healthpod.store.search_values import Token


def obs(fhir_id, loinc, when, *, category="vital-signs", status="final", updated=None):
    resource = {
        "resourceType": "Observation",
        "id": fhir_id,
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": category,
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": when,
    }
    if updated:
        resource["meta"] = {"lastUpdated": updated}
    return resource


CONDITION = {
    "resourceType": "Condition",
    "id": "c1",
    "clinicalStatus": {"coding": [{"code": "active"}]},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    "onsetDateTime": "2019-05",
}
PRACTITIONER = {"resourceType": "Practitioner", "id": "p1"}


@pytest.fixture
def stored(pod):
    person = pod.person_id()
    inputs = [
        obs("hr1", "8867-4", "2024-01-01T08:00:00+01:00"),
        obs("hr2", "8867-4", "2024-02-01T08:00:00Z"),
        obs("glu", "2345-7", "2024-01-15", category="laboratory"),
        obs("old", "8867-4", "2020-06-01", status="amended"),
        CONDITION,
        PRACTITIONER,
    ]
    with pod.engine.begin() as conn:
        result = resources.write(conn, person, [ResourceInput(r) for r in inputs])
    assert sum(result.added.values()) == 6
    return person


ALL = OWNER_SCOPE


def scope_of(categories=None, window=(None, None)):
    return replace(
        OWNER_SCOPE,
        categories=OWNER_SCOPE.categories if categories is None else frozenset(categories),
        data_from_ms=window[0],
        data_to_ms=window[1],
    )


def ids(page):
    return [r.fhir_id for r in page.resources]


def test_search_by_code_category_status_and_date_prefixes(pod, stored):
    with pod.engine.connect() as conn:

        def find(**kw):
            return ids(
                resources.search(conn, stored, "Observation", sort=("date",), **kw, scope=ALL)
            )

        assert find(codes=[parse_token("http://loinc.org|8867-4")]) == ["old", "hr1", "hr2"]
        assert find(codes=[parse_token("8867-4"), parse_token("2345-7")]) == [
            "old",
            "hr1",
            "glu",
            "hr2",
        ]
        assert find(codes=[parse_token("|8867-4")]) == []  # it has a system
        assert find(categories=[parse_token("laboratory")]) == ["glu"]
        assert find(status=["amended"]) == ["old"]
        assert find(dates=[parse_date("ge2024-01")]) == ["hr1", "glu", "hr2"]
        assert find(dates=[parse_date("ge2024"), parse_date("lt2024-02")]) == [
            "hr1",
            "glu",
        ]
        assert find(dates=[parse_date("2024-01-15")]) == ["glu"]
        assert find(dates=[parse_date("sa2024-01-15")]) == ["hr2"]
        condition = resources.search(conn, stored, "Condition", codes=[Token("", None)], scope=ALL)
        assert condition.total == 0
        assert ids(resources.search(conn, stored, "Condition", status=["active"], scope=ALL)) == [
            "c1"
        ]


def test_scope_filters_inside_the_query_and_total_counts_only_what_is_visible(pod, stored):
    with pod.engine.connect() as conn:
        heart = resources.search(conn, stored, "Observation", scope=scope_of({"heart"}))
        assert heart.total == 3
        assert set(ids(heart)) == {"hr1", "hr2", "old"}
        nothing = resources.search(conn, stored, None, scope=scope_of(set()))
        assert nothing.total == 0
        window = date_range("2024-01").start_ms, date_range("2024-02").start_ms  # [from, to)
        in_january = resources.search(conn, stored, None, scope=scope_of(window=window))
        assert set(ids(in_january)) == {"hr1", "glu"}  # undated Practitioner is outside
        assert resources.read(conn, stored, "Observation", "glu", scope=scope_of(window=window))
        assert (
            resources.read(conn, stored, "Observation", "hr2", scope=scope_of(window=window))
            is None
        )
        at = date_range("2024-02-01T08:00:00Z").start_ms  # hr2's instant: from inclusive, to not
        assert resources.read(conn, stored, "Observation", "hr2", scope=scope_of(window=(at, None)))
        assert (
            resources.read(conn, stored, "Observation", "hr2", scope=scope_of(window=(None, at)))
            is None
        )
        assert resources.read(conn, stored, "Observation", "glu", scope=scope_of({"heart"})) is None
        assert resources.read(conn, stored, "Condition", "c1", scope=ALL).category == "conditions"
        assert (
            resources.read(conn, stored + 1, "Condition", "c1", scope=ALL) is None
        )  # another person


def test_paging_is_stable_and_sorting_is_checked(pod, stored):
    with pod.engine.connect() as conn:
        pages = [
            ids(
                resources.search(
                    conn, stored, None, sort=("-_lastUpdated",), limit=2, offset=o, scope=ALL
                )
            )
            for o in (0, 2, 4)
        ]
        assert sorted(i for page in pages for i in page) == sorted(
            ["hr1", "hr2", "glu", "old", "c1", "p1"]
        )
        with pytest.raises(InvalidRequest, match="Cannot sort"):
            resources.search(conn, stored, None, sort=("name;DROP TABLE resources",), scope=ALL)
        with pytest.raises(InvalidRequest):
            resources.search(conn, stored, None, limit=-1, scope=ALL)


def test_changed_content_replaces_unless_the_stored_one_is_newer(pod, stored):
    with pod.engine.begin() as conn:
        newer = obs("hr1", "8867-4", "2024-01-01T08:00:00+01:00", updated="2025-01-01T00:00:00Z")
        result = resources.write(conn, stored, [ResourceInput(newer)])
        assert result.updated == {"Observation": 1}
        older = obs("hr1", "8867-4", "2024-01-02", updated="2024-12-01T00:00:00Z")
        result = resources.write(conn, stored, [ResourceInput(older)])
        assert result.kept_stored == ["Observation/hr1"]
        again = resources.write(conn, stored, [ResourceInput(newer)])
        assert again.unchanged == {"Observation": 1}
        found = resources.read(conn, stored, "Observation", "hr1", scope=ALL)
    assert found.version_id == 2
    assert found.resource["effectiveDateTime"] == "2024-01-01T08:00:00+01:00"


@pytest.mark.parametrize(
    "text", ["xx2024", "ge2024-13", "ge2024-02-30", "le", "2024-01-01T25:00", "ge'; DROP"]
)
def test_bad_date_values_are_invalid_requests(text):
    with pytest.raises(InvalidRequest):
        parse_date(text)


def test_date_ranges_follow_fhir_precision():
    year = date_range("2024")
    assert year.end_ms - year.start_ms == 366 * 86_400_000 - 1
    instant = date_range("2024-03-01T10:00:00.250+02:00")
    assert instant.offset_min == 120
    assert instant.end_ms == instant.start_ms
    assert date_range("not a date") is None
    with pytest.raises(InvalidRequest):
        parse_token("|")


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9998, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_date_range_of_an_instant_is_its_exact_millisecond(moment, offset_min):
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_min)))
    text = aware.isoformat(timespec="milliseconds")
    expected = (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    found = date_range(text)
    assert (found.start_ms, found.end_ms, found.offset_min) == (expected, expected, offset_min)


def test_search_by_identifier(pod):
    person = pod.person_id()
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "identifier": [{"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "191212121212"}],
    }
    with pod.engine.begin() as conn:
        resources.write(conn, person, [ResourceInput(patient)])
        found = resources.search(
            conn,
            person,
            "Patient",
            identifiers=[parse_token("urn:oid:1.2.752.129.2.1.3.1|191212121212")],
            scope=ALL,
        )
        other = resources.search(
            conn, person, "Patient", identifiers=[parse_token("x|1")], scope=ALL
        )
    assert ids(found) == ["p"]
    assert other.total == 0


def test_a_patient_from_healthcare_needs_identity_whatever_its_stored_category(pod):
    person = pod.person_id()
    patient = {"resourceType": "Patient", "id": "p", "name": [{"text": "Xavier Lueilwitz"}]}
    with as_superuser(pod.engine) as conn:
        resources.write(conn, person, [ResourceInput(patient)])
        # An older pod filed it under other-records: a consent for that must not show it.
        conn.execute(
            schema.resources.update()
            .where(schema.resources.c.person_id == person)
            .values(category="other-records")
        )
    everything_but_identity = scope_of(OWNER_SCOPE.categories - {"identity"})
    with pod.engine.connect() as conn:
        assert resources.read(conn, person, "Patient", "p", scope=everything_but_identity) is None
        hidden = resources.search(conn, person, None, scope=everything_but_identity)
        assert hidden.total == 0
        assert resources.read(conn, person, "Patient", "p", scope=ALL) is not None
