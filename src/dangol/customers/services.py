"""Every state change of the customer base: one transaction each, audited, events after commit.

Views, API handlers, imports, jobs and the CLI all call these functions; none writes the
customer models directly.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.core import audit, events
from dangol.core.customfields import validate_custom_fields
from dangol.core.errors import Conflict, FieldError, ServiceError, ValidationFailed
from dangol.core.models import Team, User
from dangol.core.normalize import (
    NormalizationError,
    PhoneKind,
    clean_name,
    email_match_key,
    full_name,
    normalize_business_number,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    split_name,
)
from dangol.core.services import tag_objects, untag_objects
from dangol.core.visibility import Action
from dangol.customers import changefeed, selectors
from dangol.customers.models import (
    CONSENT_RECONFIRM_YEARS,
    Address,
    AddressKind,
    ChangeOp,
    Consent,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    ConsentStatus,
    ContactKind,
    ContactPoint,
    Customer,
    Direction,
    ExternalId,
    Gender,
    Interaction,
    InteractionChannel,
    InteractionKind,
    LifecycleStage,
    Note,
    Organization,
    OrganizationMembership,
    OrganizationSize,
    RecordStatus,
    Region,
)

CUSTOMER_FIELDS = (
    "family_name",
    "given_name",
    "full_name",
    "birth_date",
    "birth_date_is_lunar",
    "gender",
    "lifecycle_stage",
    "region",
    "owner",
    "team",
    "source",
    "signup_channel",
    "custom_fields",
)
ORGANIZATION_FIELDS = (
    "name",
    "parent",
    "business_number",
    "industry",
    "size",
    "website",
    "region",
    "owner",
    "team",
    "source",
    "custom_fields",
)


class CustomerMerged(ServiceError):
    """New data for a customer that was merged into another record (422, ``customer_merged``).

    A merged-away record is a signpost to its survivor: calls, visits, notes, consents, tasks,
    contact points and edits belong on the survivor, which the message names."""

    def __init__(self, customer_id: int, survivor_id: int | None) -> None:
        message = (
            _("This customer was merged into #%(id)s; record it there.") % {"id": survivor_id}
            if survivor_id is not None
            else _("This customer was merged into another record; record it there.")
        )
        super().__init__(
            message=message,
            code="customer_merged",
            errors=[FieldError("customer", "customer_merged", message)],
            status=422,
        )
        self.customer_id = customer_id
        self.survivor_id = survivor_id


def ensure_not_merged(customer: Customer | None) -> None:
    """Refuse (`CustomerMerged`) to attach anything to a customer merged into another record.

    Every service that adds to or changes a customer calls this first, inside its transaction:
    it reads the status from the database (not the caller's copy) and locks the row (FOR NO KEY
    UPDATE on PostgreSQL), so a merge running at the same time either commits first, and this
    refuses, or waits until this write has committed, and then moves what it wrote. `unmerge`
    is the one writer that works on merged records; it does not call this."""
    if customer is None:
        return
    status = (
        Customer.objects.select_for_update(no_key=True)
        .filter(pk=customer.pk)
        .values_list("status", flat=True)
        .first()
    )
    if status == RecordStatus.MERGED:
        raise CustomerMerged(customer.pk, selectors.surviving_record_id(customer.pk))


def ensure_none_merged(ids: Sequence[int]) -> None:
    """`ensure_not_merged` for many customers at once (one query): refused when any is merged."""
    first = (
        Customer.objects.filter(pk__in=ids, status=RecordStatus.MERGED)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if first is not None:
        raise CustomerMerged(first, selectors.surviving_record_id(first))


@dataclass
class ContactInput:
    """A contact point to add: kind and value as typed."""

    kind: str
    value: str
    is_primary: bool = False
    label: str = ""


@dataclass
class CustomerInput:
    """Everything `create_customer` accepts; also what imports and the API build."""

    family_name: str = ""
    given_name: str = ""
    full_name: str = ""
    birth_date: datetime.date | None = None
    birth_date_is_lunar: bool = False
    gender: str = ""
    lifecycle_stage: str = LifecycleStage.LEAD
    region: str = ""
    owner: User | None = None
    team: Team | None = None
    source: str = ""
    signup_channel: str = ""
    custom_fields: dict[str, Any] = field(default_factory=dict)
    contacts: list[ContactInput] = field(default_factory=list)
    external_ids: list[tuple[str, str]] = field(default_factory=list)


# --- validation helpers ---------------------------------------------------------------------


def _check_choice(errors: list[FieldError], name: str, value: str, choices: type) -> None:
    if value not in choices.values:  # type: ignore[attr-defined]
        errors.append(FieldError(name, "invalid_choice", _("Not a valid choice.")))


def resolve_names(family: str, given: str, full: str) -> tuple[str, str, str]:
    """(family, given, full) as stored: cleaned; a full name alone is split, parts make the full
    name (김 + 민준 → 김민준)."""
    family, given, full = clean_name(family), clean_name(given), clean_name(full)
    if full and not (family or given):
        family, given = split_name(full)
    if family or given:
        full = full_name(family, given)
    return family, given, full


def _validate_customer(data: dict[str, Any], errors: list[FieldError]) -> None:
    if not data.get("full_name"):
        errors.append(FieldError("full_name", "required", _("Enter the customer's name.")))
    _check_choice(errors, "gender", data.get("gender", ""), Gender)
    _check_choice(errors, "lifecycle_stage", data.get("lifecycle_stage", ""), LifecycleStage)
    if data.get("region"):
        _check_choice(errors, "region", data["region"], Region)
    birth = data.get("birth_date")
    if birth and (birth > timezone.localdate() or birth.year < 1900):
        errors.append(FieldError("birth_date", "out_of_range", _("Enter a real birth date.")))
    for name in ("family_name", "given_name"):
        if len(data.get(name) or "") > 100:
            errors.append(FieldError(name, "too_long", _("This name is too long.")))


def _normalized_contact(kind: str, value: str) -> dict[str, Any]:
    """The stored columns of a contact point, or NormalizationError."""
    if kind == ContactKind.EMAIL:
        normalized = normalize_email(value)
        return {
            "normalized": normalized,
            "match_key": email_match_key(normalized),
            "last4": "",
            "is_legacy": False,
        }
    if kind in (ContactKind.MOBILE, ContactKind.PHONE, ContactKind.FAX):
        phone = normalize_phone(value)
        if kind == ContactKind.MOBILE and phone.kind == PhoneKind.LANDLINE:
            raise NormalizationError(
                "not_mobile", _("This is a landline number: enter it as a phone, not a mobile.")
            )
        return {
            "normalized": phone.e164,
            "match_key": phone.e164,
            "last4": phone.last4,
            "is_legacy": phone.is_legacy,
        }
    if kind == ContactKind.KAKAO:
        text = value.strip()
        if not text:
            raise NormalizationError("required", _("Enter the KakaoTalk ID."))
        return {"normalized": text, "match_key": text.lower(), "last4": "", "is_legacy": False}
    raise NormalizationError("invalid_choice", _("Unknown kind of contact point."))


def _prepare_contacts(
    contacts: Sequence[ContactInput], errors: list[FieldError]
) -> list[tuple[ContactInput, dict[str, Any]]]:
    prepared = []
    for i, c in enumerate(contacts):
        if c.kind not in ContactKind.values:
            errors.append(
                FieldError(f"contacts[{i}].kind", "invalid_choice", _("Not a valid choice."))
            )
            continue
        try:
            prepared.append((c, _normalized_contact(c.kind, c.value)))
        except NormalizationError as exc:
            errors.append(FieldError(f"contacts[{i}].value", exc.code, str(exc.message)))
    return prepared


# --- owners ---------------------------------------------------------------------------------


def _may_give(actor: User, model: type[models.Model], owner: User | None, action: Action) -> bool:
    if owner is None:
        return selectors.may_leave_unowned(actor, model, action)
    return selectors.assignable_owners(actor, model, action).filter(pk=owner.pk).exists()


def _owner_errors(
    actor: Any,
    model: type[models.Model],
    owner: User | None,
    action: Action,
    current_id: int | None,
) -> list[FieldError]:
    """What `check_owner` refuses, as field errors (for services that report all at once);
    `current_id` is the id of the record's owner now (a new record has none to keep)."""
    unchanged = action == Action.CHANGE and (owner.pk if owner else None) == current_id
    if not isinstance(actor, User) or unchanged or _may_give(actor, model, owner, action):
        return []
    return [FieldError("owner", "owner_not_allowed", _("You cannot make this person the owner."))]


