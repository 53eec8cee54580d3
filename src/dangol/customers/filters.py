"""The customer list's filters and sort orders: one form that reads the query string and narrows
a queryset. The staff pages and their exports share it.

Every filter is an equality, a range or an ``IN (subquery)`` that the indexes on Customer serve;
no filter aggregates orders (the purchase figures live on the customer).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from django import forms
from django.apps import apps
from django.db.models import Exists, OuterRef, QuerySet
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema

from dangol.core.models import CustomFieldDefinition, CustomFieldType, TaggedItem, Team, User
from dangol.core.schemas import ApiDateTime
from dangol.customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentStatus,
    Customer,
    LifecycleStage,
    RecordStatus,
    Region,
)
from dangol.customers.selectors import search_filter


@dataclass(frozen=True)
class SortColumn:
    """A sortable column: the model field, how its value goes into a cursor, its label."""

    field: str
    kind: str
    label: str | Promise
    nullable: bool = False


# Each column is served by an index on (column, id) of Customer (full_name by its own index).
SORT_COLUMNS: dict[str, SortColumn] = {
    "name": SortColumn("full_name", "str", _("Name")),
    "created": SortColumn("created_at", "datetime", _("Signed up")),
    "spend": SortColumn("total_spent", "decimal", _("Lifetime spend")),
    "last_purchase": SortColumn("last_purchase_at", "datetime", _("Last purchase"), nullable=True),
    "stage": SortColumn("lifecycle_stage", "str", _("Lifecycle stage")),
}
DEFAULT_SORT = "-created"
# Older bookmarks used one word per order.
SORT_ALIASES = {"recent": "-created", "spend": "-spend", "name": "name"}


def parse_sort(raw: str) -> tuple[str, SortColumn, bool]:
    """``"-spend"`` → ("-spend", the column, descending=True); unknown values give the default."""
    raw = SORT_ALIASES.get(raw, raw)
    key = raw.lstrip("-")
    if key not in SORT_COLUMNS:
        raw, key = DEFAULT_SORT, DEFAULT_SORT.lstrip("-")
    return raw, SORT_COLUMNS[key], raw.startswith("-")


class ConsentFilter:
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    NONE = "none"


CONSENT_FILTER_CHOICES = [
    ("", _("Any consent")),
    (ConsentFilter.GRANTED, _("Agreed")),
    (ConsentFilter.WITHDRAWN, _("Withdrawn")),
    (ConsentFilter.NONE, _("Never asked")),
]

DATE_WIDGET = forms.DateInput(attrs={"type": "date", "class": "form-control"})
SELECT = {"class": "form-select"}


class QuickSelect(forms.Select):
    """A ``<select>`` built in Python. Django renders each option through a template (≈ 0.1 ms
    an option): the owner filter's few hundred staff would cost tens of milliseconds a page."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        values = value if isinstance(value, list | tuple) else [value]
        chosen = {str(v) for v in values if v is not None}
        options = mark_safe(  # noqa: S308 - every value and label is escaped here
            "".join(
                f'<option value="{escape(str(v))}"{" selected" if str(v) in chosen else ""}>'
                f"{escape(str(label))}</option>"
                for v, label in self.choices
            )
        )
        final = self.build_attrs(self.attrs, attrs)
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final), options)


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class CustomerFilterForm(forms.Form):
    """Reads the list's query string. Invalid values are dropped, never an error page."""

    q = forms.CharField(label=_("Find"), required=False, max_length=100)
    stage = forms.ChoiceField(
        label=_("Lifecycle stage"),
        required=False,
        choices=[("", _("All stages")), *LifecycleStage.choices],
        widget=QuickSelect(attrs=SELECT),
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        required=False,
        queryset=User.objects.filter(is_active=True)
        .only("id", "display_name", "email")
        .order_by("display_name", "id"),
        empty_label=_("Any owner"),
        widget=QuickSelect(attrs=SELECT),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        required=False,
        queryset=Team.objects.order_by("name"),
        empty_label=_("Any team"),
        widget=QuickSelect(attrs=SELECT),
    )
    tag = forms.CharField(
        label=_("Tag"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"class": "form-control", "list": "tag-suggestions"}),
    )
    region = forms.ChoiceField(
        label=_("Region"),
        required=False,
        choices=[("", _("All regions")), *Region.choices],
        widget=QuickSelect(attrs=SELECT),
    )
    consent_channel = forms.ChoiceField(
        label=_("Marketing consent channel"),
        required=False,
        choices=[("", _("Any channel")), *ConsentChannel.choices],
        widget=QuickSelect(attrs=SELECT),
    )
    consent = forms.ChoiceField(
        label=_("Consent status"),
        required=False,
        choices=CONSENT_FILTER_CHOICES,
        widget=QuickSelect(attrs=SELECT),
    )
    signup_from = forms.DateField(label=_("Signed up from"), required=False, widget=DATE_WIDGET)
    signup_to = forms.DateField(label=_("Signed up until"), required=False, widget=DATE_WIDGET)
    purchase_from = forms.DateField(
        label=_("Last purchase from"), required=False, widget=DATE_WIDGET
    )
    purchase_to = forms.DateField(
        label=_("Last purchase until"), required=False, widget=DATE_WIDGET
    )
    cf = forms.ChoiceField(
        label=_("Custom field"), required=False, widget=QuickSelect(attrs=SELECT)
    )
    cf_value = forms.CharField(
        label=_("Value"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )

    # Analytics of the last run (the analytics app's CustomerMetrics, read through the app
    # registry: customers does not import analytics). Served by the metrics indexes.
    grade = forms.ChoiceField(
        label=_("Grade"), required=False, choices=[], widget=QuickSelect(attrs=SELECT)
    )
    rfm_segment = forms.ChoiceField(
        label=_("RFM segment"), required=False, choices=[], widget=QuickSelect(attrs=SELECT)
    )
    churn_band = forms.ChoiceField(
        label=_("Churn risk"), required=False, choices=[], widget=QuickSelect(attrs=SELECT)
    )
    clv_min = forms.DecimalField(label=_("12-month CLV from"), required=False, min_value=0)
    clv_max = forms.DecimalField(label=_("12-month CLV up to"), required=False, min_value=0)
    cols = forms.MultipleChoiceField(
        label=_("Columns"),
        required=False,
        choices=[
            ("grade", _("Grade")),
            ("segment", _("RFM segment")),
            ("churn", _("Churn risk")),
            ("clv", _("12-month CLV")),
        ],
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        metrics = _metrics_model()
        if metrics is not None:
            tiers = apps.get_model("analytics", "GradeTier").objects.filter(program__is_active=True)
            self.fields["grade"].choices = [  # type: ignore[attr-defined]
                ("", _("Any grade")),
                *tiers.order_by("-rank").values_list("code", "name"),
            ]
            for name, empty in (("rfm_segment", _("Any segment")), ("churn_band", _("Any risk"))):
                self.fields[name].choices = [  # type: ignore[attr-defined]
                    ("", empty),
                    *metrics._meta.get_field(name).choices,
                ]
        self.custom_fields = {
            d.key: d
            for d in CustomFieldDefinition.objects.filter(
                object_type="customers.customer"
            ).order_by("order", "key")
        }
        self.fields["cf"].choices = [  # type: ignore[attr-defined]
            ("", _("Any field")),
            *((key, d.label) for key, d in self.custom_fields.items()),
        ]

    def clean_q(self) -> str:
        return str(self.cleaned_data.get("q") or "").strip()

    def clean_tag(self) -> str:
        return str(self.cleaned_data.get("tag") or "").strip()

    @property
    def values(self) -> dict[str, Any]:
        """The valid filters (invalid ones are ignored)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}

    @property
    def active_count(self) -> int:
        """How many filters besides the search box narrow the list (for the "Filters (3)" badge)."""
        vals = self.values
        skip = {"q", "cf_value", "cols"} | ({"consent_channel"} if "consent" not in vals else set())
        return sum(1 for k in vals if k not in skip)

    def apply(self, qs: QuerySet[Customer]) -> QuerySet[Customer]:
        f = self.values
        if len(f.get("q", "")) >= 2:
            qs = qs.filter(search_filter(f["q"], within=qs))
        if "stage" in f:
            qs = qs.filter(lifecycle_stage=f["stage"])
        if "owner" in f:
            qs = qs.filter(owner=f["owner"])
        if "team" in f:
            qs = qs.filter(team=f["team"])
        if "region" in f:
            qs = qs.filter(region=f["region"])
        if "tag" in f:
            qs = qs.filter(
                pk__in=TaggedItem.objects.filter(
                    tag__name=f["tag"],
                    content_type__app_label="customers",
                    content_type__model="customer",
                ).values("object_id")
            )
        if "consent" in f:
            qs = qs.filter(self._consent_q(f["consent"], f.get("consent_channel", "")))
        if "signup_from" in f:
            qs = qs.filter(created_at__gte=_start_of(f["signup_from"]))
        if "signup_to" in f:
            qs = qs.filter(created_at__lt=_start_of(f["signup_to"] + datetime.timedelta(days=1)))
        if "purchase_from" in f:
            qs = qs.filter(last_purchase_at__gte=_start_of(f["purchase_from"]))
        if "purchase_to" in f:
            qs = qs.filter(
                last_purchase_at__lt=_start_of(f["purchase_to"] + datetime.timedelta(days=1))
            )
        qs = self._apply_analytics(qs, f)
        if "cf" in f and "cf_value" in f:
            value = self._custom_value(self.custom_fields[f["cf"]], f["cf_value"])
            if value is not None:
                qs = qs.filter(**{f"custom_fields__{f['cf']}": value})
        return qs

    @property
    def columns(self) -> set[str]:
        """The optional analytics columns asked for (``?cols=grade&cols=clv``)."""
        return set(self.values.get("cols") or ())

    @staticmethod
    def _apply_analytics(qs: QuerySet[Customer], f: dict[str, Any]) -> QuerySet[Customer]:
        metrics = _metrics_model()
        wanted = {k: f[k] for k in ("grade", "rfm_segment", "churn_band", "clv_min", "clv_max")
                  if k in f}  # fmt: skip
        if metrics is None or not wanted:
            return qs
        rows = metrics.objects.all()
        if "grade" in wanted:
            rows = rows.filter(grade__code=wanted["grade"], grade__program__is_active=True)
        if "rfm_segment" in wanted:
            rows = rows.filter(rfm_segment=wanted["rfm_segment"])
        if "churn_band" in wanted:
            rows = rows.filter(churn_band=wanted["churn_band"])
        if "clv_min" in wanted:
            rows = rows.filter(clv_12m__gte=float(wanted["clv_min"]))
        if "clv_max" in wanted:
            rows = rows.filter(clv_12m__lte=float(wanted["clv_max"]))
        return qs.filter(pk__in=rows.values("customer_id"))

    @staticmethod
    def _consent_q(status: str, channel: str) -> Exists | Any:
        consents = Consent.objects.filter(customer=OuterRef("pk"), purpose=ConsentPurpose.MARKETING)
        if channel:
            consents = consents.filter(channel=channel)
        if status == ConsentFilter.NONE:
            return ~Exists(consents)
        wanted = (
            ConsentStatus.GRANTED if status == ConsentFilter.GRANTED else ConsentStatus.WITHDRAWN
        )
        return Exists(consents.filter(status=wanted))

    @staticmethod
    def _custom_value(defn: CustomFieldDefinition, raw: str) -> Any:
        """The JSON value to compare with, typed as the field is; None if it cannot match."""
        if defn.field_type == CustomFieldType.NUMBER:
            try:
                number = Decimal(raw)
            except InvalidOperation:
                return None
            return int(number) if number == number.to_integral_value() else float(number)
        if defn.field_type == CustomFieldType.BOOLEAN:
            lowered = raw.strip().lower()
            truthy = {"true", "yes", "1", "y", "예", "네"}
            falsy = {"false", "no", "0", "n", "아니요", "아니오"}
            return True if lowered in truthy else False if lowered in falsy else None
        return raw


def _metrics_model() -> Any:
    """The analytics app's CustomerMetrics, when that app is installed."""
    if not apps.is_installed("dangol.analytics"):
        return None
    return apps.get_model("analytics", "CustomerMetrics")


# --- the API's and exports' list filters ------------------------------------------------------
# (The staff list above reads a form; API clients and export jobs send these typed fields.)


class CustomerFilters(Schema):
    """List filters of the REST API and of export jobs (query parameters / JSON)."""

    q: str | None = None
    lifecycle_stage: str | None = None
    status: str = RecordStatus.ACTIVE.value
    owner_id: int | None = None
    team_id: int | None = None
    region: str | None = None
    tag: str | None = None
    source: str | None = None
    created_after: ApiDateTime | None = None
    created_before: ApiDateTime | None = None
    last_purchase_after: ApiDateTime | None = None
    last_purchase_before: ApiDateTime | None = None
    updated_after: ApiDateTime | None = None
    sort: str = "-id"
    cursor: str | None = None
    limit: int = 50
    reveal: bool = Field(
        default=False,
        description="Unmask contact points (roles with the PII permission only; every "
        "unmasked read is written to the PII access log).",
    )


def filter_customers(qs: QuerySet[Customer], f: CustomerFilters) -> QuerySet[Customer]:
    """Apply list filters (shared by the API and exports)."""
    if f.status:
        qs = qs.filter(status=f.status)
    if f.q:
        qs = qs.filter(search_filter(f.q, within=qs))
    for name in ("lifecycle_stage", "owner_id", "team_id", "region", "source"):
        if (value := getattr(f, name)) is not None:
            qs = qs.filter(**{name: value})
    if f.tag:
        qs = qs.filter(pk__in=_tagged_ids(f.tag))
    ranges = {
        "created_after": "created_at__gte",
        "created_before": "created_at__lt",
        "last_purchase_after": "last_purchase_at__gte",
        "last_purchase_before": "last_purchase_at__lt",
        "updated_after": "updated_at__gte",
    }
    for name, lookup in ranges.items():
        if (value := getattr(f, name)) is not None:
            qs = qs.filter(**{lookup: value})
    return qs


def _tagged_ids(tag: str) -> Any:
    return TaggedItem.objects.filter(
        tag__name=tag, content_type__app_label="customers", content_type__model="customer"
    ).values("object_id")
