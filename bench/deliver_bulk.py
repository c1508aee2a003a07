"""Measure a delivery from healthcare: the Bulk NDJSON sample, some of its patients joined.

    .venv/bin/python bench/deliver_bulk.py [DATA_DIR] [--joined 3] [--database-url URL]

DATA_DIR defaults to ../shared/data next to the repository (its
sample-bulk-fhir-datasets-10-patients). A fresh pod (a SQLite file, or a new database on the
PostgreSQL server, dropped afterwards) gets a backend client and `--joined` persons matched by
the sample's Synthea identifiers, each with a consent letting the client write. The time is
that of `healthpod.identity.delivery.deliver` on the whole sample as one NDJSON file:
reading it twice, matching, deciding and logging per patient, and storing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_support import fresh_database
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from healthpod.config import Settings
from healthpod.consent import store as consent_store
from healthpod.consent.actors import register_backend
from healthpod.consent.model import Action, Scope
from healthpod.identity.delivery import deliver
from healthpod.identity.numbers import IdentifierKeys
from healthpod.keys import identity_key
from healthpod.pod import Pod, now_ms
from healthpod.store import identities, migrate, persons, schema
from healthpod.store.engine import make_engine
from healthpod.vocabulary import Category

REPO = Path(__file__).resolve().parents[1]
SYNTHEA = "https://github.com/synthetichealth/synthea"


def run(folder: Path, joined: int, server_url: str | None) -> None:
    with (
        tempfile.TemporaryDirectory() as home,
        fresh_database(server_url, Path(home), prefix="bench_delivery") as url,
    ):
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        pod = Pod.open(
            Settings(home=Path(home), database_url=url, trusted_identifier_systems=(SYNTHEA,))
        )
        body = Path(home) / "delivery.ndjson"
        with body.open("wb") as out:
            for path in sorted(folder.glob("[A-Z]*.000.ndjson")):
                out.write(path.read_bytes().rstrip(b"\n") + b"\n")
        patient_ids = [
            json.loads(line)["id"]
            for line in (folder / "Patient.000.ndjson").read_text().splitlines()
        ]
        keys = IdentifierKeys.from_key(identity_key(pod.settings))
        with pod.engine.begin() as conn:
            key = RSAKey.generate_key(2048, parameters={"kid": "k", "alg": "RS384"})
            actor = register_backend(
                conn,
                name="Bench Clinic",
                kind="clinic",
                purpose="TREAT",
                jwks_uri=None,
                jwks={"keys": [key.as_dict(private=False)]},
                now_ms=now_ms(),
            )
            for n, patient_id in enumerate(patient_ids[:joined]):
                person_id = persons.add_new(conn, f"Person {n}", now_ms=now_ms())
                identities.add(
                    conn,
                    person_id,
                    keys.hash(SYNTHEA, patient_id),
                    keys.encrypt(SYNTHEA, patient_id),
                    provider=None,
                    terms_version=None,
                    now_ms=now_ms(),
                )
                consent_store.grant(
                    conn,
                    person_id,
                    actor.id,
                    Scope(
                        categories=frozenset(c.value for c in Category),
                        actions=frozenset({Action.WRITE}),
                    ),
                    valid_until_ms=None,
                    now_ms=now_ms(),
                )
        started = time.perf_counter()
        report = deliver(pod, actor.id, body, kind="ndjson", filename="delivery.ndjson")
        elapsed = time.perf_counter() - started
        lines = sum(1 for line in body.read_bytes().splitlines() if line.strip())
        with pod.engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(schema.resources)) or 0
        pod.close()
    engine_name = "SQLite" if server_url is None else "PostgreSQL"
    print(
        f"{engine_name}: {lines} resources of {len(patient_ids)} patients, {joined} joined: "
        f"{report.stored_patients} patients stored, {stored} resources in {elapsed:.2f} s "
        f"({lines / elapsed:,.0f} delivered resources/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--joined", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    folder = args.data / "sample-bulk-fhir-datasets-10-patients"
    if not (folder / "Patient.000.ndjson").exists():
        raise SystemExit(f"no Bulk NDJSON sample under {args.data}")
    run(folder, args.joined, args.database_url)


if __name__ == "__main__":
    main()