def check_owner(
    actor: Any,
    model: type[models.Model],
    owner: User | None,
    *,
    action: Action,
    current: User | None = None,
) -> None:
    """Refuse (ValidationFailed on ``owner``) to give a `model` record that `actor` `action`s
    to `owner` when the actor may not: see ``selectors.assignable_owners`` and, for "nobody",
    ``selectors.may_leave_unowned``. Keeping the `current` owner of a record changed is always
    allowed; without a user (system jobs, imports, the demo loader) nothing is checked."""
    errors = _owner_errors(actor, model, owner, action, current.pk if current else None)
    if errors:
        raise ValidationFailed(errors)


# --- customers ------------------------------------------------------------------------------


@transaction.atomic
def create_customer(*, data: CustomerInput, actor: Any) -> Customer:
    """Create a person with their contact points and external ids, all or nothing."""
    family, given, full = resolve_names(data.family_name, data.given_name, data.full_name)
    values: dict[str, Any] = {
        "family_name": family,
        "given_name": given,
        "full_name": full,
        "birth_date": data.birth_date,
        "birth_date_is_lunar": data.birth_date_is_lunar,
        "gender": data.gender or "",
        "lifecycle_stage": data.lifecycle_stage or LifecycleStage.LEAD,
        "region": data.region or "",
        "owner": data.owner,
        "team": data.team or (data.owner.team if data.owner else None),
        "source": data.source,
        "signup_channel": data.signup_channel,
    }
    errors = _owner_errors(actor, Customer, data.owner, Action.ADD, None)
    _validate_customer(values, errors)
    contacts = _prepare_contacts(data.contacts, errors)
    try:
        values["custom_fields"] = validate_custom_fields("customers.customer", data.custom_fields)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    for i, (source, key) in enumerate(data.external_ids):
        if not source or not key:
            errors.append(FieldError(f"external_ids[{i}]", "required", _("Give source and key.")))
    if errors:
        raise ValidationFailed(errors)
    if data.external_ids:
        q = models.Q()
        for source, key in data.external_ids:
            q |= models.Q(source=source, key=key)
        if ExternalId.objects.filter(q, customer__isnull=False).exists():
            raise Conflict(
                _("A customer with this external id already exists."), "duplicate_external_id"
            )

    customer = Customer.objects.create(**values)
    _insert_contacts(customer, contacts)
    ExternalId.objects.bulk_create(
        [ExternalId(customer=customer, source=s, key=k) for s, k in data.external_ids]
    )
    audit.record(actor, "customer.created", customer, after=audit.snapshot(customer))
    changefeed.announce(customer, ChangeOp.CREATED)
    return customer


