"""API authentication: personal access tokens (Bearer) and the staff app's session.

Each authenticated call also counts against the caller's per-minute rate limit.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.security import APIKeyCookie, HttpBearer

from dangol.api.errors import RateLimited
from dangol.core.errors import Forbidden
from dangol.core.models import ApiToken, TokenScope
from dangol.core.services import TOKEN_PREFIX, hash_token

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def check_rate(principal: str) -> None:
    """Count one request for `principal`; raise RateLimited past the per-minute limit."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    window = int(time.time() // 60)
    key = f"api-rate:{principal}:{window}"
    if cache.add(key, 1, timeout=70):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=70)
            count = 1
    if count > limit:
        raise RateLimited(retry_after=60 - int(time.time() % 60))


class TokenAuth(HttpBearer):
    """``Authorization: Bearer dg_...`` — a personal access token."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if not token.startswith(TOKEN_PREFIX):
            return None
        found = (
            ApiToken.objects.select_related("user", "user__role")
            .filter(token_hash=hash_token(token))
            .first()
        )
        if found is None or not found.is_usable() or not found.user.is_active:
            return None
        check_rate(f"t{found.pk}")
        if request.method in WRITE_METHODS and found.scope != TokenScope.WRITE:
            raise Forbidden(_("This token may only read."))
        now = timezone.now()
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


class SessionAuth(APIKeyCookie):
    """The staff app's session cookie (CSRF-checked on writes)."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        check_rate(f"u{user.pk}")
        return user
