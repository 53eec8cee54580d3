"""Staff pages of identity resolution, data quality and exports: the duplicate review queue,
the quality figures with the information plan, and the user's exports. Thin: parse, check,
call one service or selector, render."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from dangol.core.errors import Forbidden, NotFound, ServiceError
from dangol.core.visibility import Action, can, can_view_pii
from dangol.customers.models import ConsentChannel, Customer, LifecycleStage, Region
from dangol.customers.selectors import PiiRead
from dangol.integration import selectors, services
from dangol.integration.models import (
    CandidateStatus,
    DedupeRun,
    DedupeRunStatus,
    ExportFormat,
    ExportJob,
    ExportStatus,
    PlanLevel,
    QualityField,
    QualitySnapshot,
)
from dangol.web.htmx import client_ip, wants_fragment
from dangol.web.pagination import KeysetOrder, page_of_request

QUEUE_SIZE = 20
QUEUE_ORDER = KeysetOrder("probability", descending=True, kind="float")  # likeliest first
EXPORT_FILTERS = ("q", "lifecycle_stage", "region", "source", "tag", "segment")


def _read(request: HttpRequest) -> PiiRead:
    return PiiRead("web", request.path, client_ip(request))


@login_required
@require_GET
def duplicate_list(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Action.CHANGE, Customer):
        raise Http404
    last_run = DedupeRun.objects.order_by("-started_at", "-id").first()
    searching = last_run is not None and last_run.status == DedupeRunStatus.RUNNING
    if wants_fragment(request) and request.GET.get("part") == "search":
        # polled while a search runs; once it is over the page reloads with the new pairs
        response = render(
            request,
            "integration/duplicate_list.html#search-status",
            {"last_run": last_run, "searching": searching},
        )
        if not searching:
            response["HX-Refresh"] = "true"
        return response
    status = request.GET.get("status", CandidateStatus.PENDING)
    status = status if status in CandidateStatus.values else CandidateStatus.PENDING
    # ?import=<job>: only the pairs that import sent here (its result page links to them)
    raw_job = request.GET.get("import", "")
    from_import = selectors.job_for(request.user, int(raw_job)) if raw_job.isdigit() else None
    if from_import is not None:
        qs = selectors.candidates_from_import(request.user, from_import, status=status)
    else:
        qs = selectors.candidates_for(request.user, status=status)
    page = page_of_request(qs, request, order=QUEUE_ORDER, size=QUEUE_SIZE)
    filters = {"import": str(from_import.pk)} if from_import is not None else {}
    context = {
        "pairs": selectors.pair_views(request.user, page.items),
        "page": page,
        "base_query": urlencode({**filters, "status": status}),
        "import_query": urlencode(filters),
        "from_import": from_import,
        "status": status,
        "statuses": CandidateStatus.choices,
        "total": qs.count(),
        "can_reveal": can_view_pii(request.user),
        "can_manage": services.can_manage_dedupe(request.user),
        "last_run": last_run,
        "searching": searching,
    }
    return render(request, "integration/duplicate_list.html", context)


def _pair_page(request: HttpRequest, candidate_id: int, *, reveal: bool) -> HttpResponse:
    cand = selectors.candidate_for(request.user, candidate_id)
    if cand is None:
        raise Http404
    view = selectors.pair_views(request.user, [cand], reveal=reveal, read=_read(request))[0]
    return render(
        request,
        "integration/duplicate_detail.html",
        {
            "pair": view,
            "can_reveal": can_view_pii(request.user) and not view.revealed,
            # the decision forms come back here, never to the POST-only reveal URL
            "next_url": reverse("web:duplicate_detail", args=[cand.pk]),
            "detail_page": True,
        },
    )


@login_required
@require_GET
def duplicate_detail(request: HttpRequest, candidate_id: int) -> HttpResponse:
    return _pair_page(request, candidate_id, reveal=False)


@login_required
@require_POST
def duplicate_reveal(request: HttpRequest, candidate_id: int) -> HttpResponse:
    """Show the pair's contact data unmasked (PII roles only; logged)."""
    return _pair_page(request, candidate_id, reveal=True)


