"""Core tables: people who use Dangol, their teams and roles, audit trails, custom fields, tags."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from dangol.core.visibility import Action, Scope


class UserManager(BaseUserManager["User"]):
    """Creates users keyed by e-mail; use `core.services.create_user` from application code."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class Team(models.Model):
    """A group of staff who share records (a sales team, a store, the call center)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A named bundle of grants: per object type, which actions and over which records."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    can_view_pii = models.BooleanField(
        _("can view personal data"),
        default=False,
        help_text=_("Without it, phone numbers and e-mail addresses are shown masked."),
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RoleGrant(models.Model):
    """What a role may do with one object type (e.g. ``customers.customer``) and its scope."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="grants")
    object_type = models.CharField(_("object type"), max_length=100)
    actions = models.JSONField(_("actions"), default=list)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices, default=Scope.OWN)

    class Meta:
        verbose_name = _("role grant")
        verbose_name_plural = _("role grants")
        constraints = [
            models.UniqueConstraint(fields=["role", "object_type"], name="rolegrant_unique_type")
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.object_type} {self.actions} ({self.scope})"

    def allows(self, action: Action | str) -> bool:
        return str(action) in self.actions


class Language(models.TextChoices):
    KOREAN = "ko", "한국어"
    ENGLISH = "en", "English"


class User(AbstractBaseUser, PermissionsMixin):
    """A member of staff. Logs in with e-mail; sees records through the grants of their role."""

    email = models.EmailField(_("e-mail"), unique=True)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.KOREAN
    )
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Seoul")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.SET_NULL, related_name="users"
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("admin site access"), default=False)
    date_joined = models.DateTimeField(default=now)
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]

    def __str__(self) -> str:
        return self.display_name or self.email

    def get_full_name(self) -> str:
        return str(self)

    def get_short_name(self) -> str:
        return str(self)


class ChangeLog(models.Model):
    """One row per state change made by a service: who, when, what, before and after."""

    at = models.DateTimeField(default=now, db_index=True)
    actor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("change log entry")
        verbose_name_plural = _("change log")
        indexes = [models.Index(fields=["object_type", "object_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"


class DurableMarker(models.Model):
    """Work still owed, durably (ADR 0005 §13): opened in the transaction that creates the debt
    (a bulk load's dropped indexes, with the statements that rebuild them; an order import's
    purchase aggregates) and closed in the one that pays it, so a process killed in between
    leaves an open row that its resume, or a later run, finishes. ``core.bulkwrite`` reads and
    writes it (``open_marker``, ``close_marker``, ``open_markers``).

    State, not history: what people read about a load is in the change log. At most one marker
    of a kind is open per owner; the constraint's partial index makes "the open markers of a
    kind (and owner)" a direct lookup, whatever the number of closed ones."""

    kind = models.CharField(max_length=64)
    owner = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    opened_at = models.DateTimeField(default=now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("work marker")
        verbose_name_plural = _("work markers")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "owner"],
                condition=models.Q(closed_at__isnull=True),
                name="durablemarker_one_open",
            )
        ]

    def __str__(self) -> str:
        state = "open" if self.closed_at is None else f"closed {self.closed_at:%Y-%m-%d %H:%M}"
        return f"{self.kind} {self.owner} ({state})"


class PiiAccessLog(models.Model):
    """개인정보 접속기록: every read of unmasked personal data, by whom, where and when."""

    at = models.DateTimeField(default=now, db_index=True)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    fields = models.JSONField(default=list)
    channel = models.CharField(max_length=16)  # "web", "api", "export", "cli"
    endpoint = models.CharField(max_length=200)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data access log")
        indexes = [models.Index(fields=["object_type", "object_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.object_type}#{self.object_id}"


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")
    MULTI_CHOICE = "multi_choice", _("Multiple choice")
    BOOLEAN = "boolean", _("Yes/no")


class CustomFieldDefinition(models.Model):
    """A typed extra field on a model; values live in that model's ``custom_fields`` JSON."""

    object_type = models.CharField(_("object type"), max_length=100)
    key = models.SlugField(_("key"), max_length=64)
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(_("type"), max_length=16, choices=CustomFieldType.choices)
    required = models.BooleanField(_("required"), default=False)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    min_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    max_length = models.PositiveIntegerField(null=True, blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["object_type", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["object_type", "key"], name="customfield_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.object_type}.{self.key}"


class Tag(models.Model):
    """A label any record can carry (VIP 행사, 도매, 민원 주의 ...)."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    color = models.CharField(_("colour"), max_length=16, default="blue")

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TaggedItem(models.Model):
    """Tag ↔ any record."""

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="items")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.BigIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tag", "content_type", "object_id"], name="taggeditem_unique"
            )
        ]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.tag} → {self.content_type_id}#{self.object_id}"


class TokenScope(models.TextChoices):
    READ = "read", _("Read")
    WRITE = "write", _("Read and write")


class ApiToken(models.Model):
    """A personal access token for the REST API. Only its SHA-256 hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
