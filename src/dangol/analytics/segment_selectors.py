"""Segment reads shared by the staff pages, the API and jobs.

``segment_queryset(segment, user)`` is what campaigns and pages target: the segment's customers
limited to the user's scope. ``segment_customer_ids(segment)`` is the unscoped id list for jobs
(one query). Both are single SQL statements however complex the rules.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from dangol.analytics import segments
from dangol.analytics.models import Segment, SegmentKind, SegmentMember, SegmentStatus
from dangol.analytics.segment_services import can_view_segments
from dangol.core.errors import NotFound
from dangol.core.masking import mask_name
from dangol.customers.models import Customer, RecordStatus

SAMPLE_SIZE = 20


def segments_for(user: Any, *, status: str | None = SegmentStatus.ACTIVE) -> QuerySet[Segment]:
    """The segments `user` may see (all of them, for roles that may view customers)."""
    if not can_view_segments(user):
        return Segment.objects.none()
    qs = Segment.objects.select_related("created_by")
    return qs.filter(status=status) if status else qs


def get_segment(user: Any, segment_id: int) -> Segment:
    """One segment, or ``NotFound`` (also when the user may not see segments)."""
    segment = segments_for(user, status=None).filter(pk=segment_id).first()
    if segment is None:
        raise NotFound()
    return segment


def _members(segment: Segment, base: QuerySet[Customer]) -> QuerySet[Customer]:
    if segment.kind == SegmentKind.STATIC:
        members = SegmentMember.objects.filter(segment=segment).values("customer_id")
        return base.exclude(status=RecordStatus.MERGED).filter(pk__in=members)
    return segments.evaluate(segment.definition, base.exclude(status=RecordStatus.MERGED))


def segment_queryset(segment: Segment, user: Any) -> QuerySet[Customer]:
    """The segment's customers that `user` may see: live rules for a dynamic segment, the last
    snapshot for a static one."""
    return _members(segment, Customer.objects.visible_to(user))


def segment_customer_ids(segment: Segment) -> QuerySet[Customer, int]:
    """Every customer id of the segment, unscoped and ordered (for jobs: campaign sends)."""
    return _members(segment, Customer.objects.all()).order_by("pk").values_list("pk", flat=True)


def snapshot_queryset(segment: Segment, user: Any) -> QuerySet[Customer]:
    """The customers of the segment's last snapshot that `user` may see (any kind)."""
    members = SegmentMember.objects.filter(segment=segment).values("customer_id")
    return Customer.objects.visible_to(user).filter(pk__in=members)


def sample_row(customer: Customer) -> dict[str, Any]:
    """A customer as previews show them: the name masked, no contact data."""
    return {
        "id": customer.pk,
        "name": mask_name(customer.full_name or ""),
        "lifecycle_stage": customer.lifecycle_stage,
        "region": customer.region,
        "order_count": customer.order_count,
        "total_spent": float(customer.total_spent),
        "last_purchase_at": customer.last_purchase_at,
    }


SAMPLE_FIELDS = (
    "id",
    "full_name",
    "lifecycle_stage",
    "region",
    "order_count",
    "total_spent",
    "last_purchase_at",
)


def preview(user: Any, definition: Any) -> dict[str, Any]:
    """Validate `definition` and count its customers within `user`'s scope, with a masked
    sample of the most recent ones (two queries after validation: the count and the sample)."""
    normalized = segments.validate_definition(definition)
    base = Customer.objects.visible_to(user).exclude(status=RecordStatus.MERGED)
    qs = segments.evaluate(normalized, base)
    count = qs.count()
    sample = list(qs.only(*SAMPLE_FIELDS).order_by("-id")[:SAMPLE_SIZE]) if count else []
    return {"count": count, "sample": [sample_row(c) for c in sample], "definition": normalized}