def _decide(request: HttpRequest, candidate_id: int, action: str) -> HttpResponse:
    cand = selectors.candidate_for(request.user, candidate_id)
    if cand is None:
        raise Http404
    try:
        if action == "merge":
            survivor = request.POST.get("survivor", "")
            record = services.merge_candidate(
                candidate=cand,
                survivor_id=int(survivor) if survivor.isdigit() else 0,
                actor=request.user,
            )
            messages.success(
                request,
                _("The two records were merged: #%(id)s %(name)s is the record kept.")
                % {"id": record.survivor_id, "name": record.survivor.full_name},
            )
        elif action == "dismiss":
            services.dismiss_candidate(candidate=cand, actor=request.user)
            messages.success(request, _("Marked as two different people."))
        else:
            services.undo_candidate_merge(candidate=cand, actor=request.user)
            messages.success(request, _("The merge was undone."))
    except ServiceError as exc:
        messages.error(request, str(exc) if not exc.errors else str(exc.errors[0].message))
    return redirect(_after_decision(request))


def _after_decision(request: HttpRequest) -> str:
    """Where a decision goes back to: the posted ``next`` when it is a page of this site that
    answers GET; the reveal URL (POST-only) becomes its pair's detail page; else the queue."""
    nxt = request.POST.get("next", "")
    if not nxt or not url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return reverse("web:duplicate_list")
    try:
        match = resolve(nxt.split("?", 1)[0].split("#", 1)[0])
    except Resolver404:
        return reverse("web:duplicate_list")
    if match.view_name == "web:duplicate_reveal":
        return reverse("web:duplicate_detail", kwargs=match.kwargs)
    if match.func in _POST_ONLY:
        return reverse("web:duplicate_list")
    return nxt


@login_required
@require_POST
def duplicate_merge(request: HttpRequest, candidate_id: int) -> HttpResponse:
    return _decide(request, candidate_id, "merge")


@login_required
@require_POST
def duplicate_dismiss(request: HttpRequest, candidate_id: int) -> HttpResponse:
    return _decide(request, candidate_id, "dismiss")


@login_required
@require_POST
def duplicate_undo(request: HttpRequest, candidate_id: int) -> HttpResponse:
    return _decide(request, candidate_id, "undo")


@login_required
@require_POST
def duplicate_search(request: HttpRequest) -> HttpResponse:
    if not services.can_manage_dedupe(request.user):
        raise Http404
    services.start_duplicate_search(actor=request.user)
    messages.success(request, _("The duplicate search has started."))
    return redirect("web:duplicate_list")


_POST_ONLY = (duplicate_merge, duplicate_dismiss, duplicate_undo, duplicate_search)


@login_required
@require_GET
def quality(request: HttpRequest) -> HttpResponse:
    from dangol.integration.quality import FIELDS, plan_table, quality_report

    if not services.can_view_quality(request.user):
        raise Http404
    report = quality_report()
    labels = dict(QualityField.choices)
    level_labels = dict(PlanLevel.choices)
    channel_labels = dict(ConsentChannel.choices)
    declared = plan_table(declared_only=True)
    context = {
        "report": report,
        "fields": [(f, labels[f], report.fields[f]) for f in FIELDS],
        "sources": [{**s, "rows": _source_row(s, labels, level_labels)} for s in report.sources],
        "consent": [
            (channel_labels.get(channel, channel), c) for channel, c in report.consent.items()
        ],
        "trend": list(QualitySnapshot.objects.order_by("-day")[:30])[::-1],
        "plan": [
            {
                "source": source,
                # the built-in plan of "" only scores quality; imports enforce declared plans
                "enforced": bool(declared.get(source)),
                "items": [
                    (labels.get(f, f), level_labels.get(level, level)) for f, level in items.items()
                ],
            }
            for source, items in plan_table().items()
        ],
        "plan_fields": [(f, labels[f]) for f in FIELDS],
        "levels": PlanLevel.choices,
        "can_manage": services.can_manage_plan(request.user),
        "can_review": can(request.user, Action.CHANGE, Customer),  # the duplicate queue
        **_plan_form(request.GET.get("plan_source", "").strip(), declared, labels),
        "known_sources": sorted({s["source"] for s in report.sources if s["source"]}),
    }
    return render(request, "integration/quality.html", context)


