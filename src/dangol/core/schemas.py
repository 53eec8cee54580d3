"""API schemas of core objects: tokens and the current user."""

from __future__ import annotations

import datetime

from ninja import Field, Schema

from dangol.api.types import ApiDateTime


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
