"""REST endpoints of the customer base: parse, check permission, call a service or selector."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from dangol.api.bulk import require, run_bulk
from dangol.api.pagination import paginate
from dangol.core.errors import FieldError, Forbidden, NotFound, ValidationFailed
from dangol.core.http import AuthedRequest
from dangol.core.models import User
from dangol.core.schemas import ApiDateTime
from dangol.core.visibility import Action
from dangol.customers import changefeed, merge, selectors, services
from dangol.customers.filters import CustomerFilters, filter_customers
from dangol.customers.models import (
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    Interaction,
    MergeRecord,
    Organization,
    RecordStatus,
)
from dangol.customers.schemas import (
    AddressIn,
    AddressOut,
    BulkCustomerRecord,
    BulkCustomersIn,
    BulkOut,
    ChangesPage,
    ConsentChange,
    ConsentOut,
    ConsentsOut,
    ContactPointCreate,
    ContactPointOut,
    ContactPointPage,
    CustomerDetailOut,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    InteractionIn,
    InteractionOut,
    InteractionPage,
    MergeIn,
    MergeOut,
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationPatch,
)

router = Router(tags=["customers"])
changes_router = Router(tags=["change feed"])
merge_router = Router(tags=["customers"])
org_router = Router(tags=["organizations"])
contact_router = Router(tags=["contact points"])
interaction_router = Router(tags=["interactions"])

CUSTOMER_SORTS = ("id", "created_at", "updated_at", "last_purchase_at", "total_spent", "full_name")


def _owner(owner_id: int | None, field: str = "owner_id") -> User | None:
    """The user `owner_id` names; whether the caller may make them the owner (active, in their
    scope, or the current owner kept) is the services' check."""
    if owner_id is None:
        return None
    owner = User.objects.filter(pk=owner_id).select_related("team").first()
    if owner is None:
        raise ValidationFailed.single(field, "not_found", _("No such user."))
    return owner


def _default_owner(user: Any, model: type[Customer] | type[Organization]) -> User | None:
    """The owner of a new record sent without ``owner_id``: nobody for a caller with the scope
    "all records", else the caller (as on the new-record pages), so they can see it."""
    return None if selectors.may_leave_unowned(user, model, Action.ADD) else user


def _customer_input(
    payload: CustomerIn, default_owner: User | None = None
) -> services.CustomerInput:
    owner = _owner(payload.owner_id) if "owner_id" in payload.model_fields_set else default_owner
    return services.CustomerInput(
        family_name=payload.family_name,
        given_name=payload.given_name,
        full_name=payload.full_name,
        birth_date=payload.birth_date,
        birth_date_is_lunar=payload.birth_date_is_lunar,
        gender=payload.gender,
        lifecycle_stage=payload.lifecycle_stage,
        region=payload.region or "",
        owner=owner,
        source=payload.source,
        signup_channel=payload.signup_channel,
        custom_fields=payload.custom_fields,
        contacts=[
            services.ContactInput(c.kind, c.value, c.is_primary, c.label)
            for c in payload.contact_points
        ],
        external_ids=[(e.source, e.key) for e in payload.external_ids],
    )


def _consent_out(c: Consent) -> dict[str, Any]:
    return {
        "channel": c.channel,
        "purpose": c.purpose,
        "status": c.status,
        "current": c.is_current(),
        "night_time": c.night_time,
        "granted_at": c.granted_at,
        "withdrawn_at": c.withdrawn_at,
        "reconfirm_due": c.reconfirm_due,
        "source": c.source,
    }


def _customer_out(
    user: Any, c: Customer, contacts: list[Any] | None = None, *, reveal: bool = False
) -> dict[str, Any]:
    return {
        **{
            f: getattr(c, f)
            for f in (
                "id",
                "full_name",
                "family_name",
                "given_name",
                "birth_date",
                "birth_date_is_lunar",
                "gender",
                "lifecycle_stage",
                "status",
                "region",
                "owner_id",
                "team_id",
                "source",
                "signup_channel",
                "custom_fields",
                "first_purchase_at",
                "last_purchase_at",
                "order_count",
                "total_spent",
                "created_at",
                "updated_at",
            )
        },
        "contact_points": contacts
        if contacts is not None
        else selectors.present_contacts(user, list(c.contact_points.all()), reveal=reveal),
        "external_ids": [{"source": e.source, "key": e.key} for e in c.external_ids.all()],
    }


