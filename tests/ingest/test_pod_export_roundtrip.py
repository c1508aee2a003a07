"""A pod exported with `healthpod export` and imported into an empty pod is the same pod.

"The same" is checked table by table, ids aside (each id replaced by what it names: a type's
code, a source's name, a device's description, a correlation's natural key), daily statistics
included, on both engines and from one engine to the other. A damaged or hostile export is
refused with a message naming the file, and nothing is stored.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import shutil
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.config import Settings
from healthpod.consent import store
from healthpod.consent.model import Scope
from healthpod.ingest.base import CategoryValue, Correlation, Quantity, SourceRef, Workout
from healthpod.pod import Pod
from healthpod.store import schema
from healthpod.store.engine import make_engine

DATA = Path(__file__).parents[1] / "data"
APPLE = [
    DATA / "apple" / "handmade" / "export.xml",
    DATA / "apple" / "ahcd-go" / "export.xml",
    DATA / "apple" / "apple-health-parser" / "export.zip",
]
ROUTES = DATA / "apple" / "healthkit-to-sqlite" / "zip_contents"
FHIR = DATA / "fhir" / "ips" / "Bundle-IPS-examples-Bundle-01.json"
COMPARED = (
    "persons",
    "sources",
    "source_type_priorities",
    "devices",
    "quantity_samples",
    "category_samples",
    "correlations",
    "workouts",
    "activity_summaries",
    "daily_summaries",
    "resources",
    "marked_wrong",
    "restrictions",
    "tombstones",
)
DROPPED = {"id", "person_id", "import_id", "last_updated_ms"}
DROPPED_OF_PERSON = {"name", "created_ms"}  # the target pod's person keeps theirs

Invoke = Callable[..., Result]
NOW = 1_780_000_000_000


def _pod(tmp_path: Path, name: str, database_url: str) -> Invoke:
    def invoke(*args: str) -> Result:
        base = ["--home", str(tmp_path / name), "--database-url", database_url]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


@pytest.fixture
def second_database(request, tmp_path, sqlite_template, pg_template, database_url):  # type: ignore[no-untyped-def]
    """Another empty database on the same engine as `database_url`."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "second.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = pg_template.clone()
    request.addfinalizer(lambda: pg_template.drop(make_engine(url).url.database or ""))
    return url


def _full_pod(tmp_path: Path, database_url: str) -> Invoke:
    """A pod from real files: Apple exports (one with a workout route), a FHIR bundle, and a
    source order set by the person, person-wide and for one type."""
    invoke = _pod(tmp_path, "original", database_url)
    routes = tmp_path / "routes.zip"
    with zipfile.ZipFile(routes, "w") as archive:
        for file in ROUTES.rglob("*"):
            if file.is_file():
                archive.write(file, file.relative_to(ROUTES).as_posix())
    for path in [*APPLE, routes, FHIR]:
        result = invoke("import", str(path))
        assert result.exit_code == 0, (path, result.output)
    assert invoke("sources", "priority", "Health Mate", "1").exit_code == 0
    assert invoke("settings", "set", "timezone", "Europe/Stockholm").exit_code == 0
    assert invoke("settings", "set", "language", "sv").exit_code == 0
    assert invoke("sources", "priority", "Apple Watch", "1", "--type", "heart_rate").exit_code == 0
    _decide(invoke)
    added = invoke(
        "actor", "add", "--name", "Coach Anna", "--kind", "coach", "--purpose", "CAREMGT",
        "--redirect-uri", "https://c.example/cb", "--json",
    )  # fmt: skip
    pod = Pod.open(Settings(home=tmp_path / "original", database_url=database_url))
    with as_superuser(pod.engine) as conn:
        me = conn.scalar(select(schema.persons.c.id).where(schema.persons.c.name == "me"))
        actor = conn.scalar(
            select(schema.actors.c.id).where(
                schema.actors.c.client_id == json.loads(added.stdout)["client_id"]
            )
        )
        store.grant(conn, me, actor, Scope(frozenset({"heart"})), valid_until_ms=None, now_ms=NOW)
    pod.close()
    return invoke


def _first(invoke: Invoke, type_name: str) -> str:
    return str(
        json.loads(invoke("data", "list", "--type", type_name, "--json").stdout)["items"][0]["id"]
    )


