"""Read queries shared by pages and API endpoints: search, the customer 360, the timeline.

All of them start from ``visible_to(user)``; each runs a fixed number of queries whatever the
size of the customer's history.
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from dangol.core.context import current_request_id
from dangol.core.masking import mask_email, mask_phone
from dangol.core.models import PiiAccessLog, Tag
from dangol.core.visibility import Action, can, can_view_pii
from dangol.customers.models import (
    Consent,
    ConsentEvent,
    ContactKind,
    ContactPoint,
    Customer,
    CustomerHistory,
    ExternalId,
    Interaction,
    Note,
    Organization,
    OrganizationMembership,
    RecordStatus,
)

TIMELINE_PAGE = 30


def customers_for(user: Any, *, include_archived: bool = False) -> QuerySet[Customer]:
    """The customers `user` may see (active ones unless told otherwise)."""
    qs = Customer.objects.visible_to(user)
    if not include_archived:
        qs = qs.filter(status=RecordStatus.ACTIVE)
    return qs


NAME_SUBSTRING_MIN = 3  # below this a fragment matches a given name or a name's start


def search_filter(q: str) -> Q:
    """What a search box means: a name fragment, an e-mail prefix, the last 4 digits of a phone,
    a full phone number, or an external id."""
    q = q.strip()
    digits = re.sub(r"\D", "", q)
    compact = q.replace(" ", "")
    if len(compact) >= NAME_SUBSTRING_MIN:
        # A longer fragment: anywhere in the name (pg_trgm GIN index on PostgreSQL).
        cond = Q(full_name__contains=compact)
    else:
        # "민준" or "김민": a given name, or the start of a name; both use a b-tree index.
        cond = Q(given_name=compact) | Q(full_name__gte=compact, full_name__lt=compact + "\uffff")
    if "@" in q or re.fullmatch(r"[A-Za-z0-9._%+-]{3,}", q):
        key = q.lower()
        cond |= Q(
            pk__in=ContactPoint.objects.filter(
                kind=ContactKind.EMAIL, match_key__gte=key, match_key__lt=key + "\uffff"
            ).values("customer_id")
        )
    if len(digits) == 4 and len(q) <= 5:
        cond |= Q(pk__in=ContactPoint.objects.filter(last4=digits).values("customer_id"))
    elif len(digits) >= 9:
        from dangol.core.normalize import NormalizationError, normalize_phone

        try:
            e164 = normalize_phone(q).e164
            cond |= Q(pk__in=ContactPoint.objects.filter(match_key=e164).values("customer_id"))
        except NormalizationError:
            pass
    cond |= Q(pk__in=ExternalId.objects.filter(key=q, customer__isnull=False).values("customer_id"))
    return cond


def search(*, user: Any, q: str, limit: int = 10) -> list[Customer]:
    """Customers matching `q`, best known first; empty for a query under 2 characters."""
    if len(q.strip()) < 2:
        return []
    qs = customers_for(user).filter(search_filter(q))  # subqueries only: no join, no DISTINCT
    return list(qs.order_by("-last_purchase_at", "-id").select_related("owner")[:limit])


def search_organizations(*, user: Any, q: str, limit: int = 10) -> list[Organization]:
    """Organizations whose name contains `q` or whose business number is `q`."""
    q = q.strip()
    if len(q) < 2:
        return []
    qs = Organization.objects.visible_to(user).filter(status=RecordStatus.ACTIVE)
    qs = qs.filter(Q(name__contains=q) | Q(business_number=q) | Q(external_ids__key=q)).distinct()
    return list(qs.order_by("name", "id")[:limit])


@dataclass
class ContactView:
    """A contact point as a given user may see it."""

    id: int
    kind: str
    kind_label: str
    value: str
    masked: bool
    is_primary: bool
    verified: bool
    is_legacy: bool
    label: str


@dataclass(frozen=True)
class PiiRead:
    """Where an unmasked read happens: what the PII access log (개인정보 접속기록) records."""

    channel: str  # "web", "api", "export"
    endpoint: str
    ip_address: str | None = None


def present_contacts(
    user: Any, contacts: list[ContactPoint], *, reveal: bool = False
) -> list[ContactView]:
    """Contact points as `user` may see them: masked unless `reveal` and the user holds the PII
    permission. Only call with ``reveal=True`` together with `log_pii_reads` (or use
    `reveal_contacts` / `customer_360(read=...)`, which do both)."""
    unmask = reveal and can_view_pii(user)
    out = []
    for cp in contacts:
        if unmask:
            value = cp.value if cp.kind == ContactKind.EMAIL else cp.normalized
            if cp.kind != ContactKind.EMAIL and cp.kind != ContactKind.KAKAO:
                value = _national(cp.normalized)
        elif cp.kind == ContactKind.EMAIL:
            value = mask_email(cp.normalized)
        elif cp.kind == ContactKind.KAKAO:
            value = cp.normalized[:2] + "***"
        else:
            value = mask_phone(_national(cp.normalized))
        out.append(
            ContactView(
                id=cp.pk,
                kind=cp.kind,
                kind_label=str(cp.get_kind_display()),
                value=value,
                masked=not unmask,
                is_primary=cp.is_primary,
                verified=cp.verified_at is not None,
                is_legacy=cp.is_legacy,
                label=cp.label,
            )
        )
    return out


def log_pii_reads(user: Any, reads: dict[Customer, list[ContactPoint]], read: PiiRead) -> None:
    """One access-log row per customer whose contact points `user` reads unmasked (bulk)."""
    if not can_view_pii(user):
        return
    PiiAccessLog.objects.bulk_create(
        [
            PiiAccessLog(
                user_id=user.pk,
                object_type="customers.customer",
                object_id=str(customer.pk),
                fields=sorted({c.kind for c in contacts}),
                channel=read.channel,
                endpoint=read.endpoint[:200],
                request_id=current_request_id(),
                ip_address=read.ip_address,
            )
            for customer, contacts in reads.items()
            if contacts
        ]
    )


@functools.lru_cache(maxsize=65536)
def _national(e164: str) -> str:
    import phonenumbers

    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, "KR"), phonenumbers.PhoneNumberFormat.NATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def reveal_contacts(*, user: Any, customer: Customer, read: PiiRead) -> list[ContactView]:
    """Unmasked contact points for a user with the PII permission, logged.

    Users without the permission get the masked view and nothing is logged.
    """
    contacts = list(customer.contact_points.order_by("kind", "-is_primary", "id"))
    log_pii_reads(user, {customer: contacts}, read)
    return present_contacts(user, contacts, reveal=True)


@dataclass
class Customer360:
    """Everything one page (or one API call) shows about a customer."""

    customer: Customer
    contacts: list[ContactView]
    addresses: list[Any]
    consents: list[Consent]
    consent_history: list[ConsentEvent]
    memberships: list[OrganizationMembership]
    external_ids: list[Any]
    tags: list[Tag]
    notes: list[Note]
    figures: dict[str, Any] = field(default_factory=dict)


def customer_detail_queryset(user: Any) -> QuerySet[Customer]:
    """The customers `user` may open, with everything the detail view needs prefetched."""
    return (
        Customer.objects.visible_to(user)
        .select_related("owner", "team")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.order_by("kind", "-is_primary", "id"),
            ),
            "addresses",
            Prefetch("consents", queryset=Consent.objects.order_by("channel", "purpose")),
            Prefetch(
                "memberships",
                queryset=OrganizationMembership.objects.select_related("organization").order_by(
                    "-is_primary", "id"
                ),
            ),
            "external_ids",
        )
    )


def customer_360(
    *, user: Any, customer_id: int, read: PiiRead | None = None, with_history: bool = True
) -> Customer360 | None:
    """The 360 view of one customer, or None when it does not exist or is not visible.

    Contact points are masked, unless `read` says where an unmasked read happens: then users
    with the PII permission see them in full and the read is logged. `with_history=False`
    skips the consent history and the notes (two queries) for callers that show neither.
    """
    customer = customer_detail_queryset(user).filter(pk=customer_id).first()
    if customer is None:
        return None
    tags = list(
        Tag.objects.filter(
            items__content_type__app_label="customers",
            items__content_type__model="customer",
            items__object_id=customer.pk,
        ).order_by("name")
    )
    contacts = list(customer.contact_points.all())
    if read is not None:
        log_pii_reads(user, {customer: contacts}, read)
    history: list[ConsentEvent] = []
    notes: list[Note] = []
    if with_history:
        history = list(ConsentEvent.objects.filter(customer=customer).order_by("-at", "-id")[:50])
        notes = list(Note.objects.filter(customer=customer).select_related("author")[:20])
    aov = customer.average_order_value
    return Customer360(
        customer=customer,
        contacts=present_contacts(user, contacts, reveal=read is not None),
        addresses=list(customer.addresses.all()),
        consents=list(customer.consents.all()),
        consent_history=history,
        memberships=list(customer.memberships.all()),
        external_ids=list(customer.external_ids.all()),
        tags=tags,
        notes=notes,
        figures={
            "lifetime_spend": customer.total_spent,
            "orders": customer.order_count,
            "average_order_value": aov,
            "first_purchase_at": customer.first_purchase_at,
            "last_purchase_at": customer.last_purchase_at,
        },
    )


def _history_detail(h: CustomerHistory) -> str:
    """One line a person can read: "#12, #15" for merges, "Silver → Gold" for grades."""
    d = h.data
    if "merged_ids" in d and h.kind != "unmerged":
        return ", ".join(f"#{i}" for i in d["merged_ids"])
    if "survivor_id" in d:
        return f"#{d['survivor_id']}"
    if "from" in d or "to" in d:
        return f"{d.get('from') or '—'} → {d.get('to') or '—'}"
    return ""


@dataclass
class TimelineEntry:
    """One row of the unified timeline."""

    kind: str  # "interaction", "order", "return", "note", "consent"
    at: datetime.datetime
    id: int
    title: str
    channel: str = ""
    detail: str = ""
    staff: str = ""
    amount: Any = None
    currency: str = ""
    obj: Any = None

    @property
    def cursor(self) -> str:
        return f"{self.at.isoformat()}|{self.kind}|{self.id}"


TIMELINE_KINDS = ("interaction", "order", "return", "note", "consent", "history")


def timeline(
    *,
    user: Any,
    customer: Customer,
    before: datetime.datetime | None = None,
    kinds: tuple[str, ...] = TIMELINE_KINDS,
    channels: tuple[str, ...] = (),
    limit: int = TIMELINE_PAGE,
) -> list[TimelineEntry]:
    """The newest `limit` entries older than `before`, across every source, newest first.

    One query per source kind (each bounded by `limit` and using its (customer, time) index),
    merged in Python: the cost does not grow with the customer's history.
    """
    from dangol.commerce.models import Order, Return  # commerce sits beside customers

    entries: list[TimelineEntry] = []

    def window(qs: QuerySet[Any], field_name: str) -> QuerySet[Any]:
        if before is not None:
            qs = qs.filter(**{f"{field_name}__lt": before})
        return qs.order_by(f"-{field_name}", "-id")[:limit]

    if "interaction" in kinds:
        qs = Interaction.objects.filter(customer=customer).select_related("staff")
        if channels:
            qs = qs.filter(channel__in=channels)
        for i in window(qs, "occurred_at"):
            entries.append(
                TimelineEntry(
                    kind="interaction",
                    at=i.occurred_at,
                    id=i.pk,
                    title=i.subject or str(i.get_kind_display()),
                    channel=i.channel,
                    detail=i.body,
                    staff=str(i.staff) if i.staff else "",
                    obj=i,
                )
            )
    # The customer is visible; its orders are too if the user's role may view orders at all.
    if "order" in kinds and can(user, Action.VIEW, Order):
        orders = Order.objects.filter(customer=customer).select_related("channel")
        if channels:
            orders = orders.filter(channel__kind__in=channels)
        for o in window(orders, "placed_at"):
            entries.append(
                TimelineEntry(
                    kind="order",
                    at=o.placed_at,
                    id=o.pk,
                    title=o.number,
                    channel=o.channel.name if o.channel else "",
                    amount=o.total,
                    currency=o.currency,
                    detail=str(o.get_status_display()),
                    obj=o,
                )
            )
    if "return" in kinds and not channels:
        for r in window(
            Return.objects.filter(customer=customer).select_related("order"), "returned_at"
        ):
            entries.append(
                TimelineEntry(
                    kind="return",
                    at=r.returned_at,
                    id=r.pk,
                    title=r.order.number,
                    detail=str(r.get_reason_display()),
                    amount=r.amount,
                    currency=r.currency,
                    obj=r,
                )
            )
    if "note" in kinds and not channels:
        for n in window(
            Note.objects.filter(customer=customer).select_related("author"), "created_at"
        ):
            entries.append(
                TimelineEntry(
                    kind="note",
                    at=n.created_at,
                    id=n.pk,
                    title=n.body[:80],
                    detail=n.body,
                    staff=str(n.author) if n.author else "",
                    obj=n,
                )
            )
    if "consent" in kinds and not channels:
        for e in window(ConsentEvent.objects.filter(customer=customer), "at"):
            entries.append(
                TimelineEntry(
                    kind="consent",
                    at=e.at,
                    id=e.pk,
                    title=f"{e.get_channel_display()}",
                    channel=e.channel,
                    detail=str(e.get_status_display()),
                    obj=e,
                )
            )
    if "history" in kinds and not channels:
        for h in window(
            CustomerHistory.objects.filter(customer=customer).select_related("actor"), "at"
        ):
            entries.append(
                TimelineEntry(
                    kind="history",
                    at=h.at,
                    id=h.pk,
                    title=str(h.get_kind_display()),
                    detail=_history_detail(h),
                    staff=str(h.actor) if h.actor else "",
                    obj=h,
                )
            )
    entries.sort(key=lambda e: (e.at, e.id), reverse=True)
    return entries[:limit]


@dataclass
class Organization360:
    """Everything the organization page shows, apart from its orders and timeline."""

    organization: Organization
    members: list[OrganizationMembership]
    contacts: list[ContactView]
    addresses: list[Any]
    children: list[Organization]
    notes: list[Note]


ORGANIZATION_MEMBERS_SHOWN = 100


def organization_detail(*, user: Any, organization_id: int) -> Organization360 | None:
    """One organization `user` may see, with the people of it `user` may see (masked contacts),
    or None. A fixed number of queries whatever the organization's size."""
    org = (
        Organization.objects.visible_to(user)
        .select_related("owner", "team", "parent")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.order_by("kind", "-is_primary", "id"),
            ),
            "addresses",
        )
        .filter(pk=organization_id)
        .first()
    )
    if org is None:
        return None
    members = list(
        OrganizationMembership.objects.filter(
            organization=org, customer__in=customers_for(user).values("pk")
        )
        .select_related("customer", "customer__owner")
        .order_by("-is_primary", "customer__full_name", "id")[:ORGANIZATION_MEMBERS_SHOWN]
    )
    children = list(
        Organization.objects.visible_to(user).filter(parent=org).order_by("name", "id")[:50]
    )
    notes = list(Note.objects.filter(organization=org).select_related("author")[:20])
    return Organization360(
        organization=org,
        members=members,
        contacts=present_contacts(user, list(org.contact_points.all())),
        addresses=list(org.addresses.all()),
        children=children,
        notes=notes,
    )