def _insert_contacts(
    customer: Customer, contacts: list[tuple[ContactInput, dict[str, Any]]]
) -> list[ContactPoint]:
    seen: set[tuple[str, str]] = set()
    rows: list[ContactPoint] = []
    primary_kinds: set[str] = set()
    for c, norm in contacts:
        if (c.kind, norm["match_key"]) in seen:
            continue
        seen.add((c.kind, norm["match_key"]))
        primary = c.is_primary or c.kind not in primary_kinds
        if primary:
            primary_kinds.add(c.kind)
        rows.append(
            ContactPoint(
                customer=customer,
                kind=c.kind,
                value=c.value.strip(),
                label=c.label,
                is_primary=primary,
                **norm,
            )
        )
    return ContactPoint.objects.bulk_create(rows)


@transaction.atomic
def update_customer(*, customer: Customer, changes: dict[str, Any], actor: Any) -> Customer:
    """Change profile fields (only those in `changes`); custom fields merge over the old ones."""
    unknown = set(changes) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ValidationFailed(
            [
                FieldError(k, "unknown_field", _("This field cannot be changed."))
                for k in sorted(unknown)
            ]
        )
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.status == RecordStatus.MERGED:
        raise CustomerMerged(customer.pk, selectors.surviving_record_id(customer.pk))
    before = audit.snapshot(customer)
    values = {k: getattr(customer, k) for k in CUSTOMER_FIELDS}
    values.update(changes)
    if {"family_name", "given_name", "full_name"} & set(changes):
        if "full_name" in changes and not ({"family_name", "given_name"} & set(changes)):
            values["family_name"], values["given_name"] = "", ""
        values["family_name"], values["given_name"], values["full_name"] = resolve_names(
            values["family_name"], values["given_name"], values["full_name"]
        )
    errors: list[FieldError] = []
    if "owner" in changes:
        errors += _owner_errors(actor, Customer, changes["owner"], Action.CHANGE, customer.owner_id)
    _validate_customer(values, errors)
    if "custom_fields" in changes:
        try:
            values["custom_fields"] = validate_custom_fields(
                "customers.customer", changes["custom_fields"], current=customer.custom_fields
            )
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if "owner" in changes and "team" not in changes and values["owner"] is not None:
        values["team"] = values["owner"].team
    for k, v in values.items():
        setattr(customer, k, v)
    customer.updated_at = timezone.now()
    customer.save()
    old, new = audit.diff(before, audit.snapshot(customer))
    old.pop("updated_at", None)
    new.pop("updated_at", None)
    if new:
        audit.record(actor, "customer.updated", customer, before=old, after=new)
        changefeed.announce(customer, ChangeOp.UPDATED, changed=sorted(new))
    return customer


@transaction.atomic
def assign_owner(*, customers: Iterable[Customer], owner: User | None, actor: Any) -> int:
    """Give many customers a new owner (and the owner's team) in one statement.

    Refused as a whole (see `check_owner`) when `actor` may not give them to `owner`, unless
    every one of them belongs to `owner` already."""
    ids = [c.pk for c in customers]
    ensure_none_merged(ids)
    if (
        isinstance(actor, User)
        and Customer.objects.filter(pk__in=ids).exclude(owner=owner).exists()
    ):
        check_owner(actor, Customer, owner, action=Action.CHANGE)
    now = timezone.now()
    count = Customer.objects.filter(pk__in=ids).update(
        owner=owner, team=owner.team if owner else None, updated_at=now
    )
    changefeed.record("customer", ids, ChangeOp.UPDATED)
    for c in Customer.objects.filter(pk__in=ids):
        audit.record(
            actor, "customer.owner_assigned", c, after={"owner_id": owner.pk if owner else None}
        )
        events.emit("customer.updated", c, changed=["owner", "team"])
    return count


# --- tags -------------------------------------------------------------------------------------


@dataclass
class Tagging:
    """What `tag_customers` or `untag_customers` did: the customers changed, the merged-away
    ones skipped (each with its `CustomerMerged` error, naming the survivor) and the number of
    tag links added or removed."""

    customers: list[Customer]
    merged: list[CustomerMerged]
    links: int