def _decide(invoke: Invoke) -> None:
    """What the person decided: marks with reasons (a sample, a blood pressure, a workout, a
    record), "only me" (a type, a sample, a blood pressure, a record) and a deletion."""
    condition = _first(invoke, "Condition")
    for args in (
        ("mark-wrong", _first(invoke, "blood_glucose"), "--reason", "meter not calibrated"),
        ("mark-wrong", _first(invoke, "blood_pressure"), "--reason", "cuff too loose"),
        ("mark-wrong", _first(invoke, "workout")),
        ("mark-wrong", condition, "--reason", "not mine"),
        ("restrict", "--type", "heart_rate"),
        ("restrict", _first(invoke, "steps"), condition),
        ("restrict", json.loads(invoke("data", "list", "--type", "blood_pressure", "--json")
                                .stdout)["items"][-1]["id"]),
        ("delete", "--yes", _first(invoke, "body_temperature")),
    ):  # fmt: skip
        result = invoke("data", *args)
        assert result.exit_code == 0, (args, result.output)


def _export(invoke: Invoke, out: Path) -> Path:
    result = invoke("export", str(out))
    assert result.exit_code == 0, result.output
    return out


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each compared table of an export as sorted rows, every id replaced by what it names."""
    with zipfile.ZipFile(path) as archive:

        def rows(table: str) -> list[dict[str, str]]:
            text = archive.read(f"csv/{table}.csv").decode()
            return list(csv.DictReader(io.StringIO(text, newline="")))

        types = {r["id"]: r["code"] for r in rows("sample_types")}
        sources = {r["id"]: r["name"] for r in rows("sources")}
        devices = {r["id"]: r["description"] for r in rows("devices")}
        correlations = {
            r["id"]: (r["type_code"], r["start_ms"], r["end_ms"], sources[r["source_id"]])
            for r in rows("correlations")
        }
        names: dict[str, dict[str, Any]] = {
            "type_id": types,
            "source_id": sources,
            "device_id": devices,
            "correlation_id": correlations,
        }
        # What a mark or a restriction names (`kind`, `row_id`; `target` q-12): the row's
        # natural key.
        named: dict[str, dict[str, Any]] = {
            "bp": correlations,
            "w": {
                r["id"]: (r["activity_type"], r["start_ms"], r["end_ms"], sources[r["source_id"]])
                for r in rows("workouts")
            },
            "r": {r["id"]: (r["resource_type"], r["fhir_id"]) for r in rows("resources")},
        }
        for kind, value in (("quantity", "value"), ("category", "value_code")):
            named[kind[0]] = {
                r["id"]: (types[r["type_id"]], r["start_ms"], r["end_ms"], r[value],
                          sources[r["source_id"]])
                for r in rows(f"{kind}_samples")
            }  # fmt: skip
        found: dict[str, list[tuple[Any, ...]]] = {}
        for table in COMPARED:
            kept = []
            for row in rows(table):
                if table == "daily_summaries" and row["by_source"]:
                    by = json.loads(row["by_source"])
                    row["by_source"] = json.dumps({sources[k]: v for k, v in sorted(by.items())})
                if table in ("marked_wrong", "restrictions") and row["row_id"]:
                    row["row_id"] = named[row["kind"]][row["row_id"]]
                    kind, _, old_id = row["target"].partition("-")
                    if kind in named and old_id.isdigit():
                        row["target"] = named[kind][old_id]
                kept.append(
                    tuple(
                        (column, names[column].get(value) if column in names else value)
                        for column, value in sorted(row.items())
                        if column not in DROPPED
                        and not (table == "persons" and column in DROPPED_OF_PERSON)
                    )
                )
            found[table] = sorted(kept, key=repr)
        return found


def _counts(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    with as_superuser(engine) as conn:
        counted = {
            table.name: conn.scalar(select(func.count()).select_from(table)) or 0
            for table in (
                schema.quantity_samples,
                schema.category_samples,
                schema.correlations,
                schema.workouts,
                schema.activity_summaries,
                schema.resources,
                schema.sources,
                schema.devices,
                schema.source_type_priorities,
            )
        }
    engine.dispose()
    return counted


def test_an_export_imported_into_an_empty_pod_gives_the_same_pod(
    tmp_path, database_url, second_database
):
    original = _full_pod(tmp_path, database_url)
    first = _export(original, tmp_path / "first.zip")
    moved = _pod(tmp_path, "moved", second_database)
    result = moved("import", str(first), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["format"] == "healthpod-export"
    again = _export(moved, tmp_path / "again.zip")
    before, after = _tables(first), _tables(again)
    for table in COMPARED:
        assert after[table] == before[table], table
    assert before["workouts"] and before["correlations"] and before["resources"]
    assert any("points" in dict(row)["route"] for row in before["workouts"])
    assert before["source_type_priorities"] and before["daily_summaries"]
    # What the person decided came along: marks with their reasons, "only me" and deletions.
    assert {dict(row)["kind"] for row in before["marked_wrong"]} == {"q", "bp", "w", "r"}
    assert {dict(row)["level"] for row in before["restrictions"]} == {"type", "record"}
    assert before["tombstones"]
    for listing in ("wrong", "restrictions", "tombstones"):  # as the person lists them
        shown = [re.sub(r'"(q|c|bp|w)-\d+"', r'"\1-N"', pod("data", listing, "--json").stdout)
                 for pod in (original, moved)]  # fmt: skip
        assert _without_ids(shown[0]) == _without_ids(shown[1]), listing
    # The same statistics and findings, as the person asks for them.
    for question in (("stats", "--json"), ("insights", "--json"), ("sources", "--json")):
        assert _without_ids(original(*question).stdout) == _without_ids(moved(*question).stdout)
    # Importing it twice adds nothing.
    counts = _counts(second_database)
    result = moved("import", str(first), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["added"] == {}
    assert _counts(second_database) == counts
    # The old pod's consents, actors, access log and imports come as read-only history: kept
    # for the person, never live grants.
    engine = make_engine(second_database)
    with as_superuser(engine) as conn:
        kinds = set(conn.scalars(select(schema.moved_history.c.kind)))
        assert kinds == {"imports", "actors", "consents", "consent_history", "access_log"}
        assert conn.scalar(select(func.count()).select_from(schema.consents)) == 0
        assert conn.scalar(select(func.count()).select_from(schema.actors)) == 0
        assert conn.scalar(select(func.count()).select_from(schema.access_log)) == 0
    engine.dispose()
    assert json.loads(moved("consent", "list", "--json").stdout) == []
    # The person sees that history, read-only: `healthpod log history`.
    history = json.loads(moved("log", "history", "--json").stdout)
    old_log = json.loads(original("log", "--json", "--limit", "1000").stdout)
    assert history["access_log_total"] == len(old_log) > 0
    assert {e["event"] for e in history["access_log"]} == {e["event"] for e in old_log}
    [consent] = history["consents"]
    assert (consent["actor"], consent["categories"]) == ("Coach Anna", ["heart"])
    assert "Coach Anna" in moved("log", "history").stdout
    assert original("log", "history").stdout.strip() == "No history from a previous pod."
    # The person's time zone and language came along (`before == after` for persons too).
    assert json.loads(moved("settings", "--json").stdout) == {
        "timezone": "Europe/Stockholm",
        "language": "sv",
    }


def test_a_time_zone_and_language_the_target_person_set_stay(
    tmp_path, database_url, second_database
):
    original = _pod(tmp_path, "original", database_url)
    assert original("settings", "set", "timezone", "Europe/Stockholm").exit_code == 0
    assert original("settings", "set", "language", "sv").exit_code == 0
    moved = _pod(tmp_path, "moved", second_database)
    assert moved("settings", "set", "timezone", "America/New_York").exit_code == 0
    assert moved("settings", "set", "language", "en").exit_code == 0
    assert moved("import", str(_export(original, tmp_path / "export.zip"))).exit_code == 0
    assert json.loads(moved("settings", "--json").stdout) == {
        "timezone": "America/New_York",
        "language": "en",
    }


def _without_ids(text: str) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in {"id", "import_id"}}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(text))


def test_a_pod_moves_from_sqlite_to_postgresql_and_back(tmp_path, pg_template, sqlite_template):
    if pg_template is None:
        pytest.skip("no PostgreSQL (set HEALTHPOD_TEST_PG_URL)")
    laptop_db = tmp_path / "laptop.db"
    shutil.copy(sqlite_template, laptop_db)
    region_url = pg_template.clone()
    try:
        laptop = _full_pod(tmp_path, f"sqlite:///{laptop_db}")
        region = _pod(tmp_path, "region", region_url)
        assert region("import", str(_export(laptop, tmp_path / "out.zip"))).exit_code == 0
        back_db = tmp_path / "back.db"
        shutil.copy(sqlite_template, back_db)
        back = _pod(tmp_path, "back", f"sqlite:///{back_db}")
        assert back("import", str(_export(region, tmp_path / "region.zip"))).exit_code == 0
        start = _tables(tmp_path / "out.zip")
        assert _tables(tmp_path / "region.zip") == start
        assert _tables(_export(back, tmp_path / "back.zip")) == start
    finally:
        pg_template.drop(make_engine(region_url).url.database or "")


# -- damaged and hostile exports: refused, naming the file, nothing stored ------------------
def _rewrite(source: Path, target: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, bytes]], None]:
    def edit(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["manifest.json"])
        change(manifest)
        members["manifest.json"] = json.dumps(manifest).encode()

    return edit


def _changed_byte(members: dict[str, bytes]) -> None:
    data = bytearray(members["csv/quantity_samples.csv"])
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    members["csv/quantity_samples.csv"] = bytes(data)


def _lying_count(members: dict[str, bytes]) -> None:
    _manifest(
        lambda m: m["files"].update({"csv/workouts.csv": m["files"]["csv/workouts.csv"] + 1})
    )(members)


def _rehash(name: str, data: bytes) -> Callable[[dict[str, bytes]], None]:
    def edit(members: dict[str, bytes]) -> None:
        members[name] = data
        _manifest(lambda m: m["sha256"].update({name: hashlib.sha256(data).hexdigest()}))(members)

    return edit


def _persons_language(persons: bytes, language: bytes) -> bytes:
    """persons.csv with its one person's `language` changed."""
    rows = list(csv.DictReader(io.StringIO(persons.decode())))
    assert rows[0]["language"] == "sv"
    rows[0]["language"] = language.decode()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


