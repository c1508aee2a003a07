"""Accounts: a person logs in with a username and a password (argon2id).

Every login attempt is counted before its password is checked, in the database, so every
worker of a region's deployment sees the same counts and parallel guesses cannot slip past
the limit: one `UPDATE … WHERE not locked … RETURNING` per key admits the attempt and counts it
(or finds the key locked), atomically on SQLite and PostgreSQL. A browser that logged in to the
account before proves it with a signed device cookie and is counted under its own key only
(OWASP's device cookies); any other client is counted per account and per client address.
Past a key's free attempts it backs off: each further attempt locks the key for twice as long
as the one before, from BACKOFF_START_MS up to BACKOFF_MAX_MS, so a stranger can slow logins
to an account from unknown browsers but never lock its owner's own browser out. A success
forgives the attempt. An unknown username costs the same hash verification as a known one and
gets the same message, so the login form does not tell which usernames exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import (
    Connection,
    Engine,
    Update,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from healthpod.consent import audit
from healthpod.errors import AccessDenied, Conflict, InvalidRequest, NotFound
from healthpod.store import rls, schema

accounts = schema.accounts
throttle = schema.login_throttle
web_sessions = schema.web_sessions

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~0.1 s per login on a
# small server, which also bounds how fast the login endpoint can be made to burn CPU.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_DUMMY_HASH = HASHER.hash("healthpod: no such account")

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only stops absurd request bodies
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,99}$")

WINDOW_MS = 24 * 60 * 60 * 1000  # a key's count starts again a day after its first attempt
ACCOUNT_LIMIT = 5  # free attempts per account (from browsers without its device cookie)
ADDRESS_LIMIT = 20  # free attempts per client address, whatever the usernames
DEVICE_LIMIT = 10  # free attempts per device cookie
BACKOFF_START_MS = 30 * 1000  # the lock after the last free attempt; doubles with each next one
BACKOFF_MAX_MS = 15 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    person_id: int
    created_ms: int
    disabled_ms: int | None
    operator_ms: int | None = None  # since when this login is the pod's operator

    @property
    def operator(self) -> bool:
        return self.operator_ms is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "person_id": self.person_id,
            "created_ms": self.created_ms,
            "disabled_ms": self.disabled_ms,
            "operator": self.operator,
        }


def normalise_username(username: str) -> str:
    """The stored form of a username (trimmed, case-folded).

    Raises:
        InvalidRequest: the username is empty, too long or has characters we do not allow.
    """
    name = username.strip().casefold()
    if not USERNAME.match(name):
        raise InvalidRequest(
            f"{username!r} is not a valid username.",
            hint="Use up to 100 letters, digits and . _ - + @, starting with a letter or digit.",
        )
    return name


def check_password(password: str) -> None:
    """Raises: InvalidRequest: the password is too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.",
            hint="A few unrelated words make a long password that is easy to remember.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"The password is longer than {MAX_PASSWORD_LENGTH} characters.")


def create_account(
    conn: Connection, username: str, password: str, *, person_id: int, now_ms: int
) -> Account:
    """Create a login for the person.

    Raises:
        InvalidRequest: a bad username or a too short password.
        Conflict: the username is taken, or the person already has an account.
    """
    name = normalise_username(username)
    check_password(password)
    with rls.scoped(conn, "sign-in"):  # usernames are one namespace across persons
        taken = conn.scalar(select(accounts.c.id).where(accounts.c.username == name))
    rls.act_for(conn, person_id)
    if taken is not None:
        raise Conflict(f"The username {name!r} is taken.", hint="Choose another username.")
    if conn.scalar(select(accounts.c.id).where(accounts.c.person_id == person_id)) is not None:
        raise Conflict(
            "This person already has an account.",
            hint="Pass --person NAME to create an account for another person.",
        )
    account_id = conn.execute(
        insert(accounts)
        .values(
            username=name,
            password_hash=HASHER.hash(password),
            person_id=person_id,
            created_ms=now_ms,
        )
        .returning(accounts.c.id)
    ).scalar_one()
    return get_account(conn, int(account_id))


