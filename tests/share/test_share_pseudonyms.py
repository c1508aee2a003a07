"""No id of the pod leaves it in a share link's file: each link names its resources by
pseudonyms of its own, on SQLite and PostgreSQL.

Who must NOT be able to do what: a recipient holding two links of one person (or a link and
anything else that shows the pod's person id or a record's id) must not be able to tell from
the ids that they are of one person, whether the link shares who the person is or not. A
long-term (`L`) link's file, made anew on each request, keeps its ids, so a recipient's app can
tell what changed.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.share.test_share_links import (
    T0,
    add_samples,
    make,
    open_link,
    payload_of,
    pod_ids,
    world,  # noqa: F401 (a fixture)
)
from tests.share.test_share_summary import check_ips

from healthpod.consent.model import Granularity
from healthpod.share import pseudonyms

IDENTITY = {"identity", "heart", "activity", "conditions", "immunizations"}
MASKED = {"heart", "activity", "conditions", "immunizations"}


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included, at any depth, but a `versionId` ("1")."""
    if isinstance(value, dict):
        return [s for k, v in value.items() if k != "versionId" for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _ids(document: dict[str, Any]) -> set[str]:
    """Every resource id, fullUrl and reference in a document."""
    found = set()
    for entry in document["entry"]:
        found |= {entry["fullUrl"], entry["resource"]["id"]}
        found |= {s for s in _strings(entry["resource"]) if s.startswith("urn:uuid:")}
    return found


@pytest.mark.parametrize("categories", [IDENTITY, MASKED], ids=["identity", "masked"])
def test_two_links_of_one_person_share_no_id(world, categories):  # noqa: F811
    first, second = make(world, categories=categories), make(world, categories=categories)
    (one,) = open_link(first.shlink)
    (other,) = open_link(second.shlink)
    check_ips(one), check_ips(other)
    # The same records, the same Anna, in both ...
    assert sorted(pod_ids(world, first).values()) == sorted(pod_ids(world, second).values())
    assert len(one["entry"]) == len(other["entry"]) > 2
    # ... under ids that have nothing in common: not the Patient's, not any resource's.
    patients = [d["entry"][1]["resource"] for d in (one, other)]
    assert patients[0]["id"] != patients[1]["id"]
    assert _ids(one).isdisjoint(_ids(other))


@pytest.mark.parametrize("categories", [IDENTITY, MASKED], ids=["identity", "masked"])
def test_no_id_of_the_pod_is_in_the_file(world, categories):  # noqa: F811
    made = make(world, categories=categories, long_term=True)
    (document,) = open_link(made.shlink)
    check_ips(document)
    anna = str(world["anna"])
    strings = _strings(document)
    assert anna not in strings and f"Patient/{anna}" not in json.dumps(document)
    assert not any(s.endswith((f"/{anna}", f":{anna}")) for s in strings)
    # No id the pod gives a record or a sample ("cond-1", "q-17", "d-…") is anywhere in it,
    # though the person's access log names each of them as sent through this link.
    own = set(pod_ids(world, made).values())
    assert {"cond-1", "imm-1"} <= own and any(i.startswith("d-") for i in own)
    assert not any(s in own or s.rsplit("/", 1)[-1] in own for s in strings)
    for entry in document["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        assert uuid.UUID(entry["resource"]["id"]).version == 8


def test_a_long_term_link_keeps_its_ids_from_request_to_request(world):  # noqa: F811
    made = make(world, categories=MASKED, long_term=True)
    (first,) = open_link(made.shlink, recipient="Dr. A")
    (second,) = open_link(made.shlink, recipient="Dr. B")
    assert [(e["fullUrl"], e["resource"]["id"]) for e in first["entry"]] == [
        (e["fullUrl"], e["resource"]["id"]) for e in second["entry"]
    ]
    assert _ids(first) == _ids(second)
    # Each file is a document instance of its own (Bundle.identifier); the Composition, the
    # document made anew, keeps its identifier.
    assert first["identifier"] != second["identifier"]
    compositions = [d["entry"][0]["resource"] for d in (first, second)]
    assert compositions[0]["identifier"] == compositions[1]["identifier"]
    url = payload_of(made.shlink)["url"]
    assert httpx.post(url, json={"recipient": "Dr. C"}).json()["status"] == "can-change"


def test_a_pseudonym_needs_the_pods_key(world):  # noqa: F811
    """What the recipient holds (the link's token and file key, the person's and the link's
    ids) does not make the pseudonym: it is keyed by the pod's secret, kept in its home."""
    made = make(world, categories=MASKED)
    (document,) = open_link(made.shlink)
    patient_id = document["entry"][1]["resource"]["id"]
    ids = pseudonyms.for_link(world["pod"].settings, made.link)
    assert ids.of(f"Patient/{world['anna']}") == patient_id
    payload = payload_of(made.shlink)
    for guessed_key in (payload["key"].encode(), payload["url"].encode(), b""):
        guess = pseudonyms.LinkIds(guessed_key, world["anna"], made.link.id)
        assert guess.of(f"Patient/{world['anna']}") != patient_id


IPS_EXAMPLE = (
    Path(__file__).parents[1] / "data" / "fhir" / "ips" / "Bundle-IPS-examples-Bundle-01.json"
)
RECORDS = {"conditions", "allergies", "medications", "immunizations", "lab-results"}


@pytest.mark.parametrize(
    "categories", [RECORDS | {"identity"}, RECORDS], ids=["identity", "masked"]
)
def test_records_from_healthcare_keep_neither_their_ids_nor_their_narratives(world, categories):  # noqa: F811
    """The HL7 IPS example's records name Martha DeLarosa and their own ids in their
    narratives; in a link's file they have the pod's narrative of them instead."""
    from healthpod.ingest.run import import_file

    import_file(world["pod"], IPS_EXAMPLE, person_id=world["anna"])
    example = json.loads(IPS_EXAMPLE.read_text())
    their_ids = {e["resource"]["id"] for e in example["entry"]}
    made = make(world, categories=categories)
    (document,) = open_link(made.shlink)
    check_ips(document)
    text = json.dumps(document)
    assert len(document["entry"]) > 10
    assert not any(i in text for i in their_ids)
    for entry in document["entry"][2:]:
        div = entry["resource"].get("text", {}).get("div", "")
        assert "<a name=" not in div
    # Who the person is comes only from the Patient, as the link shares it.
    assert "DeLarosa" not in text and "Martha" not in text
    assert ("Anna" in text) == ("identity" in categories)


@pytest.mark.parametrize("shared", [True, False], ids=["identity", "masked"])
def test_a_device_named_for_the_person_is_left_out_without_identity(world, shared):  # noqa: F811
    add_samples(world["pod"].engine, world["anna"], "heart_rate", [(T0 + 7_000, 70)],
                source="Anna's iPhone")  # fmt: skip
    categories = {"heart", "identity"} if shared else {"heart"}
    made = make(world, categories=categories, granularity=Granularity.RAW)
    (document,) = open_link(made.shlink)
    check_ips(document)
    devices = [
        r.get("device")
        for e in document["entry"]
        if (r := e["resource"])["resourceType"] == "Observation"
    ]
    if shared:
        assert {"display": "Anna's iPhone"} in devices and {"display": "Watch"} in devices
    else:
        assert devices and devices == [None] * len(devices)
        assert "iPhone" not in json.dumps(document) and "Anna" not in json.dumps(document)


def test_no_file_says_when_the_pod_stored_what_it_holds(world):  # noqa: F811
    """`meta.lastUpdated` is the millisecond the pod stored a record, the same in every file
    that holds it: two links' files must not share it, so no file has it."""
    first = make(world, categories=MASKED, granularity=Granularity.RAW)
    second = make(world, categories=MASKED | {"identity"})
    for made in (first, second):
        (document,) = open_link(made.shlink)
        check_ips(document)
        assert '"lastUpdated"' not in json.dumps(document)
        assert '"versionId"' not in json.dumps(document)
        if made is first:  # profiles and security labels stay
            patient = document["entry"][1]["resource"]
            assert patient["meta"]["security"][0]["code"] == "REDACTED"
            vitals = [e["resource"] for e in document["entry"] if "vital-signs" in json.dumps(e)]
            assert vitals and all(v["meta"]["profile"] for v in vitals)
