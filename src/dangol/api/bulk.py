"""Helpers the domain routers share: permission checks and bulk-call results."""

from __future__ import annotations

from typing import Any

from dangol.core.errors import Forbidden, ServiceError
from dangol.core.http import AuthedRequest
from dangol.core.visibility import Action, can
from dangol.customers.schemas import BulkResult

BULK_STATUSES = ("created", "updated", "unchanged", "error")


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
