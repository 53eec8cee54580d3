"""API schemas of core objects: tokens and the current user."""

from __future__ import annotations

import datetime
from typing import Annotated

from django.utils import timezone
from ninja import Field, Schema
from pydantic import AfterValidator

MAX_OFFSET = datetime.timedelta(hours=14)  # the widest real UTC offset (Kiribati)


def _to_utc(value: datetime.datetime) -> datetime.datetime:
    """Naive times are Korean time; every time is stored and compared in UTC."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    offset = value.utcoffset() or datetime.timedelta(0)
    if abs(offset) > MAX_OFFSET:
        raise ValueError("time zone offset out of range (at most ±14:00)")
    try:
        return value.astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError("date out of range") from None


ApiDateTime = Annotated[datetime.datetime, AfterValidator(_to_utc)]


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    scope: str = Field(default="read", pattern="^(read|write)$")
    expires_at: ApiDateTime | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime.datetime
    expires_at: ApiDateTime | None
    last_used_at: ApiDateTime | None
    revoked_at: ApiDateTime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret. Shown once; only its hash is kept.")


class MeOut(Schema):
    id: int
    email: str
    display_name: str
    language: str
    timezone: str
    team_id: int | None
    role_id: int | None
    is_superuser: bool
    can_view_pii: bool
