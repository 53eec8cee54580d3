"""Health endpoints for load balancers and orchestrators: unauthenticated and cheap."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from dangol.jobs import huey


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


def check_dependencies() -> dict[str, str]:
    """Ping the database and the job queue storage; "ok" or the error's class name."""
    results: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        results["database"] = "ok"
    except Exception as exc:
        results["database"] = type(exc).__name__
    try:
        huey.storage.queue_size()
        results["queue"] = "ok"
    except Exception as exc:
        results["queue"] = type(exc).__name__
    return results


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the queue are reachable."""
    results = check_dependencies()
    ok = all(v == "ok" for v in results.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", **results}, status=200 if ok else 503
    )
