"""The integrated customer base: people, organizations, how to reach them, what they agreed to,
and every interaction with them on every channel."""

from __future__ import annotations

import datetime
from typing import ClassVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.visibility import VisibleManager

CONSENT_RECONFIRM_YEARS = 2  # 정보통신망법 §50⑧: 수신동의 여부 재확인, every two years


class Gender(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "X", _("Other")
    UNKNOWN = "", _("Unknown")


class LifecycleStage(models.TextChoices):
    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    REPEAT = "repeat", _("Repeat customer")
    LAPSED = "lapsed", _("Lapsed")


class RecordStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ARCHIVED = "archived", _("Archived")
    MERGED = "merged", _("Merged")


class Region(models.TextChoices):
    """광역자치단체: the 17 first-level divisions of Korea."""

    SEOUL = "seoul", _("Seoul")
    BUSAN = "busan", _("Busan")
    DAEGU = "daegu", _("Daegu")
    INCHEON = "incheon", _("Incheon")
    GWANGJU = "gwangju", _("Gwangju")
    DAEJEON = "daejeon", _("Daejeon")
    ULSAN = "ulsan", _("Ulsan")
    SEJONG = "sejong", _("Sejong")
    GYEONGGI = "gyeonggi", _("Gyeonggi")
    GANGWON = "gangwon", _("Gangwon")
    CHUNGBUK = "chungbuk", _("North Chungcheong")
    CHUNGNAM = "chungnam", _("South Chungcheong")
    JEONBUK = "jeonbuk", _("North Jeolla")
    JEONNAM = "jeonnam", _("South Jeolla")
    GYEONGBUK = "gyeongbuk", _("North Gyeongsang")
    GYEONGNAM = "gyeongnam", _("South Gyeongsang")
    JEJU = "jeju", _("Jeju")
    OVERSEAS = "overseas", _("Overseas")


class SignupChannel(models.TextChoices):
    """Where a customer signed up (가입경로): the values staff pick and the demo company uses.
    ``Customer.signup_channel`` stays free text, as imports and the API bring their own."""

    STORE = "store", _("Store")
    CALL_CENTER = "call_center", _("Call center")
    ONLINE = "online", _("Online shop")
    APP = "app", _("App")


class OrganizationSize(models.TextChoices):
    MICRO = "1-9", _("1–9 employees")
    SMALL = "10-49", _("10–49 employees")
    MEDIUM = "50-299", _("50–299 employees")
    LARGE = "300-999", _("300–999 employees")
    ENTERPRISE = "1000+", _("1,000+ employees")
    UNKNOWN = "", _("Unknown")


class Organization(models.Model):
    """A company or institution we sell to (a B2B account), possibly part of a group."""

    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent organization"),
    )
    business_number = models.CharField(_("business registration number"), max_length=12, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    size = models.CharField(
        _("size"), max_length=10, choices=OrganizationSize.choices, blank=True, default=""
    )
    website = models.URLField(_("website"), blank=True)
    region = models.CharField(_("region"), max_length=16, choices=Region.choices, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        "core.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=RecordStatus.choices, default=RecordStatus.ACTIVE
    )
    source = models.CharField(_("source"), max_length=50, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = VisibleManager()

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        indexes = [
            models.Index(fields=["name"]),
            models.Index(fields=["owner", "id"]),
            models.Index(fields=["team", "id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["business_number"],
                condition=~Q(business_number=""),
                name="organization_unique_business_number",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """One real person, with everything every department knows about them hanging off it.

    Purchase aggregates (first/last purchase, orders, lifetime spend) are kept up to date by the
    order services so that lists and filters never aggregate orders per request.
    """

    family_name = models.CharField(_("family name"), max_length=50, blank=True)
    given_name = models.CharField(_("given name"), max_length=100, blank=True)
    full_name = models.CharField(_("name"), max_length=160, db_index=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    birth_date_is_lunar = models.BooleanField(_("lunar birthday"), default=False)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=16,
        choices=LifecycleStage.choices,
        default=LifecycleStage.LEAD,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RecordStatus.choices, default=RecordStatus.ACTIVE
    )
    region = models.CharField(_("region"), max_length=16, choices=Region.choices, blank=True)
    # (owner, id) and (team, id) below serve every lookup by owner or team (scopes, lists)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
        db_index=False,
    )
    team = models.ForeignKey(
        "core.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team"),
        db_index=False,
    )
    source = models.CharField(_("source"), max_length=50, blank=True)
    signup_channel = models.CharField(_("signup channel"), max_length=50, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Purchase aggregates maintained by commerce services (F() updates, never recomputed per row).
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    total_spent = models.DecimalField(
        _("lifetime spend"), max_digits=18, decimal_places=2, default=0
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)

    objects = VisibleManager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["owner", "id"]),
            models.Index(fields=["team", "id"]),
            models.Index(fields=["last_purchase_at", "id"]),
            models.Index(fields=["created_at", "id"]),
            models.Index(fields=["total_spent", "id"]),
            models.Index(fields=["lifecycle_stage", "id"]),
            models.Index(fields=["given_name"]),
            # The list's common filter + sort shapes (a filter, then the sort column, then id);
            # PostgreSQL also gets (…, last_purchase_at DESC NULLS LAST, id DESC) in 0004.
            models.Index(fields=["lifecycle_stage", "created_at", "id"]),
            models.Index(fields=["region", "created_at", "id"]),
            models.Index(fields=["region", "last_purchase_at", "id"]),
        ]

    def __str__(self) -> str:
        return self.full_name or f"#{self.pk}"

    @property
    def signup_channel_label(self) -> str:
        """The signup channel in the reader's language when it is a known one, else as stored."""
        if self.signup_channel in SignupChannel.values:
            return str(SignupChannel(self.signup_channel).label)
        return self.signup_channel

    @property
    def average_order_value(self) -> float | None:
        return float(self.total_spent) / self.order_count if self.order_count else None


class OrganizationMembership(models.Model):
    """A person's place in an organization (대표, 구매 담당 ...)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=100, blank=True)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    started_on = models.DateField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("organization membership")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "organization"], name="membership_unique_pair"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} @ {self.organization_id}"


class ContactKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    MOBILE = "mobile", _("Mobile")
    PHONE = "phone", _("Phone")
    KAKAO = "kakao", _("KakaoTalk ID")
    FAX = "fax", _("Fax")


class ContactPoint(models.Model):
    """A way to reach a customer or organization, as entered and normalized.

    ``match_key`` is what lookups and identity resolution compare: E.164 for phones, the
    case-folded normalized address for e-mails, the lower-cased id otherwise.
    """

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="contact_points"
    )
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="contact_points",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ContactKind.choices)
    value = models.CharField(_("as entered"), max_length=254)
    normalized = models.CharField(_("normalized"), max_length=254)
    match_key = models.CharField(max_length=254)
    last4 = models.CharField(max_length=4, blank=True)
    label = models.CharField(_("label"), max_length=50, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)
    is_legacy = models.BooleanField(_("legacy number"), default=False)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer", "organization")

    class Meta:
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        indexes = [
            models.Index(fields=["match_key"]),
            models.Index(fields=["last4"]),
            models.Index(fields=["customer", "kind"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False) ^ Q(organization__isnull=False),
                name="contactpoint_one_owner",
            ),
            models.UniqueConstraint(
                fields=["customer", "kind", "match_key"],
                condition=Q(customer__isnull=False),
                name="contactpoint_unique_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.normalized}"


class AddressKind(models.TextChoices):
    HOME = "home", _("Home")
    WORK = "work", _("Work")
    SHIPPING = "shipping", _("Shipping")
    BILLING = "billing", _("Billing")


class Address(models.Model):
    """A postal address (도로명주소)."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="addresses"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="addresses"
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=AddressKind.choices, default=AddressKind.HOME
    )
    postal_code = models.CharField(_("postal code"), max_length=10, blank=True)
    region = models.CharField(_("region"), max_length=16, choices=Region.choices, blank=True)
    city = models.CharField(_("city / district"), max_length=50, blank=True)
    line1 = models.CharField(_("address"), max_length=200)
    line2 = models.CharField(_("address detail"), max_length=200, blank=True)
    country = models.CharField(_("country"), max_length=2, default="KR")
    is_primary = models.BooleanField(_("primary"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer", "organization")

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False) ^ Q(organization__isnull=False),
                name="address_one_owner",
            )
        ]

    def __str__(self) -> str:
        return " ".join(p for p in (self.line1, self.line2) if p)


