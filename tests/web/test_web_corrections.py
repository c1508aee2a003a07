"""Marking a measurement or a record wrong from its page, and undoing it, on SQLite and
PostgreSQL: struck through with the reason, out of the statistics, back after the undo; bad
input changes nothing."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.insights import stats
from healthpod.store import resources, rls, schema
from healthpod.store.person_data import for_owner

sys.path.insert(0, str(Path(__file__).parents[1]))
from smart_support import add_person, add_samples

HTML = {"accept": "text/html"}
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _steps(pod, person_id) -> dict[date, float]:
    with for_owner(pod.engine, pod.reads, person_id).writer() as write:
        return stats.daily_values(write, "steps")


def _marks(pod) -> int:
    with pod.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.marked_wrong)) or 0)


def test_mark_a_measurement_and_a_record_wrong_and_undo(pod, logged_in, account, csrf_of):
    client = logged_in
    ids = add_samples(pod.engine, account, "steps", [(T0 + 3_600_000, 4000), (T0 + 7_200_000, 900)])
    with pod.engine.begin() as conn:
        flu = {"resourceType": "Condition", "id": "flu", "onsetDateTime": "2024-01-02",
               "code": {"text": "Influenza"}, "subject": {"reference": "Patient/x"}}  # fmt: skip
        resources.write(conn, account, [resources.ResourceInput(flu)])
    assert _steps(pod, account) == {date(2024, 1, 1): 4900}
    page = client.get("/type/steps?from=2024-01-01&to=2024-01-02", headers=HTML)
    assert page.status_code == 200 and f'data-id="q-{ids[1]}"' in page.text
    assert "Mark as wrong" in page.text
    back = "/type/steps?from=2024-01-01&to=2024-01-02#samples-heading"
    marked = client.post(
        "/data/mark-wrong",
        data={
            "csrf_token": csrf_of(page.text),
            "target": f"q-{ids[1]}",
            "reason": "car ride",
            "back": back,
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert marked.status_code == 303 and marked.headers["location"] == back
    assert _steps(pod, account) == {date(2024, 1, 1): 4000}
    page = client.get("/type/steps?from=2024-01-01&to=2024-01-02", headers=HTML)
    assert f'<tr class="wrong" data-id="q-{ids[1]}">' in page.text
    assert "Marked wrong: car ride" in page.text

    records = client.get("/records", headers=HTML)
    assert 'data-id="Condition/flu"' in records.text
    response = client.post(
        "/data/mark-wrong",
        data={"csrf_token": csrf_of(records.text), "target": "Condition/flu", "back": "/records"},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303
    records = client.get("/records", headers=HTML)
    assert 'class="record wrong" data-type="Condition" data-id="Condition/flu"' in records.text

    log = client.get("/access-log", headers=HTML)
    assert "Marked data wrong" in log.text

    for target, where in ((f"q-{ids[1]}", back), ("Condition/flu", "/records")):
        undone = client.post(
            "/data/unmark",
            data={"csrf_token": csrf_of(page.text), "target": target, "back": where},
            headers=HTML,
            follow_redirects=False,
        )
        assert undone.status_code == 303
    assert _steps(pod, account) == {date(2024, 1, 1): 4900} and _marks(pod) == 0
    page = client.get("/type/steps?from=2024-01-01&to=2024-01-02", headers=HTML)
    assert 'class="wrong"' not in page.text


def test_bad_marks_are_refused_and_change_nothing(pod, logged_in, account, csrf_of):
    client = logged_in
    mine = add_samples(pod.engine, account, "steps", [(T0 + 3_600_000, 4000)])[0]
    other = add_samples(pod.engine, add_person(pod.engine, "bob"), "steps", [(T0, 5)])[0]
    csrf = csrf_of(client.get("/records", headers=HTML).text)
    for target in (f"q-{other}", "q-999999", "nonsense", ""):
        response = client.post(
            "/data/mark-wrong", data={"csrf_token": csrf, "target": target}, headers=HTML
        )
        assert response.status_code in (400, 404), (target, response.status_code)
        assert "Traceback" not in response.text
    unmark = client.post(
        "/data/unmark", data={"csrf_token": csrf, "target": f"q-{mine}"}, headers=HTML
    )
    assert unmark.status_code == 404 and "Not marked wrong" in unmark.text
    no_token = client.post("/data/mark-wrong", data={"target": f"q-{mine}"}, headers=HTML)
    assert no_token.status_code in (400, 403)
    assert _marks(pod) == 0
    # the way back is a page of this site only
    response = client.post(
        "/data/mark-wrong",
        data={"csrf_token": csrf, "target": f"q-{mine}", "back": "//evil.example/"},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_delete_a_measurement_and_an_import_after_a_confirmation(
    pod, logged_in, account, csrf_of, tmp_path
):
    from healthpod.ingest.run import import_file

    client = logged_in
    ids = add_samples(pod.engine, account, "steps", [(T0 + 3_600_000, 4000), (T0 + 7_200_000, 900)])
    page = client.get("/type/steps?from=2024-01-01&to=2024-01-02", headers=HTML)
    assert f"/data/delete-one?target=q-{ids[1]}" in page.text
    confirm = client.get(f"/data/delete-one?target=q-{ids[1]}&back=/type/steps", headers=HTML)
    assert confirm.status_code == 200 and "Delete for good" in confirm.text
    assert _steps(pod, account) == {date(2024, 1, 1): 4900}  # the page alone deletes nothing
    done = client.post(
        "/data/delete-one",
        data={"csrf_token": csrf_of(confirm.text), "target": f"q-{ids[1]}", "back": "/type/steps"},
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/type/steps"
    assert _steps(pod, account) == {date(2024, 1, 1): 4000}
    twice = client.post(
        "/data/delete-one",
        data={"csrf_token": csrf_of(confirm.text), "target": f"q-{ids[1]}"},
        headers=HTML,
    )
    assert twice.status_code == 404 and "There is no record" in twice.text

    report = import_file(pod, Path(__file__).parents[1] / "data/apple/handmade/export.xml")
    history = client.get("/import", headers=HTML)
    assert f"/data/delete-one?import={report.import_id}" in history.text
    confirm = client.get(f"/data/delete-one?import={report.import_id}&back=/import", headers=HTML)
    assert (
        confirm.status_code == 200 and f"Import {report.import_id} and everything" in confirm.text
    )
    bad = client.get("/data/delete-one?import=abc", headers=HTML)
    assert bad.status_code == 400 and "not the number of an import" in bad.text
    done = client.post(
        "/data/delete-one",
        data={"csrf_token": csrf_of(confirm.text), "import": str(report.import_id)},
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303
    with pod.engine.connect() as conn:
        left = conn.scalar(
            select(func.count()).where(schema.quantity_samples.c.import_id == report.import_id)
        )
    assert left == 0


def test_only_me_on_a_type_page_and_a_record(pod, logged_in, account, csrf_of):
    from healthpod.store.person_data import for_owner as owner_of

    client = logged_in
    ids = add_samples(pod.engine, account, "steps", [(T0 + 3_600_000, 4000)])
    with pod.engine.begin() as conn:
        flu = {"resourceType": "Condition", "id": "flu", "onsetDateTime": "2024-01-02",
               "code": {"text": "Influenza"}, "subject": {"reference": "Patient/x"}}  # fmt: skip
        resources.write(conn, account, [resources.ResourceInput(flu)])

    def restricted() -> set[str]:
        with owner_of(pod.engine, pod.reads, account).reader() as read:
            return {r.target for r in read.restricted()}

    page = client.get("/type/steps?from=2024-01-01&to=2024-01-02", headers=HTML)
    assert "Keep this whole type to yourself" in page.text
    csrf = csrf_of(page.text)
    asked = [
        ("steps", "type", "/type/steps"),
        (f"q-{ids[0]}", "record", "/type/steps"),
        ("Condition/flu", "record", "/records"),
    ]
    for target, level, back in asked:
        done = client.post(
            "/data/only-me",
            data={"csrf_token": csrf, "target": target, "level": level, "back": back},
            headers=HTML,
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == back
    assert restricted() == {"steps", f"q-{ids[0]}", "Condition/flu"}
    page = client.get("/type/steps?from=2024-01-01&to=2024-01-02", headers=HTML)
    assert "Only you see this type" in page.text and 'data-only-me="steps"' in page.text
    assert f'data-only-me="q-{ids[0]}"' in page.text
    assert 'data-only-me="Condition/flu"' in client.get("/records", headers=HTML).text
    assert "Marked data only mine" in client.get("/access-log", headers=HTML).text

    bad = client.post(
        "/data/only-me", data={"csrf_token": csrf, "target": "steps", "level": "everything"},
        headers=HTML,
    )  # fmt: skip
    assert bad.status_code == 400 and "Choose a type or a record" in bad.text
    unknown = client.post(
        "/data/only-me", data={"csrf_token": csrf, "target": "q-999999", "level": "record"},
        headers=HTML,
    )  # fmt: skip
    assert unknown.status_code == 404
    assert restricted() == {"steps", f"q-{ids[0]}", "Condition/flu"}

    for target, level in (
        ("steps", "type"),
        (f"q-{ids[0]}", "record"),
        ("Condition/flu", "record"),
    ):
        done = client.post(
            "/data/share-again",
            data={"csrf_token": csrf, "target": target, "level": level, "back": "/records"},
            headers=HTML,
            follow_redirects=False,
        )
        assert done.status_code == 303
    assert restricted() == set()
    twice = client.post(
        "/data/share-again", data={"csrf_token": csrf, "target": "steps", "level": "type"},
        headers=HTML,
    )  # fmt: skip
    assert twice.status_code == 404 and "Not restricted" in twice.text


def test_add_a_note_from_the_records_page(pod, logged_in, account, csrf_of):
    client = logged_in
    page = client.get("/records", headers=HTML)
    assert "Add your own note or symptom" in page.text
    csrf = csrf_of(page.text)
    done = client.post(
        "/data/note",
        data={
            "csrf_token": csrf,
            "text": "Dizzy in the morning",
            "kind": "symptom",
            "when": "2024-01-03",
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/records"
    assert "Dizzy in the morning" in client.get("/records", headers=HTML).text
    with pod.engine.connect() as conn:
        rls.act_for(conn, account)  # the person's own rows, under row-level security
        stored = conn.execute(
            select(schema.resources.c.provenance, schema.resources.c.category).where(
                schema.resources.c.person_id == account
            )
        ).all()
    assert [tuple(r) for r in stored] == [("person", "conditions")]
    refused = [({"text": " "}, "needs some text"), ({"text": "x", "kind": "poem"}, "not a kind")]
    for bad, message in refused:
        response = client.post("/data/note", data={"csrf_token": csrf, **bad}, headers=HTML)
        assert response.status_code == 400 and message in response.text
    with as_superuser(pod.engine) as conn:  # nothing more stored, for anyone
        assert conn.scalar(select(func.count()).select_from(schema.resources)) == 1
