"""The upload form's choices: a format (else each file's is detected) and a CSV profile.

A CSV from a scale or cuff is read through a mapping profile: one healthpod ships (recognised
by its header, or chosen here), or the person's own TOML file uploaded with the form. Every
problem is a message for one form field, in words that name the field, not a command line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile

from healthpod.errors import HealthpodError
from healthpod.ingest.base import Importer
from healthpod.ingest.csv.profiles import Profile, ProfileImporter, parse_profile, shipped_profiles
from healthpod.ingest.registry import FORMATS
from healthpod.web.i18n import N_

OWN = "own"
MAX_PROFILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Choice:
    """What the form asked for, as sent (to fill the form again), and what it means."""

    format: str | None = None
    profile: str = ""  # "", a shipped profile's key, or "own"
    importer: Importer | None = None
    errors: dict[str, str] = field(default_factory=dict)  # field → msgid


def profiles() -> dict[str, Profile]:
    """The shipped profiles by key (their file name without .toml)."""
    return {p.origin.rsplit("/", 1)[-1].removesuffix(".toml"): p for p in shipped_profiles()}


def read_choice(form: FormData) -> Choice:
    """The format and profile of an upload form; errors name the field they belong to."""
    errors: dict[str, str] = {}
    raw_format = str(form.get("format") or "")
    fmt = raw_format or None
    if fmt is not None and fmt not in FORMATS:
        errors["format"] = N_("Pick a format from the list, or “Detect automatically”.")
        fmt = None
    profile_key = str(form.get("profile") or "")
    importer: Importer | None = None
    if profile_key == OWN:
        upload = form.get("profile_file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["profile_file"] = N_(
                "Choose your profile file (TOML), or pick one of the profiles in the list."
            )
        else:
            try:
                importer = ProfileImporter(_own_profile(upload))
            except HealthpodError as exc:
                errors["profile_file"] = exc.message
    elif profile_key:
        found = profiles().get(profile_key)
        if found is None:
            errors["profile"] = N_("Pick a profile from the list.")
        else:
            importer = ProfileImporter(found)
    if importer is not None and fmt not in (None, "csv"):
        errors["format"] = N_(
            "A CSV profile reads CSV files only: set the format to “CSV from a scale or cuff” "
            "or “Detect automatically”."
        )
    return Choice(fmt, profile_key, importer, errors)


def _own_profile(upload: UploadFile) -> Profile:
    """The person's uploaded profile.

    Raises:
        HealthpodError: too large, not UTF-8 TOML, or not a valid profile (the message says
            which key is wrong).
    """
    data = upload.file.read(MAX_PROFILE_BYTES + 1)
    if len(data) > MAX_PROFILE_BYTES:
        raise HealthpodError(N_("The profile file is larger than 64 KB; a profile is a few lines."))
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise HealthpodError(
            N_("The profile file is not a TOML text file. Choose the .toml profile, not the CSV.")
        ) from None
    return parse_profile(document, origin=upload.filename or "profile.toml")
