"""Redirect URIs at actor registration: https, http only to this machine, app schemes (RFC 8252).

Registration is where a redirect URI is trusted once and for all, so every way in refuses the
same URIs with a message that says what is wrong: the library call and `healthpod actor add`.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from healthpod.cli import cli
from healthpod.consent.actors import check_redirect_uri
from healthpod.errors import InvalidRequest

ACCEPTED = [
    "https://app.example/callback",
    "https://app.example:8443/cb?tenant=1",
    "http://127.0.0.1:8765/cb",
    "http://[::1]:8765/cb",
    "http://localhost/cb",
    "com.example.app:/oauth2redirect",
    "se.region.vard:/cb",
    "org.example.health://callback",
]

REFUSED = [
    ("javascript:alert(document.cookie)", "javascript: scheme"),
    ("JavaScript:alert(1)", "javascript: scheme"),
    ("data:text/html,<script>alert(1)</script>", "holds"),
    ("data:text/html;base64,PHNjcmlwdD4=", "data: scheme"),
    ("vbscript:msgbox(1)", "vbscript: scheme"),
    ("file:///etc/passwd", "file: scheme"),
    ("http://evil.example/cb", "plain http"),
    ("http://127.0.0.1.evil.example/cb", "plain http"),
    ("https://app.example/cb#fragment", "fragment"),
    ("https://*.example/cb", "wildcard"),
    ("https://user:pw@app.example/cb", "user name or password"),
    ("https://app.example/cb\r\nLocation: https://evil.example", "holds"),
    ('https://app.example/cb"onload="x', "holds"),
    ("https://app.example\\@evil.example/cb", "holds"),
    ("https:///cb", "no host"),
    ("/relative/cb", "not an absolute URI"),
    ("myapp:/cb", "private-use scheme"),
    ("ftp://files.example/cb", "private-use scheme"),
    ("https://app.example/" + "a" * 2000, "longer than 2000"),
]


@pytest.mark.parametrize("uri", ACCEPTED)
def test_good_redirect_uris_are_kept_as_given(uri):
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(("uri", "problem"), REFUSED)
def test_dangerous_redirect_uris_are_refused_with_a_reason(uri, problem):
    with pytest.raises(InvalidRequest, match=problem) as refused:
        check_redirect_uri(uri)
    assert refused.value.message


def _add(home, uri):
    return CliRunner().invoke(
        cli,
        [
            "--home",
            str(home),
            "actor",
            "add",
            "--name",
            "Pulse",
            "--kind",
            "app",
            "--purpose",
            "dpv:ServiceProvision",
            "--redirect-uri",
            uri,
            "--public",
            "--json",
        ],
        catch_exceptions=False,
    )


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("javascript:alert(1)", "javascript: scheme"),
        ("data:text/html,hi", "data: scheme"),
        ("vbscript:msgbox(1)", "vbscript: scheme"),
        ("file:///etc/passwd", "file: scheme"),
        ("https://app.example/cb#x", "fragment"),
    ],
)
def test_actor_add_refuses_dangerous_redirect_uris(tmp_path, uri, problem):
    home = tmp_path / "pod"
    assert CliRunner().invoke(cli, ["--home", str(home), "init"]).exit_code == 0
    result = _add(home, uri)
    assert result.exit_code in (1, 2), result.output  # a refused value: 2 as a usage error
    assert problem in result.stderr and "Traceback" not in result.output
    listed = CliRunner().invoke(cli, ["--home", str(home), "actor", "list", "--json"])
    assert "Pulse" not in listed.stdout


def test_actor_add_takes_a_native_apps_scheme(tmp_path):
    home = tmp_path / "pod"
    assert CliRunner().invoke(cli, ["--home", str(home), "init"]).exit_code == 0
    result = _add(home, "com.example.pulse:/callback")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["client_id"]
