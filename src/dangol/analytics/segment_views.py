"""Staff pages of segments: the list, the rule builder with a live count, a segment's page.

Each view parses the request, checks the permission, calls one service or selector and renders.
Counts and members are always limited to the viewer's scope; sample names are masked.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dangol.analytics import segment_selectors as selectors
from dangol.analytics import segment_services as services
from dangol.analytics import segments
from dangol.analytics.models import Segment, SegmentKind, SegmentStatus
from dangol.core.errors import NotFound, ServiceError, ValidationFailed
from dangol.customers.models import LifecycleStage, Region

MEMBERS_PER_PAGE = 50
NEW_DEFINITION: dict[str, Any] = {"all": [{"field": "status", "op": "eq", "value": "active"}]}


def _require_view(request: HttpRequest) -> None:
    if not services.can_view_segments(request.user):
        raise PermissionDenied


def _segment(request: HttpRequest, segment_id: int) -> Segment:
    try:
        return selectors.get_segment(request.user, segment_id)
    except NotFound:
        raise Http404 from None


@login_required
@require_GET
def segment_list(request: HttpRequest) -> HttpResponse:
    """Every segment (active, or archived with ?status=archived), counts loaded lazily."""
    _require_view(request)
    status = request.GET.get("status")
    status = status if status in SegmentStatus.values else SegmentStatus.ACTIVE
    items = list(selectors.segments_for(request.user, status=status).order_by("-id")[:500])
    return render(
        request,
        "analytics/segments/list.html",
        {
            "segments": items,
            "status": status,
            "can_create": services.can_manage_segment(request.user),
        },
    )


@login_required
@require_GET
def segment_count(request: HttpRequest, segment_id: int) -> HttpResponse:
    """A segment's live count within the viewer's scope (an htmx fragment)."""
    segment = _segment(request, segment_id)
    count = selectors.segment_queryset(segment, request.user).count()
    return HttpResponse(f"{count:,}")


def _builder(
    request: HttpRequest,
    segment: Segment | None,
    values: dict[str, Any],
    errors: list[dict[str, str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "analytics/segments/builder.html",
        {
            "segment": segment,
            "values": values,
            "errors": errors or [],
            "kinds": SegmentKind.choices,
            "builder": {
                "fields": segments.catalogue(),
                "definition": values["definition"],
            },
        },
        status=status,
    )


def _posted(request: HttpRequest) -> dict[str, Any]:
    raw = request.POST.get("definition", "")
    try:
        definition: Any = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        definition = raw
    return {
        "name": request.POST.get("name", ""),
        "description": request.POST.get("description", ""),
        "kind": request.POST.get("kind", SegmentKind.DYNAMIC),
        "definition": definition,
    }


def _error_list(exc: ServiceError) -> list[dict[str, str]]:
    return [e.as_dict() for e in exc.errors] or [
        {"field": "", "code": exc.code, "message": str(exc)}
    ]


@login_required
@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    """The rule builder for a new segment; saving as static takes the first snapshot."""
    if not services.can_manage_segment(request.user):
        raise PermissionDenied
    if request.method == "GET":
        values: dict[str, Any] = {
            "name": "",
            "description": "",
            "kind": SegmentKind.DYNAMIC,
            "definition": NEW_DEFINITION,
        }
        return _builder(request, None, values)
    values = _posted(request)
    try:
        segment = services.create_segment(
            actor=request.user,
            name=values["name"],
            description=values["description"],
            kind=values["kind"],
            definition=values["definition"],
        )
    except ValidationFailed as exc:
        if not isinstance(values["definition"], dict):
            values["definition"] = NEW_DEFINITION
        return _builder(request, None, values, _error_list(exc), status=422)
    messages.success(request, _("The segment was saved."))
    return redirect("web:segment_detail", segment_id=segment.pk)


@login_required
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The rule builder for an existing segment."""
    segment = _segment(request, segment_id)
    if (
        not services.can_manage_segment(request.user, segment)
        or segment.status != SegmentStatus.ACTIVE
    ):
        raise PermissionDenied
    if request.method == "GET":
        values: dict[str, Any] = {
            "name": segment.name,
            "description": segment.description,
            "kind": segment.kind,
            "definition": segment.definition,
        }
        return _builder(request, segment, values)
    values = _posted(request)
    try:
        services.update_segment(
            segment=segment,
            actor=request.user,
            name=values["name"],
            description=values["description"],
            definition=values["definition"],
        )
    except ValidationFailed as exc:
        values["kind"] = segment.kind
        if not isinstance(values["definition"], dict):
            values["definition"] = segment.definition
        return _builder(request, segment, values, _error_list(exc), status=422)
    messages.success(request, _("The segment was saved."))
    return redirect("web:segment_detail", segment_id=segment.pk)