BAD: dict[str, tuple[Callable[[dict[str, bytes]], None], str]] = {
    "changed byte": (_changed_byte, "csv/quantity_samples.csv: its sha256"),
    "missing file": (lambda m: m.pop("csv/workouts.csv"), "csv/workouts.csv: the manifest lists"),
    "extra file": (lambda m: m.update({"csv/extra.csv": b"a\n"}), "csv/extra.csv: the zip holds"),
    "traversal": (lambda m: m.update({"../evil.csv": b"a\n"}), "points outside the archive"),
    "lying count": (_lying_count, "csv/workouts.csv: it has"),
    "newer version": (_manifest(lambda m: m.update(format_version=99)), "format version 99"),
    "huge manifest": (
        _manifest(lambda m: m.update(padding="x" * 2_000_000)),
        "far more than a healthpod export's manifest",
    ),
    "another export's manifest": (
        _manifest(lambda m: m["sha256"].update(dict.fromkeys(m["sha256"], "0" * 64))),
        ": its sha256",
    ),
    "a time zone that is none, hashed anew": (
        lambda m: _rehash(
            "csv/persons.csv", m["csv/persons.csv"].replace(b"Europe/Stockholm", b"Mars/Olympus")
        )(m),
        "csv/persons.csv: 'Mars/Olympus' is not a time zone",
    ),
    "a language the pod has not, hashed anew": (
        lambda m: _rehash("csv/persons.csv", _persons_language(m["csv/persons.csv"], b"de"))(m),
        "csv/persons.csv: 'de' is not a language this pod has (en, sv)",
    ),
    "rows that lie, hashed anew": (
        _rehash("csv/workouts.csv", b"id,start_ms\n1,2\n"),
        "csv/workouts.csv: a row does not fit",
    ),
}


