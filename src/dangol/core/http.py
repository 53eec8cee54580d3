"""Typing helpers for views and API handlers."""

from __future__ import annotations

from django.http import HttpRequest

from dangol.core.models import User


class AuthedRequest(HttpRequest):
    """A request whose user is signed in (API handlers and login-required views get these)."""

    user: User