@login_required
@require_POST
def segment_preview(request: HttpRequest) -> JsonResponse:
    """Count and sample a definition for the builder (JSON body ``{"definition": {...}}``)."""
    _require_view(request)
    try:
        body = json.loads(request.body or b"{}")
        definition = body.get("definition") if isinstance(body, dict) else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        definition = None
    try:
        result = selectors.preview(request.user, definition)
    except ValidationFailed as exc:
        return JsonResponse({"errors": _error_list(exc)}, status=422)
    regions = dict(Region.choices)
    sample = [
        {
            **row,
            "region": str(regions.get(row.get("region") or "", row.get("region") or "")),
            "last_purchase_at": row["last_purchase_at"].isoformat()
            if row["last_purchase_at"]
            else None,
        }
        for row in result["sample"]
    ]
    return JsonResponse({"count": result["count"], "sample": sample})


def _shown(value: Any, options: dict[str, Any]) -> str:
    """A rule's value as people read it: a choice's label, 예/아니요 for a boolean."""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return str(options.get(str(value), value))


def _describe(node: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any]:
    """A definition as a tree of readable lines for the segment page: fields, operators, values
    and parameters (채널: 문자(SMS); 목적: 마케팅; 야간 수신 동의 포함: 아니요) by their labels."""
    for mode, text in (("all", _("All of")), ("any", _("Any of"))):
        if mode in node:
            return {"label": text, "children": [_describe(c, labels) for c in node[mode]]}
    if "not" in node:
        return {"label": _("None of"), "children": [_describe(node["not"], labels)]}
    spec = labels.get(node["field"], {})
    ops = {o["op"]: o["label"] for o in spec.get("operators", [])}
    options = {o["value"]: o["label"] for o in spec.get("options", [])}
    value = node.get("value")
    if isinstance(value, list):
        shown = ", ".join(_shown(v, options) for v in value)
    else:
        shown = "" if value is None else _shown(value, options)
    extras = [
        f"{p['label']}: {_shown(node[p['name']], {o['value']: o['label'] for o in p['options']})}"
        for p in spec.get("params", [])
        if node.get(p["name"]) not in (None, "")
    ]
    parts = [spec.get("label", node["field"]), ops.get(node["op"], node["op"]), shown]
    text = " ".join(p for p in parts if p)
    return {"label": f"{text} ({'; '.join(extras)})" if extras else text, "children": []}


def _member_row(customer: Any) -> dict[str, Any]:
    """A member as the segment page lists it: the masked sample row with the stage and region
    by their labels."""
    row = selectors.sample_row(customer)
    row["lifecycle_stage"] = _STAGES.get(row["lifecycle_stage"], row["lifecycle_stage"])
    row["region"] = _REGIONS.get(row["region"], row["region"])
    return row


_STAGES: dict[str, Any] = dict(LifecycleStage.choices)
_REGIONS: dict[str, Any] = dict(Region.choices)


@login_required
@require_GET
def segment_detail(request: HttpRequest, segment_id: int) -> HttpResponse:
    """A segment: its rules, the live count and a page of members (keyset by id)."""
    segment = _segment(request, segment_id)
    qs = selectors.segment_queryset(segment, request.user).only(*selectors.SAMPLE_FIELDS)
    try:
        after = int(request.GET.get("after", "0"))
    except ValueError:
        after = 0
    rows = list(qs.filter(pk__gt=after).order_by("pk")[: MEMBERS_PER_PAGE + 1])
    next_after = rows[MEMBERS_PER_PAGE - 1].pk if len(rows) > MEMBERS_PER_PAGE else None
    labels = {f["key"]: f for f in segments.catalogue()}
    return render(
        request,
        "analytics/segments/detail.html",
        {
            "segment": segment,
            "tree": _describe(segment.definition, labels),
            "members": [_member_row(c) for c in rows[:MEMBERS_PER_PAGE]],
            "next_after": next_after,
            "after": after,
            "can_manage": services.can_manage_segment(request.user, segment),
            "definition_json": json.dumps(segment.definition, ensure_ascii=False, indent=2),
        },
    )


@login_required
@require_POST
def segment_snapshot(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Take a snapshot of the segment now."""
    segment = _segment(request, segment_id)
    try:
        count = services.take_snapshot(segment=segment, actor=request.user)
    except ServiceError as exc:
        if exc.status == 403:
            raise PermissionDenied from None
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            ngettext("Snapshot taken: %(n)s customer.", "Snapshot taken: %(n)s customers.", count)
            % {"n": f"{count:,}"},
        )
    return redirect("web:segment_detail", segment_id=segment.pk)


@login_required
@require_POST
def segment_archive(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Archive the segment."""
    segment = _segment(request, segment_id)
    try:
        services.archive_segment(segment=segment, actor=request.user)
    except ServiceError as exc:
        if exc.status == 403:
            raise PermissionDenied from None
        messages.error(request, str(exc))
        return redirect("web:segment_detail", segment_id=segment.pk)
    messages.success(request, _("The segment was archived."))
    return redirect("web:segment_list")
