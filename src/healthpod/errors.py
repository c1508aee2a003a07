"""One error hierarchy for everything a person or a client can get wrong.

HealthpodError               status  FHIR IssueType   usually from
├── IngestError                 422  invalid         ingest/
│   ├── UnsupportedFormat       415  not-supported
│   └── MalformedFile           422  structure       .source, .location ("line 48213", "byte 1024")
├── InvalidRequest              400  invalid         search params, API bodies, CLI values
├── NotFound                    404  not-found
├── AccessDenied                403  forbidden       .reason says why
├── Conflict                    409  conflict
├── StorageError                503  transient       "run `healthpod db upgrade`"
└── ConfigError                  —   —               CLI exit 2; never reaches HTTP

Each error carries a message (what went wrong) and a hint (what to do next). Edges render them:
the CLI prints both, the API returns them as JSON or an OperationOutcome.
"""

from __future__ import annotations

from typing import ClassVar


class HealthpodError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "exception"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} {self.hint}"


class IngestError(HealthpodError):
    status = 422
    code = "invalid"


class UnsupportedFormat(IngestError):
    status = 415
    code = "not-supported"


class MalformedFile(IngestError):
    """A file that could not be read, with where it broke."""

    code = "structure"

    def __init__(
        self,
        message: str,
        *,
        source: str,
        location: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = source if location is None else f"{source}, {location}"
        super().__init__(f"{where}: {message}", hint=hint)
        self.source = source
        self.location = location


class InvalidRequest(HealthpodError):
    status = 400
    code = "invalid"


class NotFound(HealthpodError):
    status = 404
    code = "not-found"


class AccessDenied(HealthpodError):
    status = 403
    code = "forbidden"


class Conflict(HealthpodError):
    status = 409
    code = "conflict"


class StorageError(HealthpodError):
    status = 503
    code = "transient"


class ConfigError(HealthpodError):
    """A bad setting or command-line value; the CLI exits with 2."""

    status = 500
    code = "exception"
