"""Core services: staff users, teams, roles and grants, custom fields, tags, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.core import audit
from dangol.core.errors import Conflict, ValidationFailed
from dangol.core.models import (
    ApiToken,
    CustomFieldDefinition,
    CustomFieldType,
    Role,
    RoleGrant,
    Tag,
    TaggedItem,
    Team,
    TokenScope,
    User,
)
from dangol.core.visibility import Action, Scope

TOKEN_PREFIX = "dg_"  # noqa: S105  (a prefix, not a secret)


@transaction.atomic
def create_team(*, name: str, parent: Team | None = None, actor: Any = None) -> Team:
    """Create a team."""
    if Team.objects.filter(name=name).exists():
        raise Conflict(_("A team with this name already exists."), code="duplicate")
    team = Team.objects.create(name=name, parent=parent)
    audit.record(actor, "team.created", team, after=audit.snapshot(team))
    return team


@transaction.atomic
def create_role(
    *,
    name: str,
    grants: Mapping[str, tuple[Iterable[Action | str], Scope | str]],
    can_view_pii: bool = False,
    description: str = "",
    actor: Any = None,
) -> Role:
    """Create a role with grants ``{object_type: (actions, scope)}``."""
    role = Role.objects.create(name=name, can_view_pii=can_view_pii, description=description)
    set_grants(role=role, grants=grants, actor=actor)
    audit.record(actor, "role.created", role, after=audit.snapshot(role))
    return role


@transaction.atomic
def set_grants(
    *,
    role: Role,
    grants: Mapping[str, tuple[Iterable[Action | str], Scope | str]],
    actor: Any = None,
) -> None:
    """Replace the grants of `role` for the object types named in `grants`."""
    valid_actions = set(Action.values)
    for object_type, (actions, scope) in grants.items():
        acts = sorted({str(a) for a in actions})
        if not set(acts) <= valid_actions or str(scope) not in Scope.values:
            raise ValidationFailed.single("grants", "invalid", _("Unknown action or scope."))
        RoleGrant.objects.update_or_create(
            role=role, object_type=object_type, defaults={"actions": acts, "scope": str(scope)}
        )
    audit.record(
        actor, "role.grants_changed", role, after={k: list(v[0]) for k, v in grants.items()}
    )


@transaction.atomic
def create_user(
    *,
    email: str,
    password: str | None,
    display_name: str = "",
    team: Team | None = None,
    role: Role | None = None,
    language: str = "ko",
    is_superuser: bool = False,
    actor: Any = None,
) -> User:
    """Create a staff user (an administrator when `is_superuser`)."""
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        raise Conflict(_("A user with this e-mail already exists."), code="duplicate")
    user = User.objects.create_user(
        email,
        password,
        display_name=display_name,
        team=team,
        role=role,
        language=language,
        is_superuser=is_superuser,
        is_staff=is_superuser,
    )
    audit.record(actor, "user.created", user, after={"email": user.email, "role": user.role_id})
    return user


@transaction.atomic
def define_custom_field(
    *,
    object_type: str,
    key: str,
    label: str,
    field_type: CustomFieldType | str,
    required: bool = False,
    choices: list[str] | None = None,
    actor: Any = None,
    **limits: Any,
) -> CustomFieldDefinition:
    """Declare a custom field on an object type."""
    if field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE) and not choices:
        raise ValidationFailed.single("choices", "required", _("Give the choices."))
    defn = CustomFieldDefinition.objects.create(
        object_type=object_type,
        key=key,
        label=label,
        field_type=str(field_type),
        required=required,
        choices=choices or [],
        **limits,
    )
    audit.record(actor, "customfield.created", defn, after=audit.snapshot(defn))
    return defn


def get_or_create_tags(names: Iterable[str]) -> list[Tag]:
    """The tags with these names, creating the missing ones."""
    clean = sorted({n.strip() for n in names if n and n.strip()})
    if not clean:
        return []
    existing = {t.name: t for t in Tag.objects.filter(name__in=clean)}
    missing = [Tag(name=n) for n in clean if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=clean)}
    return [existing[n] for n in clean]


@transaction.atomic
def tag_objects(*, objs: Iterable[models.Model], names: Iterable[str], actor: Any = None) -> int:
    """Add tags to records (in bulk); returns the number of new tag links."""
    tags = get_or_create_tags(names)
    objs = list(objs)
    if not tags or not objs:
        return 0
    ct = ContentType.objects.get_for_model(objs[0])
    rows = [TaggedItem(tag=t, content_type=ct, object_id=o.pk) for o in objs for t in tags]
    before = TaggedItem.objects.filter(content_type=ct, object_id__in=[o.pk for o in objs]).count()
    TaggedItem.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    after = TaggedItem.objects.filter(content_type=ct, object_id__in=[o.pk for o in objs]).count()
    for o in objs:
        audit.record(actor, "tags.added", o, after={"tags": [t.name for t in tags]})
    return after - before


@transaction.atomic
def untag_objects(*, objs: Iterable[models.Model], names: Iterable[str], actor: Any = None) -> int:
    """Remove tags from records; returns the number of links removed."""
    objs = list(objs)
    if not objs:
        return 0
    ct = ContentType.objects.get_for_model(objs[0])
    deleted, _ = TaggedItem.objects.filter(
        content_type=ct, object_id__in=[o.pk for o in objs], tag__name__in=list(names)
    ).delete()
    for o in objs:
        audit.record(actor, "tags.removed", o, after={"tags": list(names)})
    return deleted


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_api_token(
    *,
    user: User,
    name: str,
    scope: TokenScope | str = TokenScope.READ,
    expires_at: datetime | None = None,
    actor: Any = None,
) -> tuple[ApiToken, str]:
    """Issue a token; returns (token, raw value). The raw value is shown once, never stored.
    The API and the preferences page both call this (audited as ``api_token.created``)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed.single(
            "name", "invalid", _("Name the token (at most 100 characters).")
        )
    if str(scope) not in TokenScope.values:
        raise ValidationFailed.single("scope", "invalid", _("Unknown token scope."))
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed.single("expires_at", "in_past", _("The expiry is in the past."))
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[:10],
        token_hash=hash_token(raw),
        scope=str(scope),
        expires_at=expires_at,
    )
    audit.record(
        actor or user, "api_token.created", token, after={"name": name, "scope": str(scope)}
    )
    return token, raw


@transaction.atomic
def revoke_api_token(*, token: ApiToken, actor: Any) -> ApiToken:
    """Revoke a token at once."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor, "api_token.revoked", token)
    return token
