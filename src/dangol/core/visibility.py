"""Record visibility: what a user may do with which records, decided in the queryset.

A role holds one grant per object type (``customers.customer``, ``commerce.order``, ...): the
actions it allows and a scope: ``own`` records, the ``team``'s records, or ``all``. Every list,
detail, search, export and API call asks ``Model.objects.visible_to(user, action)``, so one
function decides who sees what, and "not found" and "not allowed" look the same.

Models that carry ``owner`` and ``team`` are scoped on their own columns; models that belong to a
customer or an organization (orders, consents, interactions, ...) name the path to their owner in
``visibility_paths`` and are scoped through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from dangol.core.models import RoleGrant, User


class Scope(models.TextChoices):
    OWN = "own", _("Own records")
    TEAM = "team", _("Team's records")
    ALL = "all", _("All records")


class Action(models.TextChoices):
    VIEW = "view", _("View")
    ADD = "add", _("Add")
    CHANGE = "change", _("Change")
    DELETE = "delete", _("Delete")
    EXPORT = "export", _("Export")


def object_type_of(model: type[models.Model]) -> str:
    """The grant key of a model: its ``app_label.model_name``."""
    return model._meta.label_lower


def grants_of(user: Any) -> dict[str, RoleGrant]:
    """The user's grants by object type, loaded once per user object."""
    cached: dict[str, RoleGrant] | None = getattr(user, "_dangol_grants", None)
    if cached is None:
        cached = {}
        if getattr(user, "is_authenticated", False) and user.role_id:
            from dangol.core.models import RoleGrant

            cached = {g.object_type: g for g in RoleGrant.objects.filter(role_id=user.role_id)}
        user._dangol_grants = cached
    return cached


def scope_for(user: Any, object_type: str, action: Action | str = Action.VIEW) -> Scope | None:
    """The scope within which `user` may do `action` on `object_type`, or None if not at all."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Scope.ALL
    grant = grants_of(user).get(object_type)
    if grant is None or not grant.allows(action):
        return None
    return Scope(grant.scope)


def can(user: Any, action: Action | str, model: type[models.Model] | str) -> bool:
    """Whether `user` may do `action` on at least some records of `model`."""
    object_type = model if isinstance(model, str) else object_type_of(model)
    return scope_for(user, object_type, action) is not None


def can_view_pii(user: Any) -> bool:
    """Whether `user` sees unmasked phone numbers and e-mail addresses."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    role = user.role if user.role_id else None
    return bool(role and role.can_view_pii)


def scope_filter(user: User, scope: Scope, paths: tuple[str, ...]) -> Q:
    """The Q object that limits records reachable through `paths` to `scope`."""
    if scope == Scope.ALL:
        return Q()
    q = Q()
    for path in paths:
        prefix = f"{path}__" if path else ""
        if scope == Scope.OWN:
            q |= Q(**{f"{prefix}owner_id": user.pk})
        else:
            q |= Q(**{f"{prefix}owner_id": user.pk})
            if user.team_id:
                q |= Q(**{f"{prefix}team_id": user.team_id})
    return q


class VisibleQuerySet(models.QuerySet):
    """A queryset that knows how to restrict itself to what a user may see."""

    def visible_to(self, user: Any, action: Action | str = Action.VIEW) -> Self:
        model = self.model
        scope = scope_for(user, object_type_of(model), action)
        if scope is None:
            return self.none()
        paths: tuple[str, ...] = getattr(model, "visibility_paths", ("",))
        if not paths:  # reference data (products, channels): no owner, the grant alone decides
            return self
        return self.filter(scope_filter(user, scope, paths))


VisibleManager = models.Manager.from_queryset(VisibleQuerySet)
