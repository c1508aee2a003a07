"""The tables. Every table that holds a person's data carries `person_id`.

Conventions: `*_ms` columns are instants in UTC as epoch milliseconds (integers keep imports and
daily statistics fast on both engines); `offset_min` is the local UTC offset the producer wrote
for that instant, so "a day" can be the person's local day; `*_on` is a local date; JSON columns
keep every key a producer wrote (metadata, statistics, events) so nothing is dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only treats INTEGER PRIMARY KEY as the rowid alias; PostgreSQL needs 64 bits for samples.
BigId = BigInteger().with_variant(Integer, "sqlite")


def _person() -> Column[int]:
    return Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), nullable=False)


persons = Table(
    "persons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("birth_date", Date),
    Column("sex", String(40)),
    Column("blood_type", String(40)),
    Column("characteristics", JSON),  # every attribute of Apple's <Me>, as written
    Column("created_ms", BigInteger, nullable=False),
    # The IANA zone (e.g. Europe/Stockholm) for sources that write times without one (Fitbit,
    # Google Fit): `healthpod settings set timezone`; None keeps them at +00:00.
    Column("time_zone", String(64)),
    # The language the person chose in the web app (sv|en), for what the pod sends them (email
    # digests) and their next sign-in; None: not chosen.
    Column("language", String(5)),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("name", String(500), nullable=False),  # exact characters, U+00A0 included
    Column("kind", String(20), nullable=False, server_default="app"),  # app|device|healthcare
    Column("bundle_id", String(500)),
    # Lower number wins when samples of several sources overlap (1 = first in the list, like
    # the Health app's ordered source list).
    Column("priority", Integer, nullable=False, server_default="100"),
    UniqueConstraint("person_id", "name"),
)

# A per-type order that overrides the person-wide one for that type (the Health app's "Data
# Sources & Access" per type): these sources come first, lower number first, then the rest in
# the order of `sources.priority`.
source_type_priorities = Table(
    "source_type_priorities",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("type_id", ForeignKey("sample_types.id"), nullable=False),
    Column("source_id", ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("priority", Integer, nullable=False),
    UniqueConstraint("person_id", "type_id", "source_id"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("description", Text, nullable=False),  # Apple's "<<HKDevice: …>, name:…>" string
    UniqueConstraint("person_id", "description"),
)

sample_types = Table(
    "sample_types",
    metadata,
    Column("id", Integer, primary_key=True),
    # Our code for known types (see healthpod.ingest.vocabulary), or the producer's identifier
    # (e.g. HKQuantityTypeIdentifier…) for a type we do not know yet.
    Column("code", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # quantity|category
    Column("unit", String(100)),  # canonical UCUM unit; the original unit for unknown types
    Column("known", Integer, nullable=False, server_default="1"),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("filename", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("format", String(50), nullable=False),
    Column("status", String(20), nullable=False),  # completed|failed
    Column("added", JSON, nullable=False),  # {type_code: n}
    Column("already_present", Integer, nullable=False, server_default="0"),
    Column("unknown_types", JSON, nullable=False),
    Column("warnings", JSON, nullable=False),
    Column("references", JSON),  # files the export points to (clinical records, routes)
    Column("export_ms", BigInteger),
    Column("started_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger),
    Column("error", Text),
    Index("ix_imports_person_started", "person_id", "started_ms"),
)


def _sample_columns() -> list[Column[Any]]:
    return [
        Column("id", BigId, primary_key=True),
        _person(),
        Column("type_id", ForeignKey("sample_types.id"), nullable=False),
        Column("start_ms", BigInteger, nullable=False),
        Column("end_ms", BigInteger, nullable=False),
        Column("start_offset_min", SmallInteger, nullable=False),
        Column("end_offset_min", SmallInteger, nullable=False),
        Column("source_id", ForeignKey("sources.id"), nullable=False),
        Column("source_version", String(200)),
        Column("device_id", ForeignKey("devices.id")),
        Column("created_ms", BigInteger),
        Column("import_id", ForeignKey("imports.id"), nullable=False),
        Column("correlation_id", ForeignKey("correlations.id")),
        Column("meta", JSON),
    ]


quantity_samples = Table(
    "quantity_samples",
    metadata,
    *_sample_columns(),
    Column("value", Float, nullable=False),
    Column("unit", String(100), nullable=False),
    # The natural key makes imports idempotent and is also the index for
    # "one person, one type, a time range".
    UniqueConstraint("person_id", "type_id", "start_ms", "source_id", "end_ms", "value"),
)

category_samples = Table(
    "category_samples",
    metadata,
    *_sample_columns(),
    Column(
        "value_code", String(200), nullable=False
    ),  # e.g. HKCategoryValueSleepAnalysisAsleepCore
    UniqueConstraint("person_id", "type_id", "start_ms", "source_id", "end_ms", "value_code"),
)

correlations = Table(
    "correlations",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("type_code", String(200), nullable=False),  # blood_pressure, food, or the HK identifier
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("start_offset_min", SmallInteger, nullable=False),
    Column("end_offset_min", SmallInteger, nullable=False),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("source_version", String(200)),
    Column("device_id", ForeignKey("devices.id")),
    Column("created_ms", BigInteger),
    Column("import_id", ForeignKey("imports.id"), nullable=False),
    Column("meta", JSON),
    UniqueConstraint("person_id", "type_code", "start_ms", "source_id", "end_ms"),
)

workouts = Table(
    "workouts",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("activity_type", String(200), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("start_offset_min", SmallInteger, nullable=False),
    Column("end_offset_min", SmallInteger, nullable=False),
    Column("duration_s", Float),
    Column("distance_km", Float),
    Column("energy_kcal", Float),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("source_version", String(200)),
    Column("device_id", ForeignKey("devices.id")),
    Column("created_ms", BigInteger),
    Column("import_id", ForeignKey("imports.id"), nullable=False),
    Column("meta", JSON),
    Column("events", JSON),  # WorkoutEvent elements, every attribute kept
    Column("statistics", JSON),  # WorkoutStatistics elements, every attribute kept
    Column("route", JSON),  # {"file": "/workout-routes/….gpx"} or {"locations": [...]}
    Column("original", JSON),  # the element's attributes as written (units before conversion)
    UniqueConstraint("person_id", "activity_type", "start_ms", "source_id", "end_ms"),
)

activity_summaries = Table(
    "activity_summaries",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("date_on", Date, nullable=False),
    Column("active_energy_kcal", Float),
    Column("active_energy_goal_kcal", Float),
    Column("move_time_min", Float),
    Column("move_time_goal_min", Float),
    Column("exercise_min", Float),
    Column("exercise_goal_min", Float),
    Column("stand_hours", Float),
    Column("stand_hours_goal", Float),
    Column("import_id", ForeignKey("imports.id"), nullable=False),
    Column("meta", JSON),  # every attribute as written
    UniqueConstraint("person_id", "date_on"),
)

# --- sharing: accounts, actors, consents and the access log (healthpod.accounts, .consent) ---

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(200), nullable=False, unique=True),  # stored case-folded
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("disabled_ms", BigInteger),
    Column("password_changed_ms", BigInteger),  # sessions from before it are ended
    Column("operator_ms", BigInteger),  # since when the login is the pod's operator; None: not
)

# A logged-in browser: the sha256 of the random session id its signed cookie carries. Logging
# out deletes the row, so a copy of the cookie is dead from then on.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# Who a person is outside the pod: a keyed hash (HMAC) of an identifier of a trusted system,
# such as the personal identity number an e-ID sign-in gives, and the number itself encrypted
# (AES-GCM) so it can be shown back to its owner. The hash finds the person at sign-in and
# matches a delivery's patient; the number itself is never stored in clear.
identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("value_hash", String(64), nullable=False, unique=True),  # HMAC-SHA256 of system|value
    Column("value_encrypted", Text, nullable=False),
    Column("provider", String(100)),  # the e-ID provider that first proved it, if any
    Column("terms_version", String(50)),  # the region's terms the person accepted
    Column("created_ms", BigInteger, nullable=False),
    Column("last_login_ms", BigInteger),
)

# An OpenID Connect sign-in under way: the sha256 of its `state`, with the nonce and PKCE
# verifier it was started with. A callback marks it used, so a replayed response is refused.
oidc_logins = Table(
    "oidc_logins",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("provider", String(100), nullable=False),
    Column("nonce", String(100), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("next_path", String(2000), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger),
)

# Failed logins per key ("account:<username>" or "address:<ip>"), shared by every worker.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("locked_until_ms", BigInteger),
)

actors = Table(
    "actors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", String(100), nullable=False, unique=True),
    Column("client_secret_hash", String(200)),  # None: a public client (PKCE only)
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),  # app|coach|clinic|research
    Column("purpose", String(100), nullable=False),  # a key of consent.purpose.PURPOSES
    Column("redirect_uris", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("disabled_ms", BigInteger),
    # A backend client (SMART Backend Services) signs its assertions with these keys: a URL
    # of its JWKS, or the JWKS itself.
    Column("jwks_uri", String(2000)),
    Column("jwks", JSON),
)

# The `jti` of every backend client assertion seen, until it expires: a second use is refused.
backend_assertions = Table(
    "backend_assertions",
    metadata,
    Column("actor_id", ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True),
    Column("jti_hash", String(64), primary_key=True),
    Column("expires_ms", BigInteger, nullable=False),
)

# Access tokens of backend clients (client_credentials): the sha256 of each, for no one person.
backend_tokens = Table(
    "backend_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("actor_id", ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("scope", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("actor_id", ForeignKey("actors.id"), nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("categories", JSON, nullable=False),  # sorted list of vocabulary.Category values
    Column("actions", JSON, nullable=False),  # sorted list: read, write
    Column("data_from_ms", BigInteger),
    Column("data_to_ms", BigInteger),
    Column("granularity", String(10), nullable=False),  # raw|daily
    Column("valid_from_ms", BigInteger, nullable=False),
    Column("valid_until_ms", BigInteger),
    Column("revoked_ms", BigInteger),
    Column("status", String(10), nullable=False),  # active|revoked
    Column("version", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_consents_person_actor", "person_id", "actor_id"),
)

# Every version of every consent (granted, narrowed, revoked): the receipts are built from it.
consent_history = Table(
    "consent_history",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("consent_id", ForeignKey("consents.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("change", String(20), nullable=False),  # granted|narrowed|revoked
    Column("at_ms", BigInteger, nullable=False),
    Column("state", JSON, nullable=False),  # the consent row after the change
    UniqueConstraint("consent_id", "version"),
)

# Append-only, hash-chained per person: hash = sha256(prev_hash + canonical JSON of the entry).
access_log = Table(
    "access_log",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("seq", BigInteger, nullable=False),  # 1, 2, 3 … per person
    Column("at_ms", BigInteger, nullable=False),
    Column("done_by", String(10), nullable=False),  # person|actor: who acted
    Column("actor_id", Integer),  # the actor concerned; no foreign key: the log outlives it
    Column("via", String(100)),  # a delegation or share link the actor came through
    Column("event", String(50), nullable=False),
    Column("outcome", String(20), nullable=False),  # allowed|denied|ok|failed
    Column("reason", Text, nullable=False),
    Column("consent_id", Integer),
    Column("refers_to", BigInteger),  # the seq of the decision a `returned` entry completes
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),  # HMAC-SHA256 with the log's key
    UniqueConstraint("person_id", "seq"),
    Index("ix_access_log_person_refers", "person_id", "refers_to"),
)

# The newest entry of each person's chain. Writers lock this row (UPDATE) to append one at a
# time, and `verify` compares it with the log to notice entries cut from the end.
access_log_heads = Table(
    "access_log_heads",
    metadata,
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),  # HMAC of (person, seq, hash): a cut is seen
)

# SMART Health Links the person made (healthpod.share): a consent-like grant to whoever holds
# the link. The manifest URL's random part is kept only as its sha256; the file is kept as
# compact JWE ciphertext; the key is kept only for a long-term (L) link, which re-makes its file
# on each request. `attempts_left` counts wrong passcodes down; at 0 the link is dead.
share_links = Table(
    "share_links",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("label", String(80)),
    Column("flags", String(3), nullable=False),  # any of L, P, U, in that order
    Column("categories", JSON, nullable=False),  # sorted list of vocabulary.Category values
    Column("data_from_ms", BigInteger),
    Column("data_to_ms", BigInteger),
    Column("granularity", String(10), nullable=False),  # raw|daily
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger),
    Column("passcode_hash", String(200)),  # argon2id, PHC string; NULL without P
    Column("attempts_left", Integer),  # wrong passcodes still allowed; NULL without P
    Column("key", String(43)),  # base64url AES key: only for L links
    Column("file_jwe", Text),  # the encrypted file as made when the link was created
    Index("ix_share_links_person", "person_id"),
)

# People who act for a person (healthpod.consent.delegation): the person lets another account
# act for them (`kind` delegate, `role` view|manage), or a guardian acts for a child (`kind`
# guardian) until the age the region sets, decided at each request from the child's birth
# date. `ended_noticed_ms`: when both were told that a guardian's access ended by age.
delegations = Table(
    "delegations",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),  # whom the delegate acts for
    Column("delegate_id", ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(10), nullable=False),  # delegate|guardian
    Column("role", String(10), nullable=False),  # view|manage
    Column("created_ms", BigInteger, nullable=False),
    Column("valid_until_ms", BigInteger),
    Column("revoked_ms", BigInteger),
    Column("ended_noticed_ms", BigInteger),
    Index("ix_delegations_person", "person_id"),
    Index("ix_delegations_delegate", "delegate_id"),
)

# What the person is told (healthpod.notify): one row per event, shown in the web app's inbox
# and sent in an email digest. `params` holds counts and names of actors, never health data.
# `key` makes an event that must be told once (an actor's first read) unique per person.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("kind", String(30), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("params", JSON, nullable=False),
    Column("key", String(200)),
    Column("read_ms", BigInteger),
    Column("emailed_ms", BigInteger),
    UniqueConstraint("person_id", "key"),
    Index("ix_notifications_person_at", "person_id", "at_ms"),
)

# Where and how often the person wants notifications by email: `digests` maps a kind to
# daily|weekly|off; the last digest of each frequency says when the next one is due; `log_seq`
# is the last access-log entry the inbox has turned into notifications.
notification_prefs = Table(
    "notification_prefs",
    metadata,
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column("email", String(320)),
    Column("digests", JSON, nullable=False),
    Column("daily_sent_ms", BigInteger),
    Column("weekly_sent_ms", BigInteger),
    Column("log_seq", BigInteger, nullable=False, server_default="0"),  # log entries told of
)

# Short-lived `location` URLs a manifest answered with: the sha256 of the URL's random part and
# the ciphertext it serves until `expires_ms`.
share_link_files = Table(
    "share_link_files",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("link_id", ForeignKey("share_links.id", ondelete="CASCADE"), nullable=False),
    Column("ticket_sha256", String(64), nullable=False, unique=True),
    Column("expires_ms", BigInteger, nullable=False),
    Column("jwe", Text, nullable=False),
)

# --- statistics (healthpod.insights): daily aggregates kept up to date after each import ---

# One row per person, type and local day: what the daily, weekly and monthly statistics read.
# Cumulative types: `total` is the sum de-duplicated across sources by priority and `by_source`
# says what each source contributed ({source_id: amount}); discrete types: count, sum, min, max;
# sleep: minutes asleep in the night that ends that day.
daily_summaries = Table(
    "daily_summaries",
    metadata,
    _person(),
    Column("type_id", ForeignKey("sample_types.id"), nullable=False),
    Column("day_on", Date, nullable=False),
    Column("sample_count", Integer, nullable=False),
    Column("total", Float),
    Column("low", Float),
    Column("high", Float),
    Column("first_ms", BigInteger),
    Column("last_ms", BigInteger),
    Column("first_offset_min", SmallInteger),
    Column("by_source", JSON),
    PrimaryKeyConstraint("person_id", "type_id", "day_on"),
)

# The imports whose samples `daily_summaries` already includes.
summarized_imports = Table(
    "summarized_imports",
    metadata,
    Column("import_id", ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True),
    _person(),
    Column("summarized_ms", BigInteger, nullable=False),
)

# What a person brought from another pod that is no live part of this one (a healthpod export's
# import history, consents and their versions, the actors they named, the access log): kept
# whole and read-only, so the person keeps the record of who saw what. One row per record,
# its sha256 over canonical JSON the key, so importing the same export twice adds nothing.
moved_history = Table(
    "moved_history",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column(
        "kind", String(40), nullable=False
    ),  # imports|consents|consent_history|actors|access_log
    Column("record", JSON, nullable=False),  # the row as the old pod exported it
    Column("record_sha256", String(64), nullable=False),
    Column("import_id", ForeignKey("imports.id"), nullable=False),
    UniqueConstraint("person_id", "kind", "record_sha256"),
)

# --- OAuth 2 / SMART on FHIR (healthpod.oauth). Codes and tokens are stored as sha256 only. ---

oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    _person(),
    Column("actor_id", ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("consent_id", ForeignKey("consents.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("code_challenge", String(128), nullable=False),  # S256 only
    Column("nonce", String(300)),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger),  # a second use revokes every token of the code's family
    # Who launched the app, as FHIR names them for `fhirUser`: None for the person themselves
    # (Patient/<id>), "RelatedPerson/delegate-<delegation id>" for someone acting for them
    # (the prefix keeps it apart from a RelatedPerson record from healthcare).
    Column("fhir_user", String(100)),
)

# Access and refresh tokens. A family is every token descended from one authorization code;
# reusing a rotated refresh token (or the code) revokes the whole family.
oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),  # access|refresh
    Column("family", String(64), nullable=False),
    _person(),
    Column("actor_id", ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("consent_id", ForeignKey("consents.id", ondelete="CASCADE"), nullable=False),
    Column("scope", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger),  # a refresh token that was exchanged (rotated)
    Column("revoked_ms", BigInteger),
    # Who launched the app, as on its code (RelatedPerson/delegate-<id>; None: the person),
    # kept through refreshes: the FHIR API serves a delegate's RelatedPerson to that token.
    Column("fhir_user", String(100)),
    Index("ix_oauth_tokens_family", "family"),
)

# Keys that sign OpenID Connect id_tokens; the newest one signs, all are published.
oauth_keys = Table(
    "oauth_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kid", String(64), nullable=False, unique=True),
    Column("private_pem", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# --- clinical records (healthpod.store.resources): FHIR resources kept whole, plus search index ---

# One row per person, resource type and FHIR id: the resource as JSON with its references
# rewritten to stored `Type/id`. Provenance says who entered it: professional (from healthcare),
# person, device or actor (written through the API). `category` is the consent category
# (vocabulary.Category) so a consent's scope filters inside SQL; the effective range is the
# resource's clinical date (Observation.effective[x], Condition.onset[x], …) as UTC epoch ms,
# start and end inclusive; NULL when the resource carries no date.
resources = Table(
    "resources",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("resource_type", String(64), nullable=False),
    Column("fhir_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False, server_default="1"),
    Column("json", JSON, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("provenance", String(20), nullable=False),  # professional|person|device|actor
    Column("category", String(40), nullable=False),
    Column("status", String(40)),
    Column("effective_start_ms", BigInteger),
    Column("effective_end_ms", BigInteger),
    Column("last_updated_ms", BigInteger, nullable=False),
    Column("import_id", ForeignKey("imports.id")),
    Column("source_file", String(1000)),  # the file, or the member inside an archive
    Column("organisation", String(500)),  # who recorded it, when the file says
    UniqueConstraint("person_id", "resource_type", "fhir_id"),
    Index("ix_resources_person_type_start", "person_id", "resource_type", "effective_start_ms"),
    Index("ix_resources_person_category", "person_id", "category"),
)

# Token search values of each resource (code and category codings, identifiers, with system),
# one row per value: `code=http://loinc.org|8867-4`, `category=laboratory` search here.
resource_tokens = Table(
    "resource_tokens",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column(
        "resource_id",
        BigId,
        ForeignKey("resources.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("param", String(40), nullable=False),  # code|category|component-code|identifier
    Column("system", String(500)),
    Column("code", String(200), nullable=False),
    Index("ix_resource_tokens_person_param_code", "person_id", "param", "code"),
    Index("ix_resource_tokens_resource_id", "resource_id"),
)

# What the person marked "only me": a whole type (`level` "type", `target` a sample type code
# or a FHIR resource type) or one record (`level` "record", `target` its id as the FHIR API
# shows it: q-1, c-2, bp-3, Condition/abc). Record rows also say which row (`kind` q|c|bp|r,
# `row_id`) and, for samples, its type and start, so a daily summary holding it can be found.
# No consent, share link, delegate or study sees them (`scope_sql`); the person does.
restrictions = Table(
    "restrictions",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("level", String(10), nullable=False),  # type|record
    Column("target", String(200), nullable=False),
    Column("kind", String(4)),  # q|c|bp|r for records
    Column("row_id", BigInteger),
    Column("type_id", Integer),
    Column("start_ms", BigInteger),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("person_id", "level", "target"),
    Index("ix_restrictions_person_kind_row", "person_id", "kind", "row_id"),
)

# What the person marked wrong (a watch that counted steps in a car, a child on the scale): the
# row stays in the pod, but no statistic, daily summary, finding or share includes it
# (`scope_sql.not_marked_wrong`). `target` is the id the person marked as the FHIR API shows
# it (q-1, c-2, bp-3, w-4, Condition/abc); each row names one stored row (`kind` q|c|bp|w|r,
# `row_id`), so a blood pressure's two parts are marked with its panel. Samples keep their
# type and times so the daily summaries of the days touched can be recomputed.
marked_wrong = Table(
    "marked_wrong",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("target", String(200), nullable=False),
    Column("kind", String(4), nullable=False),  # q|c|bp|w|r
    Column("row_id", BigInteger, nullable=False),
    Column("type_id", Integer),
    Column("start_ms", BigInteger),
    Column("end_ms", BigInteger),
    Column("reason", String(500)),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("person_id", "kind", "row_id"),
    Index("ix_marked_wrong_person_target", "person_id", "target"),
)

# What the person deleted, by natural key, so that an import of the same data (the same file
# again, or an app that syncs its whole history) does not quietly bring it back: an import
# drops what matches a tombstone (`store.deletion.purge_import`) until the person lifts it.
# `kind` q|c|bp|w|r|a (activity summary); `code` the type code, activity type or resource
# type; `source` the source's name; `value` a quantity's value; `text` a category's value
# code, a record's FHIR id or an activity summary's date. `target` is the id it had.
tombstones = Table(
    "tombstones",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("kind", String(4), nullable=False),
    Column("code", String(200), nullable=False),
    Column("start_ms", BigInteger),
    Column("end_ms", BigInteger),
    Column("source", String(500)),
    Column("value", Float),
    Column("text", String(200)),
    Column("target", String(200), nullable=False),
    Column("deleted_ms", BigInteger, nullable=False),
    Index("ix_tombstones_person_kind_start", "person_id", "kind", "start_ms"),
)

# Research (healthpod.research): a study a region's operator opens for a research actor (the
# sponsor). `duo` is a sorted list of GA4GH Data Use Ontology codes (HMB, DS:MONDO:0005148,
# NCU, ...); `categories` sorted vocabulary.Category values; `granularity` raw|daily; the
# data period `data_from_ms` (inclusive) to `data_to_ms` (exclusive); `releases` what may leave
# the pod (aggregates|records); `epsilon_total` the privacy budget each participant may be
# charged by this study; `status` draft|open|closed; `end_ms` after which nothing is released.
studies = Table(
    "studies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("actor_id", ForeignKey("actors.id"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("summary_en", Text),
    Column("summary_sv", Text),
    Column("ethics_ref", String(200)),
    Column("duo", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("granularity", String(10), nullable=False),
    Column("data_from_ms", BigInteger, nullable=False),
    Column("data_to_ms", BigInteger, nullable=False),
    Column("releases", String(20), nullable=False),
    Column("min_cohort", Integer, nullable=False),
    Column("epsilon_total", Float, nullable=False),
    Column("status", String(10), nullable=False),
    Column("end_ms", BigInteger),
    Column("created_ms", BigInteger, nullable=False),
    Column("opened_ms", BigInteger),
    Column("closed_ms", BigInteger),
)

# Who joined a study, under which consent (purpose research, the study's categories), and
# when they left (`left_ms`; the consent is revoked with it). One row per joining.
study_participants = Table(
    "study_participants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    _person(),
    Column("consent_id", ForeignKey("consents.id"), nullable=False),
    Column("joined_ms", BigInteger, nullable=False),
    Column("left_ms", BigInteger),
    Index("ix_study_participants_study_person", "study_id", "person_id"),
    Index("ix_study_participants_person", "person_id"),
)

# A person who opted out of all secondary use (EHDS Art. 71): in no study, in no export.
research_opt_outs = Table(
    "research_opt_outs",
    metadata,
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column("since_ms", BigInteger, nullable=False),
)

# Every differentially private answer a study was given, and the privacy budget (epsilon) it
# charged each contributing person: the ledger the study's and the yearly budgets are kept by.
study_releases = Table(
    "study_releases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    Column("type_code", String(200), nullable=False),
    Column("statistic", String(20), nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("cohort", Integer, nullable=False),
    Column("value", Float, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

privacy_ledger = Table(
    "privacy_ledger",
    metadata,
    Column("release_id", ForeignKey("study_releases.id", ondelete="CASCADE"), nullable=False),
    _person(),
    Column("study_id", ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("release_id", "person_id"),
    # Carries what a budget check adds up, so the check reads the index alone.
    Index(
        "ix_privacy_ledger_person_at",
        "person_id",
        "at_ms",
        postgresql_include=["study_id", "epsilon"],
    ),
)