def _live_and_merged(
    customers: Iterable[Customer],
) -> tuple[list[Customer], list[CustomerMerged]]:
    """A batch split by the status in the database: the live customers, and a `CustomerMerged`
    for each merged-away one. The rows are locked as `ensure_not_merged` locks one (in id order,
    as a merge takes them), so a merge running at the same time cannot slip in between."""
    chosen = {c.pk: c for c in customers}
    status = dict(
        Customer.objects.select_for_update(no_key=True)
        .filter(pk__in=chosen)
        .order_by("pk")
        .values_list("pk", "status")
    )
    merged_ids = sorted(pk for pk, s in status.items() if s == RecordStatus.MERGED)
    survivors = selectors.surviving_record_ids(merged_ids)
    live = [c for pk, c in chosen.items() if pk in status and pk not in survivors]
    return live, [CustomerMerged(pk, survivors[pk]) for pk in merged_ids]


@transaction.atomic
def tag_customers(*, customers: Iterable[Customer], names: Iterable[str], actor: Any) -> Tagging:
    """Put tags on customers (the customer list's bulk action, and any other way customers get
    tagged: ``core.services.tag_objects`` is generic and knows nothing of merges).

    A merged-away record takes no tag (its tags belong on the survivor). In a batch it is
    skipped and reported (`Tagging.merged`), and the others are tagged: one stale record in a
    selection of hundreds does not hold the rest back, and nothing is written on it. A caller
    tagging one customer refuses with ``tagging.merged[0]`` (422 ``customer_merged``)."""
    live, merged = _live_and_merged(customers)
    return Tagging(live, merged, tag_objects(objs=live, names=names, actor=actor))


@transaction.atomic
def untag_customers(*, customers: Iterable[Customer], names: Iterable[str], actor: Any) -> Tagging:
    """Take tags off customers; merged-away records are skipped and reported as in
    `tag_customers` (a merged record is kept as it was, for an unmerge to give back)."""
    live, merged = _live_and_merged(customers)
    return Tagging(live, merged, untag_objects(objs=live, names=names, actor=actor))


@transaction.atomic
def archive_customer(*, customer: Customer, actor: Any) -> Customer:
    """Archive a customer: hidden from default lists, kept with all history."""
    ensure_not_merged(customer)
    if customer.status != RecordStatus.ACTIVE:
        raise Conflict(_("Only an active customer can be archived."), "not_active")
    customer.status = RecordStatus.ARCHIVED
    customer.updated_at = timezone.now()
    customer.save(update_fields=["status", "updated_at"])
    audit.record(actor, "customer.archived", customer, after={"status": customer.status})
    changefeed.announce(customer, ChangeOp.UPDATED, event="customer.archived", changed=["status"])
    return customer


@transaction.atomic
def restore_customer(*, customer: Customer, actor: Any) -> Customer:
    """Bring an archived customer back. The status is the database's, not the caller's copy:
    a copy loaded while the record was archived must not make a record merged since active."""
    ensure_not_merged(customer)
    status = Customer.objects.filter(pk=customer.pk).values_list("status", flat=True).first()
    if status != RecordStatus.ARCHIVED:
        raise Conflict(_("Only an archived customer can be restored."), "not_archived")
    customer.status = RecordStatus.ACTIVE
    customer.updated_at = timezone.now()
    customer.save(update_fields=["status", "updated_at"])
    audit.record(actor, "customer.restored", customer, after={"status": customer.status})
    changefeed.announce(customer, ChangeOp.UPDATED, changed=["status"])
    return customer


# --- contact points, addresses, external ids -----------------------------------------------


@transaction.atomic
def add_contact_point(
    *,
    customer: Customer | None = None,
    organization: Organization | None = None,
    kind: str,
    value: str,
    actor: Any,
    is_primary: bool = False,
    label: str = "",
) -> ContactPoint:
    """Add a phone, e-mail or messenger id, normalized; the first of its kind is primary."""
    if (customer is None) == (organization is None):
        raise ValidationFailed.single("owner", "required", _("Give a customer or an organization."))
    ensure_not_merged(customer)
    errors: list[FieldError] = []
    prepared = _prepare_contacts([ContactInput(kind, value, is_primary, label)], errors)
    if errors:
        raise ValidationFailed(
            [FieldError(e.field.split(".")[-1], e.code, e.message) for e in errors]
        )
    norm = prepared[0][1]
    owner_filter = {"customer": customer} if customer else {"organization": organization}
    existing = ContactPoint.objects.filter(**owner_filter, kind=kind)
    if existing.filter(match_key=norm["match_key"]).exists():
        raise Conflict(_("This contact point is already recorded."), "duplicate_contact")
    is_primary = is_primary or not existing.exists()
    if is_primary:
        existing.update(is_primary=False)
    cp = ContactPoint.objects.create(
        **owner_filter, kind=kind, value=value.strip(), label=label, is_primary=is_primary, **norm
    )
    audit.record(actor, "contact_point.added", cp, after=audit.snapshot(cp))
    if customer:
        _touch(customer)
        changefeed.announce(customer, ChangeOp.UPDATED, changed=["contact_points"])
    return cp


