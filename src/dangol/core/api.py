"""REST endpoints of core: the current user and personal access tokens."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status

from dangol.core import services
from dangol.core.errors import NotFound
from dangol.core.http import AuthedRequest
from dangol.core.models import ApiToken
from dangol.core.schemas import MeOut, TokenCreatedOut, TokenIn, TokenOut
from dangol.core.visibility import can_view_pii

router = Router(tags=["me"])


@router.get("", response=MeOut, summary="The authenticated user")
def me(request: AuthedRequest) -> dict[str, Any]:
    u = request.user
    return {
        "id": u.pk,
        "email": u.email,
        "display_name": u.display_name,
        "language": u.language,
        "timezone": u.timezone,
        "team_id": u.team_id,
        "role_id": u.role_id,
        "is_superuser": u.is_superuser,
        "can_view_pii": can_view_pii(u),
    }


@router.get("/tokens", response=list[TokenOut], summary="My personal access tokens")
def list_tokens(request: AuthedRequest) -> Any:
    return ApiToken.objects.filter(user=request.user)


@router.post("/tokens", response={201: TokenCreatedOut}, summary="Create a personal access token")
def create_token(request: AuthedRequest, payload: TokenIn) -> Status[Any]:
    token, raw = services.create_api_token(
        user=request.user,
        name=payload.name,
        scope=payload.scope,
        expires_at=payload.expires_at,
        actor=request.user,
    )
    return Status(201, {**TokenOut.from_orm(token).dict(), "token": raw})


@router.delete("/tokens/{token_id}", response={204: None}, summary="Revoke a token")
def revoke_token(request: AuthedRequest, token_id: int) -> Status[Any]:
    token = ApiToken.objects.filter(user=request.user, pk=token_id).first()
    if token is None:
        raise NotFound()
    services.revoke_api_token(token=token, actor=request.user)
    return Status(204, None)
