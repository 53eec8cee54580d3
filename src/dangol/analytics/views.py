"""Staff pages of the analytics app: dashboards (RFM, grades, CLV, churn, next best offer,
cohorts), a CSV of every chart's data, and the administrators' "run analytics now" button.

Thin like the API: parse the filters, check the permission, call ``dashboards``, render. The
numbers are those of the last engine run, among the customers the user may see.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import polars as pl
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from dangol.analytics import dashboards, services
from dangol.analytics.models import ModelRun, RunStatus
from dangol.commerce.models import SalesChannel
from dangol.core.errors import Conflict, Forbidden
from dangol.core.visibility import Action, can
from dangol.customers.models import Customer

SELECT = {"class": "form-select form-select-sm"}
DATE = {"type": "date", "class": "form-control form-control-sm"}


class DashboardFilterForm(forms.Form):
    """Store/channel and period of a dashboard; invalid values are ignored, never an error."""

    channel = forms.ModelChoiceField(
        label=gettext_lazy("Store / channel"),
        required=False,
        queryset=SalesChannel.objects.order_by("name"),
        empty_label=gettext_lazy("All stores and channels"),
        widget=forms.Select(attrs=SELECT),
    )
    start = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs=DATE)
    )
    end = forms.DateField(
        label=gettext_lazy("Until"), required=False, widget=forms.DateInput(attrs=DATE)
    )

    def filters(self) -> dashboards.Filters:
        if not self.is_valid():
            return dashboards.Filters()
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            start, end = end, start
        channel = data.get("channel")
        return dashboards.Filters(channel=channel.pk if channel else None, start=start, end=end)


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-safe rows (NaN becomes null; dates are encoded by json_script)."""
    floats = [c for c, t in frame.schema.items() if t in (pl.Float32, pl.Float64)]
    return (
        frame.with_columns(pl.col(floats).fill_nan(None)).to_dicts() if floats else frame.to_dicts()
    )


def _require_view(request: HttpRequest) -> None:
    if not can(request.user, Action.VIEW, Customer):
        raise Http404


PAGES: dict[str, tuple[Any, str]] = {
    "overview": (gettext_lazy("Overview"), "web:analytics"),
    "rfm": (gettext_lazy("RFM"), "web:analytics_rfm"),
    "grades": (gettext_lazy("Grades"), "web:analytics_grades"),
    "clv": (gettext_lazy("Lifetime value"), "web:analytics_clv"),
    "churn": (gettext_lazy("Churn risk"), "web:analytics_churn"),
    "nbo": (gettext_lazy("Next best offer"), "web:analytics_nbo"),
    "cohorts": (gettext_lazy("Cohorts"), "web:analytics_cohorts"),
}


def _common(request: HttpRequest, page: str) -> tuple[DashboardFilterForm, dict[str, Any]]:
    _require_view(request)
    form = DashboardFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound else dashboards.Filters()
    query = request.GET.urlencode()
    context = {
        "page": page,
        "tabs": [(key, label, reverse(url)) for key, (label, url) in PAGES.items()],
        "filter_form": form,
        "filters": filters,
        "query": query,
        "run": dashboards.latest_run(),
        "last_run": dashboards.last_run_status(),
        "can_run": can(request.user, Action.ADD, ModelRun),
        "can_export": can(request.user, Action.EXPORT, Customer),
        "busy": RunStatus.QUEUED, "running": RunStatus.RUNNING,
    }  # fmt: skip
    return form, context


def _chart_text() -> dict[str, str]:
    """Words the charts draw (axis names, series), translated on the server."""
    return {
        "customers": _("Customers"),
        "spend": _("Spend in the RFM window (KRW)"),
        "clv": _("12-month CLV (KRW)"),
        "avg_spend": _("Average spend (KRW)"),
        "recency": _("Recency score (R)"),
        "frequency": _("Frequency score (F)"),
        "from": _("Previous run"),
        "to": _("Last run"),
        "avg_clv": _("Average CLV (KRW)"),
        "cohort": _("Acquisition month"),
        "month_index": _("Months since the first purchase"),
        "retention": _("Retention"),
        "revenue_per_customer": _("Revenue per cohort customer (KRW)"),
        "repeat_rate": _("Repeat purchase rate"),
        "churn_rate": _("Churn rate"),
        "value_at_risk": _("Value at risk (KRW)"),
        "model": _("Churn model"),
        "baseline": _("BG/NBD baseline"),
        "upgrades": _("Upgrades"),
        "downgrades": _("Downgrades"),
        "hit_rate": _("Next best offer"),
        "popularity": _("Most popular products"),
        "offered": _("Customers offered"),
        "first_choice": _("As the first offer"),
        "cross_sell": _("Cross-sell"),
        "up_sell": _("Up-sell"),
        "popular": _("Popular"),
        "share": _("Share of revenue"),
        "save_image": _("Save as image"),
        "no_data": _("No data for these filters."),
    }


def _render(
    request: HttpRequest, page: str, context: dict[str, Any], charts: dict[str, pl.DataFrame]
) -> HttpResponse:
    context["chart_data"] = {
        "page": page,
        "charts": {name: _rows(frame) for name, frame in charts.items()},
        "text": _chart_text(),
    }
    return render(request, f"analytics/{page}.html", context)