class ExternalId(models.Model):
    """The key of a customer or organization in another system (POS, web shop, ERP)."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="external_ids"
    )
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="external_ids",
    )
    source = models.CharField(_("source system"), max_length=50)
    key = models.CharField(_("key"), max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer", "organization")

    class Meta:
        verbose_name = _("external id")
        verbose_name_plural = _("external ids")
        indexes = [models.Index(fields=["key"])]  # search by an external id alone
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False) ^ Q(organization__isnull=False),
                name="externalid_one_owner",
            ),
            models.UniqueConstraint(
                fields=["source", "key"],
                condition=Q(customer__isnull=False),
                name="externalid_unique_customer_key",
            ),
            models.UniqueConstraint(
                fields=["source", "key"],
                condition=Q(organization__isnull=False),
                name="externalid_unique_organization_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.key}"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    PUSH = "push", _("App push")
    PHONE = "phone", _("Phone call")
    KAKAO = "kakao", _("KakaoTalk")


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing (advertising)")
    SERVICE = "service", _("Service notices")
    THIRD_PARTY = "third_party", _("Sharing with third parties")


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", _("Granted")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Consent(models.Model):
    """The current consent of one customer for one channel and purpose.

    Marketing may be sent only where the consent is *current*: granted, not past its
    reconfirmation date, and (for 21:00–08:00 sends) with the separate night-time consent.
    Every change is kept in ``ConsentEvent``.
    """

    # (customer, channel, purpose) is unique: that index serves the customer's consents.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="consents", db_index=False
    )
    channel = models.CharField(_("channel"), max_length=10, choices=ConsentChannel.choices)
    purpose = models.CharField(
        _("purpose"),
        max_length=16,
        choices=ConsentPurpose.choices,
        default=ConsentPurpose.MARKETING,
    )
    status = models.CharField(_("status"), max_length=10, choices=ConsentStatus.choices)
    night_time = models.BooleanField(_("night-time (21:00–08:00) consent"), default=False)
    granted_at = models.DateTimeField(_("granted"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    reconfirm_due = models.DateField(_("reconfirmation due"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=50, blank=True)
    evidence = models.TextField(_("evidence"), blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "channel", "purpose"], name="consent_unique_channel_purpose"
            )
        ]
        # Ends with the customer: "who has a current consent on this channel" (segments, sends)
        # is answered from the index alone.
        indexes = [
            models.Index(fields=["channel", "purpose", "status", "reconfirm_due", "customer"])
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}: {self.status}"

    def is_current(self, on: datetime.date | None = None) -> bool:
        on = on or timezone.localdate()
        return self.status == ConsentStatus.GRANTED and (
            self.reconfirm_due is None or self.reconfirm_due >= on
        )


class ConsentEvent(models.Model):
    """One change of a consent: the full history, never edited."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices)
    purpose = models.CharField(max_length=16, choices=ConsentPurpose.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    night_time = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=50, blank=True)
    evidence = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent history")
        indexes = [models.Index(fields=["customer", "at"])]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d} {self.channel}/{self.purpose} → {self.status}"


