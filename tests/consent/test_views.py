"""How a consent is shown to others: a Kantara/ISO 27560 receipt and a valid FHIR R4 Consent."""

from __future__ import annotations

from fhir.resources.R4B.consent import Consent as FhirConsent

from healthpod.consent import Action, Granularity, Scope, actors, store
from healthpod.consent.fhir_consent import consent_resource
from healthpod.consent.receipt import build_receipt

DAY = 86_400_000
NOW = 1_800_000_000_000
KANTARA_FIELDS = {
    "version",
    "jurisdiction",
    "consentTimestamp",
    "collectionMethod",
    "consentReceiptID",
    "language",
    "piiPrincipalId",
    "piiControllers",
    "policyUrl",
    "services",
    "sensitive",
    "spiCat",
}


def test_each_version_has_its_own_stable_receipt(engine, people):
    alice, _bob, coach, _app = people
    scope = Scope(
        frozenset({"heart", "sleep"}),
        NOW - 30 * DAY,
        None,
        Granularity.RAW,
        frozenset({Action.READ}),
    )
    with engine.begin() as conn:
        c = store.grant(conn, alice, coach, scope, valid_until_ms=NOW + 90 * DAY, now_ms=NOW)
        store.narrow(conn, alice, c.id, categories={"heart"}, now_ms=NOW + 1)
        store.revoke(conn, alice, c.id, now_ms=NOW + 2)
        actor = actors.get_actor(conn, coach)
        history = store.changes(conn, alice, c.id)
    receipts = [build_receipt(h, actor, base_url="https://pod.example") for h in history]
    for r in receipts:
        assert set(r) >= KANTARA_FIELDS
        assert r["piiPrincipalId"] == f"https://pod.example/fhir/Patient/{alice}"
        [purpose] = r["services"][0]["purposes"]
        assert purpose["purposeCategory"] == [
            "http://terminology.hl7.org/CodeSystem/v3-ActReason#CAREMGT"
        ]
    assert [r["consentRecord"]["event"] for r in receipts] == ["granted", "narrowed", "revoked"]
    assert [r["consentRecord"]["state"] for r in receipts] == ["given", "given", "withdrawn"]
    assert receipts[1]["consentRecord"]["dataCategories"] == ["heart"]
    assert len({r["consentReceiptID"] for r in receipts}) == 3
    again = build_receipt(history[0], actor, base_url="https://pod.example")
    assert again == receipts[0]


def test_fhir_consent_validates_and_follows_the_state(engine, people):
    alice, _bob, coach, _app = people
    scope = Scope(
        frozenset({"activity"}),
        NOW - DAY,
        NOW,
        Granularity.DAILY,
        frozenset({Action.READ, Action.WRITE}),
    )
    with engine.begin() as conn:
        c = store.grant(conn, alice, coach, scope, valid_until_ms=NOW + DAY, now_ms=NOW)
        actor = actors.get_actor(conn, coach)
    active = consent_resource(c, actor, now_ms=NOW + 1)
    FhirConsent.model_validate(active)
    assert active["status"] == "active"
    assert active["patient"] == {"reference": f"Patient/{alice}"}
    provision = active["provision"]
    assert [a["coding"][0]["code"] for a in provision["action"]] == ["access", "correct"]
    assert provision["code"][0]["coding"][0]["code"] == "activity"
    assert provision["dataPeriod"]["end"].startswith("2027-01-15")
    assert active["extension"][0]["valueCode"] == "daily"
    expired = consent_resource(c, actor, now_ms=NOW + DAY)
    FhirConsent.model_validate(expired)
    assert expired["status"] == "inactive"


def test_log_entries_are_valid_fhir_audit_events(engine, people):
    from fhir.resources.R4B.auditevent import AuditEvent
    from fhir.resources.R4B.bundle import Bundle

    from healthpod.consent import AccessRequest, access, audit
    from healthpod.consent.fhir_audit import audit_bundle

    alice, _bob, coach, _app = people
    with engine.begin() as conn:
        store.grant(
            conn, alice, coach, Scope(frozenset({"heart"})), valid_until_ms=None, now_ms=NOW
        )
        audit.record(conn, alice, None, "login", "ok", {"address": "10.0.0.1"}, now_ms=NOW)
    decisions = []
    for wanted in ({"heart"}, {"sleep"}):
        request = AccessRequest(alice, coach, Action.READ, frozenset(wanted))
        decisions.append(access.authorize(engine, request, event="fhir.search", now_ms=NOW + 1))
    first = AccessRequest(alice, coach, Action.READ, frozenset({"heart"}))
    access.record_returned(engine, decisions[0], first, ["Observation/7"], now_ms=NOW + 2)
    with engine.connect() as conn:
        entries = audit.entries(conn, alice, newest_first=True)
        known = {a.id: a for a in actors.list_actors(conn)}
    bundle = audit_bundle(entries, known, base_url="https://pod.example")
    Bundle.model_validate(bundle)
    events = [e["resource"] for e in bundle["entry"]]
    for event in events:
        AuditEvent.model_validate(event)
    returned, denied, allowed, login, granted = events
    assert returned["subtype"][0]["code"] == "returned"
    assert returned["entity"][-1]["what"] == {"reference": "Observation/7"}
    assert returned["entity"][-2]["what"]["identifier"]["value"] == str(decisions[0].entry_seq)
    assert (denied["outcome"], denied["action"]) == ("4", "R")
    assert "does not cover sleep" in denied["outcomeDesc"]
    assert allowed["outcome"] == "0" and allowed["entity"][1]["what"]["reference"].startswith(
        "Consent/"
    )
    assert allowed["agent"][0]["who"]["display"] == "Coach Anna (coach)"
    assert login["agent"][0]["who"] == {"reference": f"Patient/{alice}"}
    assert granted["subtype"][0]["code"] == "consent.granted"
    # The person gave the consent: they are the requestor, the coach the other agent.
    assert granted["agent"][0]["who"] == {"reference": f"Patient/{alice}"}
    assert granted["agent"][0]["requestor"] and not granted["agent"][1]["requestor"]
