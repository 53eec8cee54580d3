"""(f) Segment evaluation: one SQL query per segment over the whole customer base.

Compiles a set of representative segment definitions (attributes, metrics, grades, consents,
category purchases, visits, nested any/not) with ``dangol.analytics.segments`` and times the
count of each (``SELECT COUNT(*)`` of the one compiled query), a full id list
(``segment_customer_ids``) and a static snapshot (``INSERT … SELECT`` into SegmentMember).
Goal (issue "Analytical CRM" §3): under 1 s per evaluation for 1,000,000 customers on
PostgreSQL.

    python -m bench.segments --out result.json          (with DANGOL_DATABASE_URL)
    python -m bench.segments --generate 1000000          (PostgreSQL scratch database only:
                                                           fills an empty, migrated database)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.registry import Context, Outcome, Row, Target, benchmark

REPEAT = 3

# Representative definitions; category paths, tags and tiers are those of the generator and of
# the demo data set (a definition naming something absent still runs: it just matches nobody).
CASES: dict[str, dict[str, Any]] = {
    "attributes": {
        "all": [
            {"field": "status", "op": "eq", "value": "active"},
            {"field": "region", "op": "in", "value": ["seoul", "gyeonggi", "incheon"]},
            {"field": "gender", "op": "eq", "value": "F"},
            {"field": "age", "op": "between", "value": [25, 39]},
        ]
    },
    "metrics": {
        "all": [
            {"field": "rfm_segment", "op": "in", "value": ["at_risk", "cant_lose"]},
            {"field": "clv_12m", "op": "gte", "value": 100000},
            {"field": "churn_band", "op": "eq", "value": "high"},
        ]
    },
    "consent_and_grade": {
        "all": [
            {"field": "consent", "op": "granted", "channel": "sms"},
            # The codes are those of the active programme (see `_grade_codes`).
            {"field": "grade", "op": "in", "value": ["gold", "vip"]},
        ]
    },
    "bought_category_90d": {
        "all": [
            {
                "field": "bought_category",
                "op": "within_last_days",
                "value": 90,
                "category": "skincare",
            },
            {"field": "consent", "op": "granted", "channel": "kakao"},
        ]
    },
    "lapsed_no_visit": {
        "all": [
            {"field": "last_purchase", "op": "not_within_last_days", "value": 180},
            {"field": "last_visit", "op": "not_within_last_days", "value": 180},
            {"field": "total_spent", "op": "between", "value": [100000, 5000000]},
        ]
    },
    "nested": {
        "any": [
            {
                "all": [
                    {"field": "r_score", "op": "gte", "value": 4},
                    {"field": "f_score", "op": "gte", "value": 4},
                ]
            },
            {
                "all": [
                    {"field": "order_count", "op": "between", "value": [3, 10]},
                    {"not": {"field": "region", "op": "eq", "value": "seoul"}},
                    {
                        "field": "interaction",
                        "op": "within_last_days",
                        "value": 30,
                        "channel": "app",
                    },
                ]
            },
        ]
    },
}


@benchmark(
    "segments",
    title="Segment evaluation: one query per segment (count, ids, snapshot)",
    columns=[
        ("customers", "customers"),
        ("members", "members"),
        ("count_ms", "count ms"),
        ("ids_ms", "ids ms"),
        ("snapshot_ms", "snapshot ms"),
        ("queries", "queries"),
    ],
    order=45,
)
def segments(ctx: Context) -> Outcome:
    """Measure in a subprocess on the benchmark's database (after the analytics run)."""
    out = ctx.workdir / "segments.json"
    subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "bench.segments", "--out", str(out)],
        env=ctx.env,
        cwd=ctx.repo,
        check=True,
        timeout=3600,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    rows = [
        Row(
            name,
            values,
            targets=[Target("count_ms", "<", 1000, "ms"), Target("queries", "<=", 1)],
            note="median of 3; target for 1,000,000 customers on PostgreSQL",
        )
        for name, values in result["cases"].items()
    ]
    return Outcome(rows=rows, details=result)


