"""The rows of SMART Health Links (`share_links`) and their short-lived file URLs.

A link is a consent-like grant to whoever holds it: categories, a data window, raw or daily,
an expiry. The secrets a holder presents (the manifest URL's random part, a `location` URL's
ticket) are kept only as their sha256, so the table alone opens nothing. `consent.access`
decides a request against a link; this module only reads and writes the rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from healthpod.consent.model import Granularity, Scope
from healthpod.store import rls, schema
from healthpod.vocabulary import SAMPLE_TYPES, Category

# The categories of measurements from devices: a daily link shares them as daily summaries.
MEASUREMENTS: frozenset[str] = frozenset(t.category.value for t in SAMPLE_TYPES) - {
    Category.IDENTITY.value
}

links = schema.share_links
files = schema.share_link_files


def digest(secret: str) -> str:
    """The sha256 (hex) a secret is kept as."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ShareLink:
    id: int
    person_id: int
    label: str | None
    flags: str
    categories: frozenset[str]
    data_from_ms: int | None
    data_to_ms: int | None
    granularity: Granularity
    created_ms: int
    expires_ms: int
    revoked_ms: int | None
    passcode_hash: str | None
    attempts_left: int | None
    key: str | None
    file_jwe: str | None

    @property
    def via(self) -> str:
        """How the access log names this link (its `via` column)."""
        return f"share-link/{self.id}"

    def scope(self) -> Scope:
        """Measurements (samples, or their daily summaries) and, for a raw link, records."""
        return Scope(
            categories=self.categories,
            data_from_ms=self.data_from_ms,
            data_to_ms=self.data_to_ms,
            granularity=self.granularity,
        )

    def records_scope(self) -> Scope | None:
        """For a daily link, its records from healthcare, which are whole records (a daily
        summary is of measurements): the categories that are not measurements, raw. None for
        a raw link, whose `scope` covers its records."""
        if self.granularity is Granularity.RAW:
            return None
        return replace(
            self.scope(),
            categories=self.categories - MEASUREMENTS,
            granularity=Granularity.RAW,
        )

    def state_at(self, now_ms: int) -> str:
        """active, revoked, expired or locked (too many wrong passcodes)."""
        if self.revoked_ms is not None:
            return "revoked"
        if now_ms >= self.expires_ms:
            return "expired"
        if "P" in self.flags and (self.attempts_left or 0) <= 0:
            return "locked"
        return "active"

    def as_json(self, now_ms: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "flags": self.flags,
            "categories": sorted(self.categories),
            "data_from_ms": self.data_from_ms,
            "data_to_ms": self.data_to_ms,
            "granularity": self.granularity.value,
            "created_ms": self.created_ms,
            "expires_ms": self.expires_ms,
            "revoked_ms": self.revoked_ms,
            "attempts_left": self.attempts_left,
            "state": self.state_at(now_ms),
        }


def _link(row: RowMapping) -> ShareLink:
    return ShareLink(
        id=int(row["id"]),
        person_id=int(row["person_id"]),
        label=row["label"],
        flags=row["flags"],
        categories=frozenset(row["categories"]),
        data_from_ms=row["data_from_ms"],
        data_to_ms=row["data_to_ms"],
        granularity=Granularity(row["granularity"]),
        created_ms=int(row["created_ms"]),
        expires_ms=int(row["expires_ms"]),
        revoked_ms=row["revoked_ms"],
        passcode_hash=row["passcode_hash"],
        attempts_left=row["attempts_left"],
        key=row["key"],
        file_jwe=row["file_jwe"],
    )


