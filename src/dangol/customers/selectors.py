"""Read queries shared by pages and API endpoints: search, the customer 360, the timeline.

All of them start from ``visible_to(user)``; each runs a fixed number of queries whatever the
size of the customer's history.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from dangol.core.context import current_request_id
from dangol.core.masking import mask_email, mask_name, mask_phone
from dangol.core.models import PiiAccessLog, Tag, User
from dangol.core.normalize import (
    NormalizationError,
    email_match_key,
    national_phone,
    normalize_phone,
)
from dangol.core.visibility import Action, Scope, can_view_pii, object_type_of, scope_for
from dangol.customers.models import (
    Consent,
    ConsentEvent,
    ContactKind,
    ContactPoint,
    Customer,
    ExternalId,
    Interaction,
    Note,
    Organization,
    OrganizationMembership,
    RecordStatus,
)
from dangol.customers.name_index import FTS_TABLE
from dangol.customers.timeline import (
    TIMELINE_PAGE,
    TimelineCursor,
    TimelineEntry,
    customer_timeline,
    interaction_entry,
    merge,
    note_entry,
    older_than,
)


def customers_for(user: Any, *, include_archived: bool = False) -> QuerySet[Customer]:
    """The customers `user` may see (active ones unless told otherwise)."""
    qs = Customer.objects.visible_to(user)
    if not include_archived:
        qs = qs.filter(status=RecordStatus.ACTIVE)
    return qs


NAME_SUBSTRING_MIN = 3  # the trigram indexes need 3 characters; shorter names match by prefix
SEARCH_BRANCH_LIMIT = 1000  # ids taken from each kind of match (see `search_ids`)
NAME_FTS_TABLE = FTS_TABLE  # SQLite: FTS5 trigram index of full_name (see name_index)

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_PHONEISH = re.compile(r"[\d\s()+./-]+")
_TOP = "\U0010ffff"  # above every character: ``x <= s < x + _TOP`` is "s starts with x"


def _prefix(field_name: str, prefix: str) -> Q:
    """`field_name` starts with `prefix`, as a range a b-tree index serves on both engines
    (SQLite's LIKE is case-insensitive and skips the index; PostgreSQL here collates as C)."""
    return Q(**{f"{field_name}__gte": prefix, f"{field_name}__lt": prefix + _TOP})


def _name_contains(within: QuerySet[Customer], fragment: str) -> QuerySet[Customer]:
    """Customers of `within` whose name contains `fragment` (3+ characters), through the
    trigram index: pg_trgm GIN on PostgreSQL, an FTS5 trigram table on SQLite."""
    if connections[within.db].vendor == "sqlite":
        phrase = '"' + fragment.replace('"', '""') + '"'
        matches = RawSQL(  # noqa: S611 - a constant table name; the phrase is a parameter
            f"SELECT rowid FROM {NAME_FTS_TABLE} WHERE {NAME_FTS_TABLE} MATCH %s",  # noqa: S608
            (phrase,),
        )
        return within.filter(pk__in=matches)
    return within.filter(full_name__contains=fragment)


def search_ids(
    q: str, *, within: QuerySet[Customer] | None = None, limit: int | None = None
) -> set[int]:
    """The ids of the customers `q` finds, chosen by the shape of `q`:

    - digits (with phone punctuation): 4 digits are the last 4 of a phone, 9+ a whole number;
      an external id (member numbers are digits too);
    - Hangul: a name: the start of the full or given name ("김민", "민준"), and anywhere in the
      name from 3 characters on ("민준호", "김민준");
    - other text: an e-mail prefix, an external id, the start of a (romanized) name.

    Each kind of match is one indexed query taking at most `limit` ids (default
    ``SEARCH_BRANCH_LIMIT``: a broader query shows that many per kind); name matches are taken
    from `within` (the user's visible customers), so a narrow scope still finds its own. The
    caller filters ``pk__in`` the union: no OR across branches that defeats the indexes.
    """
    q = q.strip()
    if len(q) < 2:
        return set()
    base = within if within is not None else Customer.objects.all()
    compact = q.replace(" ", "")
    digits = re.sub(r"\D", "", q)
    branches: list[QuerySet[Any]] = []
    contacts = ContactPoint.objects.filter(customer__isnull=False)
    external = ExternalId.objects.filter(key=q, customer__isnull=False)
    if _PHONEISH.fullmatch(q) and digits:
        if len(digits) == 4:
            branches.append(contacts.filter(last4=digits).values_list("customer_id", flat=True))
        elif len(digits) >= 9:
            from dangol.core.normalize import NormalizationError, normalize_phone

            try:
                e164 = normalize_phone(q).e164
            except NormalizationError:
                pass
            else:
                branches.append(
                    contacts.filter(match_key=e164).values_list("customer_id", flat=True)
                )
        branches.append(external.values_list("customer_id", flat=True))
    elif _HANGUL.search(q):
        if len(compact) >= NAME_SUBSTRING_MIN:
            branches.append(_name_contains(base, compact).values_list("id", flat=True))
        else:
            for name_field in ("given_name", "full_name"):
                branches.append(
                    base.filter(_prefix(name_field, compact)).values_list("id", flat=True)
                )
    else:
        key = q.lower()
        if "@" in q or len(q) >= 3:
            branches.append(
                contacts.filter(kind=ContactKind.EMAIL)
                .filter(_prefix("match_key", key))
                .values_list("customer_id", flat=True)
            )
        branches.append(external.values_list("customer_id", flat=True))
        if "@" not in q:
            branches.append(base.filter(_prefix("full_name", q)).values_list("id", flat=True))
    bound = SEARCH_BRANCH_LIMIT if limit is None else limit
    ids: set[int] = set()
    for branch in branches:
        ids.update(i for i in branch[:bound] if i is not None)
    return ids


def search_filter(q: str, *, within: QuerySet[Customer] | None = None) -> Q:
    """What a search box means (see `search_ids`), as a filter: ``pk IN (the ids found)``.

    Runs the branch queries now. Pass `within` (the queryset being filtered) so that name
    matches come from the customers the user can see.
    """
    return Q(pk__in=sorted(search_ids(q, within=within)))


def search(*, user: Any, q: str, limit: int = 10) -> list[Customer]:
    """Customers matching `q`, best known first; empty for a query under 2 characters."""
    if len(q.strip()) < 2:
        return []
    visible = customers_for(user)
    ids = search_ids(q, within=visible)
    if not ids:
        return []
    qs = visible.filter(pk__in=sorted(ids))
    return list(qs.order_by("-last_purchase_at", "-id").select_related("owner")[:limit])


def search_organizations(
    *, user: Any, q: str, limit: int = 10, exclude: Collection[int] = ()
) -> list[Organization]:
    """Organizations whose name contains `q` (pg_trgm on PostgreSQL), or whose business number
    or an external id is `q`; never those whose ids are in `exclude`."""
    q = q.strip()
    if len(q) < 2:
        return []
    qs = Organization.objects.visible_to(user).filter(status=RecordStatus.ACTIVE)
    if exclude:
        qs = qs.exclude(pk__in=sorted(exclude))
    by_key = ExternalId.objects.filter(key=q, organization__isnull=False).values("organization_id")
    qs = qs.filter(Q(name__contains=q) | Q(business_number=q) | Q(pk__in=by_key))
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
                value = national_phone(cp.normalized)
        elif cp.kind == ContactKind.EMAIL:
            value = mask_email(cp.normalized)
        elif cp.kind == ContactKind.KAKAO:
            value = cp.normalized[:2] + "***"
        else:
            value = mask_phone(national_phone(cp.normalized))
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


MERGE_CHAIN_LIMIT = 20


def surviving_record_id(customer_id: int) -> int | None:
    """The id of the live record a merged-away customer now lives on, following merges of
    merges (#1 into #2, later #2 into #3: #3); None when the customer is not merged.

    One query per step of the chain (one for a customer that was never merged)."""
    return surviving_record_ids([customer_id])[customer_id]


def surviving_record_ids(customer_ids: Collection[int]) -> dict[int, int | None]:
    """`surviving_record_id` of many customers at once: one query per step of the longest
    merge chain among them, not per customer."""
    found: dict[int, int | None] = dict.fromkeys(customer_ids)
    at = {cid: cid for cid in found}  # each customer -> the record its chain has reached
    for _step in range(MERGE_CHAIN_LIMIT):
        onward = dict(
            Customer.objects.filter(
                pk__in=set(at.values()), status=RecordStatus.MERGED, merged_into__isnull=False
            ).values_list("pk", "merged_into_id")
        )
        at = {cid: onward[cur] for cid, cur in at.items() if cur in onward}
        if not at:
            break
        found.update(at)
    return found


@dataclass
class MergedInto:
    """Where a merged-away customer went: the live record's id, and the record itself when the
    user may see it (None otherwise: the page then names the id only, as the timeline does)."""

    survivor_id: int
    survivor: Customer | None


def merged_into(*, user: Any, customer: Customer) -> MergedInto | None:
    """The survivor of a merged-away customer, for its page; None when it is not merged."""
    if customer.status != RecordStatus.MERGED:
        return None
    survivor_id = surviving_record_id(customer.pk)
    if survivor_id is None:
        return None
    survivor = Customer.objects.visible_to(user).filter(pk=survivor_id).first()
    return MergedInto(survivor_id, survivor)


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


def timeline(
    *,
    user: Any,
    customer: Customer,
    before: TimelineCursor | datetime.datetime | None = None,
    kinds: tuple[str, ...] = (),
    channels: tuple[str, ...] = (),
    limit: int = TIMELINE_PAGE,
) -> list[TimelineEntry]:
    """The customer's newest `limit` timeline entries older than `before` (a cursor, or a
    time: strictly before it), across every registered source (only `kinds` when given),
    newest first. One bounded query per source: the cost does not grow with the history.
    See `dangol.customers.timeline`."""
    return customer_timeline(
        user=user, customer=customer, before=before, kinds=kinds, channels=channels, limit=limit
    )


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
    before: TimelineCursor | datetime.datetime | None = None,
    limit: int = TIMELINE_PAGE,
) -> list[TimelineEntry]:
    """Interactions with the organization or with its people (those `user` may see) and the
    organization's own notes, newest first, older than `before`: two bounded queries."""
    if isinstance(before, datetime.datetime):
        before = TimelineCursor(before)
    members = OrganizationMembership.objects.filter(organization=organization).values("customer_id")
    interactions = (
        Interaction.objects.visible_to(user)
        .filter(Q(organization=organization) | Q(customer_id__in=members))
        .select_related("staff", "customer")
    )
    notes = Note.objects.filter(organization=organization).select_related("author")
    interactions = older_than(interactions, before, kind="interaction", at_field="occurred_at")
    notes = older_than(notes, before, kind="note", at_field="created_at")
    entries = [interaction_entry(i) for i in interactions.order_by("-occurred_at", "-id")[:limit]]
    entries += [note_entry(n) for n in notes.order_by("-created_at", "-id")[:limit]]
    return merge(entries, limit)


