"""Signing in: e-mail + password, with a lockout after repeated failures.

``EmailBackend`` is the authentication backend (``AUTHENTICATION_BACKENDS``): every password
login (the staff app, the admin site) goes through it, so every one counts towards the lockout.
After ``MAX_FAILED_LOGINS`` wrong passwords in a row the account is locked for
``LOCKOUT_DURATION``; while it is locked even the right password is refused.

Unknown e-mail addresses are counted too (in the cache), so that the lockout message never tells
a stranger whether an address has an account.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core import audit
from dangol.core.errors import ValidationFailed
from dangol.core.models import Language, User

MAX_FAILED_LOGINS = 5
LOCKOUT_DURATION = timedelta(minutes=15)
LOCKOUT_MINUTES = int(LOCKOUT_DURATION.total_seconds() // 60)


def normalize_login_email(raw: str | None) -> str:
    """How a typed-in address is matched against ``User.email`` (stored lower-cased)."""
    return (raw or "").strip().lower()


def _unknown_key(email: str) -> str:
    return "dangol:login-failures:" + hashlib.sha256(email.encode()).hexdigest()


def is_locked_out(email: str, *, now: datetime | None = None) -> bool:
    """Whether sign-in with `email` is locked right now (for known and unknown addresses)."""
    email = normalize_login_email(email)
    if not email:
        return False
    now = now or timezone.now()
    row = User.objects.filter(email=email).values("locked_until").first()
    if row is not None:
        return row["locked_until"] is not None and row["locked_until"] > now
    return int(cache.get(_unknown_key(email), 0)) >= MAX_FAILED_LOGINS


@transaction.atomic
def record_failed_login(user: User, *, now: datetime | None = None) -> bool:
    """Count one wrong password for `user`; lock the account at the limit. True if now locked."""
    now = now or timezone.now()
    # A lock that has run out starts a fresh count.
    User.objects.filter(pk=user.pk, locked_until__lte=now).update(
        locked_until=None, failed_logins=0
    )
    User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
    locked = User.objects.filter(pk=user.pk, failed_logins__gte=MAX_FAILED_LOGINS).update(
        failed_logins=0, locked_until=now + LOCKOUT_DURATION
    )
    if locked:
        audit.record(None, "user.locked_out", user, after={"minutes": LOCKOUT_MINUTES})
    return bool(locked)


def record_failed_unknown_login(email: str) -> None:
    """Count a failure for an address that has no account (kept in the cache, not the database)."""
    key = _unknown_key(normalize_login_email(email))
    timeout = int(LOCKOUT_DURATION.total_seconds())
    if cache.add(key, 1, timeout):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)


def record_successful_login(user: User) -> None:
    """A right password: clear the failure count."""
    if user.failed_logins or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
        user.failed_logins, user.locked_until = 0, None


@transaction.atomic
def unlock_user(*, user: User, actor: Any) -> User:
    """Lift a lockout at once (an administrator's action, or after a password reset)."""
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    user.failed_logins, user.locked_until = 0, None
    audit.record(actor, "user.unlocked", user)
    return user


@transaction.atomic
def record_password_changed(*, user: User, actor: Any, reset: bool = False) -> None:
    """Audit a password change; a reset by e-mail also lifts a lockout (the owner proved it)."""
    if reset:
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
    audit.record(actor, "user.password_reset" if reset else "user.password_changed", user)


@transaction.atomic
def update_preferences(
    *, user: User, actor: Any, language: str | None = None, time_zone: str | None = None
) -> User:
    """Change a user's interface language and/or time zone."""
    fields: list[str] = []
    before = {"language": user.language, "timezone": user.timezone}
    if language is not None and language != user.language:
        if language not in Language.values:
            raise ValidationFailed.single("language", "invalid", _("Unknown language."))
        user.language = language
        fields.append("language")
    if time_zone is not None and time_zone != user.timezone:
        if time_zone not in zoneinfo.available_timezones():
            raise ValidationFailed.single("timezone", "invalid", _("Unknown time zone."))
        user.timezone = time_zone
        fields.append("timezone")
    if fields:
        user.save(update_fields=fields)
        audit.record(
            actor,
            "user.preferences_changed",
            user,
            before=before,
            after={"language": user.language, "timezone": user.timezone},
        )
    return user


class EmailBackend(ModelBackend):
    """Password sign-in by e-mail (case-insensitive), refusing locked accounts."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = normalize_login_email(username or kwargs.get("email"))
        if not email or password is None:
            return None
        user = User.objects.filter(email=email).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing difference
            record_failed_unknown_login(email)
            return None
        if user.locked_until is not None and user.locked_until > timezone.now():
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            record_successful_login(user)
            return user
        record_failed_login(user)
        return None