@transaction.atomic
def verify_contact_point(*, contact_point: ContactPoint, actor: Any) -> ContactPoint:
    """Mark a contact point verified (the customer answered on it)."""
    contact_point.verified_at = timezone.now()
    contact_point.save(update_fields=["verified_at"])
    audit.record(actor, "contact_point.verified", contact_point)
    return contact_point


def _siblings(contact_point: ContactPoint) -> models.QuerySet[ContactPoint]:
    """The contact points of the same kind and owner (including this one)."""
    owner = (
        {"customer_id": contact_point.customer_id}
        if contact_point.customer_id
        else {"organization_id": contact_point.organization_id}
    )
    return ContactPoint.objects.filter(kind=contact_point.kind, **owner)


@transaction.atomic
def set_primary_contact_point(*, contact_point: ContactPoint, actor: Any) -> ContactPoint:
    """Make this the primary contact point of its kind."""
    _siblings(contact_point).exclude(pk=contact_point.pk).update(is_primary=False)
    contact_point.is_primary = True
    contact_point.save(update_fields=["is_primary"])
    audit.record(actor, "contact_point.made_primary", contact_point)
    return contact_point


@transaction.atomic
def remove_contact_point(*, contact_point: ContactPoint, actor: Any) -> None:
    """Delete a contact point; another of the same kind becomes primary."""
    before = audit.snapshot(contact_point)
    siblings = _siblings(contact_point).exclude(pk=contact_point.pk)
    audit.record(actor, "contact_point.removed", contact_point, before=before)
    contact_point.delete()
    if before["is_primary"] and (nxt := siblings.order_by("created_at", "id").first()):
        nxt.is_primary = True
        nxt.save(update_fields=["is_primary"])


@transaction.atomic
def add_address(
    *,
    customer: Customer | None = None,
    organization: Organization | None = None,
    line1: str,
    actor: Any,
    line2: str = "",
    postal_code: str = "",
    region: str = "",
    city: str = "",
    kind: str = AddressKind.HOME,
    is_primary: bool = False,
) -> Address:
    """Add a postal address (도로명주소 with its 우편번호, as ``normalize_postal_code`` keeps it:
    five digits, or an old ``135-080``)."""
    errors: list[FieldError] = []
    if (customer is None) == (organization is None):
        errors.append(FieldError("owner", "required", _("Give a customer or an organization.")))
    if not line1.strip():
        errors.append(FieldError("line1", "required", _("Enter the address.")))
    if postal_code.strip():
        try:
            postal_code = normalize_postal_code(postal_code)
        except NormalizationError as exc:
            errors.append(FieldError("postal_code", exc.code, str(exc.message)))
    else:
        postal_code = ""
    if region and region not in Region.values:
        errors.append(FieldError("region", "invalid_choice", _("Not a valid choice.")))
    if kind not in AddressKind.values:
        errors.append(FieldError("kind", "invalid_choice", _("Not a valid choice.")))
    if errors:
        raise ValidationFailed(errors)
    ensure_not_merged(customer)
    owner_filter = {"customer": customer} if customer else {"organization": organization}
    existing = Address.objects.filter(**owner_filter)
    is_primary = is_primary or not existing.exists()
    if is_primary:
        existing.update(is_primary=False)
    address = Address.objects.create(
        **owner_filter,
        kind=kind,
        line1=clean_name(line1),
        line2=clean_name(line2),
        postal_code=postal_code,
        region=region,
        city=clean_name(city),
        is_primary=is_primary,
    )
    audit.record(actor, "address.added", address, after=audit.snapshot(address))
    if customer:
        _touch(customer)
        changefeed.announce(customer, ChangeOp.UPDATED, changed=["addresses"])
    return address


@transaction.atomic
def add_external_id(
    *,
    customer: Customer | None = None,
    organization: Organization | None = None,
    source: str,
    key: str,
    actor: Any,
) -> ExternalId:
    """Record the key of this customer/organization in another system."""
    if not source.strip() or not key.strip():
        raise ValidationFailed.single("key", "required", _("Give source and key."))
    ensure_not_merged(customer)
    try:
        with transaction.atomic():
            ext = ExternalId.objects.create(
                customer=customer, organization=organization, source=source.strip(), key=key.strip()
            )
    except IntegrityError:
        raise Conflict(
            _("This external id belongs to another record."), "duplicate_external_id"
        ) from None
    audit.record(actor, "external_id.added", ext, after=audit.snapshot(ext))
    return ext


def _touch(customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())


# --- consents -------------------------------------------------------------------------------


