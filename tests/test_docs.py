"""The docs are part of the product: every setting, error class and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from healthpod import errors
from healthpod.config import ENV_PREFIX, Settings

ROOT = Path(__file__).parents[1]


def test_every_setting_has_a_heading():
    text = (ROOT / "docs" / "settings.md").read_text()
    for name in Settings.model_fields:
        assert f"## {ENV_PREFIX}{name.upper()}" in text


def test_every_error_class_is_in_the_table():
    text = (ROOT / "docs" / "errors.md").read_text()
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.HealthpodError)
    ]
    for cls in classes:
        assert f"| `{cls.__name__}` | " in text


def test_readme_opens_with_the_two_commands_the_makefile_offers():
    readme = (ROOT / "README.md").read_text()
    head = "\n".join(readme.splitlines()[:12])
    assert "make demo" in head
    assert "make test" in head
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {"demo", "test"} <= targets


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_exit_code_of_the_command_is_in_the_table():
    from healthpod.cli.serve import CANNOT_LISTEN

    text = (ROOT / "docs" / "errors.md").read_text()
    for code in (0, 1, 2, CANNOT_LISTEN):
        assert f"\n| {code} | " in text, code