@pytest.fixture(scope="module")
def good_export(tmp_path_factory, sqlite_template):  # type: ignore[no-untyped-def]
    """One export of the full pod (on SQLite), which each bad case damages its own way."""
    folder = tmp_path_factory.mktemp("good")
    shutil.copy(sqlite_template, folder / "good.db")
    original = _full_pod(folder, f"sqlite:///{folder / 'good.db'}")
    return _export(original, folder / "good.zip")


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_damaged_export_is_refused_naming_the_file_and_nothing_is_stored(
    case, tmp_path, database_url, good_export
):
    change, words = BAD[case]
    bad = _rewrite(good_export, tmp_path / "bad.zip", change)
    moved = _pod(tmp_path, "moved", database_url)
    result = moved("import", str(bad))
    assert result.exit_code != 0, result.output
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert sum(_counts(database_url).values()) == 0


@pytest.mark.parametrize("case", ["changed byte", "rows that lie, hashed anew", "missing file"])
def test_a_damaged_export_read_in_a_second_process_is_refused_and_nothing_is_stored(
    case, tmp_path, pod, good_export
):
    """A large export is checked and read in a reader process: its refusal is the same."""
    from healthpod.errors import HealthpodError
    from healthpod.ingest.run import import_path

    change, words = BAD[case]
    bad = _rewrite(good_export, tmp_path / "bad.zip", change)
    with pytest.raises(HealthpodError) as refused:
        import_path(pod, bad, person="moved", parallel=True)
    assert words in str(refused.value)
    assert sum(_counts(pod.settings.database_url or "").values()) == 0


