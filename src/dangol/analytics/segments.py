"""Segment definitions: validate a JSON rule tree and compile it to one query over customers.

A definition is a tree of groups and conditions (docs/adr/0010-segments.md)::

    {"all": [                                     # every item holds   (AND)
        {"field": "region", "op": "in", "value": ["seoul", "gyeonggi"]},
        {"any": [                                 # at least one holds (OR)
            {"field": "rfm_segment", "op": "eq", "value": "at_risk"},
            {"field": "bought_category", "op": "within_last_days", "value": 90,
             "category": "skincare/serum"},
        ]},
        {"not": {"field": "consent", "op": "granted", "channel": "sms"}},
    ]}

``validate_definition`` checks it against the field catalogue (``FIELDS`` plus the customer
custom fields) and returns the normalized tree, or raises ``ValidationFailed`` whose errors name
the path of the offending part (``definition.all[1].any[0].value``). ``compile_definition``
turns a normalized tree into one ``Q`` over ``Customer``: plain columns, joins to the one-row
``CustomerMetrics``, and ``EXISTS`` / ``IN`` subqueries for consents, tags, grades, purchased
products and interactions. Compiling reads nothing from the database, so an evaluation is
exactly one SQL statement (``SELECT COUNT(*)``, the id list, or the ``INSERT … SELECT`` of a
snapshot).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from dangol.analytics.models import ChurnBand, CustomerGrade, GradeTier, RFMSegment
from dangol.commerce.models import Product, ProductCategory, PurchasedProduct
from dangol.core.errors import FieldError, ValidationFailed
from dangol.core.models import CustomFieldDefinition, CustomFieldType, Tag, TaggedItem, Team, User
from dangol.customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentStatus,
    Customer,
    Gender,
    Interaction,
    InteractionChannel,
    InteractionKind,
    LifecycleStage,
    RecordStatus,
    Region,
)

CUSTOMER_OBJECT_TYPE = "customers.customer"
CUSTOM_PREFIX = "custom."
MAX_DEPTH = 6
MAX_CONDITIONS = 60
MAX_LIST = 500
MAX_DAYS = 36_500
VISIT_CHANNELS = (InteractionChannel.STORE, InteractionChannel.VISIT)


class FieldType:
    """Value types of the catalogue; each has its operators (``OPERATORS``)."""

    CHOICE = "choice"
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    REFERENCE = "reference"  # ids of users / teams
    MULTI = "multi"  # a set of values: tags, multiple-choice custom fields
    GRADE = "grade"  # a tier code of the active grade programme (ranked)
    CONSENT = "consent"
    EVENT = "event"  # "did X in the last N days" behaviour


class Arity:
    """What an operator's ``value`` is."""

    NONE = "none"
    ONE = "one"
    LIST = "list"
    RANGE = "range"
    DAYS = "days"


@dataclass(frozen=True)
class Operator:
    code: str
    label: str | Promise
    arity: str


OPS: dict[str, Operator] = {
    o.code: o
    for o in (
        Operator("eq", _("is"), Arity.ONE),
        Operator("ne", _("is not"), Arity.ONE),
        Operator("in", _("is any of"), Arity.LIST),
        Operator("not_in", _("is none of"), Arity.LIST),
        Operator("has_any", _("has any of"), Arity.LIST),
        Operator("has_all", _("has all of"), Arity.LIST),
        Operator("has_none", _("has none of"), Arity.LIST),
        Operator("gt", _("greater than"), Arity.ONE),
        Operator("gte", _("at least"), Arity.ONE),
        Operator("lt", _("less than"), Arity.ONE),
        Operator("lte", _("at most"), Arity.ONE),
        Operator("between", _("between"), Arity.RANGE),
        Operator("contains", _("contains"), Arity.ONE),
        Operator("starts_with", _("starts with"), Arity.ONE),
        Operator("is_set", _("is set"), Arity.NONE),
        Operator("is_not_set", _("is not set"), Arity.NONE),
        Operator("within_last_days", _("in the last N days"), Arity.DAYS),
        Operator("not_within_last_days", _("not in the last N days"), Arity.DAYS),
        Operator("ever", _("ever"), Arity.NONE),
        Operator("never", _("never"), Arity.NONE),
        Operator("granted", _("has a current consent"), Arity.NONE),
        Operator("not_granted", _("has no current consent"), Arity.NONE),
    )
}

OPERATORS: dict[str, tuple[str, ...]] = {
    FieldType.CHOICE: ("eq", "ne", "in", "not_in", "is_set", "is_not_set"),
    FieldType.TEXT: ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_set", "is_not_set"),
    FieldType.NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"),
    FieldType.DATE: (
        "eq",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "within_last_days",
        "not_within_last_days",
        "is_set",
        "is_not_set",
    ),
    FieldType.BOOLEAN: ("eq", "is_set", "is_not_set"),
    FieldType.REFERENCE: ("in", "not_in", "is_set", "is_not_set"),
    FieldType.MULTI: ("has_any", "has_all", "has_none", "is_set", "is_not_set"),
    FieldType.GRADE: ("eq", "ne", "in", "not_in", "gte", "lte", "is_set", "is_not_set"),
    FieldType.CONSENT: ("granted", "not_granted"),
    FieldType.EVENT: ("within_last_days", "not_within_last_days", "ever", "never"),
}