class InteractionChannel(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    KAKAO = "kakao", _("KakaoTalk")
    WEB = "web", _("Web")
    APP = "app", _("App")
    STORE = "store", _("Store")
    VISIT = "visit", _("Visit")
    CHAT = "chat", _("Chat")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")
    INTERNAL = "internal", _("Internal")


class InteractionKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    VISIT = "visit", _("Visit")
    MESSAGE = "message", _("Message")
    CHAT = "chat", _("Chat")
    INQUIRY = "inquiry", _("Inquiry")
    COMPLAINT = "complaint", _("Complaint")
    WEB_EVENT = "web_event", _("Web / app activity")


class Interaction(models.Model):
    """One contact with a customer on any channel: the customer's single timeline."""

    # The (customer, occurred_at, id) index serves the customer's interactions.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=InteractionChannel.choices)
    direction = models.CharField(
        _("direction"), max_length=10, choices=Direction.choices, default=Direction.INBOUND
    )
    kind = models.CharField(_("kind"), max_length=12, choices=InteractionKind.choices)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("details"), blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("staff"),
    )
    related_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    related_id = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(_("source"), max_length=50, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"]),
            models.Index(fields=["occurred_at"]),
            # segments: "an interaction on this channel in the last N days", from the index alone
            models.Index(fields=["channel", "occurred_at", "customer"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="interaction_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return self.subject or self.get_kind_display()


class Note(models.Model):
    """A free-text note on a customer or organization, kept out of the interaction stream."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    body = models.TextField(_("note"))
    pinned = models.BooleanField(_("pinned"), default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer", "organization")

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["-pinned", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False) ^ Q(organization__isnull=False),
                name="note_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.body[:50]


class HistoryKind(models.TextChoices):
    MERGED = "merged", _("Merged")
    MERGED_INTO = "merged_into", _("Merged into another record")
    UNMERGED = "unmerged", _("Unmerged")
    GRADE_CHANGED = "grade_changed", _("Grade changed")


class CustomerHistory(models.Model):
    """The typed, human-readable history of a customer ("merged with #123", "Silver → Gold")."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=20, choices=HistoryKind.choices)
    data = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("customer history entry")
        verbose_name_plural = _("customer history")
        indexes = [models.Index(fields=["customer", "-at", "-id"])]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind}"


class SurvivorshipStrategy(models.TextChoices):
    MOST_COMPLETE = "most_complete", _("Most complete value")
    MOST_RECENT = "most_recent", _("Most recently updated record")
    TRUSTED_SOURCE = "trusted_source", _("Trusted source first")
    SURVIVOR = "survivor", _("Keep the surviving record's value")


class SurvivorshipRule(models.Model):
    """How a merge picks the value of one customer field from the merged records."""

    field_name = models.CharField(_("field"), max_length=50, unique=True)
    strategy = models.CharField(
        _("strategy"),
        max_length=16,
        choices=SurvivorshipStrategy.choices,
        default=SurvivorshipStrategy.MOST_COMPLETE,
    )
    source_order = models.JSONField(
        _("trusted sources, most trusted first"), default=list, blank=True
    )

    class Meta:
        verbose_name = _("survivorship rule")
        verbose_name_plural = _("survivorship rules")

    def __str__(self) -> str:
        return f"{self.field_name}: {self.strategy}"


class MergeRecord(models.Model):
    """One merge: who folded which records into which, and everything needed to undo it."""

    survivor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges")
    merged_ids = models.JSONField(default=list)
    survivor_before = models.JSONField(default=dict)
    moved = models.JSONField(default=list)  # [[model label, field, pk, from customer id], ...]
    removed = models.JSONField(default=list)  # [[model label, {field values}], ...]
    changed = models.JSONField(default=list)  # [[model label, pk, {field: old value}], ...]
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automatic = models.BooleanField(default=False)
    probability = models.FloatField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("survivor",)

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")

    def __str__(self) -> str:
        return f"{self.merged_ids} → {self.survivor_id}"


class ChangeOp(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    MERGED = "merged", _("Merged")
    DELETED = "deleted", _("Deleted")


class ChangeFeedEntry(models.Model):
    """The change feed an ERP or warehouse pulls (GET /api/v1/changes?since=...).

    On PostgreSQL each row carries the id of the transaction that wrote it; the feed only serves
    rows of transactions older than every transaction still running, ordered by (txid, id), so
    a row committed late can never slip behind a cursor: every change is delivered exactly once.
    SQLite has one writer at a time, so the id alone orders commits.
    """

    object_type = models.CharField(max_length=20)  # "customer" / "organization"
    object_id = models.BigIntegerField()
    op = models.CharField(max_length=10, choices=ChangeOp.choices)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)
    txid = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("change feed entry")
        verbose_name_plural = _("change feed")
        indexes = [models.Index(fields=["txid", "id"])]

    def __str__(self) -> str:
        return f"{self.op} {self.object_type}#{self.object_id}"
