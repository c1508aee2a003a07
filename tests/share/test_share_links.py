"""SMART Health Links as a recipient written from the specification uses them, over real HTTP.

The recipient here knows only the HL7 SMART Health Links specification: it decodes the
`shlink:/` payload (base64url JSON: url, key, exp, flag, label, v), POSTs the manifest request
`{"recipient", "passcode", "embeddedLengthMax"}`, and decrypts each file, compact JWE with
`alg: dir` and `enc: A256GCM`, by hand with AES-GCM from `cryptography` (not the JOSE library
the pod uses). Refusals are as the specification says: 401 with `remainingAttempts` for a wrong
passcode, 404 for a link that is unknown, expired, revoked or locked. Access is written as "who
must NOT see what": nothing outside the link's categories and window, and nothing of another
person, is in the file; every request is in the person's access log with the link as `via`.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.consent.model import Granularity
from healthpod.pod import now_ms
from healthpod.share import links, pseudonyms
from healthpod.store import resources, schema

sys.path.insert(0, str(Path(__file__).parents[1]))
from smart_support import add_person, add_samples, live_server

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOSPITAL = "Patient/hospital-77"


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_of(shlink: str) -> dict[str, Any]:
    assert shlink.startswith("shlink:/")
    return dict(json.loads(_b64d(shlink.removeprefix("shlink:/"))))


def decrypt(compact: str, key: str) -> tuple[dict[str, Any], bytes]:
    """RFC 7516 compact JWE with `dir` + `A256GCM`, by hand: (protected header, plaintext)."""
    protected, encrypted_key, iv, ciphertext, tag = compact.split(".")
    header = json.loads(_b64d(protected))
    assert header["alg"] == "dir" and header["enc"] == "A256GCM" and encrypted_key == ""
    plain = AESGCM(_b64d(key)).decrypt(
        _b64d(iv), _b64d(ciphertext) + _b64d(tag), protected.encode("ascii")
    )
    return header, plain


def open_link(shlink: str, recipient: str = "Dr. Test, Example Clinic", **asked: Any) -> Any:
    """The recipient's side: the manifest, then each file (embedded or fetched)."""
    payload = payload_of(shlink)
    response = httpx.post(payload["url"], json={"recipient": recipient, **asked})
    if response.status_code != 200:
        return response
    bundles = []
    for entry in response.json()["files"]:
        assert entry["contentType"] == "application/fhir+json"
        if "embedded" in entry:
            compact = entry["embedded"]
        else:
            got = httpx.get(entry["location"])
            assert got.status_code == 200 and got.headers["content-type"] == "application/jose"
            compact = got.text
        header, plain = decrypt(compact, payload["key"])
        assert header["cty"] == "application/fhir+json"
        bundles.append(json.loads(plain))
    return bundles


