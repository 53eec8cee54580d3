"""Error responses of the API: always ``{code, message, errors: [{field, code, message}]}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from dangol.core.errors import ServiceError


class RateLimited(Exception):
    """Too many requests from one token or user in the current minute."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


class PayloadTooLarge(Exception):
    """More records in one call than allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__("payload too large")
        self.limit = limit


def error_body(
    code: str, message: Any, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"code": code, "message": str(message), "errors": errors or []}


def _loc_to_field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "path")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


def install(api: NinjaAPI) -> None:
    """Register the handlers that turn every failure into the documented error shape."""

    @api.exception_handler(ServiceError)
    def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
        return api.create_response(
            request,
            error_body(exc.code, exc.message, [e.as_dict() for e in exc.errors]),
            status=exc.status,
        )

    @api.exception_handler(NinjaValidationError)
    def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        errors = [
            {
                "field": _loc_to_field(e.get("loc", ())),
                "code": str(e.get("type", "invalid")),
                "message": str(e.get("msg", "")),
            }
            for e in exc.errors
        ]
        if any(e["code"] == "json_invalid" for e in errors):
            return api.create_response(
                request, error_body("bad_request", _("The body is not valid JSON.")), status=400
            )
        return api.create_response(
            request,
            error_body("validation_failed", _("Some fields are not valid."), errors),
            status=422,
        )

    @api.exception_handler(AuthenticationError)
    def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = api.create_response(
            request,
            error_body("unauthorized", _("Authentication credentials were missing or invalid.")),
            status=401,
        )
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return api.create_response(request, error_body("not_found", _("Not found.")), status=404)

    @api.exception_handler(RateLimited)
    def rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
        response = api.create_response(
            request,
            error_body("rate_limited", _("Too many requests. Try again shortly.")),
            status=429,
        )
        response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(PayloadTooLarge)
    def too_large(request: HttpRequest, exc: PayloadTooLarge) -> HttpResponse:
        return api.create_response(
            request,
            error_body(
                "payload_too_large",
                _("At most %(n)d records per call.") % {"n": exc.limit},
            ),
            status=413,
        )

    @api.exception_handler(RequestDataTooBig)
    def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return api.create_response(
            request,
            error_body("payload_too_large", _("The request body is too large.")),
            status=413,
        )

    @api.exception_handler(OverflowError)
    def overflow(request: HttpRequest, exc: OverflowError) -> HttpResponse:
        # SQLite refuses integers beyond 64 bits (PostgreSQL raises DataError, below).
        return api.create_response(
            request, error_body("bad_request", _("A value is out of range.")), status=400
        )

    @api.exception_handler(DataError)
    def data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
        # A value that passed validation but that the database cannot store or compare.
        return api.create_response(
            request, error_body("bad_request", _("A value is out of range.")), status=400
        )

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = {400: "bad_request", 403: "forbidden", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        return api.create_response(request, error_body(code, exc.message), status=exc.status_code)
