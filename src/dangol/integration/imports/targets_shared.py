"""Lookups the organization, membership, contact-point, return and interaction targets share.

Each is one query for a whole chunk (a join against the chunk's keys, ``writer.in_keys``), with
the importing user's scope applied as the compiled ``visible_to`` queryset, like
``targets.customers_by_external_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models import QuerySet

from dangol.core.models import User
from dangol.core.visibility import Action, Scope, object_type_of, scope_for
from dangol.customers.models import ExternalId, Organization
from dangol.integration.imports.mapping import Reason
from dangol.integration.imports.writer import in_keys, qn


def reason(field_name: str, code: str, message: Any) -> Reason:
    """One rejection reason, as the pipeline stores it."""
    return {"field": field_name, "code": code, "message": str(message)}


def scoped(actor: User | None, model: type[models.Model], action: Action) -> QuerySet[Any] | None:
    """``model.objects.visible_to(actor, action)``, or None when the actor reaches every row
    (superusers, the CLI without a user, an ``all`` scope)."""
    if actor is None or actor.is_superuser:
        return None
    if scope_for(actor, object_type_of(model), action) == Scope.ALL:
        return None
    manager: Any = model._default_manager
    qs: QuerySet[Any] = manager.visible_to(actor, action)
    return qs


def owner_for(actor: User | None, model: type[models.Model]) -> tuple[int | None, int | None]:
    """``(owner id, team id)`` for new rows: users whose add scope is not ``all`` own what they
    import, so they can see it afterwards (as the customer import does)."""
    if actor is None or actor.is_superuser:
        return None, None
    if scope_for(actor, object_type_of(model), Action.ADD) == Scope.ALL:
        return None, None
    return actor.pk, actor.team_id


def visible_subset(visible: QuerySet[Any] | None, ids: Iterable[int]) -> set[int]:
    """The ids among ``ids`` that ``visible`` holds (all of them when ``visible`` is None)."""
    wanted = sorted(set(ids))
    if visible is None or not wanted:
        return set(wanted)
    try:
        sub, params = visible.values("pk").query.sql_with_params()
    except EmptyResultSet:  # the user's role reaches no row at all
        return set()
    table = qn(visible.model._meta.db_table)
    cond, key_params = in_keys("t.id", wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.id FROM {table} t WHERE {cond} AND t.id IN ({sub})",  # noqa: S608
            [*key_params, *params],
        )
        return {int(r[0]) for r in cursor.fetchall()}


def organizations_by_external_id(
    source: str, keys: Sequence[str], visible: QuerySet[Organization] | None
) -> tuple[dict[str, int], set[str]]:
    """``{key: organization id}`` of the known keys the user may reach, and the known keys they
    may not. One query for the chunk."""
    found: dict[str, int] = {}
    if keys:
        cond, params = in_keys(qn("key"), list(keys))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {qn('key')}, organization_id FROM {qn(ExternalId._meta.db_table)} "  # noqa: S608
                f"WHERE source = %s AND {cond} AND organization_id IS NOT NULL",
                [source, *params],
            )
            found.update(cursor.fetchall())
    allowed = visible_subset(visible, found.values())
    hidden = {k for k, oid in found.items() if oid not in allowed}
    return {k: oid for k, oid in found.items() if oid in allowed}, hidden


def rows_by_keys(
    model: type[models.Model], column: str, keys: Sequence[Any], fields: Sequence[str], **where: Any
) -> list[dict[str, Any]]:
    """``model.objects.filter(column__in=keys, **where).values(*fields)`` as one query whatever
    the number of keys (a join against them)."""
    if not keys:
        return []
    field = model._meta.get_field(column)
    assert isinstance(field, models.Field)
    column_sql = f"{qn(model._meta.db_table)}.{qn(str(field.column))}"  # joins may follow
    cond, params = in_keys(column_sql, list(keys))
    qs: QuerySet[Any] = model._default_manager.filter(**where).extra(  # noqa: S610
        where=[cond], params=params
    )
    return list(qs.values(*fields))
