"""REST endpoints of segments (mounted at ``/segments``): parse, check permission, call one
service or selector. Members and samples never carry contact data; names are masked."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status

from dangol.analytics import segment_selectors as selectors
from dangol.analytics import segment_services as services
from dangol.analytics import segments
from dangol.analytics.models import Segment, SegmentStatus
from dangol.analytics.segment_schemas import (
    CountOut,
    FieldOut,
    MemberPage,
    PreviewIn,
    PreviewOut,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentPatch,
    SnapshotOut,
)
from dangol.api.pagination import paginate
from dangol.core.errors import Forbidden
from dangol.core.http import AuthedRequest

router = Router(tags=["segments"])


def _viewer(request: AuthedRequest) -> None:
    if not services.can_view_segments(request.user):
        raise Forbidden()


@router.get("/fields", response=list[FieldOut], summary="Fields, operators and options of rules")
def list_fields(request: AuthedRequest) -> list[dict[str, Any]]:
    _viewer(request)
    return segments.catalogue()


@router.post("/preview", response=PreviewOut, summary="Count and sample a definition")
def preview(request: AuthedRequest, payload: PreviewIn) -> dict[str, Any]:
    _viewer(request)
    return selectors.preview(request.user, payload.definition)


@router.get("", response=SegmentPage, summary="Segments")
def list_segments(
    request: AuthedRequest,
    status: SegmentStatus = SegmentStatus.ACTIVE,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    _viewer(request)
    page = paginate(
        selectors.segments_for(request.user, status=status),
        sort="-id",
        allowed=("id",),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("", response={201: SegmentOut}, summary="Create a segment")
def create_segment(request: AuthedRequest, payload: SegmentIn) -> Status[Segment]:
    segment = services.create_segment(
        name=payload.name,
        description=payload.description,
        kind=payload.kind,
        definition=payload.definition,
        actor=request.user,
    )
    return Status(201, segment)


@router.get("/{segment_id}", response=SegmentOut, summary="A segment")
def get_segment(request: AuthedRequest, segment_id: int) -> Segment:
    return selectors.get_segment(request.user, segment_id)


@router.patch("/{segment_id}", response=SegmentOut, summary="Change a segment")
def update_segment(request: AuthedRequest, segment_id: int, payload: SegmentPatch) -> Segment:
    segment = selectors.get_segment(request.user, segment_id)
    return services.update_segment(
        segment=segment,
        actor=request.user,
        name=payload.name,
        description=payload.description,
        definition=payload.definition,
    )


@router.post("/{segment_id}/archive", response=SegmentOut, summary="Archive a segment")
def archive_segment(request: AuthedRequest, segment_id: int) -> Segment:
    segment = selectors.get_segment(request.user, segment_id)
    return services.archive_segment(segment=segment, actor=request.user)


@router.get("/{segment_id}/count", response=CountOut, summary="Customers in a segment (your scope)")
def count_segment(request: AuthedRequest, segment_id: int) -> dict[str, Any]:
    segment = selectors.get_segment(request.user, segment_id)
    return {
        "segment_id": segment.pk,
        "count": selectors.segment_queryset(segment, request.user).count(),
    }


@router.get("/{segment_id}/members", response=MemberPage, summary="A segment's customers")
def list_members(
    request: AuthedRequest, segment_id: int, cursor: str | None = None, limit: int = 50
) -> dict[str, Any]:
    segment = selectors.get_segment(request.user, segment_id)
    qs = selectors.segment_queryset(segment, request.user).only(*selectors.SAMPLE_FIELDS)
    page = paginate(qs, sort="id", allowed=("id",), cursor=cursor, limit=limit)
    return {
        "items": [selectors.sample_row(c) for c in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post("/{segment_id}/snapshot", response={201: SnapshotOut}, summary="Take a snapshot")
def take_snapshot(request: AuthedRequest, segment_id: int) -> Status[dict[str, Any]]:
    segment = selectors.get_segment(request.user, segment_id)
    count = services.take_snapshot(segment=segment, actor=request.user)
    segment.refresh_from_db(fields=["snapshot_at"])
    return Status(
        201, {"segment_id": segment.pk, "snapshot_at": segment.snapshot_at, "count": count}
    )