NO_PASSWORD = "!e-id"  # noqa: S105 (not a hash: no password matches it, so none logs in)


def create_eid_account(conn: Connection, *, person_id: int, now_ms: int) -> Account:
    """A login for a person who signs in with their e-ID only: it has no password.

    The username is random (`eid-…`); the password check fails for every password, because
    the stored value is no argon2 hash.
    """
    rls.act_for(conn, person_id)
    name = f"eid-{secrets.token_hex(6)}"
    account_id = conn.execute(
        insert(accounts)
        .values(username=name, password_hash=NO_PASSWORD, person_id=person_id, created_ms=now_ms)
        .returning(accounts.c.id)
    ).scalar_one()
    return get_account(conn, int(account_id))


def is_eid_only(engine: Engine, person_id: int) -> bool:
    """Whether the person's account signs in with e-ID only (it has no password)."""
    with engine.connect() as conn:
        rls.act_for(conn, person_id)
        stored = conn.scalar(
            select(accounts.c.password_hash).where(accounts.c.person_id == person_id)
        )
    return stored == NO_PASSWORD


def get_account(conn: Connection, account_id: int) -> Account:
    """Raises: NotFound: no account with this id."""
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
    if row is None:
        raise NotFound(f"No account with id {account_id}.")
    return _account(row)


def account_for_person(conn: Connection, person_id: int) -> Account | None:
    rls.act_for(conn, person_id)
    row = conn.execute(select(accounts).where(accounts.c.person_id == person_id)).mappings().first()
    return None if row is None else _account(row)


def list_accounts(conn: Connection) -> list[Account]:
    """Every account, for the operator (`rls` "operator")."""
    with rls.scoped(conn, "operator"):
        rows = conn.execute(select(accounts).order_by(accounts.c.id)).mappings().all()
    return [_account(row) for row in rows]


def start_session(conn: Connection, person_id: int, *, now_ms: int, max_age_ms: int) -> str:
    """Record a new login session for the person; returns its id for the signed cookie.

    Only the id's sha256 is stored. Sessions older than `max_age_ms` are deleted on the way.
    """
    rls.act_for(conn, person_id)
    session_id = secrets.token_urlsafe(32)
    conn.execute(delete(web_sessions).where(web_sessions.c.created_ms < now_ms - max_age_ms))
    conn.execute(
        insert(web_sessions).values(
            id=_session_key(session_id), person_id=person_id, created_ms=now_ms
        )
    )
    return session_id


def end_session(conn: Connection, person_id: int, session_id: str) -> None:
    """Log the session out on the server: its cookie, wherever a copy is, stops working."""
    rls.act_for(conn, person_id)
    conn.execute(delete(web_sessions).where(web_sessions.c.id == _session_key(session_id)))


def session_person(conn: Connection, person_id: int, session_id: str) -> int | None:
    """The person of a live session of `person_id` (as the signed cookie says), or None.

    None when the session was logged out (or never existed, or is another person's), the
    account is disabled or gone, or the password changed after the session began.
    """
    return None if session_username(conn, person_id, session_id) is None else person_id


def session_username(conn: Connection, person_id: int, session_id: str) -> str | None:
    """The username of the account of a live session of `person_id`, or None when
    `session_person` would say None (one query: a page needs not look the account up)."""
    rls.act_for(conn, person_id)
    row = conn.execute(
        select(
            web_sessions.c.created_ms,
            accounts.c.username,
            accounts.c.disabled_ms,
            accounts.c.password_changed_ms,
        )
        .join(accounts, accounts.c.person_id == web_sessions.c.person_id)
        .where(web_sessions.c.id == _session_key(session_id), web_sessions.c.person_id == person_id)
    ).first()
    if row is None or row.disabled_ms is not None:
        return None
    if (row.password_changed_ms or 0) > row.created_ms:
        return None
    return str(row.username)


