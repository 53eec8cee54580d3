"""A tiny demo company loads on the test database and holds together."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F, Max, Min, Q, Sum
from django.utils import timezone

from dangol.analytics import segments
from dangol.analytics.models import (
    CustomerGrade,
    CustomerMetrics,
    GradeChange,
    GradeProgram,
    ModelRun,
    RFMConfig,
    Segment,
    SegmentMember,
    SegmentSnapshot,
)
from dangol.commerce.models import Order, OrderLine, PriceChange, Product, Return
from dangol.core.models import ChangeLog, RoleGrant, User
from dangol.core.normalize import email_match_key, normalize_phone
from dangol.customers.models import Consent, ConsentEvent, ContactPoint, Customer, Interaction
from dangol.demo import loader, programs
from dangol.demo import segments as demo_segments
from dangol.demo.models import DemoIdentityLabel
from dangol.integration.models import CandidateStatus, DuplicateCandidate, QualitySnapshot
from dangol.sales.models import Task, TaskStatus

AS_OF = datetime.date(2025, 11, 1)


@pytest.fixture
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tiny(db, fast_hashing):
    return loader.load(300, seed=42, as_of=AS_OF, chunk=120)


def test_every_line_references_a_product_and_orders_add_up(tiny):
    assert Customer.objects.count() == 300
    assert Order.objects.count() > 1_000
    product_ids = set(Product.objects.values_list("id", flat=True))
    assert set(OrderLine.objects.values_list("product_id", flat=True).distinct()) <= product_ids
    bad = Order.objects.annotate(s=Sum("lines__line_total")).exclude(total=F("s"))
    assert not bad.exists()
    assert not Order.objects.exclude(total=F("subtotal") - F("discount")).exists()
    assert Return.objects.exists()
    assert not Return.objects.exclude(customer_id=F("order__customer_id")).exists()


def test_every_product_has_its_list_price_from_before_the_first_order(tiny):
    """The catalogue is there when the simulated window opens: each product's first price
    change is its list price from its creation on, no later than any order."""
    first_order = Order.objects.aggregate(m=Min("placed_at"))["m"]
    products = Product.objects.all()
    changes = PriceChange.objects.all()

    assert changes.count() == products.count() > 0
    assert not changes.exclude(old_price=None).exists()
    assert not changes.exclude(new_price=F("product__price")).exists()
    assert not changes.exclude(effective_at=F("product__created_at")).exists()
    assert changes.aggregate(m=Max("effective_at"))["m"] <= first_order


def test_aggregates_equal_the_sums_of_the_orders(tiny):
    live = Order.objects.exclude(status="cancelled")
    sums = {
        r["customer_id"]: r
        for r in live.values("customer_id").annotate(
            n=Count("id"), spent=Sum(F("total") - F("returned_amount")),
            first=Min("placed_at"), last=Max("placed_at"),
        )
    }  # fmt: skip
    for c in Customer.objects.all():
        s = sums.get(c.pk)
        if s is None:
            assert c.order_count == 0 and c.lifecycle_stage == "lead"
            continue
        assert c.order_count == s["n"]
        assert c.total_spent == Decimal(s["spent"])
        assert c.first_purchase_at == s["first"] and c.last_purchase_at == s["last"]
        assert c.lifecycle_stage in ("customer", "repeat", "lapsed")


def test_consents_have_history_and_reconfirmation_dates(tiny):
    assert Consent.objects.count() > 100
    for c in Consent.objects.all()[:300]:
        events = ConsentEvent.objects.filter(customer_id=c.customer_id, channel=c.channel)
        assert events.exists()
        assert events.order_by("-at", "-id").first().status == c.status
        if c.status == "granted":
            assert (
                c.reconfirm_due
                == (c.granted_at + datetime.timedelta(days=730)).astimezone(datetime.UTC).date()
                or abs((c.reconfirm_due - c.granted_at.date()).days - 730) <= 1
            )


def test_identity_labels_cover_every_record_and_the_duplicates(tiny):
    assert DemoIdentityLabel.objects.count() == 300
    dup_people = (
        DemoIdentityLabel.objects.values("person_id").annotate(n=Count("customer_id"))
        .filter(n__gt=1)
    )  # fmt: skip
    assert dup_people.exists()


def test_contact_points_are_normalized_like_the_services(tiny):
    for cp in ContactPoint.objects.filter(kind="mobile")[:200]:
        phone = normalize_phone(cp.value)
        assert (cp.match_key, cp.normalized, cp.last4) == (phone.e164, phone.e164, phone.last4)
        assert cp.is_legacy == phone.is_legacy
    for cp in ContactPoint.objects.filter(kind="email")[:200]:
        assert cp.match_key == email_match_key(cp.value)


def test_staff_roles_owners_and_timeline(tiny):
    assert User.objects.filter(email="admin@dangol.local", is_superuser=True).exists()
    rep = User.objects.get(email="sales@dangol.local")
    grant = RoleGrant.objects.get(role=rep.role, object_type="customers.customer")
    assert grant.scope == "own"
    marketer = User.objects.get(email="marketing@dangol.local")
    assert not marketer.role.can_view_pii
    assert Customer.objects.filter(owner__isnull=False).exists()
    assert Customer.objects.filter(owner__isnull=True, team__isnull=False).count() > 200
    assert Interaction.objects.filter(kind="complaint").exists()
    assert not Interaction.objects.filter(occurred_at__lt=F("customer__created_at")).exists()
    assert ChangeLog.objects.filter(action="demo.loaded").count() == 1


def test_same_seed_gives_the_same_company(db, fast_hashing):
    def fingerprint():
        return (
            list(
                Customer.objects.order_by("id").values_list(
                    "full_name", "order_count", "total_spent"
                )
            ),
            list(Order.objects.order_by("id").values_list("number", "total")[:500]),
        )

    loader.load(150, seed=3, as_of=AS_OF)
    first = fingerprint()
    loader.wipe()
    loader.load(150, seed=3, as_of=AS_OF)
    assert fingerprint() == first


def test_command_refuses_a_database_with_customers(tiny):
    with pytest.raises(CommandError, match="already has customers"):
        call_command("demo", "--size", "100", "--no-serve")
    assert Customer.objects.filter(~Q(id=0)).count() == 300


@pytest.fixture
def with_analytics(tiny):
    """The tiny company with its membership programme and four months of analytics history."""
    admin = User.objects.get(pk=tiny.company.admin_id)
    program = programs.set_up(actor=admin)
    runs = programs.run_analytics(actor=admin, as_of=AS_OF - datetime.timedelta(days=1))
    return program, runs


def test_history_dates_are_the_previous_month_ends():
    assert programs.history_dates(datetime.date(2025, 10, 31), 4) == [
        datetime.date(2025, 6, 30),
        datetime.date(2025, 7, 31),
        datetime.date(2025, 8, 31),
        datetime.date(2025, 9, 30),
    ]
    assert programs.history_dates(datetime.date(2026, 1, 15), 1) == [datetime.date(2025, 12, 31)]


def test_membership_programme_and_rfm_settings_come_from_the_services(with_analytics):
    program, _runs = with_analytics
    assert program.is_active and program.window_months == 12 and program.min_stay_months == 3
    tiers = list(program.tiers.order_by("-rank"))
    assert [t.code for t in tiers] == ["vvip", "vip", "gold", "silver", "welcome"]
    assert tiers[0].min_spend == Decimal(1_500_000) and tiers[-1].min_spend is None
    assert all(t.benefits and "생일 쿠폰" in " ".join(t.benefits) for t in tiers)
    config = RFMConfig.current()
    assert (config.window_days, config.scoring) == (730, "thresholds")
    assert ChangeLog.objects.filter(action="grade_program.created").exists()


def test_analytics_history_fills_the_dashboards(with_analytics):
    _program, runs = with_analytics
    assert [r.as_of for r in runs] == [
        datetime.date(2025, 6, 30),
        datetime.date(2025, 7, 31),
        datetime.date(2025, 8, 31),
        datetime.date(2025, 9, 30),
        datetime.date(2025, 10, 31),
    ]
    assert all(r.status == "succeeded" for r in runs[:-1]), [(r.status, r.error) for r in runs]
    assert runs[-1].status in ("succeeded", "partial")
    assert {s.model for s in runs[0].steps.all()} == {"rfm", "grades"}
    # Every buyer has a segment, and the segments move between the last two runs.
    buyers = Customer.objects.filter(order_count__gt=0).count()
    metrics = CustomerMetrics.objects.exclude(rfm_segment="")
    assert metrics.count() >= buyers - 5  # a handful bought only after the as-of day
    assert metrics.values("rfm_segment").distinct().count() >= 6
    assert SegmentSnapshot.objects.count() == 5
    moved = metrics.exclude(previous_rfm_segment="").exclude(rfm_segment=F("previous_rfm_segment"))
    assert moved.exists()
    # Grades: everyone has one; the history has first grades, upgrades and downgrades.
    assert CustomerGrade.objects.count() == Customer.objects.count()
    assert CustomerGrade.objects.exclude(tier__code="welcome").exists()
    reasons = set(GradeChange.objects.values_list("reason", flat=True))
    assert {"initial", "upgrade", "downgrade"} <= reasons
    # Next best offers are stored as their figures; the words come when a page reads them.
    offers = [o for m in metrics.exclude(next_best_offers=[]) for o in m.next_best_offers]
    assert offers and all("reason" not in o for o in offers)
    assert all(o["pct"] and o["lift"] for o in offers if o["kind"] == "cross_sell")


def test_reset_wipes_the_analytics_too(with_analytics):
    loader.wipe()
    assert not Customer.objects.exists()
    assert not CustomerMetrics.objects.exists() and not GradeChange.objects.exists()
    loader.load(120, seed=4, as_of=AS_OF)
    assert Customer.objects.count() == 120


def test_command_loads_sets_up_and_computes(db, fast_hashing):
    out = io.StringIO()
    call_command("demo", "--size", "200", "--no-serve", "--seed", "7", stdout=out)
    text = out.getvalue()
    assert "Analytics: 5 runs" in text
    assert GradeProgram.objects.filter(is_active=True, name=programs.PROGRAM_NAME).exists()
    assert CustomerMetrics.objects.exclude(rfm_segment="").exists()
    # The demo logins have work waiting: open tasks on customers they may see, some overdue,
    # and the first at-risk call goes to a valuable customer the churn model flags.
    rep = User.objects.get(email="sales@dangol.local")
    mine = Task.objects.filter(assignee=rep)
    assert mine.filter(status=TaskStatus.OPEN, due_at__lt=timezone.now()).exists()
    assert mine.filter(status=TaskStatus.DONE).exists()
    visible = Customer.objects.visible_to(rep)
    assert not mine.exclude(customer__in=visible).exists()
    at_risk = mine.filter(title="이탈 위험 고객 안부 전화").values_list("customer_id", flat=True)
    assert set(
        CustomerMetrics.objects.filter(customer_id__in=at_risk).values_list("churn_band", flat=True)
    ) <= {"high"}
    # The marketer finds saved segments: dynamic ones with members, and a static list whose
    # snapshot holds exactly the customers its definition matched.
    marketer = User.objects.get(email="marketing@dangol.local")
    saved = Segment.objects.filter(created_by=marketer)
    assert saved.count() == len(demo_segments.SEGMENTS)
    assert sum(segments.evaluate(s.definition).exists() for s in saved) >= 3
    static = saved.get(kind="static")
    members = set(
        SegmentMember.objects.filter(segment=static).values_list("customer_id", flat=True)
    )
    assert members and members == set(
        segments.evaluate(static.definition).values_list("pk", flat=True)
    )
    assert demo_segments.create_demo_segments() == 0  # a second call adds nothing
    # The duplicate registrations wait in the review queue, and most pairs there are the same
    # person by the generator's labels; the data-quality trend has its first day.
    pending = DuplicateCandidate.objects.filter(status=CandidateStatus.PENDING)
    assert "Duplicate search:" in text and pending.exists()
    person = dict(DemoIdentityLabel.objects.values_list("customer_id", "person_id"))
    same = sum(person[c.left_id] == person[c.right_id] for c in pending)
    assert same >= pending.count() * 0.8
    assert QualitySnapshot.objects.count() == 1
    # --reset clears the tasks, the duplicate queue and the quality figures with the customers
    # they were about.
    loader.wipe()
    assert not Task.objects.exists()
    assert not DuplicateCandidate.objects.exists() and not QualitySnapshot.objects.exists()


def test_command_can_skip_the_analytics(db, fast_hashing):
    out = io.StringIO()
    call_command("demo", "--size", "100", "--no-serve", "--no-analytics", stdout=out)
    assert GradeProgram.objects.filter(is_active=True).exists()
    assert not ModelRun.objects.exists()


def test_command_skips_the_analytics_of_a_large_company(db, fast_hashing, monkeypatch):
    monkeypatch.setattr(programs, "ANALYTICS_AUTO_LIMIT", 50)
    out = io.StringIO()
    call_command("demo", "--size", "100", "--no-serve", stdout=out)
    assert "dangol analytics run" in " ".join(out.getvalue().split())
    assert not ModelRun.objects.exists()


def test_command_serves_from_a_fresh_process(db, fast_hashing, monkeypatch):
    """The load runs Polars, whose threads do not survive gunicorn's fork: the server must start
    in a new process image, not be forked from this one."""
    from dangol.demo.management.commands import demo as demo_command

    started: list[list[str]] = []
    monkeypatch.setattr(demo_command.os, "execv", lambda path, args: started.append(args))
    call_command("demo", "--size", "60", "--no-analytics", stdout=io.StringIO())
    assert len(started) == 1 and started[0][1:] == ["-m", "dangol.cli", "serve"]
    # `make demo` a second time serves the company already there, with its logins
    out = io.StringIO()
    call_command("demo", "--size", "60", "--no-analytics", stdout=out)
    assert len(started) == 2 and Customer.objects.count() == 60
    assert "admin@dangol.local" in out.getvalue() and "marketing@dangol.local" in out.getvalue()