def _read(request: AuthedRequest) -> selectors.PiiRead:
    return selectors.PiiRead("api", request.path, request.META.get("REMOTE_ADDR"))


@router.get("", response=CustomerPage, summary="List customers")
def list_customers(request: AuthedRequest, filters: Query[CustomerFilters]) -> dict[str, Any]:
    qs = filter_customers(selectors.customers_for(request.user, include_archived=True), filters)
    qs = qs.prefetch_related("contact_points", "external_ids")
    page = paginate(
        qs, sort=filters.sort, allowed=CUSTOMER_SORTS, cursor=filters.cursor, limit=filters.limit
    )
    # Contact data in full only when asked for and allowed, and then logged per customer.
    if filters.reveal:
        selectors.log_pii_reads(
            request.user, {c: list(c.contact_points.all()) for c in page.items}, _read(request)
        )
    return {
        "items": [_customer_out(request.user, c, reveal=filters.reveal) for c in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post("", response={201: CustomerOut}, summary="Create a customer")
def create_customer(request: AuthedRequest, payload: CustomerIn) -> Status[Any]:
    require(request, Action.ADD, Customer)
    data = _customer_input(payload, _default_owner(request.user, Customer))
    customer = services.create_customer(data=data, actor=request.user)
    customer = selectors.customer_detail_queryset(request.user).get(pk=customer.pk)
    return Status(201, _customer_out(request.user, customer))


@router.post(
    "/bulk",
    response=BulkOut,
    summary="Create or update up to 1,000 customers by external id",
    description="Each record names a customer by (`source`, `external_id`). A known customer "
    "changes only the fields the record carries: a field left out keeps its value (the "
    "defaults in the schema are a new customer's), null clears `region`, `birth_date` and, "
    "where the caller's scope allows, `owner_id`; a custom field is removed by its key with "
    "null. Contact points sent are added; none is removed. Each record is written whole or "
    "not at all.",
)
def bulk_upsert_customers(request: AuthedRequest, payload: BulkCustomersIn) -> dict[str, Any]:
    def one(record: BulkCustomerRecord) -> tuple[int, str]:
        fields_set = set(record.model_fields_set) - {
            "source",
            "external_id",
            "contact_points",
            "external_ids",
        }
        fields_set = {"owner" if f == "owner_id" else f for f in fields_set}
        customer, status = services.upsert_customer(
            source=record.source,
            external_id=record.external_id,
            data=_customer_input(record, _default_owner(request.user, Customer)),
            fields_set=fields_set,
            actor=request.user,
        )
        return customer.pk, status

    return run_bulk(payload.records, one)


def _visible_customer(
    request: AuthedRequest, customer_id: int, action: Action = Action.VIEW
) -> Customer:
    customer = Customer.objects.visible_to(request.user, action).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound()
    return customer


@router.get(
    "/{customer_id}",
    response=CustomerDetailOut,
    summary="A customer, with contact points, consents and organizations",
)
def get_customer(request: AuthedRequest, customer_id: int, reveal: bool = False) -> dict[str, Any]:
    """`reveal=true` unmasks contact points for roles with the PII permission (logged)."""
    read = _read(request) if reveal else None
    view = selectors.customer_360(
        user=request.user, customer_id=customer_id, read=read, with_history=False
    )
    if view is None:
        raise NotFound()
    c = view.customer
    return {
        **_customer_out(request.user, c, contacts=view.contacts),
        "addresses": view.addresses,
        "consents": [_consent_out(x) for x in view.consents],
        "organizations": [
            {
                "organization_id": m.organization_id,
                "organization_name": m.organization.name,
                "role": m.role,
                "is_primary": m.is_primary,
            }
            for m in view.memberships
        ],
        "tags": [t.name for t in view.tags],
        "average_order_value": view.figures["average_order_value"],
    }


@router.patch("/{customer_id}", response=CustomerOut, summary="Change a customer")
def update_customer(
    request: AuthedRequest, customer_id: int, payload: CustomerPatch
) -> dict[str, Any]:
    customer = _visible_customer(request, customer_id, Action.CHANGE)
    changes = _blank_nulls(payload.dict(exclude_unset=True), ("region", "gender"))
    if "owner_id" in changes:
        changes["owner"] = _owner(changes.pop("owner_id"))
    customer = services.update_customer(customer=customer, changes=changes, actor=request.user)
    customer = selectors.customer_detail_queryset(request.user).get(pk=customer.pk)
    return _customer_out(request.user, customer)


@router.delete("/{customer_id}", response={204: None}, summary="Archive a customer")
def archive_customer(request: AuthedRequest, customer_id: int) -> Status[Any]:
    customer = _visible_customer(request, customer_id, Action.DELETE)
    services.archive_customer(customer=customer, actor=request.user)
    return Status(204, None)


@router.get("/{customer_id}/consents", response=ConsentsOut, summary="Consents and their history")
def list_consents(request: AuthedRequest, customer_id: int) -> dict[str, Any]:
    customer = _visible_customer(request, customer_id)
    return {
        "consents": [
            _consent_out(c)
            for c in Consent.objects.filter(customer=customer).order_by("channel", "purpose")
        ],
        "history": list(
            ConsentEvent.objects.filter(customer=customer).order_by("-at", "-id")[:200]
        ),
    }


@router.post("/{customer_id}/consents", response=ConsentOut, summary="Grant or withdraw a consent")
def change_consent(
    request: AuthedRequest, customer_id: int, payload: ConsentChange
) -> dict[str, Any]:
    customer = _visible_customer(request, customer_id, Action.CHANGE)
    fn = services.grant_consent if payload.status == "granted" else services.withdraw_consent
    kwargs: dict[str, Any] = {
        "customer": customer,
        "channel": payload.channel,
        "purpose": payload.purpose,
        "source": payload.source or "api",
        "evidence": payload.evidence,
        "at": payload.at,
        "actor": request.user,
    }
    if payload.status == "granted":
        kwargs["night_time"] = payload.night_time
    return _consent_out(fn(**kwargs))


@router.post("/{customer_id}/addresses", response={201: AddressOut}, summary="Add an address")
def add_address(request: AuthedRequest, customer_id: int, payload: AddressIn) -> Status[Any]:
    customer = _visible_customer(request, customer_id, Action.CHANGE)
    data = _blank_nulls(payload.dict(), ("region",))
    return Status(201, services.add_address(customer=customer, actor=request.user, **data))


# --- contact points ------------------------------------------------------------------------


@contact_router.get("", response=ContactPointPage, summary="List contact points")
def list_contact_points(
    request: AuthedRequest,
    customer_id: int | None = None,
    organization_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
    reveal: bool = False,
) -> dict[str, Any]:
    qs = ContactPoint.objects.visible_to(request.user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    page = paginate(
        qs.select_related("customer"), sort="id", allowed=("id",), cursor=cursor, limit=limit
    )
    by_customer: dict[Customer, list[ContactPoint]] = {}
    for cp in page.items:
        if cp.customer is not None:
            by_customer.setdefault(cp.customer, []).append(cp)
    if reveal:
        selectors.log_pii_reads(request.user, by_customer, _read(request))
    return {
        "items": selectors.present_contacts(request.user, page.items, reveal=reveal),
        "next_cursor": page.next_cursor,
    }


@contact_router.post("", response={201: ContactPointOut}, summary="Add a contact point")
def add_contact_point(request: AuthedRequest, payload: ContactPointCreate) -> Status[Any]:
    customer = organization = None
    if payload.customer_id is not None:
        customer = _visible_customer(request, payload.customer_id, Action.CHANGE)
    elif payload.organization_id is not None:
        organization = (
            Organization.objects.visible_to(request.user, Action.CHANGE)
            .filter(pk=payload.organization_id)
            .first()
        )
        if organization is None:
            raise NotFound()
    else:
        raise ValidationFailed(
            [FieldError("customer_id", "required", _("Give a customer or an organization."))]
        )
    cp = services.add_contact_point(
        customer=customer,
        organization=organization,
        kind=payload.kind,
        value=payload.value,
        is_primary=payload.is_primary,
        label=payload.label,
        actor=request.user,
    )
    return Status(201, selectors.present_contacts(request.user, [cp])[0])


def _visible_contact(request: AuthedRequest, contact_point_id: int) -> ContactPoint:
    cp = (
        ContactPoint.objects.visible_to(request.user, Action.CHANGE)
        .filter(pk=contact_point_id)
        .first()
    )
    if cp is None:
        raise NotFound()
    return cp


@contact_router.post(
    "/{contact_point_id}/verify", response=ContactPointOut, summary="Mark verified"
)
def verify_contact_point(request: AuthedRequest, contact_point_id: int) -> Any:
    cp = services.verify_contact_point(
        contact_point=_visible_contact(request, contact_point_id), actor=request.user
    )
    return selectors.present_contacts(request.user, [cp])[0]


@contact_router.delete(
    "/{contact_point_id}", response={204: None}, summary="Remove a contact point"
)
def remove_contact_point(request: AuthedRequest, contact_point_id: int) -> Status[Any]:
    services.remove_contact_point(
        contact_point=_visible_contact(request, contact_point_id), actor=request.user
    )
    return Status(204, None)


# --- interactions --------------------------------------------------------------------------


@interaction_router.get("", response=InteractionPage, summary="List interactions (the timeline)")
def list_interactions(
    request: AuthedRequest,
    customer_id: int | None = None,
    channel: str | None = None,
    kind: str | None = None,
    since: ApiDateTime | None = None,
    sort: str = "-occurred_at",
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    qs = Interaction.objects.visible_to(request.user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if channel:
        qs = qs.filter(channel=channel)
    if kind:
        qs = qs.filter(kind=kind)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    page = paginate(qs, sort=sort, allowed=("id", "occurred_at"), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@interaction_router.post("", response={201: InteractionOut}, summary="Record an interaction")
def record_interaction(request: AuthedRequest, payload: InteractionIn) -> Status[Any]:
    require(request, Action.ADD, Interaction)
    customer = _visible_customer(request, payload.customer_id)
    data = payload.dict(exclude={"customer_id"})
    return Status(201, services.record_interaction(customer=customer, actor=request.user, **data))


# --- organizations --------------------------------------------------------------------------


def _blank_nulls(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Choice fields sent as null mean "none": stored as the empty choice."""
    return {k: ("" if k in names and v is None else v) for k, v in data.items()}


def _org_values(request: AuthedRequest, data: dict[str, Any]) -> dict[str, Any]:
    data = _blank_nulls(data, ("region", "size"))
    if "owner_id" in data:
        data["owner"] = _owner(data.pop("owner_id"))
    if "parent_id" in data:
        parent_id = data.pop("parent_id")
        data["parent"] = None
        if parent_id is not None:
            data["parent"] = (
                Organization.objects.visible_to(request.user).filter(pk=parent_id).first()
            )
            if data["parent"] is None:
                raise ValidationFailed.single("parent_id", "not_found", _("No such organization."))
    return data


@org_router.get("", response=OrganizationPage, summary="List organizations")
def list_organizations(
    request: AuthedRequest,
    q: str | None = None,
    status: str = RecordStatus.ACTIVE.value,
    owner_id: int | None = None,
    parent_id: int | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    qs = Organization.objects.visible_to(request.user)
    if status:
        qs = qs.filter(status=status)
    if q:
        qs = qs.filter(name__contains=q)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if parent_id is not None:
        qs = qs.filter(parent_id=parent_id)
    page = paginate(
        qs,
        sort=sort,
        allowed=("id", "name", "created_at", "updated_at"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@org_router.post("", response={201: OrganizationOut}, summary="Create an organization")
def create_organization(request: AuthedRequest, payload: OrganizationIn) -> Status[Any]:
    require(request, Action.ADD, Organization)
    data = _org_values(request, payload.dict())
    if "owner_id" not in payload.model_fields_set:
        data["owner"] = _default_owner(request.user, Organization)
    external_ids = [(e["source"], e["key"]) for e in data.pop("external_ids")]
    name = data.pop("name")
    return Status(
        201,
        services.create_organization(
            name=name, external_ids=external_ids, actor=request.user, **data
        ),
    )


def _visible_org(
    request: AuthedRequest, organization_id: int, action: Action = Action.VIEW
) -> Organization:
    org = Organization.objects.visible_to(request.user, action).filter(pk=organization_id).first()
    if org is None:
        raise NotFound()
    return org


@org_router.get("/{organization_id}", response=OrganizationOut, summary="An organization")
def get_organization(request: AuthedRequest, organization_id: int) -> Organization:
    return _visible_org(request, organization_id)


@org_router.patch("/{organization_id}", response=OrganizationOut, summary="Change an organization")
def update_organization(
    request: AuthedRequest, organization_id: int, payload: OrganizationPatch
) -> Any:
    org = _visible_org(request, organization_id, Action.CHANGE)
    changes = _org_values(request, payload.dict(exclude_unset=True))
    return services.update_organization(organization=org, changes=changes, actor=request.user)


@org_router.delete("/{organization_id}", response={204: None}, summary="Archive an organization")
def archive_organization(request: AuthedRequest, organization_id: int) -> Status[Any]:
    services.archive_organization(
        organization=_visible_org(request, organization_id, Action.DELETE), actor=request.user
    )
    return Status(204, None)


@org_router.post(
    "/{organization_id}/restore",
    response=OrganizationOut,
    summary="Restore an archived organization",
)
def restore_organization(request: AuthedRequest, organization_id: int) -> Any:
    return services.restore_organization(
        organization=_visible_org(request, organization_id, Action.DELETE), actor=request.user
    )


# --- merges and the change feed ---------------------------------------------------------------


@router.post(
    "/{customer_id}/merge", response={201: MergeOut}, summary="Merge duplicates into this customer"
)
def merge_into(request: AuthedRequest, customer_id: int, payload: MergeIn) -> Status[Any]:
    survivor = _visible_customer(request, customer_id, Action.CHANGE)
    visible = Customer.objects.visible_to(request.user, Action.CHANGE)
    duplicates = list(visible.filter(pk__in=payload.duplicate_ids))
    if len(duplicates) != len(set(payload.duplicate_ids)):
        raise NotFound()
    return Status(
        201, merge.merge_customers(survivor=survivor, duplicates=duplicates, actor=request.user)
    )


@merge_router.post("/{merge_id}/undo", response=CustomerOut, summary="Undo a merge")
def undo_merge(request: AuthedRequest, merge_id: int) -> dict[str, Any]:
    record = MergeRecord.objects.visible_to(request.user, Action.CHANGE).filter(pk=merge_id).first()
    if record is None:
        raise NotFound()
    survivor = merge.unmerge(merge=record, actor=request.user)
    return _customer_out(
        request.user, selectors.customer_detail_queryset(request.user).get(pk=survivor.pk)
    )


@changes_router.get(
    "", response=ChangesPage, summary="Changes to customers and organizations, in order"
)
def list_changes(
    request: AuthedRequest, since: str | None = None, limit: int = 500
) -> dict[str, Any]:
    """Every created/updated/merged/deleted customer and organization, each exactly once.

    Start without `since`, then always pass the `next_cursor` you received. Only roles that may
    view all customers can read the feed (it reveals which records exist).
    """
    from dangol.core.visibility import Scope, scope_for

    if scope_for(request.user, "customers.customer") != Scope.ALL:
        raise Forbidden()
    page = changefeed.read_since(since, limit)
    return {"items": page.entries, "next_cursor": page.next_cursor}