# -- random pods: exported and re-imported, equal table by table --------------------------
class _Items:
    """An importer that yields the items it was given (the random pod's content)."""

    format = "generated"

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def sniff(self, head: bytes, filename: str) -> bool:
        return False

    def read(self, fp: Any, **kwargs: Any) -> Any:
        return iter(self.items)


_SOURCES = st.sampled_from(
    [
        SourceRef("Watch"),
        SourceRef("Phone", "device", "com.apple.health"),
        SourceRef("Scale\u00a0X"),
    ]
)
_TIMES = st.integers(1_500_000_000_000, 1_800_000_000_000)
_OFFSETS = st.sampled_from([-420, 0, 60, 120, 330])
_META = st.none() | st.dictionaries(
    st.sampled_from(["HKWasUserEntered", "note"]), st.text(max_size=8)
)


@st.composite
def _quantity(draw: st.DrawFn) -> Quantity:
    start = draw(_TIMES)
    code, unit = draw(
        st.sampled_from([("steps", "{steps}"), ("heart_rate", "/min"), ("body_mass", "kg")])
    )
    return Quantity(
        code, start, start + draw(st.integers(0, 3_600_000)), draw(_OFFSETS), draw(_OFFSETS),
        draw(st.floats(0, 1e5, allow_nan=False)), unit, draw(_SOURCES),
        source_version=draw(st.none() | st.sampled_from(["1.0", "17.2"])),
        device=draw(st.none() | st.sampled_from(["<<HKDevice>>, name:Watch", "scale"])),
        created_ms=draw(st.none() | _TIMES), meta=draw(_META),
    )  # fmt: skip


@st.composite
def _category(draw: st.DrawFn) -> CategoryValue:
    start = draw(_TIMES)
    return CategoryValue(
        "sleep_analysis", start, start + draw(st.integers(0, 36_000_000)), draw(_OFFSETS),
        draw(_OFFSETS), draw(st.sampled_from(["HKCategoryValueSleepAnalysisAsleepCore",
        "HKCategoryValueSleepAnalysisInBed"])), draw(_SOURCES), meta=draw(_META),
    )  # fmt: skip


@st.composite
def _workout(draw: st.DrawFn) -> Workout:
    start = draw(_TIMES)
    return Workout(
        draw(st.sampled_from(["running", "walking"])), start, start + 600_000, 60, 60,
        draw(_SOURCES), duration_s=draw(st.none() | st.floats(0, 1e4, allow_nan=False)),
        route=draw(st.none() | st.just({"points": [{"t_ms": start, "lat": 1.5, "lon": 2.5}]})),
    )  # fmt: skip


@st.composite
def _pressure(draw: st.DrawFn) -> Correlation:
    start = draw(_TIMES)
    source = draw(_SOURCES)
    parts = tuple(
        Quantity(code, start, start, 60, 60, draw(st.integers(50, 180)), "mm[Hg]", source)
        for code in ("blood_pressure_systolic", "blood_pressure_diastolic")
    )
    return Correlation("blood_pressure", start, start, 60, 60, source, parts)


# What the person decides afterwards: (what, which item, a reason). The item is picked among
# those stored by its position (modulo their number), so every draw names one.
_DECISIONS = st.lists(
    st.tuples(
        st.sampled_from(["wrong", "only me", "only me type", "delete"]),
        st.integers(0, 1000),
        st.none() | st.text(max_size=12),
    ),
    max_size=6,
)