def _set_consent(
    *,
    customer: Customer,
    channel: str,
    purpose: str,
    status: ConsentStatus,
    actor: Any,
    night_time: bool,
    source: str,
    evidence: str,
    at: datetime.datetime | None,
) -> Consent:
    errors: list[FieldError] = []
    if channel not in ConsentChannel.values:
        errors.append(FieldError("channel", "invalid_choice", _("Not a valid choice.")))
    if purpose not in ConsentPurpose.values:
        errors.append(FieldError("purpose", "invalid_choice", _("Not a valid choice.")))
    at = at or timezone.now()
    if at > timezone.now() + datetime.timedelta(minutes=5):
        errors.append(FieldError("at", "in_future", _("A consent cannot be given in the future.")))
    if errors:
        raise ValidationFailed(errors)
    ensure_not_merged(customer)
    consent, _created = Consent.objects.select_for_update().get_or_create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        defaults={"status": status, "updated_at": at},
    )
    before = audit.snapshot(consent)
    consent.status = status
    consent.source = source
    consent.evidence = evidence
    consent.updated_at = at
    if status == ConsentStatus.GRANTED:
        consent.granted_at = at
        consent.withdrawn_at = None
        consent.night_time = night_time
        local = timezone.localtime(at).date()
        try:
            consent.reconfirm_due = local.replace(year=local.year + CONSENT_RECONFIRM_YEARS)
        except ValueError:  # 29 February
            consent.reconfirm_due = local.replace(year=local.year + CONSENT_RECONFIRM_YEARS, day=28)
    else:
        consent.withdrawn_at = at
        consent.night_time = False
    consent.save()
    ConsentEvent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        status=status,
        night_time=consent.night_time,
        at=at,
        source=source,
        evidence=evidence,
        actor=actor if isinstance(actor, User) else None,
    )
    audit.record(actor, f"consent.{status}", consent, before=before, after=audit.snapshot(consent))
    events.emit(
        "consent.changed",
        customer,
        channel=channel,
        purpose=purpose,
        status=str(status),
        night_time=consent.night_time,
    )
    return consent


@transaction.atomic
def grant_consent(
    *,
    customer: Customer,
    channel: str,
    actor: Any,
    purpose: str = ConsentPurpose.MARKETING,
    night_time: bool = False,
    source: str = "",
    evidence: str = "",
    at: datetime.datetime | None = None,
) -> Consent:
    """Record that the customer agreed to `purpose` messages on `channel` (수신동의).

    The consent must be reconfirmed two years later; night-time (21:00–08:00) sending needs
    `night_time`.
    """
    return _set_consent(
        customer=customer,
        channel=channel,
        purpose=purpose,
        status=ConsentStatus.GRANTED,
        actor=actor,
        night_time=night_time,
        source=source,
        evidence=evidence,
        at=at,
    )


@transaction.atomic
def enter_customer(
    *,
    data: CustomerInput,
    actor: Any,
    consent_channels: Sequence[str] = (),
    night_time: bool = False,
    consent_source: str = "",
    evidence: str = "",
) -> Customer:
    """A customer entered by hand (the staff app's new-customer page), with the marketing
    consents they gave while being entered: the person and their consents, or nothing."""
    customer = create_customer(data=data, actor=actor)
    for channel in consent_channels:
        grant_consent(
            customer=customer,
            channel=channel,
            night_time=night_time,
            source=consent_source,
            evidence=evidence,
            actor=actor,
        )
    return customer


@transaction.atomic
def withdraw_consent(
    *,
    customer: Customer,
    channel: str,
    actor: Any,
    purpose: str = ConsentPurpose.MARKETING,
    source: str = "",
    evidence: str = "",
    at: datetime.datetime | None = None,
) -> Consent:
    """Record that the customer withdrew consent (수신거부); effective at once."""
    return _set_consent(
        customer=customer,
        channel=channel,
        purpose=purpose,
        status=ConsentStatus.WITHDRAWN,
        actor=actor,
        night_time=False,
        source=source,
        evidence=evidence,
        at=at,
    )


# --- interactions and notes ----------------------------------------------------------------


@transaction.atomic
def record_interaction(
    *,
    customer: Customer,
    channel: str,
    kind: str,
    actor: Any,
    direction: str = Direction.INBOUND,
    subject: str = "",
    body: str = "",
    occurred_at: datetime.datetime | None = None,
    staff: User | None = None,
    organization: Organization | None = None,
    related: models.Model | None = None,
    source: str = "",
    external_id: str = "",
) -> Interaction:
    """Add one contact to the customer's timeline (a call, a visit, a chat, an e-mail ...)."""
    errors: list[FieldError] = []
    if channel not in InteractionChannel.values:
        errors.append(FieldError("channel", "invalid_choice", _("Not a valid choice.")))
    if kind not in InteractionKind.values:
        errors.append(FieldError("kind", "invalid_choice", _("Not a valid choice.")))
    if direction not in Direction.values:
        errors.append(FieldError("direction", "invalid_choice", _("Not a valid choice.")))
    if len(subject) > 200:
        errors.append(FieldError("subject", "too_long", _("At most 200 characters.")))
    occurred_at = occurred_at or timezone.now()
    if occurred_at > timezone.now() + datetime.timedelta(days=1):
        errors.append(FieldError("occurred_at", "in_future", _("This is in the future.")))
    if errors:
        raise ValidationFailed(errors)
    ensure_not_merged(customer)
    if external_id and Interaction.objects.filter(source=source, external_id=external_id).exists():
        raise Conflict(_("This interaction was already recorded."), "duplicate_external_id")
    interaction = Interaction.objects.create(
        customer=customer,
        organization=organization,
        channel=channel,
        kind=kind,
        direction=direction,
        subject=subject.strip(),
        body=body.strip(),
        occurred_at=occurred_at,
        staff=staff if staff is not None else (actor if isinstance(actor, User) else None),
        related_type=ContentType.objects.get_for_model(related) if related else None,
        related_id=related.pk if related else None,
        source=source,
        external_id=external_id,
    )
    audit.record(actor, "interaction.recorded", interaction, after=audit.snapshot(interaction))
    events.emit(
        "interaction.recorded", interaction, customer_id=customer.pk, channel=channel, kind=kind
    )
    return interaction


