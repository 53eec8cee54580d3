"""Errors that services raise: each has a stable machine-readable code and a translated message.

The API turns them into ``{code, message, errors: [{field, code, message}]}`` with the status
below; the web app shows the message. "Not allowed" is raised as ``NotFound`` so that an error
never reveals whether a record exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _


@dataclass
class FieldError:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": str(self.message)}


@dataclass
class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    message: Any = _("The request could not be processed.")  # noqa: RUF009
    code: str = "invalid"
    errors: list[FieldError] = field(default_factory=list)
    status: int = 400

    def __str__(self) -> str:
        return str(self.message)


class ValidationFailed(ServiceError):
    """Input is well-formed but breaks a rule (422)."""

    def __init__(self, errors: list[FieldError], message: Any = None) -> None:
        super().__init__(
            message=message or _("Some fields are not valid."),
            code="validation_failed",
            errors=errors,
            status=422,
        )

    @classmethod
    def single(cls, field_name: str, code: str, message: Any) -> ValidationFailed:
        return cls([FieldError(field_name, code, message)])


class NotFound(ServiceError):
    """The record does not exist, or the user may not see it (404 either way)."""

    def __init__(self, message: Any = None) -> None:
        super().__init__(message=message or _("Not found."), code="not_found", status=404)


class Conflict(ServiceError):
    """The change collides with the current state (409)."""

    def __init__(self, message: Any, code: str = "conflict") -> None:
        super().__init__(message=message, code=code, status=409)


class Forbidden(ServiceError):
    """The user may see the record but not do this to it (403)."""

    def __init__(self, message: Any = None) -> None:
        super().__init__(
            message=message or _("You do not have permission to do this."),
            code="forbidden",
            status=403,
        )
