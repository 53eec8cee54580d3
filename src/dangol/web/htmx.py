"""Small request helpers shared by the domain pages: htmx requests, the client's address."""

from __future__ import annotations

from django.http import HttpRequest


def is_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent the request (it wants a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def is_boosted_history(request: HttpRequest) -> bool:
    """htmx restoring a page from history after a cache miss wants the whole page."""
    return request.headers.get("HX-History-Restore-Request") == "true"


def wants_fragment(request: HttpRequest) -> bool:
    return is_htmx(request) and not is_boosted_history(request)


def client_ip(request: HttpRequest) -> str | None:
    """The address the PII access log records (the proxy in front sets REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR") or None
