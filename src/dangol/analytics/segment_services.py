"""Segment state changes: create, update, archive, take a snapshot (docs/adr/0010-segments.md).

Every service validates the definition (``segments.validate_definition``), runs atomically,
writes its change-log row and emits its event after commit. Who may do what:

* anyone whose role may view customers (``customers.customer``) may create segments and read
  them (members are always limited to the reader's own scope);
* the segment's creator, or a user who sees all customers, may change, archive or snapshot it.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.analytics import segments
from dangol.analytics.models import Segment, SegmentKind, SegmentMember, SegmentStatus
from dangol.core import audit, events
from dangol.core.errors import FieldError, Forbidden, ValidationFailed
from dangol.core.visibility import Action, Scope, can, scope_for
from dangol.customers.models import Customer

AUDIT_FIELDS = ("name", "description", "kind", "status", "definition")


def can_view_segments(user: Any) -> bool:
    """Segments are shown to roles that may view customers."""
    return can(user, Action.VIEW, Customer)


def can_manage_segment(user: Any, segment: Segment | None = None) -> bool:
    """Create (``segment`` None), or change / archive / snapshot `segment`."""
    if not can_view_segments(user):
        return False
    if segment is None or segment.created_by_id == user.pk:
        return True
    return scope_for(user, "customers.customer", Action.VIEW) == Scope.ALL


def _require(user: Any, segment: Segment | None = None) -> None:
    if not can_manage_segment(user, segment):
        raise Forbidden()


def _check_name(name: str, errors: list[FieldError], exclude: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        errors.append(FieldError("name", "required", _("Enter a name.")))
    elif len(name) > 120:
        errors.append(FieldError("name", "too_long", _("At most 120 characters.")))
    else:
        clash = Segment.objects.filter(name=name, status=SegmentStatus.ACTIVE)
        if exclude is not None:
            clash = clash.exclude(pk=exclude)
        if clash.exists():
            errors.append(FieldError("name", "duplicate", _("Another segment has this name.")))
    return name


def _definition(definition: Any, errors: list[FieldError]) -> dict[str, Any]:
    try:
        return segments.validate_definition(definition)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        return {}


@transaction.atomic
def create_segment(
    *,
    name: str,
    definition: Any,
    actor: Any,
    kind: str = SegmentKind.DYNAMIC,
    description: str = "",
) -> Segment:
    """Save a new segment; a static one takes its first snapshot at once."""
    _require(actor)
    errors: list[FieldError] = []
    name = _check_name(name, errors)
    if kind not in SegmentKind.values:
        errors.append(FieldError("kind", "invalid_choice", _("Choose dynamic or static.")))
    normalized = _definition(definition, errors)
    if errors:
        raise ValidationFailed(errors)
    segment = Segment.objects.create(
        name=name,
        description=(description or "").strip(),
        kind=kind,
        definition=normalized,
        created_by=actor,
    )
    audit.record(actor, "segment.created", segment, after=audit.snapshot(segment, AUDIT_FIELDS))
    events.emit("segment.created", segment, kind=kind)
    if kind == SegmentKind.STATIC:
        take_snapshot(segment=segment, actor=actor)
    return segment


@transaction.atomic
def update_segment(
    *,
    segment: Segment,
    actor: Any,
    name: str | None = None,
    description: str | None = None,
    definition: Any = None,
) -> Segment:
    """Change a segment's name, description or rules. A static segment keeps its members
    until the next snapshot."""
    _require(actor, segment)
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if segment.status != SegmentStatus.ACTIVE:
        raise ValidationFailed.single("status", "archived", _("This segment is archived."))
    before = audit.snapshot(segment, AUDIT_FIELDS)
    errors: list[FieldError] = []
    if name is not None:
        segment.name = _check_name(name, errors, exclude=segment.pk)
    if description is not None:
        segment.description = description.strip()
    if definition is not None:
        segment.definition = _definition(definition, errors)
    if errors:
        raise ValidationFailed(errors)
    segment.updated_at = timezone.now()
    segment.save()
    old, new = audit.diff(before, audit.snapshot(segment, AUDIT_FIELDS))
    if new:
        audit.record(actor, "segment.updated", segment, before=old, after=new)
        events.emit("segment.updated", segment, changed=sorted(new))
    return segment


@transaction.atomic
def archive_segment(*, segment: Segment, actor: Any) -> Segment:
    """Retire a segment (kept for the campaigns that used it; its name becomes free)."""
    _require(actor, segment)
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if segment.status == SegmentStatus.ARCHIVED:
        return segment
    segment.status = SegmentStatus.ARCHIVED
    segment.updated_at = timezone.now()
    segment.save(update_fields=["status", "updated_at"])
    audit.record(
        actor,
        "segment.archived",
        segment,
        before={"status": "active"},
        after={"status": "archived"},
    )
    events.emit("segment.archived", segment)
    return segment


@transaction.atomic
def take_snapshot(*, segment: Segment, actor: Any) -> int:
    """Replace the segment's members with the customers matching its rules now.

    One ``DELETE`` and one ``INSERT INTO … SELECT`` (the compiled segment query): no rows pass
    through Python. Members are stored unscoped; every reader sees only their own scope.
    Returns the number of members.
    """
    _require(actor, segment)
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    if locked.status != SegmentStatus.ACTIVE:
        raise ValidationFailed.single("status", "archived", _("This segment is archived."))
    SegmentMember.objects.filter(segment=segment).delete()  # one DELETE: nothing cascades
    select = segments.evaluate(locked.definition).annotate(member_id=F("pk")).values("member_id")
    sql, params = select.query.sql_with_params()
    table = connection.ops.quote_name(SegmentMember._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (segment_id, customer_id) SELECT %s, m.member_id FROM ({sql}) m",  # noqa: S608 - compiled by the ORM
            [segment.pk, *params],
        )
        count = max(cursor.rowcount, 0)
    now = timezone.now()
    Segment.objects.filter(pk=segment.pk).update(
        snapshot_at=now, snapshot_count=count, snapshot_by=actor, updated_at=now
    )
    segment.snapshot_at, segment.snapshot_count, segment.snapshot_by = now, count, actor
    audit.record(actor, "segment.snapshot_taken", segment, after={"count": count})
    events.emit("segment.snapshot_taken", segment, count=count)
    return count
