"""API schemas of the customer base."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema

from dangol.core.schemas import ApiDateTime
from dangol.customers.models import (
    ConsentChannel,
    ConsentPurpose,
    ContactKind,
    Direction,
    Gender,
    InteractionChannel,
    InteractionKind,
    LifecycleStage,
    OrganizationSize,
    Region,
)

# Choices are the models' TextChoices enums: validated by Pydantic, listed in the OpenAPI enum.
ContactKindT = ContactKind
GenderT = Gender
StageT = LifecycleStage
RegionT = Region
ChannelT = ConsentChannel
PurposeT = ConsentPurpose
IChannelT = InteractionChannel
IKindT = InteractionKind
DirectionT = Direction
SizeT = OrganizationSize


Name = Field(default="", max_length=100)


class ContactPointIn(Schema):
    kind: ContactKindT
    value: str = Field(max_length=254)
    is_primary: bool = False
    label: str = Field(default="", max_length=50)


class ContactPointCreate(ContactPointIn):
    customer_id: int | None = None
    organization_id: int | None = None


class ContactPointOut(Schema):
    id: int
    kind: str
    value: str
    masked: bool
    is_primary: bool
    verified: bool
    is_legacy: bool
    label: str


class ExternalIdIn(Schema):
    source: str = Field(min_length=1, max_length=50)
    key: str = Field(min_length=1, max_length=100)


class ExternalIdOut(Schema):
    source: str
    key: str


OWNER_DOC = (
    'The user the record belongs to (an active user). With the scope "all records" anyone '
    'active, or null for nobody; with "team" the caller\'s team and themselves; with "own" '
    "only the caller. Keeping the current owner is always allowed. Refused with code "
    "`owner_not_allowed` on field `owner` (422). Left out on create: the caller, unless their "
    'scope is "all records" (then nobody).'
)


class CustomerIn(Schema):
    family_name: str = Name
    given_name: str = Name
    full_name: str = Field(default="", max_length=160)
    birth_date: datetime.date | None = None
    birth_date_is_lunar: bool = False
    gender: GenderT = Gender.UNKNOWN
    lifecycle_stage: StageT = LifecycleStage.LEAD
    region: RegionT | None = None
    owner_id: int | None = Field(default=None, description=OWNER_DOC)
    source: str = Field(default="", max_length=50)
    signup_channel: str = Field(default="", max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    contact_points: list[ContactPointIn] = Field(default_factory=list, max_length=20)
    external_ids: list[ExternalIdIn] = Field(default_factory=list, max_length=20)


class CustomerPatch(Schema):
    family_name: str | None = Field(default=None, max_length=100)
    given_name: str | None = Field(default=None, max_length=100)
    full_name: str | None = Field(default=None, max_length=160)
    birth_date: datetime.date | None = None
    birth_date_is_lunar: bool | None = None
    gender: GenderT | None = None
    lifecycle_stage: StageT | None = None
    region: RegionT | None = None
    owner_id: int | None = Field(default=None, description=OWNER_DOC)
    source: str | None = Field(default=None, max_length=50)
    signup_channel: str | None = Field(default=None, max_length=50)
    custom_fields: dict[str, Any] | None = None


class CustomerOut(Schema):
    id: int
    full_name: str
    family_name: str
    given_name: str
    birth_date: datetime.date | None
    birth_date_is_lunar: bool
    gender: str
    lifecycle_stage: str
    status: str
    region: str
    owner_id: int | None
    team_id: int | None
    source: str
    signup_channel: str
    custom_fields: dict[str, Any]
    first_purchase_at: ApiDateTime | None
    last_purchase_at: ApiDateTime | None
    order_count: int
    total_spent: Decimal
    created_at: datetime.datetime
    updated_at: datetime.datetime
    contact_points: list[ContactPointOut]
    external_ids: list[ExternalIdOut]


class AddressOut(Schema):
    id: int
    kind: str
    postal_code: str
    region: str
    city: str
    line1: str
    line2: str
    is_primary: bool


class AddressIn(Schema):
    kind: Literal["home", "work", "shipping", "billing"] = "home"
    postal_code: str = Field(default="", max_length=10)
    region: RegionT | None = None
    city: str = Field(default="", max_length=50)
    line1: str = Field(max_length=200)
    line2: str = Field(default="", max_length=200)
    is_primary: bool = False


class ConsentOut(Schema):
    channel: str
    purpose: str
    status: str
    current: bool
    night_time: bool
    granted_at: ApiDateTime | None
    withdrawn_at: ApiDateTime | None
    reconfirm_due: datetime.date | None
    source: str


class ConsentEventOut(Schema):
    channel: str
    purpose: str
    status: str
    night_time: bool
    at: datetime.datetime
    source: str
    evidence: str


class ConsentChange(Schema):
    channel: ChannelT
    purpose: PurposeT = ConsentPurpose.MARKETING
    status: Literal["granted", "withdrawn"]
    night_time: bool = False
    source: str = Field(default="", max_length=50)
    evidence: str = Field(default="", max_length=2000)
    at: ApiDateTime | None = None


class ConsentsOut(Schema):
    consents: list[ConsentOut]
    history: list[ConsentEventOut]


class MembershipOut(Schema):
    organization_id: int
    organization_name: str
    role: str
    is_primary: bool


class CustomerDetailOut(CustomerOut):
    addresses: list[AddressOut]
    consents: list[ConsentOut]
    organizations: list[MembershipOut]
    tags: list[str]
    average_order_value: float | None


class BulkCustomerRecord(CustomerIn):
    """A customer as an ERP sends it: what changed. The defaults shown are a new customer's; a
    known customer (by `source` and `external_id`) changes only the fields the record carries,
    and its contact points sent are added (none removed)."""

    source: str = Field(min_length=1, max_length=50)
    external_id: str = Field(min_length=1, max_length=100)


class BulkCustomersIn(Schema):
    records: list[BulkCustomerRecord]


class BulkResult(Schema):
    index: int
    status: str = Field(description="created, updated, unchanged or error")
    id: int | None = None
    code: str | None = None
    message: str | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class BulkOut(Schema):
    created: int
    updated: int
    unchanged: int
    failed: int
    results: list[BulkResult]


class InteractionIn(Schema):
    customer_id: int
    channel: IChannelT
    kind: IKindT
    direction: DirectionT = Direction.INBOUND
    subject: str = Field(default="", max_length=200)
    body: str = Field(default="", max_length=20000)
    occurred_at: ApiDateTime | None = None
    source: str = Field(default="", max_length=50)
    external_id: str = Field(default="", max_length=100)


class InteractionOut(Schema):
    id: int
    customer_id: int
    channel: str
    kind: str
    direction: str
    subject: str
    body: str
    occurred_at: datetime.datetime
    staff_id: int | None
    source: str
    external_id: str


BUSINESS_NUMBER_DOC = (
    "사업자등록번호 (business registration number): ten digits with a valid check digit, in any "
    "common spelling (1248100998, 124 81 00998); stored and returned as 124-81-00998. A wrong "
    "length is refused with code `invalid`, a wrong check digit with `checksum` (422)."
)


class OrganizationIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    parent_id: int | None = None
    business_number: str = Field(
        default="",
        max_length=20,
        description=BUSINESS_NUMBER_DOC,
        examples=["124-81-00998"],
    )
    industry: str = Field(default="", max_length=100)
    size: SizeT = OrganizationSize.UNKNOWN
    website: str = Field(default="", max_length=200)
    region: RegionT | None = None
    owner_id: int | None = Field(default=None, description=OWNER_DOC)
    source: str = Field(default="", max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    external_ids: list[ExternalIdIn] = Field(default_factory=list, max_length=20)


class OrganizationPatch(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent_id: int | None = None
    business_number: str | None = Field(
        default=None,
        max_length=20,
        description=BUSINESS_NUMBER_DOC,
        examples=["124-81-00998"],
    )
    industry: str | None = Field(default=None, max_length=100)
    size: SizeT | None = None
    website: str | None = Field(default=None, max_length=200)
    region: RegionT | None = None
    owner_id: int | None = Field(default=None, description=OWNER_DOC)
    custom_fields: dict[str, Any] | None = None


class OrganizationOut(Schema):
    id: int
    name: str
    parent_id: int | None
    business_number: str
    industry: str
    size: str
    website: str
    region: str
    owner_id: int | None
    team_id: int | None
    status: str
    source: str
    custom_fields: dict[str, Any]
    created_at: datetime.datetime
    updated_at: datetime.datetime


class Paged(Schema):
    next_cursor: str | None


class CustomerPage(Paged):
    items: list[CustomerOut]


class OrganizationPage(Paged):
    items: list[OrganizationOut]


class InteractionPage(Paged):
    items: list[InteractionOut]


class ContactPointPage(Paged):
    items: list[ContactPointOut]


class MergeIn(Schema):
    duplicate_ids: list[int] = Field(min_length=1, max_length=20)


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_ids: list[int]
    at: datetime.datetime
    automatic: bool
    undone_at: datetime.datetime | None


class ChangeOut(Schema):
    object_type: str
    object_id: int
    op: str
    at: datetime.datetime
    data: dict[str, Any]


class ChangesPage(Schema):
    items: list[ChangeOut]
    next_cursor: str = Field(description="Pass as `since` on the next call, even when empty.")