def _session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def find_account(conn: Connection, username: str) -> Account:
    """Raises: NotFound: no account with this username."""
    name = username.strip().casefold()
    with rls.scoped(conn, "sign-in"):
        row = conn.execute(select(accounts).where(accounts.c.username == name)).mappings().first()
    if row is None:
        raise NotFound(f"No account called {name!r}.", hint="See `healthpod account list`.")
    rls.act_for(conn, int(row["person_id"]))
    return _account(row)


def disable_account(conn: Connection, person_id: int, *, now_ms: int) -> None:
    """Disable the person's login; their sessions end at once. Raises: NotFound."""
    rls.act_for(conn, person_id)
    changed = conn.execute(
        update(accounts)
        .where(accounts.c.person_id == person_id, accounts.c.disabled_ms.is_(None))
        .values(disabled_ms=now_ms)
    ).rowcount
    if not changed and account_for_person(conn, person_id) is None:
        raise NotFound("This person has no account.")


def set_operator(conn: Connection, person_id: int, operator: bool, *, now_ms: int) -> None:
    """Make the person's login the pod's operator (who runs studies in the web app), or
    take that away. Raises: NotFound: the person has no account."""
    if account_for_person(conn, person_id) is None:
        raise NotFound("This person has no account.")
    conn.execute(
        update(accounts)
        .where(accounts.c.person_id == person_id)
        .values(operator_ms=func.coalesce(accounts.c.operator_ms, now_ms) if operator else None)
    )


def is_operator(conn: Connection, person_id: int) -> bool:
    """Whether the person's login is the pod's operator (and is not disabled)."""
    found = account_for_person(conn, person_id)
    return found is not None and found.operator and found.disabled_ms is None


def set_password(
    conn: Connection, person_id: int, password: str, *, now_ms: int | None = None
) -> None:
    """Set a new password; every session made before it ends.

    Raises:
        InvalidRequest: too short a password.
        NotFound: the person has no account.
    """
    rls.act_for(conn, person_id)
    check_password(password)
    changed_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    changed = conn.execute(
        update(accounts)
        .where(accounts.c.person_id == person_id)
        .values(password_hash=HASHER.hash(password), password_changed_ms=changed_ms)
    ).rowcount
    if not changed:
        raise NotFound(
            "This person has no account.", hint="Create one with `healthpod account create`."
        )