@transaction.atomic
def add_note(
    *,
    body: str,
    actor: Any,
    customer: Customer | None = None,
    organization: Organization | None = None,
    pinned: bool = False,
) -> Note:
    """Write a note on a customer or organization."""
    if (customer is None) == (organization is None):
        raise ValidationFailed.single("owner", "required", _("Give a customer or an organization."))
    if not body.strip():
        raise ValidationFailed.single("body", "required", _("Write something."))
    ensure_not_merged(customer)
    note = Note.objects.create(
        customer=customer,
        organization=organization,
        body=body.strip(),
        pinned=pinned,
        author=actor if isinstance(actor, User) else None,
    )
    audit.record(actor, "note.added", note, after={"body": note.body})
    return note


# --- organizations -------------------------------------------------------------------------


def _validate_organization(
    values: dict[str, Any], errors: list[FieldError], pk: int | None, stored_number: str = ""
) -> None:
    if not (values.get("name") or "").strip():
        errors.append(FieldError("name", "required", _("Enter the organization's name.")))
    if values.get("size"):
        _check_choice(errors, "size", values["size"], OrganizationSize)
    if values.get("region"):
        _check_choice(errors, "region", values["region"], Region)
    bn = (values.get("business_number") or "").strip()
    if bn and bn != stored_number:  # a number stored before the check digit was tested stays
        try:  # ten digits with the right check digit, stored as 123-45-67891
            bn = normalize_business_number(bn)
        except NormalizationError as exc:
            errors.append(FieldError("business_number", exc.code, str(exc.message)))
    values["business_number"] = bn
    parent = values.get("parent")
    seen = {pk} if pk else set()
    while parent is not None:
        if parent.pk in seen:
            errors.append(
                FieldError("parent", "cycle", _("An organization cannot be its own parent."))
            )
            break
        seen.add(parent.pk)
        parent = parent.parent


@transaction.atomic
def create_organization(
    *, name: str, actor: Any, external_ids: Sequence[tuple[str, str]] = (), **fields: Any
) -> Organization:
    """Create an organization (a B2B account)."""
    unknown = set(fields) - set(ORGANIZATION_FIELDS)
    if unknown:
        raise ValidationFailed(
            [FieldError(k, "unknown_field", _("Unknown field.")) for k in sorted(unknown)]
        )
    values: dict[str, Any] = {"name": clean_name(name), **fields}
    errors = _owner_errors(actor, Organization, fields.get("owner"), Action.ADD, None)
    _validate_organization(values, errors, None)
    try:
        values["custom_fields"] = validate_custom_fields(
            "customers.organization", fields.get("custom_fields")
        )
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if (
        values["business_number"]
        and Organization.objects.filter(business_number=values["business_number"]).exists()
    ):
        raise Conflict(_("An organization with this business number exists."), "duplicate")
    if values.get("owner") is not None and "team" not in fields:
        values["team"] = values["owner"].team
    org = Organization.objects.create(**values)
    for source, key in external_ids:
        add_external_id(organization=org, source=source, key=key, actor=actor)
    audit.record(actor, "organization.created", org, after=audit.snapshot(org))
    changefeed.announce(org, ChangeOp.CREATED)
    return org


@transaction.atomic
def update_organization(
    *, organization: Organization, changes: dict[str, Any], actor: Any
) -> Organization:
    """Change an organization's fields."""
    unknown = set(changes) - set(ORGANIZATION_FIELDS)
    if unknown:
        raise ValidationFailed(
            [FieldError(k, "unknown_field", _("Unknown field.")) for k in sorted(unknown)]
        )
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    before = audit.snapshot(org)
    values = {k: getattr(org, k) for k in ORGANIZATION_FIELDS}
    values.update(changes)
    errors: list[FieldError] = []
    if "owner" in changes:
        errors += _owner_errors(actor, Organization, changes["owner"], Action.CHANGE, org.owner_id)
    _validate_organization(values, errors, org.pk, org.business_number)
    if "custom_fields" in changes:
        try:
            values["custom_fields"] = validate_custom_fields(
                "customers.organization", changes["custom_fields"], current=org.custom_fields
            )
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if (
        values["business_number"]
        and values["business_number"] != org.business_number
        and Organization.objects.filter(business_number=values["business_number"])
        .exclude(pk=org.pk)
        .exists()
    ):
        raise Conflict(_("An organization with this business number exists."), "duplicate")
    if "owner" in changes and "team" not in changes and values["owner"] is not None:
        values["team"] = values["owner"].team
    for k, v in values.items():
        setattr(org, k, v)
    org.updated_at = timezone.now()
    org.save()
    old, new = audit.diff(before, audit.snapshot(org))
    new.pop("updated_at", None)
    if new:
        audit.record(actor, "organization.updated", org, before=old, after=new)
        changefeed.announce(org, ChangeOp.UPDATED, changed=sorted(new))
    return org