def _plan_form(
    source: str, declared: dict[str, dict[str, str]], labels: dict[str, Any]
) -> dict[str, Any]:
    """The plan form of `source`, filled with the plan in force for it: its own, else the
    declared plan of every source, else the built-in suggestion (which no import enforces
    until saved). The form posts every field, so saving one level keeps the others."""
    from dangol.integration.quality import DEFAULT_PLAN, FIELDS

    own = declared.get(source) or {}
    if own:
        current, origin = own, "own"
    elif declared.get(""):
        current, origin = declared[""], "every"
    else:
        current, origin = {str(k): str(v) for k, v in DEFAULT_PLAN.items()}, "builtin"
    return {
        "plan_source": source,
        "plan_origin": origin,
        "plan_rows": [(f, labels[f], current.get(f, "")) for f in FIELDS],
    }


def _source_row(
    source: dict[str, Any], labels: dict[str, Any], level_labels: dict[str, Any]
) -> list[tuple[str, Any, Any, str, Any]]:
    """(field, its label, its figures, the plan's level, the level's label) of one source."""
    out = []
    for f in QualityField.values:
        level = source["plan"].get(f, "")
        out.append((f, labels[f], source["fields"][f], level, level_labels.get(level, "")))
    return out


@login_required
@require_POST
def quality_plan(request: HttpRequest) -> HttpResponse:
    """Save the plan of one source from the form (one select per field)."""
    source = request.POST.get("source", "").strip()
    levels: dict[str, str | None] = {
        f: (request.POST.get(f"level_{f}") or None) for f in QualityField.values
    }
    try:
        services.set_information_plan(source=source, levels=levels, actor=request.user)
        messages.success(request, _("The information plan was saved."))
    except ServiceError as exc:
        messages.error(request, str(exc) if not exc.errors else str(exc.errors[0].message))
    return redirect(reverse("web:quality") + "?" + urlencode({"plan_source": source}) + "#plan")


@login_required
def export_list(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Action.EXPORT, Customer):
        raise Http404
    if request.method == "POST":
        filters = {k: v for k in EXPORT_FILTERS if (v := request.POST.get(k, "").strip())}
        try:
            services.request_export(
                actor=request.user,  # type: ignore[arg-type]
                format=request.POST.get("format", ""),
                filters=filters,
            )
            messages.success(request, _("The export has started; it appears below when ready."))
        except ServiceError as exc:
            messages.error(request, str(exc) if not exc.errors else str(exc.errors[0].message))
        return redirect("web:export_list")
    jobs = ExportJob.objects.filter(requested_by_id=request.user.pk).order_by("-created_at", "-id")[
        :50
    ]
    initial = {k: request.GET.get(k, "") for k in EXPORT_FILTERS}
    segment = None
    if initial["segment"]:  # from a segment's page: export its customers
        from dangol.integration.exports import export_segment

        try:
            segment = export_segment(request.user, initial)
        except ServiceError as exc:
            messages.error(request, str(exc.errors[0].message) if exc.errors else str(exc))
            initial["segment"] = ""
    context: dict[str, Any] = {
        "jobs": jobs,
        "formats": ExportFormat.choices,
        "unmasked": can_view_pii(request.user),
        "initial": initial,
        "segment": segment,
        "regions": Region.choices,
        "stages": LifecycleStage.choices,
    }
    return render(request, "integration/export_list.html", context)


@login_required
@require_GET
def export_download(request: HttpRequest, export_id: int) -> FileResponse:
    from dangol.integration.exports import CONTENT_TYPES, export_file

    job = ExportJob.objects.filter(
        pk=export_id, requested_by_id=request.user.pk, status=ExportStatus.COMPLETED
    ).first()
    path = export_file(job) if job is not None else None
    if job is None or path is None or not path.is_file():
        raise Http404
    response = FileResponse(path.open("rb"), content_type=CONTENT_TYPES[ExportFormat(job.format)])
    response["Content-Disposition"] = content_disposition_header(True, path.name)
    return response


@login_required
@require_POST
def personal_data_download(request: HttpRequest, customer_id: int) -> HttpResponse:
    """개인정보 열람: everything Dangol holds about one customer, as a JSON file (the API's
    ``/exports/personal-data/{id}``). Needs the export right on the customer and the PII
    permission, and is written to the PII access log; a POST, so no prefetch reads it."""
    from dangol.integration.exports import subject_access_data

    try:
        data = subject_access_data(user=request.user, customer_id=customer_id, read=_read(request))
    except (NotFound, Forbidden):
        raise Http404 from None
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        True, f"customer-{customer_id}-personal-data.json"
    )
    return response
