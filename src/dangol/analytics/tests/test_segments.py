"""The segment compiler: every condition type and operator, nested groups, validation errors with
their paths, one SQL query per evaluation, visibility and static snapshots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dangol.analytics import segment_selectors, segment_services, segments
from dangol.analytics.models import (
    CustomerGrade,
    CustomerMetrics,
    GradeProgram,
    GradeTier,
    SegmentKind,
)
from dangol.commerce import services as commerce
from dangol.core.errors import ValidationFailed
from dangol.core.models import CustomFieldType
from dangol.core.services import define_custom_field, tag_objects
from dangol.customers import services as customers
from dangol.customers.models import Consent, Customer

SEOUL = ZoneInfo("Asia/Seoul")
TODAY = timezone.localdate()


def ids(definition: dict[str, Any]) -> set[str]:
    """The names of the customers a definition selects (validated, then compiled)."""
    normalized = segments.validate_definition(definition)
    return set(segments.evaluate(normalized).values_list("full_name", flat=True))


def cond(field: str, op: str, value: Any = None, **params: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"field": field, "op": op, **params}
    if value is not None:
        c["value"] = value
    return {"all": [c]}


def days_ago(n: int) -> dt.datetime:
    return dt.datetime.combine(TODAY - dt.timedelta(days=n), dt.time(12), SEOUL)


@pytest.fixture
def shop(admin: Any, make_customer: Any, make_user: Any) -> dict[str, Any]:
    """Four customers with known attributes, orders, consents, visits, tags and analytics."""
    seoul_rep = make_user("rep", "seoul")
    busan_rep = make_user("rep", "busan")
    define_custom_field(
        object_type="customers.customer", key="vip", label="VIP", field_type=CustomFieldType.BOOLEAN
    )
    define_custom_field(
        object_type="customers.customer", key="score", label="Score", field_type="number"
    )
    define_custom_field(
        object_type="customers.customer",
        key="hobbies",
        label="Hobbies",
        field_type=CustomFieldType.MULTI_CHOICE,
        choices=["golf", "요가", "camping"],
    )
    define_custom_field(
        object_type="customers.customer",
        key="joined",
        label="Joined club",
        field_type=CustomFieldType.DATE,
    )
    a = make_customer(
        full_name="김민준",
        region="seoul",
        gender="M",
        lifecycle_stage="repeat",
        birth_date=TODAY.replace(year=TODAY.year - 30) - dt.timedelta(days=1),
        owner=seoul_rep,
        source="web",
        custom_fields={
            "vip": True,
            "score": 7,
            "hobbies": ["golf", "요가"],
            "joined": "2024-05-01",
        },
    )
    b = make_customer(
        full_name="이서연",
        region="busan",
        gender="F",
        lifecycle_stage="customer",
        birth_date=TODAY.replace(year=TODAY.year - 45),
        owner=busan_rep,
        source="store",
        custom_fields={"vip": False, "score": 3, "hobbies": ["camping"]},
    )
    c = make_customer(full_name="박지우", region="seoul", gender="F", lifecycle_stage="lead")
    d = make_customer(full_name="최하은", lifecycle_stage="lapsed", source="kakao-plus")
    root = commerce.create_category(name="스킨케어", slug="skincare", actor=admin)
    serum = commerce.create_category(name="세럼", slug="serum", parent=root, actor=admin)
    makeup = commerce.create_category(name="메이크업", slug="makeup", actor=admin)
    p_serum = commerce.create_product(
        actor=admin, sku="SERUM-1", name="세럼", price=Decimal(30000), category=serum
    )
    p_lip = commerce.create_product(
        actor=admin, sku="LIP-1", name="립", price=Decimal(15000), category=makeup
    )

    def buy(customer: Customer, product: Any, when: dt.datetime, amount: int) -> Any:
        return commerce.place_order(
            data=commerce.OrderInput(
                customer=customer,
                lines=[commerce.LineInput(product=product, quantity=1, unit_price=Decimal(amount))],
                placed_at=when,
            ),
            actor=admin,
        )

    buy(a, p_serum, days_ago(10), 300_000)
    buy(a, p_lip, days_ago(200), 50_000)
    buy(b, p_lip, days_ago(40), 20_000)
    # A cancelled order is no purchase for the behaviour rules (the customer's own purchase
    # dates are the commerce services' business and keep it).
    cancelled = buy(c, p_serum, days_ago(5), 30_000)
    commerce.cancel_order(order=cancelled, actor=admin)
    customers.grant_consent(customer=a, channel="sms", actor=admin, night_time=True)
    customers.grant_consent(customer=b, channel="sms", actor=admin)
    customers.grant_consent(customer=c, channel="email", actor=admin)
    Consent.objects.filter(customer=b).update(reconfirm_due=TODAY - dt.timedelta(days=1))
    customers.record_interaction(
        customer=a, channel="store", kind="visit", actor=admin, occurred_at=days_ago(20)
    )
    customers.record_interaction(
        customer=b, channel="visit", kind="visit", actor=admin, occurred_at=days_ago(400)
    )
    customers.record_interaction(
        customer=c, channel="app", kind="web_event", actor=admin, occurred_at=days_ago(3)
    )
    tag_objects(objs=[a, b], names=["VIP 행사"], actor=admin)
    tag_objects(objs=[a], names=["도매"], actor=admin)
    program = GradeProgram.objects.create(name="멤버십", is_active=True)
    welcome = GradeTier.objects.create(program=program, code="welcome", name="Welcome", rank=0)
    gold = GradeTier.objects.create(program=program, code="gold", name="Gold", rank=2)
    silver = GradeTier.objects.create(program=program, code="silver", name="Silver", rank=1)
    now = timezone.now()
    for customer, tier in ((a, gold), (b, silver), (c, welcome)):
        CustomerGrade.objects.create(
            customer=customer, program=program, tier=tier, since=TODAY, evaluated_at=now
        )
    CustomerMetrics.objects.bulk_create(
        [
            CustomerMetrics(
                customer=a,
                recency_days=10,
                frequency=2,
                monetary=Decimal(350_000),
                r_score=5,
                f_score=4,
                m_score=5,
                rfm_segment="champions",
                clv_12m=500_000.0,
                p_alive=0.95,
                churn_risk=0.1,
                churn_band="low",
                expected_purchases_90d=1.5,
                grade=gold,
                computed_at=now,
            ),
            CustomerMetrics(
                customer=b,
                recency_days=40,
                frequency=1,
                monetary=Decimal(20_000),
                r_score=3,
                f_score=1,
                m_score=1,
                rfm_segment="at_risk",
                clv_12m=20_000.0,
                p_alive=0.4,
                churn_risk=0.7,
                churn_band="high",
                expected_purchases_90d=0.2,
                grade=silver,
                computed_at=now,
            ),
        ]
    )
    return {"a": a, "b": b, "c": c, "d": d, "admin": admin, "seoul_rep": seoul_rep}


ALL = {"김민준", "이서연", "박지우", "최하은"}


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (cond("region", "eq", "seoul"), {"김민준", "박지우"}),
        (cond("region", "ne", "seoul"), {"이서연", "최하은"}),
        (cond("region", "in", ["busan", "jeju"]), {"이서연"}),
        (cond("region", "not_in", ["busan"]), {"김민준", "박지우", "최하은"}),
        (cond("region", "is_set"), {"김민준", "이서연", "박지우"}),
        (cond("region", "is_not_set"), {"최하은"}),
        (cond("gender", "eq", "F"), {"이서연", "박지우"}),
        (cond("lifecycle_stage", "in", ["repeat", "lapsed"]), {"김민준", "최하은"}),
        (cond("status", "eq", "active"), ALL),
        (cond("source", "contains", "KAKAO"), {"최하은"}),
        (cond("source", "starts_with", "we"), {"김민준"}),
        (cond("source", "eq", "store"), {"이서연"}),
        (cond("age", "eq", 30), {"김민준"}),
        (cond("age", "between", [40, 50]), {"이서연"}),
        (cond("age", "gte", 45), {"이서연"}),
        (cond("age", "lt", 45), {"김민준"}),
        (cond("age", "is_not_set"), {"박지우", "최하은"}),
        (cond("signup_date", "within_last_days", 1), ALL),
        (cond("signup_date", "eq", TODAY.isoformat()), ALL),
        (cond("signup_date", "lt", TODAY.isoformat()), set()),
        (cond("tags", "has_any", ["VIP 행사"]), {"김민준", "이서연"}),
        (cond("tags", "has_all", ["VIP 행사", "도매"]), {"김민준"}),
        (cond("tags", "has_none", ["도매"]), {"이서연", "박지우", "최하은"}),
        (cond("tags", "is_not_set"), {"박지우", "최하은"}),
        (cond("total_spent", "between", [100_000, 400_000]), {"김민준"}),
        (cond("order_count", "gte", 1), {"김민준", "이서연"}),
        (cond("order_count", "eq", 0), {"박지우", "최하은"}),
        (cond("last_purchase", "not_within_last_days", 30), {"이서연", "최하은"}),
        (cond("last_purchase", "within_last_days", 30), {"김민준", "박지우"}),
        (cond("first_purchase", "is_not_set"), {"최하은"}),
        (cond("recency_days", "lte", 30), {"김민준"}),
        (cond("frequency", "gt", 1), {"김민준"}),
        (cond("monetary", "lt", 100_000), {"이서연"}),
        (cond("r_score", "gte", 3), {"김민준", "이서연"}),
        (cond("f_score", "eq", 4), {"김민준"}),
        (cond("m_score", "ne", 5), {"이서연", "박지우", "최하은"}),
        (cond("rfm_segment", "in", ["at_risk", "lost"]), {"이서연"}),
        (cond("rfm_segment", "is_not_set"), {"박지우", "최하은"}),
        (cond("clv_12m", "gte", 100_000), {"김민준"}),
        (cond("p_alive", "lt", 0.5), {"이서연"}),
        (cond("churn_risk", "between", [0.5, 1]), {"이서연"}),
        (cond("churn_band", "eq", "high"), {"이서연"}),
        (cond("expected_purchases_90d", "gt", 1), {"김민준"}),
        (cond("grade", "eq", "gold"), {"김민준"}),
        (cond("grade", "gte", "silver"), {"김민준", "이서연"}),
        (cond("grade", "lte", "silver"), {"이서연", "박지우"}),
        (cond("grade", "not_in", ["gold"]), {"이서연", "박지우", "최하은"}),
        (cond("grade", "is_not_set"), {"최하은"}),
        (cond("consent", "granted", channel="sms"), {"김민준"}),  # 이서연's is past reconfirmation
        (cond("consent", "granted", channel="any"), {"김민준", "박지우"}),
        (cond("consent", "granted", channel="sms", night_time=True), {"김민준"}),
        (cond("consent", "not_granted", channel="sms"), {"이서연", "박지우", "최하은"}),
        (cond("bought_category", "within_last_days", 30, category="skincare"), {"김민준"}),
        (cond("bought_category", "ever", category="makeup"), {"김민준", "이서연"}),
        (cond("bought_category", "never", category="skincare"), {"이서연", "박지우", "최하은"}),
        (cond("bought_category", "within_last_days", 30, category="skincare/serum"), {"김민준"}),
        (cond("bought_product", "within_last_days", 60, product="LIP-1"), {"이서연"}),
        (cond("bought_product", "not_within_last_days", 60, product="LIP-1"), ALL - {"이서연"}),
        (cond("last_visit", "within_last_days", 30), {"김민준"}),
        (cond("last_visit", "not_within_last_days", 90), {"이서연", "박지우", "최하은"}),
        (cond("interaction", "within_last_days", 7, channel="app"), {"박지우"}),
        (cond("interaction", "ever", kind="visit"), {"김민준", "이서연"}),
        (cond("custom.vip", "eq", True), {"김민준"}),
        (cond("custom.score", "gt", 5), {"김민준"}),
        (cond("custom.score", "between", [1, 5]), {"이서연"}),
        (cond("custom.score", "is_not_set"), {"박지우", "최하은"}),
        (cond("custom.score", "ne", 7), {"이서연", "박지우", "최하은"}),
        (cond("custom.vip", "is_set"), {"김민준", "이서연"}),
        (cond("custom.hobbies", "has_any", ["요가", "camping"]), {"김민준", "이서연"}),
        (cond("custom.hobbies", "has_all", ["golf", "요가"]), {"김민준"}),
        (cond("custom.hobbies", "has_none", ["golf"]), {"이서연", "박지우", "최하은"}),
        (cond("custom.joined", "lt", "2025-01-01"), {"김민준"}),
        (cond("custom.joined", "is_set"), {"김민준"}),
    ],
)
def test_each_condition_selects_the_right_customers(
    shop: dict[str, Any], definition: dict[str, Any], expected: set[str]
) -> None:
    assert ids(definition) == expected


def test_owner_and_team_references(shop: dict[str, Any]) -> None:
    rep = shop["seoul_rep"]
    assert ids(cond("owner", "in", [rep.pk])) == {"김민준"}
    assert ids(cond("team", "in", [rep.team_id])) == {"김민준"}
    assert ids(cond("owner", "is_not_set")) == {"박지우", "최하은"}


def test_nested_all_any_not(shop: dict[str, Any]) -> None:
    definition = {
        "any": [
            {
                "all": [
                    {"field": "region", "op": "eq", "value": "seoul"},
                    {"not": {"field": "gender", "op": "eq", "value": "M"}},
                ]
            },
            {"not": {"any": [{"field": "order_count", "op": "eq", "value": 0}]}},
        ]
    }
    assert ids(definition) == {"박지우", "김민준", "이서연"}
    assert ids({"not": definition}) == {"최하은"}
    assert ids({"all": []}) == ALL


def test_merged_customers_never_count(shop: dict[str, Any]) -> None:
    Customer.objects.filter(pk=shop["d"].pk).update(status="merged")
    assert ids({"all": []}) == ALL - {"최하은"}


def test_invalid_definitions_are_rejected_with_field_paths(shop: dict[str, Any]) -> None:
    definition = {
        "all": [
            {"field": "nope", "op": "eq", "value": 1},
            {"any": [{"field": "region", "op": "gt", "value": "seoul"}]},
            {"not": {"field": "age", "op": "between", "value": [50, 20]}},
            {"field": "region", "op": "in", "value": ["mars"]},
            {"field": "bought_category", "op": "within_last_days", "value": 0},
            {"field": "grade", "op": "eq", "value": "platinum"},
            {"any": []},
            {"field": "consent", "op": "granted", "channel": "sms", "colour": "red"},
        ]
    }
    with pytest.raises(ValidationFailed) as exc:
        segments.validate_definition(definition)
    fields = {e.field: e.code for e in exc.value.errors}
    assert fields == {
        "definition.all[0].field": "unknown_field",
        "definition.all[1].any[0].op": "invalid_choice",
        "definition.all[2].not.value": "invalid_range",
        "definition.all[3].value[0]": "invalid_choice",
        "definition.all[4].value": "invalid",
        "definition.all[6].any": "empty",
        "definition.all[7].colour": "unknown_key",
    }
    # references are checked once the structure is valid
    with pytest.raises(ValidationFailed) as exc:
        segments.validate_definition(
            {
                "all": [
                    {"field": "grade", "op": "eq", "value": "platinum"},
                    {"field": "bought_category", "op": "ever", "category": "shoes"},
                    {"field": "tags", "op": "has_any", "value": ["없는 태그"]},
                ]
            }
        )
    assert {e.field: e.code for e in exc.value.errors} == {
        "definition.all[0].value": "not_found",
        "definition.all[1].category": "not_found",
        "definition.all[2].value[0]": "not_found",
    }
    bad: Any
    for bad in (None, [], {"field": "region"}, {"all": "x"}):
        with pytest.raises(ValidationFailed) as exc:
            segments.validate_definition(bad)
        assert exc.value.errors[0].field.startswith("definition")


def test_values_are_normalized(shop: dict[str, Any]) -> None:
    normalized = segments.validate_definition(
        {
            "all": [
                {"field": "age", "op": "between", "value": ["20", "39"]},
                cond("region", "eq", "seoul"),
            ]
        }
    )
    assert normalized == {
        "all": [
            {"field": "age", "op": "between", "value": [20, 39]},
            {"all": [{"field": "region", "op": "eq", "value": "seoul"}]},
        ]
    }


def test_one_query_per_evaluation(shop: dict[str, Any]) -> None:
    definition = segments.validate_definition(
        {
            "all": [
                {"field": "region", "op": "in", "value": ["seoul", "busan"]},
                {"field": "rfm_segment", "op": "ne", "value": "lost"},
                {"field": "grade", "op": "gte", "value": "silver"},
                {"field": "tags", "op": "has_all", "value": ["VIP 행사"]},
                {"field": "consent", "op": "granted", "channel": "sms"},
                {
                    "field": "bought_category",
                    "op": "within_last_days",
                    "value": 90,
                    "category": "skincare",
                },
                {"field": "last_visit", "op": "within_last_days", "value": 60},
                {"any": [{"field": "custom.hobbies", "op": "has_any", "value": ["golf"]}]},
            ]
        }
    )
    with CaptureQueriesContext(connection) as captured:
        assert segments.evaluate(definition).count() == 1
    assert len(captured.captured_queries) == 1
    segment = segment_services.create_segment(
        name="VIP", definition=definition, actor=shop["admin"]
    )
    with CaptureQueriesContext(connection) as captured:
        assert list(segment_selectors.segment_customer_ids(segment)) == [shop["a"].pk]
    assert len(captured.captured_queries) == 1


def test_visibility_limits_a_reps_count(shop: dict[str, Any], make_user: Any) -> None:
    segment = segment_services.create_segment(
        name="모두", definition={"all": []}, actor=shop["admin"]
    )
    rep = shop["seoul_rep"]
    assert set(
        segment_selectors.segment_queryset(segment, rep).values_list("full_name", flat=True)
    ) == {"김민준"}
    lead = make_user("lead", "busan")
    assert set(
        segment_selectors.segment_queryset(segment, lead).values_list("full_name", flat=True)
    ) == {"이서연"}
    assert segment_selectors.segment_queryset(segment, shop["admin"]).count() == 4
    assert segment_selectors.segment_customer_ids(segment).count() == 4
    preview = segment_selectors.preview(rep, {"all": []})
    assert preview["count"] == 1
    assert preview["sample"][0]["name"] == "김*준"


def test_static_snapshot_stays_fixed_when_data_changes(shop: dict[str, Any]) -> None:
    admin = shop["admin"]
    segment = segment_services.create_segment(
        name="서울",
        kind=SegmentKind.STATIC,
        definition=cond("region", "eq", "seoul"),
        actor=admin,
    )
    assert segment.snapshot_count == 2 and segment.snapshot_at is not None
    customers.update_customer(customer=shop["b"], changes={"region": "seoul"}, actor=admin)
    customers.update_customer(customer=shop["c"], changes={"region": "jeju"}, actor=admin)
    members = set(
        segment_selectors.segment_queryset(segment, admin).values_list("full_name", flat=True)
    )
    assert members == {"김민준", "박지우"}
    dynamic = segment_services.create_segment(
        name="서울 (live)", definition=cond("region", "eq", "seoul"), actor=admin
    )
    live = set(
        segment_selectors.segment_queryset(dynamic, admin).values_list("full_name", flat=True)
    )
    assert live == {"김민준", "이서연"}
    assert segment_services.take_snapshot(segment=segment, actor=admin) == 2
    members = set(
        segment_selectors.segment_queryset(segment, admin).values_list("full_name", flat=True)
    )
    assert members == {"김민준", "이서연"}


def test_cheap_tests_come_first_and_purchases_read_purchased_products(
    shop: dict[str, Any],
) -> None:
    bought = cond("bought_category", "within_last_days", 90, category="skincare")["all"][0]
    consent = cond("consent", "granted", channel="any")["all"][0]
    region = cond("region", "in", ["seoul", "busan"])["all"][0]
    definition = {"all": [bought, consent, region]}
    sql = str(segments.evaluate(segments.validate_definition(definition)).query)
    # SQLite tests the terms in the order written: the column first, the purchases last; they
    # come from the per-customer purchased products, never from a scan of the order lines.
    purchases = sql.index("commerce_purchasedproduct")
    assert sql.index('"region"') < sql.index("customers_consent") < purchases
    assert "commerce_orderline" not in sql
    # The same customers as the three conditions one by one.
    expected = ids({"all": [bought]}) & ids({"all": [consent]}) & ids({"all": [region]})
    assert expected and ids(definition) == expected
    # "Not in the last N days" still counts customers who never bought anything.
    never_bought = set(
        Customer.objects.filter(last_purchase_at__isnull=True).values_list("full_name", flat=True)
    )
    assert never_bought
    assert never_bought <= ids(
        cond("bought_category", "not_within_last_days", 90, category="skincare")
    )
