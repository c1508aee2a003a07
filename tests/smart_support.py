"""Helpers for the OAuth and FHIR tests: people, actors, samples, and the SMART flow by hand.

The flow goes through the real HTML forms (login, consent screen) with a plain HTML parser,
the way a person's browser without JavaScript would.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import secrets
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, insert, select
from starlette.requests import Request
from starlette.responses import Response

from healthpod import accounts
from healthpod.consent import actors
from healthpod.store import persons, rls, schema
from healthpod.vocabulary import sample_type
from healthpod.web import session

BASE = "http://127.0.0.1:8000"
FHIR = f"{BASE}/fhir"
PASSWORD = "correct horse battery staple"
REDIRECT = "http://127.0.0.1:9999/callback"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.cache
def _password_hash(password: str) -> str:
    return accounts.HASHER.hash(password)  # argon2id is slow on purpose: hash once per run


def add_person(engine: Engine, username: str, *, password: str = PASSWORD) -> int:
    """A person with an account (the same row `healthpod account create` writes)."""
    with engine.begin() as conn:
        person_id = persons.add(conn, username.title(), now_ms=now_ms())
        conn.execute(
            insert(schema.accounts).values(
                username=accounts.normalise_username(username),
                password_hash=_password_hash(password),
                person_id=person_id,
                created_ms=now_ms(),
            )
        )
    return int(person_id)


def add_actor(
    engine: Engine,
    name: str = "Pulse App",
    *,
    public: bool = True,
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    kind: str = "app",
    purpose: str = "dpv:ServiceProvision",
) -> actors.Registration:
    with engine.begin() as conn:
        return actors.register(
            conn,
            name=name,
            kind=kind,
            purpose=purpose,
            redirect_uris=list(redirect_uris),
            public=public,
            now_ms=now_ms(),
        )


def _type_id(conn, code: str) -> int:
    found = conn.scalar(select(schema.sample_types.c.id).where(schema.sample_types.c.code == code))
    if found is not None:
        return int(found)
    known = sample_type(code)
    return int(
        conn.execute(
            insert(schema.sample_types)
            .values(
                code=code,
                kind=known.kind if known else "quantity",
                unit=known.unit if known else "1",
                known=1 if known else 0,
            )
            .returning(schema.sample_types.c.id)
        ).scalar_one()
    )


def _source_and_import(conn, person_id: int, source: str) -> tuple[int, int]:
    rls.act_for(conn, person_id)
    s = schema.sources
    source_id = conn.scalar(select(s.c.id).where(s.c.person_id == person_id, s.c.name == source))
    if source_id is None:
        source_id = conn.execute(
            insert(s).values(person_id=person_id, name=source).returning(s.c.id)
        ).scalar_one()
    import_id = conn.execute(
        insert(schema.imports)
        .values(
            person_id=person_id,
            filename="test.xml",
            sha256=secrets.token_hex(32),
            format="test",
            status="completed",
            added={},
            unknown_types=[],
            warnings=[],
            started_ms=now_ms(),
            finished_ms=now_ms(),
        )
        .returning(schema.imports.c.id)
    ).scalar_one()
    return int(source_id), int(import_id)


def add_samples(
    engine: Engine,
    person_id: int,
    type_code: str,
    rows: list[tuple[int, float]],
    *,
    source: str = "Watch",
    correlation_id: int | None = None,
) -> list[int]:
    """Insert quantity samples (start_ms, value); returns their row ids."""
    known = sample_type(type_code)
    with engine.begin() as conn:
        type_id = _type_id(conn, type_code)
        source_id, import_id = _source_and_import(conn, person_id, source)
        q = schema.quantity_samples
        ids = []
        for start_ms, value in rows:
            ids.append(
                conn.execute(
                    insert(q)
                    .values(
                        person_id=person_id,
                        type_id=type_id,
                        start_ms=start_ms,
                        end_ms=start_ms,
                        start_offset_min=60,
                        end_offset_min=60,
                        source_id=source_id,
                        import_id=import_id,
                        value=value,
                        unit=known.unit if known else "1",
                        correlation_id=correlation_id,
                    )
                    .returning(q.c.id)
                ).scalar_one()
            )
    return [int(i) for i in ids]


def add_blood_pressure(
    engine: Engine, person_id: int, start_ms: int, sys: float, dia: float
) -> int:
    with engine.begin() as conn:
        source_id, import_id = _source_and_import(conn, person_id, "Cuff")
        k = schema.correlations
        corr_id = conn.execute(
            insert(k)
            .values(
                person_id=person_id,
                type_code="blood_pressure",
                start_ms=start_ms,
                end_ms=start_ms,
                start_offset_min=60,
                end_offset_min=60,
                source_id=source_id,
                import_id=import_id,
            )
            .returning(k.c.id)
        ).scalar_one()
    add_samples(
        engine,
        person_id,
        "blood_pressure_systolic",
        [(start_ms, sys)],
        source="Cuff",
        correlation_id=int(corr_id),
    )
    add_samples(
        engine,
        person_id,
        "blood_pressure_diastolic",
        [(start_ms, dia)],
        source="Cuff",
        correlation_id=int(corr_id),
    )
    return int(corr_id)


# --- the browser side of the SMART flow ------------------------------------------------------


class FormReader(HTMLParser):
    """The first form of a page: its action and what a browser would send (checked boxes)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self.buttons: list[tuple[str, str]] = []
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self._done and a.get("method") == "post" and self.action is None:
            if a.get("action") in ("/language", "/logout", "/acting/stop"):
                return
            self.action = a.get("action")
            self._in_form = True
        elif tag == "input" and self._in_form:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("name"):
                self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "button" and self._in_form and a.get("name"):
            self.buttons.append((a["name"], a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    assert reader.action is not None, "no form on the page"
    return reader


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    return verifier, challenge.rstrip("=")


def login_with_form(client, username: str, password: str = PASSWORD, next_path: str = "/"):
    """Log in through the HTML login form, as a browser does."""
    page = client.get("/login", params={"next": next_path}, follow_redirects=False)
    if page.status_code == 303:
        return  # already logged in
    form = read_form(page.text)
    fields = dict(form.fields)
    fields.update(username=username, password=password)
    response = client.post(form.action, data=fields, follow_redirects=False)
    assert response.status_code == 303, response.text


def session_cookie(app, person_id: int) -> str:
    """A session cookie value for the person, made by the real `session.set_session`."""
    request = Request({"type": "http", "app": app, "headers": [], "method": "GET", "path": "/"})
    response = Response()
    session.set_session(request, response, person_id)
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie[session.COOKIE].value


def login(client, username: str) -> None:
    """Give the client a valid session cookie for `username` (skips the slow password check)."""
    pod = client.app.state.pod
    with pod.engine.connect() as conn:
        person_id = accounts.find_account(conn, username).person_id
    client.cookies.set(session.COOKIE, session_cookie(client.app, int(person_id)))


def authorize_params(client_id: str, scope: str, challenge: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
        "aud": FHIR,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def consent(client, params: dict[str, str], *, change=None, decision: str = "allow"):
    """GET the consent page, optionally change the form, and send the decision."""
    page = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.headers, page.text[:500])
    form = read_form(page.text)
    fields = list(form.fields)
    if change is not None:
        fields = change(fields)
    fields.append(("decision", decision))
    return client.post(form.action, data=as_form(fields), follow_redirects=False)


def as_form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for name, value in pairs:
        merged.setdefault(name, []).append(value)
    return merged


def code_from(response) -> tuple[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "code" in query, query
    return query["code"][0], query["state"][0]


def tokens_for(
    client, client_id: str, username: str, scope: str, *, change=None, secret: str | None = None
) -> dict:
    """Log in as `username`, allow `scope` for the client, and exchange the code."""
    login(client, username)
    verifier, challenge = pkce()
    params = authorize_params(client_id, scope, challenge)
    code, _state = code_from(consent(client, params, change=change))
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": client_id,
    }
    auth = (client_id, secret) if secret else None
    response = client.post("/oauth/token", data=data, auth=auth)
    assert response.status_code == 200, response.text
    return response.json()


# --- a real server over real HTTP ------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def live_server(pod) -> Iterator[str]:
    """Serve the pod's app with uvicorn in a thread on a free port; yields the base URL.

    The base URL setting is the server's real address, so issuer, links and `aud` are what a
    client on the network sees.
    """
    import threading

    import uvicorn
    from pydantic import AnyHttpUrl

    from healthpod.app import create_app
    from healthpod.pod import Pod

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = pod.settings.model_copy(update={"base_url": AnyHttpUrl(base)})
    app = create_app(settings, pod=Pod(settings, pod.engine))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def http_tokens(
    base: str,
    client_id: str,
    username: str,
    scope: str,
    *,
    change=None,
    secret: str | None = None,
) -> dict:
    """The SMART standalone launch over HTTP as a client does it: discovery at the FHIR base,
    authorize (the test plays the person's browser: the login form, then the consent form),
    then the code for tokens."""
    import httpx

    config = httpx.get(f"{base}/fhir/.well-known/smart-configuration").json()
    verifier, challenge = pkce()
    params = authorize_params(client_id, scope, challenge, aud=f"{base}/fhir")
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        login_with_form(browser, username)
        page = browser.get(config["authorization_endpoint"], params=params)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        form = read_form(page.text)
        fields = list(form.fields)
        if change is not None:
            fields = change(fields)
        fields.append(("decision", "allow"))
        code, state = code_from(browser.post(form.action, data=as_form(fields)))
    assert state == params["state"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": client_id,
    }
    auth = (client_id, secret) if secret else None
    response = httpx.post(config["token_endpoint"], data=data, auth=auth)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())