# --- entering a new record: possible duplicates, owners, parents ------------------------------


class DuplicateReason(models.TextChoices):
    """Why an existing customer may be the person being entered."""

    MOBILE = "mobile", _("Same mobile number")
    EMAIL = "email", _("Same e-mail address")
    NAME_BIRTH = "name_birth", _("Same name and birth date")


DUPLICATES_SHOWN = 10
DUPLICATE_SCAN = 200  # ids taken from each kind of match before the visibility filter


@dataclass
class PossibleDuplicate:
    """An existing customer as the duplicate warning shows them to a given user."""

    customer: Customer
    name: str  # masked for roles without the PII permission
    mobile: str  # always masked, as in the customer list
    reasons: list[DuplicateReason]


def possible_duplicates(
    *,
    user: Any,
    full_name: str = "",
    birth_date: datetime.date | None = None,
    mobile: str = "",
    email: str = "",
    limit: int = DUPLICATES_SHOWN,
) -> list[PossibleDuplicate]:
    """Active customers `user` may see who may be the person being entered: the same mobile
    number or e-mail address (compared by match key, as identity resolution does), or the same
    name (as stored: see ``services.resolve_names``) and birth date. Most reasons first.

    Values that do not normalize are skipped (the service reports them). At most four
    queries, whatever the number of matches."""
    keys: dict[str, str] = {}
    try:
        if mobile.strip():
            keys[ContactKind.MOBILE] = normalize_phone(mobile).e164
    except NormalizationError:
        pass
    try:
        if email.strip():
            keys[ContactKind.EMAIL] = email_match_key(email)
    except NormalizationError:
        pass
    reasons: dict[int, set[DuplicateReason]] = defaultdict(set)
    if keys:
        # By the match_key index; who may see them is decided below, on the few ids found.
        rows = ContactPoint.objects.filter(
            match_key__in=sorted(set(keys.values())),
            kind__in=sorted(keys),
            customer__isnull=False,
        ).values_list("customer_id", "kind", "match_key")[:DUPLICATE_SCAN]
        for customer_id, kind, key in rows:
            if keys.get(kind) == key:
                reasons[customer_id].add(DuplicateReason(kind))
    visible = customers_for(user)
    if full_name and birth_date:
        same = visible.filter(full_name=full_name, birth_date=birth_date)
        for customer_id in same.values_list("pk", flat=True)[:DUPLICATE_SCAN]:
            reasons[customer_id].add(DuplicateReason.NAME_BIRTH)
    if not reasons:
        return []
    found = list(visible.filter(pk__in=sorted(reasons)).select_related("owner"))
    found.sort(key=lambda c: (-len(reasons[c.pk]), -c.pk))
    found = found[:limit]
    prefetch_related_objects(
        found,
        Prefetch(
            "contact_points",
            queryset=ContactPoint.objects.filter(kind=ContactKind.MOBILE).order_by(
                "-is_primary", "id"
            ),
            to_attr="mobiles",
        ),
    )
    show_names = can_view_pii(user)
    order = list(DuplicateReason)
    return [
        PossibleDuplicate(
            customer=c,
            name=c.full_name if show_names else mask_name(c.full_name or ""),
            mobile=mask_phone(national_phone(c.mobiles[0].normalized)) if c.mobiles else "",  # type: ignore[attr-defined]
            reasons=sorted(reasons[c.pk], key=order.index),
        )
        for c in found
    ]