def _record(resource_type: str, rid: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": resource_type, "id": rid, **fields}


def _code(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


@pytest.fixture
def world(pod):
    engine = pod.engine
    anna = add_person(engine, "anna")
    bob = add_person(engine, "bob")
    add_samples(engine, anna, "heart_rate", [(T0 + d * DAY + 3_600_000, 60 + d) for d in range(5)])
    add_samples(engine, anna, "steps", [(T0 + d * DAY + 7_200_000, 1000 + d) for d in range(3)])
    add_samples(engine, bob, "heart_rate", [(T0 + 5_000, 99), (T0 + 2 * DAY, 98)])
    with engine.begin() as conn:
        resources.write(
            conn,
            anna,
            [
                resources.ResourceInput(r)
                for r in [
                    _record(
                        "Condition",
                        "cond-1",
                        code=_code("http://snomed.info/sct", "38341003"),
                        subject={"reference": HOSPITAL},
                        onsetDateTime="2024-01-02",
                    ),
                    _record(
                        "Immunization",
                        "imm-1",
                        status="completed",
                        vaccineCode=_code("http://hl7.org/fhir/sid/cvx", "140"),
                        patient={"reference": HOSPITAL},
                        occurrenceDateTime="2024-01-04",
                    ),
                ]
            ],
        )
        bob_condition = _record("Condition", "bob-cond", subject={"reference": HOSPITAL},
                                onsetDateTime="2024-01-02")  # fmt: skip
        resources.write(conn, bob, [resources.ResourceInput(bob_condition)])
    with live_server(pod) as base:
        live = pod.__class__(pod.settings.model_copy(update={"base_url": base}), pod.engine)
        yield {"base": base, "anna": anna, "bob": bob, "pod": live}


def make(world, **asked: Any) -> links.Made:
    now = now_ms()
    request = links.LinkRequest(
        categories=frozenset(asked.pop("categories", {"heart", "conditions", "identity"})),
        expires_ms=asked.pop("expires_ms", now + 7 * DAY),
        **asked,
    )
    return links.create(world["pod"], world["anna"], request, now_ms=now)


def pod_ids(world, made: links.Made) -> dict[str, str]:
    """The pod's own id ("cond-1", "q-12") of each resource id in the link's latest file.

    The file's ids are the link's pseudonyms; the person's access log names what left in the
    pod's own references (its `returned` entry), and the link's pseudonym of each is its id
    in the file.
    """
    ids = pseudonyms.for_link(world["pod"].settings, made.link)
    returned = [
        e for e in _log(world["pod"], made.link.person_id)
        if e["event"] == "returned" and e["via"] == made.link.via
    ]  # fmt: skip
    refs = returned[-1]["details"]["ids"]
    return {ids.of(ref): ref.split("/", 1)[1] for ref in refs}


def _log(pod, person_id: int) -> list[Any]:
    log = schema.access_log
    with as_superuser(pod.engine) as conn:
        return list(
            conn.execute(
                select(log).where(log.c.person_id == person_id).order_by(log.c.seq)
            ).mappings()
        )


def test_the_payload_is_as_the_specification_says(world):
    made = make(world, label="For my GP", passcode="1234")
    payload = payload_of(made.shlink)
    assert set(payload) == {"url", "key", "exp", "flag", "label", "v"}
    assert payload["flag"] == "P" and payload["label"] == "For my GP" and payload["v"] == 1
    assert len(_b64d(payload["key"])) == 32 and len(payload["key"]) == 43
    token = payload["url"].rsplit("/", 1)[1]
    assert len(_b64d(token)) >= 32  # 256 bits of randomness
    assert payload["url"].startswith(world["base"] + "/shl/")
    assert abs(payload["exp"] * 1000 - made.link.expires_ms) < 1000
    assert made.as_json()["expires"].endswith("Z")


def test_a_recipient_decrypts_only_the_chosen_categories_and_never_another_person(world):
    made = make(world, categories={"heart", "conditions", "identity"})
    (bundle,) = open_link(made.shlink)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "document"
    found = [e["resource"] for e in bundle["entry"]]
    kinds = {r["resourceType"] for r in found}
    assert kinds == {"Composition", "Patient", "Observation", "Condition"}
    patient = next(r for r in found if r["resourceType"] == "Patient")
    # The link's pseudonym of Anna, not her id in the pod (test_share_pseudonyms.py).
    assert patient["id"] != str(world["anna"]) and patient["name"] == [{"text": "Anna"}]
    observations = [r for r in found if r["resourceType"] == "Observation"]
    # Daily summaries of heart rate (five days), no steps, nothing of Bob's.
    assert len(observations) == 5
    assert all("8867-4" in json.dumps(o["code"]) for o in observations)
    text = json.dumps(bundle)
    assert "bob-cond" not in text and "99" not in json.dumps(
        [o.get("valueQuantity") for o in observations]
    )
    assert f"Patient/{world['bob']}" not in text
    assert "imm-1" not in text and "Immunization" not in text
    sections = {s["code"]["coding"][0]["code"] for s in found[0]["section"]}
    # The three sections an IPS requires are always there (allergies and medications empty:
    # not shared), the others only with entries.
    assert sections == {"11450-4", "48765-2", "10160-0", "8716-3"}


def test_the_window_and_raw_samples_are_as_granted(world):
    made = make(
        world,
        categories={"heart"},
        granularity=Granularity.RAW,
        data_from_ms=T0 + DAY,
        data_to_ms=T0 + 3 * DAY,
    )
    (bundle,) = open_link(made.shlink)
    found = [e["resource"] for e in bundle["entry"]]
    values = sorted(
        r["valueQuantity"]["value"] for r in found if r["resourceType"] == "Observation"
    )
    assert values == [61, 62]
    patient = next(r for r in found if r["resourceType"] == "Patient")
    # Identity was not shared: the name is masked, as the IPS asks of a name not given, and
    # holds no value: only the reason, on the name and on its text (for ips-pat-1).
    assert [set(n) for n in patient["name"]] == [{"extension", "_text"}]
    assert patient["name"][0]["extension"][0]["valueCode"] == "masked"
    # The Bundle is valid FHIR R4 as fhir.resources checks it, every resource in it too (the
    # IPS rules are checked in test_share_summary.py).
    from fhir.resources.R4B.bundle import Bundle

    assert len(Bundle.model_validate(bundle).entry or []) == len(found)


def test_a_long_file_comes_as_a_location_url(world):
    made = make(world)
    (bundle,) = open_link(made.shlink, embeddedLengthMax=10)
    assert any(e["resource"]["resourceType"] == "Condition" for e in bundle["entry"])
    # An embedded file when it fits.
    response = httpx.post(payload_of(made.shlink)["url"], json={"recipient": "x"})
    assert "embedded" in response.json()["files"][0]


def test_the_pod_keeps_no_key_for_a_link_that_is_not_long_term(world):
    made = make(world)
    key = payload_of(made.shlink)["key"]
    token = payload_of(made.shlink)["url"].rsplit("/", 1)[1]
    with as_superuser(world["pod"].engine) as conn:
        rows = [dict(r) for r in conn.execute(select(schema.share_links)).mappings()]
    assert rows[0]["key"] is None and rows[0]["file_jwe"].count(".") == 4
    assert key not in json.dumps(rows, default=str) and token not in json.dumps(rows, default=str)
    # A long-term link keeps its key, and each request makes a fresh file with a fresh IV.
    long_term = make(world, long_term=True)
    assert payload_of(long_term.shlink)["flag"] == "L"
    url = payload_of(long_term.shlink)["url"]
    first = httpx.post(url, json={"recipient": "a"}).json()
    second = httpx.post(url, json={"recipient": "a"}).json()
    assert first["status"] == "can-change"
    iv = [f["files"][0]["embedded"].split(".")[2] for f in (first, second)]
    assert iv[0] != iv[1]


def test_a_wrong_passcode_counts_down_and_then_the_link_is_dead(world):
    made = make(world, passcode="correct horse")
    url = payload_of(made.shlink)["url"]
    wrong = httpx.post(url, json={"recipient": "Dr. X", "passcode": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["remainingAttempts"] == links.ATTEMPTS - 1
    missing = httpx.post(url, json={"recipient": "Dr. X"})
    assert missing.status_code == 401
    assert missing.json()["remainingAttempts"] == links.ATTEMPTS - 2
    (bundle,) = open_link(made.shlink, passcode="correct horse")
    assert bundle["type"] == "document"
    for _ in range(links.ATTEMPTS - 2):
        httpx.post(url, json={"recipient": "Dr. X", "passcode": "nope"})
    dead = httpx.post(url, json={"recipient": "Dr. X", "passcode": "correct horse"})
    assert dead.status_code == 404
    entries = [e for e in _log(world["pod"], world["anna"]) if e["event"] == "share_link.manifest"]
    assert [e["outcome"] for e in entries].count("denied") == links.ATTEMPTS + 1
    assert all(e["via"] == f"share-link/{made.link.id}" for e in entries)
    assert all(e["done_by"] == "recipient" for e in entries)
    assert entries[0]["details"]["recipient"] == "Dr. X"


def test_the_attempt_limit_holds_under_parallel_requests(world):
    made = make(world, passcode="right one")
    url = payload_of(made.shlink)["url"]

    def attempt(_: int) -> httpx.Response:
        return httpx.post(url, json={"recipient": "guesser", "passcode": "wrong"}, timeout=60)

    with ThreadPoolExecutor(16) as pool:  # 50 guesses at once, as an attacker would
        answers = list(pool.map(attempt, range(50)))
    refused = [a for a in answers if a.status_code == 401]
    assert len(refused) == links.ATTEMPTS
    assert sorted(a.json()["remainingAttempts"] for a in refused) == list(range(links.ATTEMPTS))
    assert sum(a.status_code == 404 for a in answers) == 50 - links.ATTEMPTS
    assert open_link(made.shlink, passcode="right one").status_code == 404


def test_expired_revoked_and_unknown_links_answer_404_and_are_logged(world):
    expiring = make(world, expires_ms=now_ms() + 1500)
    revoked = make(world)
    assert isinstance(open_link(revoked.shlink), list)
    links.revoke(world["pod"], world["anna"], revoked.link.id, now_ms=now_ms())
    assert open_link(revoked.shlink).status_code == 404
    time.sleep(1.6)
    assert open_link(expiring.shlink).status_code == 404
    guessed = httpx.post(world["base"] + "/shl/" + "A" * 43, json={"recipient": "x"})
    assert guessed.status_code == 404
    truncated = httpx.post(payload_of(revoked.shlink)["url"][:-3], json={"recipient": "x"})
    assert truncated.status_code == 404
    entries = _log(world["pod"], world["anna"])
    denied = [e for e in entries if e["outcome"] == "denied"]
    assert {e["via"] for e in denied} == {revoked.link.via, expiring.link.via}
    assert any("revoked" in e["reason"] for e in denied)
    assert any("expired" in e["reason"] for e in denied)
    # The revoked link's file is gone from the pod.
    with as_superuser(world["pod"].engine) as conn:
        kept = conn.scalar(
            select(schema.share_links.c.file_jwe).where(schema.share_links.c.id == revoked.link.id)
        )
    assert kept is None
    with pytest.raises(Exception, match="no share link"):
        links.revoke(world["pod"], world["bob"], expiring.link.id, now_ms=now_ms())


def test_a_direct_link_serves_its_file_by_get(world):
    made = make(world, direct=True)
    payload = payload_of(made.shlink)
    assert payload["flag"] == "U"
    got = httpx.get(payload["url"], params={"recipient": "Dr. U"})
    assert got.status_code == 200 and got.headers["content-type"] == "application/jose"
    _header, plain = decrypt(got.text, payload["key"])
    assert json.loads(plain)["type"] == "document"
    with pytest.raises(Exception, match="cannot have a passcode"):
        make(world, direct=True, passcode="x")
    # A link without U has no file at its URL by GET; the try is logged as refused.
    other = make(world)
    assert httpx.get(payload_of(other.shlink)["url"], params={"recipient": "x"}).status_code == 404
    assert httpx.get(payload["url"]).status_code == 400  # no recipient named
    refused = [e for e in _log(world["pod"], world["anna"]) if e["via"] == other.link.via]
    assert refused[-1]["outcome"] == "denied" and "not a U link" in refused[-1]["reason"]


def test_a_location_url_replayed_after_its_lifetime_is_refused_and_logged(world):
    made = make(world)
    url = payload_of(made.shlink)["url"]
    answer = httpx.post(url, json={"recipient": "Dr. L", "embeddedLengthMax": 0}).json()
    location = answer["files"][0]["location"]
    assert httpx.get(location).status_code == 200
    with as_superuser(world["pod"].engine) as conn:
        conn.execute(update(schema.share_link_files).values(expires_ms=now_ms() - 1))
    assert httpx.get(location).status_code == 404
    assert httpx.get(location[:-4]).status_code == 404  # a truncated one: unknown
    entries = [e for e in _log(world["pod"], world["anna"]) if e["event"] == "share_link.file"]
    assert [e["outcome"] for e in entries] == ["allowed", "denied"]
    assert "expired" in entries[-1]["reason"]


def test_bad_manifest_requests_are_clear_400s_and_change_nothing(world):
    made = make(world, passcode="pass")
    url = payload_of(made.shlink)["url"]
    for body in [b"not json", b"[]", json.dumps({"passcode": "pass"}).encode(),
                 json.dumps({"recipient": "x", "embeddedLengthMax": "big"}).encode(),
                 json.dumps({"recipient": "x", "passcode": 5}).encode()]:  # fmt: skip
        answer = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["hint"]
    with as_superuser(world["pod"].engine) as conn:
        left = conn.scalar(select(schema.share_links.c.attempts_left))
    assert left == links.ATTEMPTS


def test_the_cli_creates_lists_and_revokes(tmp_path, database_url, pod):
    def run(*args: str, input: str | None = None, code: int = 0):
        result = CliRunner().invoke(
            cli,
            ["--home", str(tmp_path / "home"), "--database-url", database_url, *args],
            input=input,
            catch_exceptions=False,
        )
        assert result.exit_code == code, result.output
        return result

    out = run(
        "share", "link", "create", "--categories", "heart,blood-pressure,conditions",
        "--from", "2024-01-01", "--to", "2024-12-31", "--expires", "7d", "--passcode-stdin",
        "--label", "GP visit", "--json", input="secret code\n",
    )  # fmt: skip
    made = json.loads(out.stdout)
    assert set(made) == {"id", "shlink", "viewer_url", "expires"}
    assert payload_of(made["shlink"])["flag"] == "P"
    listed = json.loads(run("share", "link", "list", "--json").stdout)
    assert listed[0]["state"] == "active" and listed[0]["label"] == "GP visit"
    assert "secret" not in json.dumps(listed)
    run("share", "link", "revoke", str(made["id"]))
    assert json.loads(run("share", "link", "list", "--json").stdout)[0]["state"] == "revoked"
    bad = run("share", "link", "create", "--categories", "heart,wat", code=2)
    assert "Unknown data category: wat" in bad.stderr
    bad = run("share", "link", "create", "--categories", "heart", "--expires", "soon", code=2)
    assert "12h, 7d or 2w" in bad.stderr
    assert "not found" not in run("share", "link", "revoke", "999", code=1).stdout


VIEWER_TEXTS = {
    "en": ("Shared health summary", "Attempts left:", "Problem list", "Vital signs",
           "Allergies and intolerances", "Not shared through this link."),
    "sv": ("Delad hälsosammanfattning", "Försök kvar:", "Problemlista", "Vitalparametrar",
           "Allergier och intoleranser", "Delas inte genom den här länken."),
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_the_viewer_decrypts_in_the_browser_after_the_passcode(world, tmp_path, lang):
    title, attempts, problems, vitals, allergies, withheld = VIEWER_TEXTS[lang]
    chromium = Path(os.environ.get("HEALTHPOD_TEST_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        pytest.skip(f"no Chromium at {chromium} (set HEALTHPOD_TEST_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    made = make(world, passcode="open sesame", label="For Dr. Berg")

    def in_the_browser() -> tuple[list[str], str, list[str]]:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium))
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(made.viewer_url.replace("/shl/view#", f"/shl/view?lang={lang}#"))
            assert page.text_content("#label") == "For Dr. Berg"
            assert page.text_content("h1") == title
            page.fill("#recipient", "Dr. Berg")
            page.fill("#passcode", "wrong")
            page.click("button[type=submit]")
            page.wait_for_selector(f"#message:has-text('{attempts}')")
            assert f"{attempts} {links.ATTEMPTS - 1}" in page.text_content("#message")
            page.fill("#passcode", "open sesame")
            page.click("button[type=submit]")
            page.wait_for_selector("#summary h2")
            text = page.text_content("#summary")
            reasons = page.locator(".empty-reason").all_text_contents()
            page.screenshot(path=str(tmp_path / f"viewer-{lang}.png"), full_page=True)
            browser.close()
        return errors, text, reasons

    # A thread of its own: a browser test run earlier in this worker keeps Playwright's
    # event loop running in this one, where the sync API refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        errors, text, reasons = pool.submit(in_the_browser).result()
    assert errors == []
    assert "Anna" in text and problems in text and vitals in text
    # Allergies and medications were not shared: their sections say so.
    assert allergies in text and reasons == [withheld, withheld]
    assert "cond-1" not in text and "38341003" in text  # entries shown by their codes
    assert "Immunization" not in text and "Bob" not in text
    entries = _log(world["pod"], world["anna"])
    assert any(
        e["details"].get("recipient") == "Dr. Berg" and e["outcome"] == "allowed" for e in entries
    )


def test_what_the_person_marked_only_me_is_in_no_link(world):
    from healthpod.store.observations import SampleFilter
    from healthpod.store.person_data import for_owner

    pod = world["pod"]
    long_term = make(world, categories={"heart", "conditions"}, long_term=True)
    with for_owner(pod.engine, pod.reads, world["anna"]).writer() as write:
        write.restrict([], ["Condition/cond-1"], now_ms=now_ms())
        hr = write.samples(SampleFilter(type_codes=frozenset({"heart_rate"})), after=None, limit=9)
        write.restrict([], [hr[0].fhir_id], now_ms=now_ms())
    raw = make(world, categories={"heart", "conditions"}, granularity=Granularity.RAW)
    daily = make(world, categories={"heart", "conditions"})
    for made, observations in ((long_term, 4), (raw, 4), (daily, 4)):
        (bundle,) = open_link(made.shlink)
        found = [e["resource"] for e in bundle["entry"]]
        assert not [r for r in found if r["resourceType"] == "Condition"]
        assert "cond-1" not in json.dumps(bundle) and hr[0].fhir_id not in json.dumps(bundle)
        assert len([r for r in found if r["resourceType"] == "Observation"]) == observations