def add(
    conn: Connection,
    person_id: int,
    *,
    token: str,
    label: str | None,
    flags: str,
    categories: frozenset[str],
    data_from_ms: int | None,
    data_to_ms: int | None,
    granularity: Granularity,
    expires_ms: int,
    passcode_hash: str | None,
    attempts: int | None,
    key: str,
    now_ms: int,
) -> int:
    """Store a new link (with its key until the file is made) and return its id."""
    rls.act_for(conn, person_id)
    return int(
        conn.execute(
            insert(links)
            .values(
                person_id=person_id,
                token_sha256=digest(token),
                label=label,
                flags=flags,
                categories=sorted(categories),
                data_from_ms=data_from_ms,
                data_to_ms=data_to_ms,
                granularity=granularity.value,
                created_ms=now_ms,
                expires_ms=expires_ms,
                passcode_hash=passcode_hash,
                attempts_left=attempts,
                key=key,
            )
            .returning(links.c.id)
        ).scalar_one()
    )


def get(conn: Connection, person_id: int, link_id: int) -> ShareLink | None:
    """The person's link with this id, or None."""
    rls.act_for(conn, person_id)
    row = (
        conn.execute(select(links).where(links.c.id == link_id, links.c.person_id == person_id))
        .mappings()
        .first()
    )
    return None if row is None else _link(row)


def by_token(conn: Connection, token: str) -> ShareLink | None:
    """The link whose token this is; the transaction then works for its person (`rls`)."""
    with rls.scoped(conn, "link"):
        query = select(links).where(links.c.token_sha256 == digest(token))
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    rls.act_for(conn, int(row["person_id"]))
    return _link(row)


def of_person(conn: Connection, person_id: int) -> list[ShareLink]:
    rls.act_for(conn, person_id)
    rows = conn.execute(
        select(links).where(links.c.person_id == person_id).order_by(links.c.id)
    ).mappings()
    return [_link(row) for row in rows]


def set_file(conn: Connection, person_id: int, link_id: int, jwe: str, *, keep_key: bool) -> None:
    """Keep the encrypted file; forget the key unless the link is long-term."""
    rls.act_for(conn, person_id)
    values: dict[str, Any] = {"file_jwe": jwe}
    if not keep_key:
        values["key"] = None
    conn.execute(
        update(links).where(links.c.id == link_id, links.c.person_id == person_id).values(**values)
    )


def revoke(conn: Connection, person_id: int, link_id: int, *, now_ms: int) -> bool:
    """Revoke one of the person's links (its file and file URLs go); False if none such."""
    rls.act_for(conn, person_id)
    done = conn.execute(
        update(links)
        .where(links.c.id == link_id, links.c.person_id == person_id)
        .values(revoked_ms=now_ms, key=None, file_jwe=None)
    ).rowcount
    conn.execute(files.delete().where(files.c.link_id == link_id))
    return bool(done)


def use_attempt(conn: Connection, link_id: int) -> int:
    """Count one wrong passcode (atomically) and return the attempts left."""
    conn.execute(
        update(links)
        .where(links.c.id == link_id, links.c.attempts_left > 0)
        .values(attempts_left=links.c.attempts_left - 1)
    )
    left = conn.scalar(select(links.c.attempts_left).where(links.c.id == link_id))
    return int(left or 0)


def add_file_url(
    conn: Connection, link: ShareLink, *, ticket: str, jwe: str, expires_ms: int
) -> None:
    rls.act_for(conn, link.person_id)
    conn.execute(
        insert(files).values(
            person_id=link.person_id,
            link_id=link.id,
            ticket_sha256=digest(ticket),
            expires_ms=expires_ms,
            jwe=jwe,
        )
    )


def file_url(conn: Connection, ticket: str) -> tuple[int, int, int, str] | None:
    """(person id, link id, expiry, ciphertext) of a `location` URL's ticket, or None; the
    transaction then works for the link's person (`rls`)."""
    with rls.scoped(conn, "link"):
        row = conn.execute(
            select(files.c.person_id, files.c.link_id, files.c.expires_ms, files.c.jwe).where(
                files.c.ticket_sha256 == digest(ticket)
            )
        ).first()
    if row is None:
        return None
    rls.act_for(conn, int(row.person_id))
    return (int(row.person_id), int(row.link_id), int(row.expires_ms), str(row.jwe))
