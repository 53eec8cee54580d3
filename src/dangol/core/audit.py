"""Audit trail: the change log written by services, and the PII access log (개인정보 접속기록)."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import models

from dangol.core.context import current_request_id
from dangol.core.models import ChangeLog, PiiAccessLog


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of `obj` as JSON-safe data (foreign keys as ids)."""
    names = set(fields) if fields is not None else None
    data: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if names is not None and f.name not in names:
            continue
        data[f.attname] = _jsonable(getattr(obj, f.attname))
    return data


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values changed, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def record(
    actor: Any,
    action: str,
    obj: models.Model,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> ChangeLog:
    """Write one change-log row. Call it inside the service's transaction."""
    return ChangeLog.objects.create(
        actor_id=getattr(actor, "pk", None),
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=current_request_id(),
    )


def record_many(actor: Any, action: str, objs: Iterable[models.Model]) -> None:
    """One change-log row per object, written in bulk (for bulk services)."""
    rid = current_request_id()
    actor_id = getattr(actor, "pk", None)
    ChangeLog.objects.bulk_create(
        [
            ChangeLog(
                actor_id=actor_id,
                action=action,
                object_type=o._meta.label_lower,
                object_id=str(o.pk),
                object_repr=str(o)[:200],
                after=snapshot(o),
                request_id=rid,
            )
            for o in objs
        ],
        batch_size=500,
    )


def log_pii_access(
    user: Any,
    obj: models.Model,
    *,
    fields: list[str],
    channel: str,
    endpoint: str,
    ip_address: str | None = None,
) -> PiiAccessLog:
    """Record that `user` read unmasked `fields` of `obj` through `channel`/`endpoint`."""
    return PiiAccessLog.objects.create(
        user_id=user.pk,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        fields=fields,
        channel=channel,
        endpoint=endpoint[:200],
        request_id=current_request_id(),
        ip_address=ip_address,
    )