@transaction.atomic
def archive_organization(*, organization: Organization, actor: Any) -> Organization:
    """Archive an organization."""
    if organization.status != RecordStatus.ACTIVE:
        raise Conflict(_("Only an active organization can be archived."), "not_active")
    organization.status = RecordStatus.ARCHIVED
    organization.updated_at = timezone.now()
    organization.save(update_fields=["status", "updated_at"])
    audit.record(actor, "organization.archived", organization)
    changefeed.announce(
        organization, ChangeOp.UPDATED, event="organization.archived", changed=["status"]
    )
    return organization


@transaction.atomic
def restore_organization(*, organization: Organization, actor: Any) -> Organization:
    """Bring an archived organization back (an archive undone): active again, in the lists."""
    if organization.status != RecordStatus.ARCHIVED:
        raise Conflict(_("Only an archived organization can be restored."), "not_archived")
    organization.status = RecordStatus.ACTIVE
    organization.updated_at = timezone.now()
    organization.save(update_fields=["status", "updated_at"])
    audit.record(actor, "organization.restored", organization)
    changefeed.announce(
        organization, ChangeOp.UPDATED, event="organization.restored", changed=["status"]
    )
    return organization


@transaction.atomic
def link_to_organization(
    *,
    customer: Customer,
    organization: Organization,
    actor: Any,
    role: str = "",
    is_primary: bool = False,
) -> OrganizationMembership:
    """Record that a person works for / represents an organization."""
    ensure_not_merged(customer)
    membership, created = OrganizationMembership.objects.update_or_create(
        customer=customer,
        organization=organization,
        defaults={"role": role.strip(), "is_primary": is_primary, "ended_on": None},
    )
    if is_primary:
        OrganizationMembership.objects.filter(organization=organization).exclude(
            pk=membership.pk
        ).update(is_primary=False)
    audit.record(
        actor,
        "organization.member_linked" if created else "organization.member_updated",
        membership,
        after=audit.snapshot(membership),
    )
    changefeed.announce(customer, ChangeOp.UPDATED, changed=["organizations"])
    return membership


# --- upsert by external id (bulk API, imports, ERP sync) ----------------------------------


def _contacts_missing(customer: Customer, contacts: Sequence[ContactInput]) -> list[ContactInput]:
    """The contacts not yet on the customer (compared by normalized match key)."""
    have = set(ContactPoint.objects.filter(customer=customer).values_list("kind", "match_key"))
    missing = []
    for c in contacts:
        try:
            key = _normalized_contact(c.kind, c.value)["match_key"]
        except NormalizationError:
            missing.append(c)  # let add_contact_point report it
            continue
        if (c.kind, key) not in have:
            missing.append(c)
    return missing


@transaction.atomic
def upsert_customer(
    *, source: str, external_id: str, data: CustomerInput, fields_set: set[str], actor: Any
) -> tuple[Customer, str]:
    """Create or update the customer known in `source` as `external_id`.

    Returns the customer and "created", "updated" or "unchanged". Only `fields_set` are
    compared and changed on an existing customer; new contact points are added, none removed.
    A customer the actor may not change is reported as not found.
    """
    from dangol.core.errors import Forbidden, NotFound
    from dangol.core.visibility import can

    ext = (
        ExternalId.objects.select_related("customer")
        .filter(source=source, key=external_id, customer__isnull=False)
        .first()
    )
    if ext is None:
        if isinstance(actor, User) and not can(actor, Action.ADD, Customer):
            raise Forbidden()
        data.external_ids = [(source, external_id)]
        return create_customer(data=data, actor=actor), "created"
    customer = ext.customer
    assert customer is not None
    if isinstance(actor, User) and not (
        Customer.objects.visible_to(actor, Action.CHANGE).filter(pk=customer.pk).exists()
    ):
        raise NotFound()
    changes: dict[str, Any] = {}
    for name in fields_set & set(CUSTOMER_FIELDS):
        new = getattr(data, name)
        if name == "custom_fields":
            if {**customer.custom_fields, **new} != customer.custom_fields:
                changes[name] = new
        elif getattr(customer, name) != new:
            changes[name] = new
    missing = _contacts_missing(customer, data.contacts)
    if not changes and not missing:
        return customer, "unchanged"
    if changes:
        customer = update_customer(customer=customer, changes=changes, actor=actor)
    for c in missing:
        add_contact_point(
            customer=customer,
            kind=c.kind,
            value=c.value,
            is_primary=c.is_primary,
            label=c.label,
            actor=actor,
        )
    return customer, "updated"