def authenticate(
    engine: Engine,
    username: str,
    password: str,
    *,
    address: str,
    now_ms: int,
    device: str | None = None,
) -> int:
    """The person id of the account, if the password is right and the attempt is admitted.

    `device` is the id from a valid device cookie issued to this username (see the module
    docstring); without one the attempt counts against the account and the address.

    Runs its own transactions (an Engine, not a Connection) because an attempt must be counted
    before its password is checked and even though it fails. Successful and failed logins of
    an existing account are written to that person's access log.

    Raises:
        AccessDenied: wrong username or password (one message for both), a disabled account,
            or too many attempts for this account, address or device (saying how long to wait).
    """
    # PostgreSQL refuses NUL in text. U+FFFD can be in no stored username either, so a name
    # with a NUL still matches no account, and counts against the address like any other.
    name = username.replace("\x00", "\ufffd").strip().casefold()[:200]
    address = address.replace("\x00", "\ufffd")
    if device is not None:
        limits = {f"device:{device[:100]}": DEVICE_LIMIT}
    else:
        limits = {f"account:{name}": ACCOUNT_LIMIT, f"address:{address[:250]}": ADDRESS_LIMIT}
    _admit(engine, limits, now_ms)
    with engine.connect() as conn, rls.scoped(conn, "sign-in"):
        row = conn.execute(select(accounts).where(accounts.c.username == name)).mappings().first()
    account = None if row is None else _account(row)
    stored_hash = _DUMMY_HASH if row is None else str(row["password_hash"])
    ok = _verify(stored_hash, password) and account is not None
    with engine.begin() as conn:
        if account is not None:
            audit.lock_chain(conn, account.person_id)
        if ok and account is not None:
            _forgive(conn, limits)
            if HASHER.check_needs_rehash(stored_hash):
                conn.execute(
                    update(accounts)
                    .where(accounts.c.id == account.id)
                    .values(password_hash=HASHER.hash(password))
                )
        if account is not None:
            disabled = account.disabled_ms is not None
            audit.record(
                conn,
                account.person_id,
                None,
                "login",
                "ok" if ok and not disabled else "failed",
                {"address": address[:250]},
                now_ms=now_ms,
                reason=(
                    "logged in"
                    if ok and not disabled
                    else "login refused: the account is disabled"
                    if ok
                    else "login failed: wrong password"
                ),
            )
    if not ok or account is None:
        raise AccessDenied("Wrong username or password.", hint="Check both and try again.")
    if account.disabled_ms is not None:
        raise AccessDenied("This account is disabled.", hint="Ask the pod's operator.")
    return account.person_id


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password[:MAX_PASSWORD_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _admit(engine: Engine, limits: Mapping[str, int], now_ms: int) -> None:
    """Count one attempt against every key, or refuse it if any key is locked.

    Raises:
        AccessDenied: a key is locked; says which and for how long.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with engine.begin() as conn:  # one transaction: a refusal counts against no key
        for key in sorted(limits):  # one order for every worker, so no deadlock
            conn.execute(
                dialect.insert(throttle)
                .values(key=key, failures=0, window_start_ms=now_ms)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            admitted = conn.execute(
                _count_attempt(key, limits[key], now_ms).returning(throttle.c.failures)
            ).first()
            if admitted is None:
                until = conn.scalar(select(throttle.c.locked_until_ms).where(throttle.c.key == key))
                raise _too_many(key, int(until or now_ms) - now_ms)


def _count_attempt(key: str, limit: int, now_ms: int) -> Update:
    """The one statement that admits and counts an attempt: no row when the key is locked."""
    fresh = throttle.c.window_start_ms <= now_ms - WINDOW_MS
    failures = case((fresh, 1), else_=throttle.c.failures + 1)
    steps: list[tuple[ColumnElement[bool], int]] = []
    lock_ms = BACKOFF_START_MS
    while lock_ms < BACKOFF_MAX_MS:  # 30 s, 1, 2, 4 and 8 minutes, then 15 minutes each
        steps.append((failures == limit + len(steps), now_ms + lock_ms))
        lock_ms *= 2
    locked_until = case((failures < limit, None), *steps, else_=literal(now_ms + BACKOFF_MAX_MS))
    return (
        update(throttle)
        .where(
            throttle.c.key == key,
            or_(throttle.c.locked_until_ms.is_(None), throttle.c.locked_until_ms <= now_ms),
        )
        .values(
            failures=failures,
            window_start_ms=case((fresh, now_ms), else_=throttle.c.window_start_ms),
            locked_until_ms=locked_until,
        )
    )


def _forgive(conn: Connection, limits: Mapping[str, int]) -> None:
    """A success: the account's or device's count starts again; the address's loses one."""
    for key, limit in limits.items():
        if key.startswith("address:"):
            left = throttle.c.failures - 1
            conn.execute(
                update(throttle)
                .where(throttle.c.key == key, throttle.c.failures > 0)
                .values(
                    failures=left,
                    locked_until_ms=case((left < limit, None), else_=throttle.c.locked_until_ms),
                )
            )
        else:
            conn.execute(delete(throttle).where(throttle.c.key == key))


def _too_many(key: str, wait_ms: int) -> AccessDenied:
    kind = key.partition(":")[0]
    what = {"account": "this account", "address": "your address"}.get(kind, "this browser")
    if wait_ms < 60_000:
        wait = f"{max(2, -(-wait_ms // 1000))} seconds"
    else:
        minutes = -(-wait_ms // 60_000)
        wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return AccessDenied(
        f"Too many failed logins for {what}. Try again in {wait}.",
        hint="A browser you logged in with before is not held up. If you forgot your "
        "password, ask the pod's operator to set a new one.",
    )


def _account(row: Mapping[Any, Any]) -> Account:
    return Account(
        id=int(row["id"]),
        username=row["username"],
        person_id=int(row["person_id"]),
        created_ms=int(row["created_ms"]),
        disabled_ms=row["disabled_ms"],
        operator_ms=row["operator_ms"],
    )
