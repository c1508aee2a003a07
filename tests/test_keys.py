"""The access log's key: from the pod's home, or named in the settings for a region."""

from __future__ import annotations

import stat

import pytest

from healthpod.config import Settings
from healthpod.errors import ConfigError
from healthpod.keys import ACCESS_LOG_KEY_FILE, access_log_key, secret_key

LONG = "k" * 40


def test_a_pod_keeps_its_own_key_in_its_home_apart_from_the_secret_key(tmp_path):
    settings = Settings(home=tmp_path)
    key = access_log_key(settings)
    assert access_log_key(settings) == key and len(key) >= 32
    path = tmp_path / ACCESS_LOG_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key != secret_key(tmp_path)


def test_a_region_names_the_key_or_its_file(tmp_path):
    assert access_log_key(Settings(home=tmp_path, access_log_key=LONG)) == LONG.encode()
    file = tmp_path / "mounted"
    file.write_text(LONG + "\n")
    assert access_log_key(Settings(home=tmp_path, access_log_key_file=file)) == LONG.encode()
    assert not (tmp_path / ACCESS_LOG_KEY_FILE).exists()  # nothing made in the home


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"access_log_key": "short"}, "shorter than 32"),
        ({"access_log_key": LONG, "access_log_key_file": "x"}, "Both"),
        ({"access_log_key_file": "missing"}, "does not exist"),
    ],
)
def test_bad_key_settings_name_the_variable(tmp_path, given, message):
    if "access_log_key_file" in given:
        given = {**given, "access_log_key_file": tmp_path / given["access_log_key_file"]}
    with pytest.raises(ConfigError, match=message) as raised:
        access_log_key(Settings(home=tmp_path, **given))
    assert "HEALTHPOD_ACCESS_LOG_KEY" in raised.value.message


def test_a_short_key_file_is_refused(tmp_path):
    file = tmp_path / "mounted"
    file.write_text("too short")
    with pytest.raises(ConfigError, match="too short"):
        access_log_key(Settings(home=tmp_path, access_log_key_file=file))
