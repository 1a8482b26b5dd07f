"""The domain's error hierarchy: stable codes, no HTTP knowledge.

The web layer maps each class to a status code in one place (api/errors.py);
the CLI prints `message`. Services raise these, never HTTP exceptions.
"""

from __future__ import annotations

from typing import Any


class O2OError(Exception):
    """Base class: `code` is stable and machine-readable, `message` is for people."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(O2OError):
    """Configuration that cannot work (placeholder secret in production, bad URL)."""

    code = "config_error"


class ValidationError(O2OError):
    """Input that breaks a rule; `details` lists field-level problems."""

    code = "validation_error"


class NotFound(O2OError):
    """The thing does not exist, or the caller may not know that it does."""

    code = "not_found"


class PermissionDenied(O2OError):
    """Authenticated, but outside the caller's scope."""

    code = "permission_denied"


class Unauthenticated(O2OError):
    """No valid credentials."""

    code = "unauthenticated"


class Conflict(O2OError):
    """The state changed underneath the caller (version mismatch, duplicate code)."""

    code = "conflict"


class PreconditionFailed(Conflict):
    """An If-Match / version precondition did not hold."""

    code = "precondition_failed"


class ServiceUnavailable(O2OError):
    """A dependency (database, Redis) cannot be reached."""

    code = "service_unavailable"


class ContentTooLarge(O2OError):
    """A request body over the size its route accepts (refused before it is all read)."""

    code = "content_too_large"
    http_status = 413