# ------------------------------------------------------------------------------- pages


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    _form, context = _common(request, "overview")
    context["figures"] = dashboards.overview(request.user, context["filters"])
    return render(request, "analytics/overview.html", context)


@login_required
@require_GET
def rfm_page(request: HttpRequest) -> HttpResponse:
    _form, context = _common(request, "rfm")
    board = dashboards.rfm_dashboard(request.user, context["filters"])
    context["board"] = board
    context["segment_rows"] = _rows(board["segments"])
    return _render(
        request,
        "rfm",
        context,
        {k: board[k] for k in ("segments", "grid", "movement")},
    )


@login_required
@require_GET
def grades_page(request: HttpRequest) -> HttpResponse:
    _form, context = _common(request, "grades")
    board = dashboards.grades_dashboard(request.user, context["filters"])
    context["board"] = board
    context["distribution_rows"] = _rows(board["distribution"]) if board else []
    charts = {} if board is None else {k: board[k] for k in ("distribution", "migrations")}
    return _render(request, "grades", context, charts)


@login_required
@require_GET
def clv_page(request: HttpRequest) -> HttpResponse:
    _form, context = _common(request, "clv")
    board = dashboards.clv_dashboard(request.user, context["filters"])
    context["board"] = board
    context["top"] = _rows(board["top"])
    return _render(request, "clv", context, {k: board[k] for k in ("distribution", "by_cohort")})


@login_required
@require_GET
def churn_page(request: HttpRequest) -> HttpResponse:
    _form, context = _common(request, "churn")
    board = dashboards.churn_dashboard(request.user, context["filters"])
    context["board"] = board
    context["to_save"] = _rows(board["to_save"])
    context["backtest_rows"] = _rows(board["backtest"])
    quality = board["step"].quality if board["step"] is not None else {}
    context["quality"] = quality
    return _render(request, "churn", context, {k: board[k] for k in ("bands", "backtest")})


@login_required
@require_GET
def nbo_page(request: HttpRequest) -> HttpResponse:
    _form, context = _common(request, "nbo")
    board = dashboards.nbo_dashboard(request.user, context["filters"])
    context["board"] = board
    context["evaluation"] = dashboards.nbo_evaluation(compute=False)
    return _render(request, "nbo", context, {"products": board["products"]})


@login_required
@require_GET
def nbo_evaluation(request: HttpRequest) -> HttpResponse:
    """The offline hit rate (computed on first request after a run, then cached): a fragment."""
    _require_view(request)
    evaluation = dashboards.nbo_evaluation(compute=True)
    return render(request, "analytics/_nbo_evaluation.html", {"evaluation": evaluation})


@login_required
@require_GET
def cohorts_page(request: HttpRequest) -> HttpResponse:
    _form, context = _common(request, "cohorts")
    board = dashboards.cohorts_dashboard(request.user, context["filters"])
    context["board"] = board
    charts = (
        {}
        if board is None
        else {
            k: board[k] for k in ("retention", "revenue", "rates", "share_grade", "share_segment")
        }
    )
    return _render(request, "cohorts", context, charts)


# ------------------------------------------------------------------------------ export

CSV_SOURCES: dict[str, tuple[Callable[[Any, dashboards.Filters], Any], tuple[str, ...]]] = {
    "rfm": (dashboards.rfm_dashboard, ("segments", "grid", "movement")),
    "grades": (dashboards.grades_dashboard, ("distribution", "migrations")),
    "clv": (dashboards.clv_dashboard, ("distribution", "top", "by_cohort")),
    "churn": (dashboards.churn_dashboard, ("bands", "backtest", "to_save")),
    "nbo": (dashboards.nbo_dashboard, ("products",)),
    "cohorts": (
        dashboards.cohorts_dashboard,
        ("retention", "revenue", "rates", "share_grade", "share_segment"),
    ),
}


@login_required
@require_GET
def chart_csv(request: HttpRequest, page: str, chart: str) -> HttpResponse:
    """The data behind one chart as CSV (UTF-8 with BOM so Excel reads Korean)."""
    _require_view(request)
    if not can(request.user, Action.EXPORT, Customer):
        raise Http404
    source = CSV_SOURCES.get(page)
    if source is None or chart not in source[1]:
        raise Http404
    filters = DashboardFilterForm(request.GET or None).filters()
    board = source[0](request.user, filters)
    if board is None:
        raise Http404
    frame: pl.DataFrame = board[chart]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(frame.columns)
    writer.writerows(frame.rows())
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = dt.date.today().isoformat()
    response["Content-Disposition"] = f'attachment; filename="dangol-{page}-{chart}-{stamp}.csv"'
    return response


# --------------------------------------------------------------------------------- runs


@login_required
@require_POST
def start_run(request: HttpRequest) -> HttpResponse:
    """Queue an engine run now (administrators); the job runs after this request commits."""
    try:
        run = services.start_analytics_run(actor=request.user)
    except Forbidden:
        raise Http404 from None
    except Conflict:
        messages.warning(request, _("An analytics run is already queued or running."))
    else:
        messages.success(
            request,
            _("Analytics run #%(id)s started. The figures update when it finishes.")
            % {"id": run.pk},
        )
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/analytics/") else reverse("web:analytics"))