def _timed(func: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = func()
    return (time.perf_counter() - started) * 1000, value


WANTED_GRADES = ("gold", "vip")


def _grade_codes() -> list[str]:
    """Gold and VIP of the active programme when it has them, else its two highest grades."""
    from dangol.analytics.models import GradeTier

    codes = list(
        GradeTier.objects.filter(program__is_active=True)
        .order_by("-rank")
        .values_list("code", flat=True)
    )
    wanted = [c for c in WANTED_GRADES if c in codes]
    return wanted if len(wanted) == len(WANTED_GRADES) else codes[:2]


# Grades from lifetime spend and orders for a dataset without a programme (rank, spend, orders).
SCRATCH_TIERS = [(4, 1_500_000, 12), (3, 700_000, 8), (2, 300_000, 4), (1, 100_000, 2)]


@contextmanager
def _grades_in_place(actor: Any) -> Iterator[str]:
    """Make sure the grade case has grades to find.

    A dataset with an active grade programme is measured as it is. One without (a demo loaded
    before the demo set up its membership) gets the demo's programme and a grade for every
    customer from the lifetime spend and orders (one ``INSERT … SELECT``), inside a transaction
    that is rolled back at the end: the dataset is left exactly as it was.
    """
    from django.db import connection, transaction

    from dangol.analytics.models import CustomerGrade, GradeProgram
    from dangol.customers.models import Customer
    from dangol.demo import programs

    if GradeProgram.objects.filter(is_active=True, tiers__isnull=False).exists():
        yield "dataset"
        return
    with transaction.atomic():
        program = programs.set_up(actor=actor)
        tier = {t.rank: t.pk for t in program.tiers.all()}
        q = connection.ops.quote_name
        cases = " ".join(
            f"WHEN total_spent >= {spend} AND order_count >= {orders} THEN {tier[rank]}"
            for rank, spend, orders in SCRATCH_TIERS
        )
        now = "CURRENT_TIMESTAMP"
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {q(CustomerGrade._meta.db_table)} (customer_id, program_id, tier_id,"  # noqa: S608
                " since, qualified_tier_id, spend, orders, visits, evaluated_at)"
                f" SELECT id, {program.pk}, CASE {cases} ELSE {tier[0]} END, CURRENT_DATE,"
                f" NULL, total_spent, order_count, 0, {now} FROM {q(Customer._meta.db_table)}"
            )
            cur.execute(f"ANALYZE {q(CustomerGrade._meta.db_table)}")
        yield "scratch programme, rolled back"
        transaction.set_rollback(True)


def measure(*, snapshot: bool = True) -> dict[str, Any]:
    """Time every case: count, id list and snapshot (median of REPEAT runs)."""
    from dangol.core.models import User

    actor = User.objects.filter(is_superuser=True).first()
    with _grades_in_place(actor) as grades:
        result = _measure(actor, snapshot=snapshot)
    return {**result, "grades": grades}


def _measure(actor: Any, *, snapshot: bool) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from dangol.analytics import segment_services, segments
    from dangol.analytics.models import Segment, SegmentKind
    from dangol.customers.models import Customer

    customers = Customer.objects.count()
    cases: dict[str, Any] = {}
    codes = _grade_codes()
    for name, definition in CASES.items():
        if name == "consent_and_grade":
            definition = {"all": [definition["all"][0], {**definition["all"][1], "value": codes}]}
        normalized = segments.validate_definition(definition)
        base = segments.base_queryset()
        with CaptureQueriesContext(connection) as captured:
            members = segments.evaluate(normalized, base).count()
        counts, ids = [], []
        qs = segments.evaluate(normalized, base)
        for _ in range(REPEAT):
            counts.append(_timed(qs.all().count)[0])
            ids.append(_timed(lambda qs=qs: len(list(qs.values_list("pk", flat=True))))[0])
        values: dict[str, Any] = {
            "customers": customers,
            "members": members,
            "count_ms": round(statistics.median(counts), 1),
            "ids_ms": round(statistics.median(ids), 1),
            "queries": len(captured.captured_queries),
        }
        if snapshot and actor is not None:
            with transaction.atomic():  # rolled back: the benchmark leaves no segment behind
                segment = Segment.objects.create(
                    name=f"bench {name}",
                    kind=SegmentKind.STATIC,
                    definition=normalized,
                    created_by=actor,
                )
                ms, _count = _timed(
                    lambda segment=segment: segment_services.take_snapshot(
                        segment=segment, actor=actor
                    )
                )
                values["snapshot_ms"] = round(ms, 1)
                transaction.set_rollback(True)
        cases[name] = values
    return {"vendor": connection.vendor, "customers": customers, "cases": cases}


# --- a 1,000,000-customer scratch database (PostgreSQL) ------------------------------------------

GENERATE_SQL = [
    # teams, users (owners), tags
    """INSERT INTO core_team (name, created_at)
       SELECT 'bench team ' || t, now() FROM generate_series(1, 4) t""",
    """INSERT INTO core_tag (name, color)
       SELECT 'tag' || t, 'blue' FROM generate_series(1, 10) t""",
    # category tree: 5 roots × 4 children, 500 products
    """INSERT INTO commerce_productcategory (name, slug, path, parent_id)
       SELECT r, r, r, NULL
       FROM unnest(ARRAY['skincare', 'makeup', 'haircare', 'body', 'fragrance']) r""",
    """INSERT INTO commerce_productcategory (name, slug, path, parent_id)
       SELECT c.slug || '-' || k, c.slug || '-' || k, c.path || '/' || c.slug || '-' || k, c.id
       FROM commerce_productcategory c, generate_series(1, 4) k WHERE c.parent_id IS NULL""",
    """INSERT INTO commerce_product (sku, name, brand, line, tier, price, currency, is_active,
           source, external_id, custom_fields, created_at, updated_at, category_id)
       SELECT 'SKU-' || p, 'product ' || p, '', '', 'standard', 10000 + (p % 50) * 1000, 'KRW',
              true, '', '', '{}', now(), now(),
              (SELECT id FROM commerce_productcategory
               WHERE parent_id IS NOT NULL ORDER BY id OFFSET (p % 20) LIMIT 1)
       FROM generate_series(1, 500) p""",
    # customers
    """INSERT INTO customers_customer (id, family_name, given_name, full_name, birth_date,
           birth_date_is_lunar, gender, lifecycle_stage, status, region, source, signup_channel,
           custom_fields, order_count, total_spent, created_at, updated_at, owner_id, team_id)
       SELECT i, '김', '고객' || i, '김고객' || i,
              CASE WHEN i % 10 = 0 THEN NULL
                   ELSE DATE '1950-01-01' + (hashint4(i) & 2147483647) % 21000 END,
              false, (ARRAY['F','M','F','M','X',''])[1 + i % 6],
              (ARRAY['lead','prospect','customer','repeat','lapsed'])[1 + (i / 7) % 5],
              CASE WHEN i % 50 = 0 THEN 'archived' ELSE 'active' END,
              (ARRAY['seoul','busan','daegu','incheon','gwangju','daejeon','ulsan','sejong',
                     'gyeonggi','gangwon','chungbuk','chungnam','jeonbuk','jeonnam',
                     'gyeongbuk','gyeongnam','jeju',''])[1 + (hashint4(i + 7) & 1023) % 18],
              (ARRAY['web','app','store','kakao'])[1 + i % 4], '',
              jsonb_build_object('vip_level', i % 5, 'newsletter', i % 3 = 0),
              0, 0, now() - ((hashint4(i + 3) & 2147483647) % 1825) * interval '1 day',
              now(), NULL, NULL
       FROM generate_series(1, %(customers)s) i""",
    # orders (3 per customer by default, over 3 years), 1-2 lines each
    """INSERT INTO commerce_order (number, status, placed_at, currency, subtotal, discount, total,
           returned_amount, source, external_id, created_at, customer_id)
       SELECT 'B' || o, CASE WHEN o % 33 = 0 THEN 'cancelled' ELSE 'paid' END,
              now() - ((hashint4(o) & 2147483647) % 1095) * interval '1 day',
              'KRW', 50000, 0, 50000, 0, '', '', now(),
              1 + (hashint4(o + 11) & 2147483647) %% %(customers)s
       FROM generate_series(1, %(orders)s) o""",
    """INSERT INTO commerce_orderline (quantity, unit_price, discount, line_total,
           returned_quantity, order_id, product_id)
       SELECT 1, 25000, 0, 25000, 0, o.id,
              (SELECT min(id) FROM commerce_product)
                + (hashint4((o.id * 3 + k)::int) & 2147483647) % 500
       FROM commerce_order o, generate_series(1, 2) k WHERE k = 1 OR o.id % 3 = 0""",
    """UPDATE customers_customer c SET first_purchase_at = a.f, last_purchase_at = a.l,
              order_count = a.n, total_spent = a.s
       FROM (SELECT customer_id, min(placed_at) f, max(placed_at) l, count(*) n, sum(total) s
             FROM commerce_order WHERE status <> 'cancelled' GROUP BY customer_id) a
       WHERE a.customer_id = c.id""",
    # marketing consents: e-mail, SMS, KakaoTalk for some customers
    """INSERT INTO customers_consent (channel, purpose, status, night_time, granted_at,
           reconfirm_due, source, evidence, updated_at, customer_id)
       SELECT ch, 'marketing', CASE WHEN (i + k) % 7 = 0 THEN 'withdrawn' ELSE 'granted' END,
              (i + k) % 5 = 0, now(), CURRENT_DATE + ((hashint4(i * 5 + k) & 1023) - 300),
              '', '', now(), i
       FROM generate_series(1, %(customers)s) i,
            (VALUES (1, 'email'), (2, 'sms'), (3, 'kakao')) v(k, ch)
       WHERE (hashint4(i * 3 + k) & 3) < 2""",
    # interactions (2 per customer): store visits, app, web, calls
    """INSERT INTO customers_interaction (channel, direction, kind, subject, body, occurred_at,
           source, external_id, created_at, customer_id)
       SELECT (ARRAY['store','visit','app','web','phone'])[1 + n % 5], 'inbound',
              (ARRAY['visit','visit','web_event','web_event','call'])[1 + n % 5], '', '',
              now() - ((hashint4(n) & 2147483647) % 730) * interval '1 day', '', '', now(),
              1 + (hashint4(n + 5) & 2147483647) %% %(customers)s
       FROM generate_series(1, %(interactions)s) n""",
    # tags on 10 % of the customers
    """INSERT INTO core_taggeditem (object_id, content_type_id, tag_id)
       SELECT i, (SELECT id FROM django_content_type
                  WHERE app_label = 'customers' AND model = 'customer'),
              (SELECT min(id) FROM core_tag) + i % 10
       FROM generate_series(1, %(customers)s, 10) i""",
    # a grade programme with four tiers, metrics and grades for every customer
    """INSERT INTO analytics_gradeprogram (name, is_active, window_months, schedule,
           upgrade_immediately, downgrade_at_period_end, min_stay_months, created_at, updated_at)
       VALUES ('bench', true, 12, 'monthly', true, true, 0, now(), now())""",
    """INSERT INTO analytics_gradetier (code, name, rank, match, benefits, description,
           program_id)
       SELECT c, c, r, 'all', '[]', '', (SELECT id FROM analytics_gradeprogram)
       FROM (VALUES ('welcome', 0), ('silver', 1), ('gold', 2), ('vip', 3)) t(c, r)""",
    """INSERT INTO analytics_customermetrics (customer_id, recency_days, frequency, monetary,
           r_score, f_score, m_score, rfm_segment, previous_rfm_segment, expected_purchases_90d,
           p_alive, clv_12m, churn_risk, churn_band, churn_drivers, next_best_offers,
           computed_at, grade_id)
       SELECT c.id, CURRENT_DATE - c.last_purchase_at::date, c.order_count % 12, c.total_spent,
              1 + h % 5, 1 + (h / 5) % 5, 1 + (h / 25) % 5,
              (ARRAY['champions','loyal','potential_loyalists','new','at_risk','cant_lose',
                     'hibernating','lost'])[1 + (h / 125) % 8], '',
              (h % 300) / 100.0, (h % 1000) / 1000.0, (h % 2000) * 500.0,
              ((h / 7) % 1000) / 1000.0,
              (ARRAY['low','medium','high'])[1 + (h / 7) % 3], '[]', '[]', now(),
              (SELECT min(id) FROM analytics_gradetier) + (h / 11) % 4
       FROM (SELECT id, last_purchase_at, order_count, total_spent,
                    hashint4(id::int) & 2147483647 AS h
             FROM customers_customer WHERE order_count > 0) c""",
    """INSERT INTO analytics_customergrade (customer_id, since, spend, orders, visits,
           evaluated_at, program_id, tier_id)
       SELECT customer_id, CURRENT_DATE, monetary, frequency, 0, now(),
              (SELECT id FROM analytics_gradeprogram), grade_id
       FROM analytics_customermetrics""",
    "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %(customers)s)",
]


def generate(customers: int, *, orders_per_customer: int = 3, start: int = 0) -> None:
    """Fill an empty, migrated PostgreSQL database with `customers` customers and their data
    (``start``: resume at that statement of ``GENERATE_SQL`` after an interrupted run)."""
    from django.db import connection

    from dangol.core.models import Team
    from dangol.core.services import create_user

    if connection.vendor != "postgresql":
        raise SystemExit("--generate needs PostgreSQL")
    from dangol.customers.models import Customer

    if start == 0 and Customer.objects.exists():
        raise SystemExit("the database has customers already; generate into an empty one")
    sizes = {
        "customers": customers,
        "orders": customers * orders_per_customer,
        "interactions": customers * 2,
    }
    with connection.cursor() as cur:
        for sql in GENERATE_SQL[start:]:
            started = time.monotonic()
            text = sql
            for key, value in sizes.items():
                text = text.replace(f"%({key})s", str(value))
            cur.execute(text.replace("%%", "%"))
            print(f"{time.monotonic() - started:7.1f}s  {sql.split()[2]}", flush=True)
    teams = list(Team.objects.order_by("id"))
    owners = [
        create_user(
            email=f"bench-owner-{n}@dangol.test",
            password="bench-Dangol-2026!",  # noqa: S106 - a scratch database
            team=teams[n % len(teams)],
            display_name=f"bench owner {n}",
        )
        for n in range(20)
    ]
    create_user(email="bench-admin@dangol.test", password="bench-Dangol-2026!", is_superuser=True)  # noqa: S106
    with connection.cursor() as cur:
        ids = [o.pk for o in owners]
        team_ids = [o.team_id for o in owners]
        cur.execute(
            "UPDATE customers_customer SET owner_id = (%s::bigint[])[1 + id %% 20],"
            " team_id = (%s::bigint[])[1 + id %% 20]",
            [ids, team_ids],
        )
        cur.execute("ANALYZE")


def main() -> None:
    import django

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out")
    parser.add_argument("--generate", type=int, metavar="CUSTOMERS")
    parser.add_argument("--orders-per-customer", type=int, default=3)
    parser.add_argument("--start", type=int, default=0, help="resume at this statement")
    parser.add_argument("--no-snapshot", action="store_true")
    args = parser.parse_args()
    django.setup()
    if args.generate:
        generate(args.generate, orders_per_customer=args.orders_per_customer, start=args.start)
        return
    result = measure(snapshot=not args.no_snapshot)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
    main()