@dataclass(frozen=True)
class Param:
    """An extra key of a behaviour or consent condition (``"category": "skincare"``)."""

    name: str
    label: str | Promise
    type: str  # "choice", "category", "product", "boolean"
    required: bool = False
    options: tuple[tuple[str, str | Promise], ...] = ()
    default: Any = None


@dataclass(frozen=True)
class FieldSpec:
    """One field a condition can test; ``path`` is the lookup on Customer (columns only)."""

    key: str
    label: str | Promise
    group: str
    type: str
    path: str = ""
    options: tuple[tuple[str, str | Promise], ...] = ()
    params: tuple[Param, ...] = ()
    ops: tuple[str, ...] = ()  # narrows OPERATORS[type] when set
    integer: bool = False
    custom: CustomFieldDefinition | None = field(default=None, compare=False)

    @property
    def operators(self) -> tuple[str, ...]:
        return self.ops or OPERATORS[self.type]


class Group:
    ATTRIBUTES = "attributes"
    PURCHASES = "purchases"
    METRICS = "metrics"
    GRADES = "grades"
    CONSENTS = "consents"
    BEHAVIOUR = "behaviour"
    CUSTOM = "custom"


GROUP_LABELS: dict[str, str | Promise] = {
    Group.ATTRIBUTES: _("Customer"),
    Group.PURCHASES: _("Purchases"),
    Group.METRICS: _("Analytics"),
    Group.GRADES: _("Grade"),
    Group.CONSENTS: _("Consent"),
    Group.BEHAVIOUR: _("Behaviour"),
    Group.CUSTOM: _("Custom fields"),
}

_CHANNEL_OPTIONS = tuple(ConsentChannel.choices)
_DAYS_OPS = ("within_last_days", "not_within_last_days", "ever", "never")