def _decide_at_random(pod: Pod, person_id: int, decisions: list[Any]) -> None:
    """Mark, restrict and delete through the person's own door, each in its own transaction
    (one the store refuses, such as a mark on a deleted item, changes nothing)."""
    from healthpod.errors import HealthpodError
    from healthpod.insights import corrections
    from healthpod.store.person_data import for_owner

    with as_superuser(pod.engine) as conn:
        targets = [
            f"{kind}-{row_id}"
            for kind, table in (
                ("q", schema.quantity_samples),
                ("c", schema.category_samples),
                ("bp", schema.correlations),
                ("w", schema.workouts),
            )
            for row_id in conn.scalars(
                select(table.c.id).where(table.c.person_id == person_id).order_by(table.c.id)
            )
        ]
        codes = sorted(
            conn.scalars(
                select(schema.sample_types.c.code)
                .join(schema.quantity_samples)
                .where(schema.quantity_samples.c.person_id == person_id)
                .distinct()
            )
        )
    if not targets:
        return
    data = for_owner(pod.engine, pod.reads, person_id)
    for n, (what, index, reason) in enumerate(decisions):
        target = targets[index % len(targets)]
        with contextlib.suppress(HealthpodError), data.writer() as write:
            if what == "wrong":
                corrections.mark_wrong(write, [target], reason, now_ms=NOW + n)
            elif what == "only me" and not target.startswith("w-"):
                write.restrict([], [target], now_ms=NOW + n)
            elif what == "only me type" and codes:
                write.restrict([codes[index % len(codes)]], [], now_ms=NOW + n)
            elif what == "delete":
                corrections.delete_items(write, [target], now_ms=NOW + n)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    items=st.lists(_quantity(), max_size=30)
    .flatmap(lambda q: st.lists(_category(), max_size=8).map(lambda c: [*q, *c]))
    .flatmap(lambda s: st.lists(_workout(), max_size=3).map(lambda w: [*s, *w]))
    .flatmap(lambda s: st.lists(_pressure(), max_size=3).map(lambda b: [*s, *b])),
    decisions=_DECISIONS,
)
def test_random_pods_round_trip_table_by_table(tmp_path, pod, items, decisions):
    """Random pods on each engine, with random marks, restrictions and deletions: exported,
    imported as a new person, exported again, the two exports' tables equal (ids aside),
    daily statistics and what the person decided included."""
    from healthpod.export import write_export
    from healthpod.ingest.run import import_path, run_import
    from healthpod.store.person_data import for_owner

    name = f"p{uuid.uuid4().hex[:8]}"
    if items:
        run_import(
            pod, _Items(items), lambda: contextlib.nullcontext(io.BytesIO()),  # type: ignore[arg-type]
            filename="generated", sha256="0" * 64, person=name,
        )  # fmt: skip
        _decide_at_random(pod, pod.person_id(name), decisions)
    folder = tmp_path / name
    folder.mkdir()
    write_export(for_owner(pod.engine, pod.reads, pod.person_id(name)), folder / "a.zip")
    import_path(pod, folder / "a.zip", person=f"{name}-moved")
    moved = pod.person_id(f"{name}-moved")
    write_export(for_owner(pod.engine, pod.reads, moved), folder / "b.zip")
    assert _tables(folder / "b.zip") == _tables(folder / "a.zip")
    # Importing it again adds nothing, what the person decided included.
    import_path(pod, folder / "a.zip", person=f"{name}-moved")
    write_export(for_owner(pod.engine, pod.reads, moved), folder / "c.zip")
    assert _tables(folder / "c.zip") == _tables(folder / "a.zip")


def test_the_demo_pod_round_trips(tmp_path, pod):
    """Thirty days of the demo person (the Apple export `healthpod demo` imports)."""
    from datetime import UTC, datetime

    from healthpod.demo_export import write_export as write_demo
    from healthpod.export import write_export
    from healthpod.ingest.run import import_path
    from healthpod.store.person_data import for_owner

    write_demo(tmp_path / "export.xml", end=datetime(2026, 6, 30, tzinfo=UTC), days=30)
    import_path(pod, tmp_path / "export.xml", person="demo")
    write_export(for_owner(pod.engine, pod.reads, pod.person_id("demo")), tmp_path / "a.zip")
    import_path(pod, tmp_path / "a.zip", person="moved")
    write_export(for_owner(pod.engine, pod.reads, pod.person_id("moved")), tmp_path / "b.zip")
    before = _tables(tmp_path / "a.zip")
    assert before["quantity_samples"] and before["daily_summaries"] and before["correlations"]
    assert _tables(tmp_path / "b.zip") == before
    # Read in a second process, as a large export is: the same pod.
    import_path(pod, tmp_path / "a.zip", person="moved-again", parallel=True)
    again = for_owner(pod.engine, pod.reads, pod.person_id("moved-again"))
    write_export(again, tmp_path / "c.zip")
    assert _tables(tmp_path / "c.zip") == before