def assignable_owners(
    user: Any, model: type[models.Model], action: Action = Action.ADD, keep: int | None = None
) -> QuerySet[User]:
    """Whom `user` may make the owner of a `model` record they `action`: anyone active with
    the scope "all records", their team and themselves with "team", themselves with "own"
    (a record so given stays visible to `user`); and the user `keep` (the current owner)."""
    users = User.objects.select_related("team").order_by("display_name", "id")
    scope = (
        Scope.ALL
        if getattr(user, "is_superuser", False)
        else scope_for(user, object_type_of(model), action)
    )
    if scope == Scope.ALL:
        allowed = Q(is_active=True)
    elif scope == Scope.TEAM and user.team_id:
        allowed = Q(is_active=True, team_id=user.team_id) | Q(pk=user.pk)
    elif scope is not None:
        allowed = Q(pk=user.pk)
    else:
        return users.none()
    return users.filter(allowed | Q(pk=keep) if keep else allowed)


def may_leave_unowned(user: Any, model: type[models.Model], action: Action = Action.ADD) -> bool:
    """Whether `user` may leave a `model` record they `action` without an owner: only with the
    scope "all records" (the new-record forms make an "own" or "team" user the owner)."""
    return bool(getattr(user, "is_superuser", False)) or (
        scope_for(user, object_type_of(model), action) == Scope.ALL
    )


def organization_descendant_ids(organization: Organization) -> set[int]:
    """The ids of the organizations below `organization` (its subsidiaries, theirs ...), in one
    recursive query; a cycle already in the data ends it (UNION keeps each id once)."""
    connection = connections[Organization.objects.db]
    table = connection.ops.quote_name(Organization._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE tree(id) AS (SELECT id FROM {table} WHERE parent_id = %s "  # noqa: S608
            f"UNION SELECT o.id FROM {table} o JOIN tree t ON o.parent_id = t.id) "
            "SELECT id FROM tree",
            [organization.pk],
        )
        return {row[0] for row in cursor.fetchall()}