FIELDS: dict[str, FieldSpec] = {
    f.key: f
    for f in (
        # --- attributes
        FieldSpec(
            "lifecycle_stage",
            _("Lifecycle stage"),
            Group.ATTRIBUTES,
            FieldType.CHOICE,
            "lifecycle_stage",
            tuple(LifecycleStage.choices),
        ),
        FieldSpec(
            "status",
            _("Record status"),
            Group.ATTRIBUTES,
            FieldType.CHOICE,
            "status",
            tuple(c for c in RecordStatus.choices if c[0] != RecordStatus.MERGED),
        ),
        FieldSpec(
            "region",
            _("Region"),
            Group.ATTRIBUTES,
            FieldType.CHOICE,
            "region",
            tuple(Region.choices),
        ),
        FieldSpec(
            "gender",
            _("Gender"),
            Group.ATTRIBUTES,
            FieldType.CHOICE,
            "gender",
            tuple(c for c in Gender.choices if c[0]),
        ),
        FieldSpec(
            "age",
            _("Age"),
            Group.ATTRIBUTES,
            FieldType.NUMBER,
            "birth_date",
            ops=("eq", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"),
            integer=True,
        ),
        FieldSpec("signup_date", _("Signed up"), Group.ATTRIBUTES, FieldType.DATE, "created_at"),
        FieldSpec("owner", _("Owner"), Group.ATTRIBUTES, FieldType.REFERENCE, "owner_id"),
        FieldSpec("team", _("Team"), Group.ATTRIBUTES, FieldType.REFERENCE, "team_id"),
        FieldSpec("tags", _("Tags"), Group.ATTRIBUTES, FieldType.MULTI),
        FieldSpec("source", _("Source"), Group.ATTRIBUTES, FieldType.TEXT, "source"),
        FieldSpec(
            "signup_channel",
            _("Signup channel"),
            Group.ATTRIBUTES,
            FieldType.TEXT,
            "signup_channel",
        ),
        # --- purchase aggregates kept on the customer
        FieldSpec(
            "total_spent",
            _("Lifetime spend (KRW)"),
            Group.PURCHASES,
            FieldType.NUMBER,
            "total_spent",
        ),
        FieldSpec(
            "order_count",
            _("Orders (lifetime)"),
            Group.PURCHASES,
            FieldType.NUMBER,
            "order_count",
            integer=True,
        ),
        FieldSpec(
            "first_purchase",
            _("First purchase"),
            Group.PURCHASES,
            FieldType.DATE,
            "first_purchase_at",
        ),
        FieldSpec(
            "last_purchase", _("Last purchase"), Group.PURCHASES, FieldType.DATE, "last_purchase_at"
        ),
        # --- analytics (CustomerMetrics, one row per customer, as of the last engine run)
        FieldSpec(
            "recency_days",
            _("Days since last purchase"),
            Group.METRICS,
            FieldType.NUMBER,
            "metrics__recency_days",
            integer=True,
        ),
        FieldSpec(
            "frequency",
            _("Orders in the RFM window"),
            Group.METRICS,
            FieldType.NUMBER,
            "metrics__frequency",
            integer=True,
        ),
        FieldSpec(
            "monetary",
            _("Spend in the RFM window"),
            Group.METRICS,
            FieldType.NUMBER,
            "metrics__monetary",
        ),
        FieldSpec(
            "r_score",
            _("R score"),
            Group.METRICS,
            FieldType.NUMBER,
            "metrics__r_score",
            integer=True,
        ),
        FieldSpec(
            "f_score",
            _("F score"),
            Group.METRICS,
            FieldType.NUMBER,
            "metrics__f_score",
            integer=True,
        ),
        FieldSpec(
            "m_score",
            _("M score"),
            Group.METRICS,
            FieldType.NUMBER,
            "metrics__m_score",
            integer=True,
        ),
        FieldSpec(
            "rfm_segment",
            _("RFM segment"),
            Group.METRICS,
            FieldType.CHOICE,
            "metrics__rfm_segment",
            tuple(RFMSegment.choices),
        ),
        FieldSpec(
            "clv_12m", _("12-month CLV"), Group.METRICS, FieldType.NUMBER, "metrics__clv_12m"
        ),
        FieldSpec(
            "p_alive", _("Probability active"), Group.METRICS, FieldType.NUMBER, "metrics__p_alive"
        ),
        FieldSpec(
            "expected_purchases_90d",
            _("Expected purchases (90 days)"),
            Group.METRICS,
            FieldType.NUMBER,
            "metrics__expected_purchases_90d",
        ),
        FieldSpec(
            "churn_risk", _("Churn risk"), Group.METRICS, FieldType.NUMBER, "metrics__churn_risk"
        ),
        FieldSpec(
            "churn_band",
            _("Churn band"),
            Group.METRICS,
            FieldType.CHOICE,
            "metrics__churn_band",
            tuple(ChurnBand.choices),
        ),
        # --- grade
        FieldSpec("grade", _("Grade"), Group.GRADES, FieldType.GRADE),
        # --- consents
        FieldSpec(
            "consent",
            _("Consent"),
            Group.CONSENTS,
            FieldType.CONSENT,
            params=(
                Param(
                    "channel",
                    _("Channel"),
                    "choice",
                    True,
                    (("any", _("Any channel")), *_CHANNEL_OPTIONS),
                ),
                Param(
                    "purpose",
                    _("Purpose"),
                    "choice",
                    False,
                    tuple(ConsentPurpose.choices),
                    ConsentPurpose.MARKETING.value,
                ),
                Param(
                    "night_time",
                    _("Night-time (21:00–08:00) consent too"),
                    "boolean",
                    False,
                    (),
                    False,
                ),
            ),
        ),
        # --- behaviour
        FieldSpec(
            "bought_category",
            _("Bought in category (with subcategories)"),
            Group.BEHAVIOUR,
            FieldType.EVENT,
            params=(Param("category", _("Category"), "category", True),),
        ),
        FieldSpec(
            "bought_product",
            _("Bought product"),
            Group.BEHAVIOUR,
            FieldType.EVENT,
            params=(Param("product", _("Product (SKU)"), "product", True),),
        ),
        FieldSpec("last_visit", _("Visited a store"), Group.BEHAVIOUR, FieldType.EVENT),
        FieldSpec(
            "interaction",
            _("Interaction (e.g. opened a message)"),
            Group.BEHAVIOUR,
            FieldType.EVENT,
            params=(
                Param("channel", _("Channel"), "choice", False, tuple(InteractionChannel.choices)),
                Param("kind", _("Kind"), "choice", False, tuple(InteractionKind.choices)),
            ),
        ),
    )
}


# --- the catalogue, with the custom fields --------------------------------------------------


def custom_field_specs(
    definitions: Iterable[CustomFieldDefinition] | None = None,
) -> dict[str, FieldSpec]:
    """The customer custom fields as catalogue entries (``custom.<key>``)."""
    if definitions is None:
        definitions = CustomFieldDefinition.objects.filter(
            object_type=CUSTOMER_OBJECT_TYPE
        ).order_by("order", "key")
    types = {
        CustomFieldType.TEXT: FieldType.TEXT,
        CustomFieldType.NUMBER: FieldType.NUMBER,
        CustomFieldType.DATE: FieldType.DATE,
        CustomFieldType.CHOICE: FieldType.CHOICE,
        CustomFieldType.MULTI_CHOICE: FieldType.MULTI,
        CustomFieldType.BOOLEAN: FieldType.BOOLEAN,
    }
    specs = {}
    for d in definitions:
        ftype = types.get(CustomFieldType(d.field_type), FieldType.TEXT)
        options = tuple((str(c), str(c)) for c in (d.choices or []))
        ops = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set")
        specs[f"{CUSTOM_PREFIX}{d.key}"] = FieldSpec(
            f"{CUSTOM_PREFIX}{d.key}",
            d.label,
            Group.CUSTOM,
            ftype,
            f"custom_fields__{d.key}",
            options,
            ops=ops if ftype == FieldType.NUMBER else (),
            custom=d,
        )
    return specs


def catalogue() -> list[dict[str, Any]]:
    """Every field with its operators, options and parameters: what the rule builder shows.

    Reads the option lists (owners, teams, tags, tiers, categories, custom fields): for pages,
    never for evaluations.
    """
    users = [
        (str(u.pk), str(u))
        for u in User.objects.filter(is_active=True).order_by("display_name", "id")
    ]
    teams = [(str(t.pk), t.name) for t in Team.objects.order_by("name")]
    tags = [(t.name, t.name) for t in Tag.objects.order_by("name")]
    tiers = [
        (t.code, t.name) for t in GradeTier.objects.filter(program__is_active=True).order_by("rank")
    ]
    categories = [(c.path, c.path) for c in ProductCategory.objects.order_by("path")]
    dynamic: dict[str, list[tuple[str, str]]] = {
        "owner": users,
        "team": teams,
        "tags": tags,
        "grade": tiers,
    }
    out = []
    for spec in [*FIELDS.values(), *custom_field_specs().values()]:
        options = dynamic.get(spec.key, spec.options)
        out.append(
            {
                "key": spec.key,
                "label": str(spec.label),
                "group": spec.group,
                "group_label": str(GROUP_LABELS[spec.group]),
                "type": spec.type,
                "integer": spec.integer,
                "options": [{"value": v, "label": str(lbl)} for v, lbl in options],
                "operators": [
                    {"op": op, "label": str(OPS[op].label), "arity": OPS[op].arity}
                    for op in spec.operators
                ],
                "params": [
                    {
                        "name": p.name,
                        "label": str(p.label),
                        "type": p.type,
                        "required": p.required,
                        "default": p.default,
                        "options": [
                            {"value": v, "label": str(lbl)}
                            for v, lbl in (categories if p.type == "category" else p.options)
                        ],
                    }
                    for p in spec.params
                ],
            }
        )
    return out


# --- validation ---------------------------------------------------------------------------


class _Validator:
    """Walks a definition, collecting every error with its path; returns the normalized tree."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.conditions = 0
        self._custom: dict[str, FieldSpec] | None = None
        # Reference checks are batched: {kind: {value: [paths]}}
        self.refs: dict[str, dict[Any, list[str]]] = {}

    def error(self, path: str, code: str, message: Any) -> None:
        self.errors.append(FieldError(path, code, message))

    @property
    def custom(self) -> dict[str, FieldSpec]:
        if self._custom is None:
            self._custom = custom_field_specs()
        return self._custom

    def node(self, node: Any, path: str, depth: int) -> dict[str, Any] | None:
        if not isinstance(node, dict):
            self.error(path, "invalid", gettext("Expected a group or a condition (an object)."))
            return None
        if depth > MAX_DEPTH:
            self.error(
                path, "too_deep", gettext("Groups nest at most %(n)d deep.") % {"n": MAX_DEPTH}
            )
            return None
        keys = set(node)
        for kind in ("all", "any"):
            if kind in node:
                if keys != {kind}:
                    self.error(
                        path, "invalid", gettext("A group has exactly one key: all, any or not.")
                    )
                    return None
                items = node[kind]
                if not isinstance(items, list):
                    self.error(
                        f"{path}.{kind}", "invalid", gettext("Expected a list of conditions.")
                    )
                    return None
                if not items and depth > 0:
                    self.error(
                        f"{path}.{kind}",
                        "empty",
                        gettext("Add at least one condition to this group."),
                    )
                    return None
                children = [
                    self.node(item, f"{path}.{kind}[{i}]", depth + 1)
                    for i, item in enumerate(items)
                ]
                return {kind: [c for c in children if c is not None]}
        if "not" in node:
            if keys != {"not"}:
                self.error(
                    path, "invalid", gettext("A group has exactly one key: all, any or not.")
                )
                return None
            child = self.node(node["not"], f"{path}.not", depth + 1)
            return {"not": child} if child is not None else None
        if "field" in node:
            return self.condition(node, path)
        self.error(
            path, "invalid", gettext('Expected "all", "any", "not" or a condition with "field".')
        )
        return None

    def spec(self, key: Any, path: str) -> FieldSpec | None:
        if not isinstance(key, str) or not key:
            self.error(f"{path}.field", "required", gettext("Choose a field."))
            return None
        spec = FIELDS.get(key) or (self.custom.get(key) if key.startswith(CUSTOM_PREFIX) else None)
        if spec is None:
            self.error(
                f"{path}.field", "unknown_field", gettext("Unknown field: %(f)s.") % {"f": key}
            )
        return spec

    def condition(self, node: dict[str, Any], path: str) -> dict[str, Any] | None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            if self.conditions == MAX_CONDITIONS + 1:
                self.error(
                    path,
                    "too_many",
                    gettext("A segment has at most %(n)d conditions.") % {"n": MAX_CONDITIONS},
                )
            return None
        spec = self.spec(node.get("field"), path)
        if spec is None:
            return None
        op = node.get("op")
        if op not in spec.operators:
            self.error(
                f"{path}.op",
                "invalid_choice",
                gettext("Choose one of: %(ops)s.") % {"ops": ", ".join(spec.operators)},
            )
            return None
        allowed = {"field", "op", "value", *(p.name for p in spec.params)}
        unknown = sorted(set(node) - allowed)
        if unknown:
            self.error(
                f"{path}.{unknown[0]}",
                "unknown_key",
                gettext("Unknown key: %(k)s.") % {"k": unknown[0]},
            )
            return None
        out: dict[str, Any] = {"field": spec.key, "op": op}
        value = self.value(spec, op, node.get("value"), f"{path}.value")
        if value is _INVALID:
            return None
        if OPS[op].arity != Arity.NONE:
            out["value"] = value
        for param in spec.params:
            pvalue = self.param(spec, param, node.get(param.name), f"{path}.{param.name}")
            if pvalue is _INVALID:
                return None
            if pvalue is not None:
                out[param.name] = pvalue
        return out

    # values ---------------------------------------------------------------------------------

    def value(self, spec: FieldSpec, op: str, raw: Any, path: str) -> Any:
        arity = OPS[op].arity
        if arity == Arity.NONE:
            return None
        if raw is None or raw == "" or raw == []:
            self.error(path, "required", gettext("Enter a value."))
            return _INVALID
        if arity == Arity.DAYS:
            return self.days(raw, path)
        if arity == Arity.LIST:
            if not isinstance(raw, list):
                raw = [raw]
            if len(raw) > MAX_LIST:
                self.error(path, "too_many", gettext("At most %(n)d values.") % {"n": MAX_LIST})
                return _INVALID
            values = [self.scalar(spec, item, f"{path}[{i}]") for i, item in enumerate(raw)]
            if any(v is _INVALID for v in values):
                return _INVALID
            return list(dict.fromkeys(values))
        if arity == Arity.RANGE:
            if not isinstance(raw, list) or len(raw) != 2:
                self.error(path, "invalid", gettext("Enter two values: from and to."))
                return _INVALID
            low = self.scalar(spec, raw[0], f"{path}[0]")
            high = self.scalar(spec, raw[1], f"{path}[1]")
            if low is _INVALID or high is _INVALID:
                return _INVALID
            if low > high:
                self.error(
                    path, "invalid_range", gettext("The first value must not exceed the second.")
                )
                return _INVALID
            return [low, high]
        if (
            spec.type == FieldType.TEXT
            and op in ("contains", "starts_with")
            and isinstance(raw, str)
        ):
            return raw.strip()[:200]
        return self.scalar(spec, raw, path)

    def days(self, raw: Any, path: str) -> Any:
        try:
            days = int(str(raw).strip())
        except ValueError:
            days = -1
        if not 0 < days <= MAX_DAYS:
            self.error(
                path,
                "invalid",
                gettext("Enter a number of days between 1 and %(n)d.") % {"n": MAX_DAYS},
            )
            return _INVALID
        return days

    def scalar(self, spec: FieldSpec, raw: Any, path: str) -> Any:
        t = spec.type
        if t == FieldType.NUMBER:
            if isinstance(raw, bool):
                raw = "x"
            try:
                number = Decimal(str(raw).strip())
                if not number.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                self.error(path, "invalid", gettext("Enter a number."))
                return _INVALID
            if spec.integer and number != number.to_integral_value():
                self.error(path, "invalid", gettext("Enter a whole number."))
                return _INVALID
            if spec.key == "age" and not 0 <= number <= 150:
                self.error(path, "invalid", gettext("Enter an age between 0 and 150."))
                return _INVALID
            return int(number) if number == number.to_integral_value() else float(number)
        if t == FieldType.DATE:
            try:
                return dt.date.fromisoformat(str(raw).strip()[:10]).isoformat()
            except ValueError:
                self.error(path, "invalid", gettext("Enter a date as YYYY-MM-DD."))
                return _INVALID
        if t == FieldType.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in {"true", "1", "yes"}:
                return True
            if lowered in {"false", "0", "no"}:
                return False
            self.error(path, "invalid", gettext("Enter true or false."))
            return _INVALID
        if t == FieldType.REFERENCE:
            try:
                ref = int(str(raw).strip())
            except ValueError:
                self.error(path, "invalid", gettext("Enter an id."))
                return _INVALID
            self.refs.setdefault(spec.key, {}).setdefault(ref, []).append(path)
            return ref
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            self.error(path, "invalid", gettext("Enter a text value."))
            return _INVALID
        text = str(raw).strip()
        if not text or len(text) > 200:
            self.error(path, "invalid", gettext("Enter a value of 1 to 200 characters."))
            return _INVALID
        known = {v for v, _lbl in spec.options}
        if known and spec.key not in ("tags", "grade") and text not in known:
            self.error(path, "invalid_choice", gettext("Not a valid choice: %(v)s.") % {"v": text})
            return _INVALID
        if spec.key in ("tags", "grade"):
            self.refs.setdefault(spec.key, {}).setdefault(text, []).append(path)
        return text

    def param(self, spec: FieldSpec, param: Param, raw: Any, path: str) -> Any:
        if raw is None or raw == "":
            if param.required:
                self.error(path, "required", gettext("Choose a value."))
                return _INVALID
            return param.default
        if param.type == "boolean":
            if not isinstance(raw, bool):
                self.error(path, "invalid", gettext("Enter true or false."))
                return _INVALID
            return raw
        if not isinstance(raw, str) or len(raw) > 500:
            self.error(path, "invalid", gettext("Enter a text value."))
            return _INVALID
        raw = raw.strip().strip("/") if param.type == "category" else raw.strip()
        if param.type == "choice" and raw not in {v for v, _lbl in param.options}:
            self.error(path, "invalid_choice", gettext("Not a valid choice: %(v)s.") % {"v": raw})
            return _INVALID
        if param.type in ("category", "product"):
            self.refs.setdefault(param.type, {}).setdefault(raw, []).append(path)
        return raw

    def check_references(self) -> None:
        """One query per kind of reference used: unknown ids, codes and paths are errors."""
        lookups: dict[str, tuple[Callable[[list[Any]], Iterable[Any]], str]] = {
            "owner": (
                lambda v: User.objects.filter(pk__in=v).values_list("pk", flat=True),
                gettext("No such user: %(v)s."),
            ),
            "team": (
                lambda v: Team.objects.filter(pk__in=v).values_list("pk", flat=True),
                gettext("No such team: %(v)s."),
            ),
            "tags": (
                lambda v: Tag.objects.filter(name__in=v).values_list("name", flat=True),
                gettext("No such tag: %(v)s."),
            ),
            "grade": (
                lambda v: GradeTier.objects.filter(program__is_active=True, code__in=v).values_list(
                    "code", flat=True
                ),
                gettext("No such grade in the active grade programme: %(v)s."),
            ),
            "category": (
                lambda v: ProductCategory.objects.filter(path__in=v).values_list("path", flat=True),
                gettext("No such category: %(v)s."),
            ),
            "product": (
                lambda v: Product.objects.filter(sku__in=v).values_list("sku", flat=True),
                gettext("No product has the SKU %(v)s."),
            ),
        }
        for kind, wanted in self.refs.items():
            lookup, message = lookups[kind]
            found = set(lookup(list(wanted)))
            for value, paths in wanted.items():
                if value not in found:
                    for path in paths:
                        self.error(path, "not_found", message % {"v": value})


class _Invalid:
    pass


_INVALID: Any = _Invalid()


def validate_definition(definition: Any, *, path: str = "definition") -> dict[str, Any]:
    """The normalized definition, or ``ValidationFailed`` listing every error with its path.

    Reads custom field definitions and the referenced users, teams, tags, tiers, categories and
    products (a few queries); evaluations of the result read nothing more.
    """
    validator = _Validator()
    if not isinstance(definition, dict) or not ({"all", "any", "not"} & set(definition)):
        raise ValidationFailed.single(
            path,
            "invalid",
            gettext('A definition is a group: {"all": [...]}, {"any": [...]} or {"not": {...}}.'),
        )
    normalized = validator.node(definition, path, 0)
    if not validator.errors:
        validator.check_references()
    if validator.errors or normalized is None:
        raise ValidationFailed(
            validator.errors, message=gettext("The segment definition is not valid.")
        )
    return normalized


# --- compilation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """The moment a definition is evaluated at (relative dates, ages)."""

    now: dt.datetime
    today: dt.date

    @classmethod
    def current(cls) -> Clock:
        return cls(timezone.now(), timezone.localdate())

    def days_ago(self, days: int) -> dt.datetime:
        """The start of the local day `days` before today (a whole-day window)."""
        day = self.today - dt.timedelta(days=days)
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

    def years_ago(self, years: int) -> dt.date:
        try:
            return self.today.replace(year=self.today.year - years)
        except ValueError:  # 29 February
            return self.today.replace(year=self.today.year - years, day=28)


def compile_definition(definition: dict[str, Any], clock: Clock | None = None) -> Q:
    """One Q over Customer for a normalized definition (see ``validate_definition``)."""
    return _Compiler(clock or Clock.current()).node(definition)


def _cost(node: dict[str, Any]) -> int:
    """How expensive a node is to test per customer: 0 a column, 1 a one-row probe (metrics,
    consent, grade, tags), 2 a group, 3 behaviour over orders, lines or interactions."""
    if "field" not in node:
        return 2
    spec = FIELDS.get(node["field"])
    if spec is None:
        return 0  # custom fields live in the customer row
    if spec.type == FieldType.EVENT:
        return 3
    if spec.type in (FieldType.CONSENT, FieldType.GRADE, FieldType.MULTI):
        return 1
    return 0


class _Compiler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def node(self, node: dict[str, Any]) -> Q:
        if "all" in node:
            q = Q()
            # Cheap tests first: PostgreSQL plans the conjunction as a whole, but SQLite tests
            # the terms in the order written, so a column or a one-row consent probe then spares
            # most customers the behaviour subquery (orders, lines, interactions).
            for child in sorted(node["all"], key=_cost):
                q &= self.node(child)
            return q
        if "any" in node:
            items = [self.node(child) for child in node["any"]]
            if not items:
                return Q(pk__in=[])
            q = items[0]
            for item in items[1:]:
                q |= item
            return q
        if "not" in node:
            return ~self.node(node["not"])
        return self.condition(node)

    def condition(self, c: dict[str, Any]) -> Q:
        key = c["field"]
        spec = FIELDS.get(key)
        if spec is None and key.startswith(CUSTOM_PREFIX):
            return self.custom(key[len(CUSTOM_PREFIX) :], c)
        assert spec is not None, key
        handler = getattr(self, f"field_{key}", None)
        if handler is not None:
            q: Q = handler(c)
            return q
        return self.column(spec, c["op"], c.get("value"))

    # plain columns ---------------------------------------------------------------------------

    def column(self, spec: FieldSpec, op: str, value: Any) -> Q:
        path = spec.path
        blank = spec.type in (FieldType.CHOICE, FieldType.TEXT)
        if spec.type == FieldType.DATE:
            value = self.date_value(spec, value)
        if op == "eq":
            if spec.type == FieldType.DATE and isinstance(value, dt.datetime):
                return Q(**{f"{path}__gte": value, f"{path}__lt": value + dt.timedelta(days=1)})
            return Q(**{path: value})
        if op == "ne":
            return ~Q(**{path: value})
        if op == "in":
            return Q(**{f"{path}__in": value})
        if op == "not_in":
            return ~Q(**{f"{path}__in": value})
        if op in ("gt", "gte", "lt", "lte"):
            if (
                spec.type == FieldType.DATE
                and isinstance(value, dt.datetime)
                and op in ("gt", "lte")
            ):
                value = value + dt.timedelta(days=1)  # after / up to the whole day
                op = "gte" if op == "gt" else "lt"
            return Q(**{f"{path}__{op}": value})
        if op == "between":
            low, high = value
            if spec.type == FieldType.DATE and isinstance(high, dt.datetime):
                return Q(**{f"{path}__gte": low, f"{path}__lt": high + dt.timedelta(days=1)})
            return Q(**{f"{path}__gte": low, f"{path}__lte": high})
        if op == "contains":
            return Q(**{f"{path}__icontains": value})
        if op == "starts_with":
            return Q(**{f"{path}__istartswith": value})
        if op == "within_last_days":
            return Q(**{f"{path}__gte": self.since(spec, value)})
        if op == "not_within_last_days":
            return ~Q(**{f"{path}__gte": self.since(spec, value)})
        if op == "is_set":
            q = Q(**{f"{path}__isnull": False})
            return q & ~Q(**{path: ""}) if blank else q
        if op == "is_not_set":
            q = Q(**{f"{path}__isnull": True})
            return q | Q(**{path: ""}) if blank else q
        raise AssertionError(op)

    def date_value(self, spec: FieldSpec, value: Any) -> Any:
        """Dates in a definition are local days; datetime columns compare from local midnight."""

        def convert(v: Any) -> Any:
            if isinstance(v, str) and not spec.path.startswith("custom_fields__"):
                day = dt.date.fromisoformat(v)
                if spec.path.endswith("_at"):
                    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
                return day
            return v

        return [convert(v) for v in value] if isinstance(value, list) else convert(value)

    def since(self, spec: FieldSpec, days: int) -> Any:
        if spec.path.endswith("_at"):
            return self.clock.days_ago(days)
        day = self.clock.today - dt.timedelta(days=days)
        return day.isoformat() if spec.path.startswith("custom_fields__") else day

    # attributes that need more than a column -------------------------------------------------

    def field_age(self, c: dict[str, Any]) -> Q:
        """Age in whole years from birth_date, as a range of birth dates (index-friendly)."""
        op, value = c["op"], c.get("value")
        if op in ("is_set", "is_not_set"):
            return Q(birth_date__isnull=op == "is_not_set")
        assert value is not None
        low: int | None = None
        high: int | None = None
        if op == "between":
            low, high = value
        elif op == "eq":
            low = high = value
        elif op in ("gt", "gte"):
            low = value + 1 if op == "gt" else value
        else:
            high = value - 1 if op == "lt" else value
        q = Q(birth_date__isnull=False)
        if low is not None:
            q &= Q(birth_date__lte=self.clock.years_ago(int(low)))
        if high is not None:
            q &= Q(birth_date__gt=self.clock.years_ago(int(high) + 1))
        return q

    def field_tags(self, c: dict[str, Any]) -> Q:
        op, names = c["op"], c.get("value") or []

        def tagged(filter_q: Q) -> Any:
            return TaggedItem.objects.filter(
                filter_q, content_type__app_label="customers", content_type__model="customer"
            ).values("object_id")

        if op == "is_set":
            return Q(pk__in=tagged(Q()))
        if op == "is_not_set":
            return ~Q(pk__in=tagged(Q()))
        if op == "has_any":
            return Q(pk__in=tagged(Q(tag__name__in=names)))
        if op == "has_none":
            return ~Q(pk__in=tagged(Q(tag__name__in=names)))
        q = Q()
        for name in names:  # has_all
            q &= Q(pk__in=tagged(Q(tag__name=name)))
        return q

    def field_grade(self, c: dict[str, Any]) -> Q:
        """Grades by tier id: the few matching tiers of the active programme are a tiny subquery,
        so the grades are found through the tier index instead of a join over every grade."""
        op, value = c["op"], c.get("value")
        active = GradeTier.objects.filter(program__is_active=True)
        if op in ("is_set", "is_not_set"):
            tiers = active
        elif op in ("gte", "lte"):
            rank = active.filter(code=value).values("rank")[:1]
            tiers = active.filter(**{f"rank__{op}": rank})
        else:
            tiers = active.filter(code__in=value if isinstance(value, list) else [value])
        q = Q(
            pk__in=CustomerGrade.objects.filter(tier__in=tiers.values("pk")).values("customer_id")
        )
        return q if op in ("is_set", "eq", "in", "gte", "lte") else ~q

    def field_consent(self, c: dict[str, Any]) -> Q:
        """A current consent: granted and not past its reconfirmation date (Consent.is_current)."""
        consents = Consent.objects.filter(
            Q(reconfirm_due__isnull=True) | Q(reconfirm_due__gte=self.clock.today),
            customer=OuterRef("pk"),
            purpose=c.get("purpose") or ConsentPurpose.MARKETING,
            status=ConsentStatus.GRANTED,
        )
        if c.get("channel") and c["channel"] != "any":
            consents = consents.filter(channel=c["channel"])
        if c.get("night_time"):
            consents = consents.filter(night_time=True)
        q = Q(Exists(consents))
        return q if c["op"] == "granted" else ~q

    # behaviour -------------------------------------------------------------------------------

    def event(self, c: dict[str, Any], rows: QuerySet[Any], at: str) -> Q:
        """EXISTS over `rows` (correlated to the customer), windowed on the `at` column."""
        op = c["op"]
        if op in ("within_last_days", "not_within_last_days"):
            rows = rows.filter(**{f"{at}__gte": self.clock.days_ago(int(c["value"]))})
        q = Q(Exists(rows))
        return q if op in ("within_last_days", "ever") else ~q

    def _bought(self, c: dict[str, Any], products: QuerySet[Product]) -> Q:
        """What the customer bought, from ``PurchasedProduct`` (one row per customer and product,
        kept by every writer of orders): "in the last N days" is a range of its (product,
        last purchase) index, not a scan of the order lines."""
        rows = PurchasedProduct.objects.filter(customer=OuterRef("pk"), product__in=products)
        return self.event(c, rows, "last_at")

    def field_bought_category(self, c: dict[str, Any]) -> Q:
        path = c["category"]
        subtree = ProductCategory.objects.filter(Q(path=path) | Q(path__startswith=f"{path}/"))
        return self._bought(c, Product.objects.filter(category__in=subtree))

    def field_bought_product(self, c: dict[str, Any]) -> Q:
        return self._bought(c, Product.objects.filter(sku=c["product"]))

    def field_last_visit(self, c: dict[str, Any]) -> Q:
        rows = Interaction.objects.filter(customer=OuterRef("pk"), channel__in=VISIT_CHANNELS)
        return self.event(c, rows, "occurred_at")

    def field_interaction(self, c: dict[str, Any]) -> Q:
        """Any interaction of a channel/kind. Campaign opens plug in here (ADR 0010)."""
        rows = Interaction.objects.filter(customer=OuterRef("pk"))
        if c.get("channel"):
            rows = rows.filter(channel=c["channel"])
        if c.get("kind"):
            rows = rows.filter(kind=c["kind"])
        return self.event(c, rows, "occurred_at")

    # custom fields -----------------------------------------------------------------------------

    def custom(self, key: str, c: dict[str, Any]) -> Q:
        """Custom fields compare inside the JSON column; values were typed by validation."""
        op, value = c["op"], c.get("value")
        value = value if value is not None else []
        path = f"custom_fields__{key}"
        has = Q(custom_fields__has_key=key) & ~Q(**{path: None})
        if op == "is_set":
            return has
        if op == "is_not_set":
            return ~has
        if op in ("has_any", "has_all", "has_none"):
            parts = [self._json_contains(path, v) for v in value]
            q = parts[0]
            for part in parts[1:]:
                q = q & part if op == "has_all" else q | part
            # a missing key makes the test NULL: "has none" must count it as none
            return ~q | ~has if op == "has_none" else q
        spec = FieldSpec(c["field"], "", Group.CUSTOM, FieldType.TEXT, path)
        if op in ("within_last_days", "not_within_last_days"):
            cutoff = (self.clock.today - dt.timedelta(days=int(c["value"]))).isoformat()
            q = Q(**{f"{path}__gte": cutoff})
            return q if op == "within_last_days" else ~q | ~has
        if op in ("ne", "not_in"):
            return self.column(spec, "eq" if op == "ne" else "in", value).__invert__() | ~has
        if op in ("eq", "in", "gt", "gte", "lt", "lte", "between"):
            return self.column(spec, op, value)
        if op == "contains":
            return Q(**{f"{path}__icontains": value})
        if op == "starts_with":
            return Q(**{f"{path}__istartswith": value})
        raise AssertionError(op)

    @staticmethod
    def _json_contains(path: str, value: Any) -> Q:
        if connection.vendor == "postgresql":
            return Q(**{f"{path}__contains": [value]})
        # SQLite has no JSON containment: match the element's JSON text inside the array's.
        ascii_form = json.dumps(value)
        raw_form = json.dumps(value, ensure_ascii=False)
        q = Q(**{f"{path}__icontains": ascii_form})
        return q | Q(**{f"{path}__icontains": raw_form}) if raw_form != ascii_form else q


# --- evaluation ---------------------------------------------------------------------------------


def base_queryset() -> QuerySet[Customer]:
    """Every customer a segment can hold: merged-away records never count."""
    return Customer.objects.exclude(status=RecordStatus.MERGED)


def evaluate(
    definition: dict[str, Any], base: QuerySet[Customer] | None = None, clock: Clock | None = None
) -> QuerySet[Customer]:
    """The customers of `base` matching a normalized definition (one query when evaluated)."""
    qs = base if base is not None else base_queryset()
    return qs.filter(compile_definition(definition, clock))
