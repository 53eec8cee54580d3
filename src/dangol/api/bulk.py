"""Helpers the domain routers share: permission checks and bulk-call results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction

from dangol.api.errors import PayloadTooLarge
from dangol.core.errors import Forbidden, ServiceError
from dangol.core.http import AuthedRequest
from dangol.core.visibility import Action, can
from dangol.customers.schemas import BulkResult

BULK_STATUSES = ("created", "updated", "unchanged", "error")
T = TypeVar("T")


def require(request: AuthedRequest, action: Action, model: type) -> None:
    """403 unless the user's role allows `action` on `model` at all."""
    if not can(request.user, action, model):
        raise Forbidden()


def error_result(index: int, exc: ServiceError) -> BulkResult:
    """One failed record of a bulk call, with the service's error code and field errors."""
    return BulkResult(
        index=index,
        status="error",
        code=exc.code,
        message=str(exc.message),
        errors=[e.as_dict() for e in exc.errors],
    )


def bulk_summary(results: list[BulkResult]) -> dict[str, Any]:
    """The response of a bulk call: counts per status and one result per record."""
    counts = {s: sum(1 for r in results if r.status == s) for s in BULK_STATUSES}
    return {
        "created": counts["created"],
        "updated": counts["updated"],
        "unchanged": counts["unchanged"],
        "failed": counts["error"],
        "results": results,
    }


def run_bulk(records: Sequence[T], one: Callable[[T], tuple[int, str]]) -> dict[str, Any]:
    """A bulk call: each record in its own transaction through ``one`` (which returns the
    record's id and its status), so a record that fails leaves nothing half-written and is
    reported with its error code while the others land; more than ``API_MAX_BULK`` records
    is a 413 before anything is written."""
    if len(records) > settings.API_MAX_BULK:
        raise PayloadTooLarge(settings.API_MAX_BULK)
    results = []
    for i, record in enumerate(records):
        try:
            with transaction.atomic():
                pk, status = one(record)
            results.append(BulkResult(index=i, status=status, id=pk))
        except ServiceError as exc:
            results.append(error_result(i, exc))
    return bulk_summary(results)