def organization_timeline(
    *,
    user: Any,
    organization: Organization,
    before: datetime.datetime | None = None,
    limit: int = TIMELINE_PAGE,
) -> list[TimelineEntry]:
    """Interactions with the organization or with its people (those `user` may see) and the
    organization's own notes, newest first: two bounded queries."""
    members = OrganizationMembership.objects.filter(organization=organization).values("customer_id")
    interactions = (
        Interaction.objects.visible_to(user)
        .filter(Q(organization=organization) | Q(customer_id__in=members))
        .select_related("staff", "customer")
    )
    notes = Note.objects.filter(organization=organization).select_related("author")
    if before is not None:
        interactions = interactions.filter(occurred_at__lt=before)
        notes = notes.filter(created_at__lt=before)
    entries = [
        TimelineEntry(
            kind="interaction",
            at=i.occurred_at,
            id=i.pk,
            title=i.subject or str(i.get_kind_display()),
            channel=i.channel,
            detail=i.body,
            staff=str(i.staff) if i.staff else "",
            obj=i,
        )
        for i in interactions.order_by("-occurred_at", "-id")[:limit]
    ]
    entries += [
        TimelineEntry(
            kind="note",
            at=n.created_at,
            id=n.pk,
            title=n.body[:80],
            detail=n.body,
            staff=str(n.author) if n.author else "",
            obj=n,
        )
        for n in notes.order_by("-created_at", "-id")[:limit]
    ]
    entries.sort(key=lambda e: (e.at, e.id), reverse=True)
    return entries[:limit]
