"""``Idempotency-Key`` on API POSTs: a retried request gets the first response again.

The first request with a key reserves it (a row with no response yet), runs, and stores its
response. A retry with the same key and the same body replays that response; the same key with
another body is refused (422); a retry while the first is still running gets 409.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.api.errors import error_body
from dangol.api.models import IdempotencyRecord

API_PREFIX = "/api/v1/"
KEY_TTL = timedelta(hours=24)
REPLAYABLE = lambda status: status < 500 and status not in (401, 429)  # noqa: E731


def _principal(request: HttpRequest) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth:
        return "t" + hashlib.sha256(auth.encode()).hexdigest()[:40]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"u{user.pk}"
    return None


class IdempotencyMiddleware:
    """Honour Idempotency-Key on POST requests to the API."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if len(key) > 255:
            return JsonResponse(
                error_body("invalid_idempotency_key", _("The Idempotency-Key is too long.")),
                status=400,
            )
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)  # the API will answer 401
        digest = hashlib.sha256(request.path.encode() + b"\0" + request.body).hexdigest()
        IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - KEY_TTL).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    principal=principal,
                    key=key,
                    method="POST",
                    path=request.path[:500],
                    request_hash=digest,
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.get(principal=principal, key=key)
            if existing.request_hash != digest:
                return JsonResponse(
                    error_body(
                        "idempotency_key_reused",
                        _("This Idempotency-Key was used with a different request."),
                    ),
                    status=422,
                )
            if existing.status_code is None:
                return JsonResponse(
                    error_body(
                        "idempotency_in_progress",
                        _("A request with this Idempotency-Key is still being processed."),
                    ),
                    status=409,
                )
            response = HttpResponse(
                bytes(existing.response_body or b""),
                status=existing.status_code,
                content_type=existing.content_type or "application/json",
            )
            response["Idempotent-Replayed"] = "true"
            return response
        response = self.get_response(request)
        if REPLAYABLE(response.status_code) and not response.streaming:
            record.status_code = response.status_code
            record.response_body = response.content
            record.content_type = response.get("Content-Type", "application/json")
            record.save(update_fields=["status_code", "response_body", "content_type"])
        else:
            record.delete()  # let the client try again with the same key
        return response
