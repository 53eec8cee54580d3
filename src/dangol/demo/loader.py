"""Bulk writing of the demo company: generate a chunk in NumPy, write it with COPY (PostgreSQL) or
large executemany transactions (SQLite), move on. Memory stays bounded by the chunk size.

Primary keys are assigned here, in ranges, so child rows reference parents without reading
anything back; PostgreSQL sequences are reset afterwards. Per-record services are bypassed on
purpose (see docs/adr/0002-bulk-loading.md): no per-row audit rows and no domain events, one
``ChangeLog`` summary row instead.
"""

from __future__ import annotations

import datetime
import io
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from django.contrib.contenttypes.models import ContentType
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from dangol.analytics.models import (
    CustomerGrade,
    CustomerMetrics,
    GradeChange,
    GradeProgram,
    GradeTier,
    ModelRun,
    RFMConfig,
    Segment,
    SegmentMember,
    SegmentSnapshot,
)
from dangol.commerce.models import (
    Order,
    OrderLine,
    Payment,
    PriceChange,
    Product,
    ProductCategory,
    PurchasedProduct,
    Return,
    ReturnLine,
    SalesChannel,
)
from dangol.commerce.purchases import rebuild_purchased_products
from dangol.core import bulkwrite
from dangol.core.dbstats import vacuum_analyze
from dangol.core.models import ChangeLog, PiiAccessLog, Role, Team, User
from dangol.customers.models import (
    Address,
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    CustomerHistory,
    ExternalId,
    Interaction,
    MergeRecord,
    Note,
    Organization,
    OrganizationMembership,
)
from dangol.customers.name_index import deferred_name_index
from dangol.demo import company as company_mod
from dangol.demo.catalog import CATEGORIES, Catalog, build_catalog
from dangol.demo.company import Company, build_company
from dangol.demo.interactions import TimelineInputs, generate_interactions
from dangol.demo.models import DemoIdentityLabel
from dangol.demo.people import REGIONS, generate_consents, generate_records
from dangol.demo.purchases import (
    DAY,
    CustomerBatch,
    generate_purchases,
    retail_calendar,
    signup_days,
)
from dangol.integration.models import DedupeRun, DuplicateCandidate, QualitySnapshot
from dangol.sales.models import Task

SIZES = {"tiny": 300, "small": 2_000, "medium": 100_000, "large": 1_000_000}
CHUNK = 50_000
INTERACTIONS_PER_CUSTOMER = 5.0
B2B_CONTACT_SHARE = 0.012
LAPSED_AFTER_DAYS = 365
SQLITE_BATCH = 100_000  # rows turned into Python tuples at a time (bounds the memory)

# Tables the demo owns, children first (the order --reset deletes in).
DOMAIN_MODELS: list[type[models.Model]] = [
    DemoIdentityLabel, ReturnLine, Return, Payment, OrderLine, Order, Interaction, ConsentEvent,
    Consent, ExternalId, Address, ContactPoint, Note, OrganizationMembership, Customer,
    Organization, PriceChange, Product, ProductCategory, SalesChannel,
]  # fmt: skip

# Analytics results over the demo's customers, children first: ``--reset`` deletes them before the
# demo tables (PostgreSQL's TRUNCATE … CASCADE would reach them anyway; SQLite's DELETE does not).
ANALYTICS_MODELS: list[type[models.Model]] = [
    SegmentMember, Segment, SegmentSnapshot, GradeChange, CustomerGrade, CustomerMetrics,
    CustomerHistory, ModelRun, GradeTier, GradeProgram, RFMConfig,
]  # fmt: skip

Columns = dict[str, Any]
Progress = Callable[[str, int], None]


def _now_epoch() -> int:
    return int(timezone.now().timestamp())


# --- the writer -------------------------------------------------------------------------------


class BulkWriter:
    """Writes column dicts into a model's table; fills the columns not given from field defaults.

    Conventions for values: datetimes are epoch seconds (int64, < 0 for NULL), dates are day
    numbers since 1970-01-01 or ISO strings ("" for NULL), nullable foreign keys use ≤ 0 for NULL,
    money is whole won.
    """

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.load_time = _now_epoch()
        self.rows_written: dict[str, int] = {}
        self.seconds = 0.0  # spent in write(): framing, converting and inserting

    def _frame(self, model: type[models.Model], cols: Columns) -> pl.DataFrame:
        n = len(next(iter(cols.values())))
        data: dict[str, pl.Series] = {}
        for f in model._meta.concrete_fields:
            name = f.attname
            if name in cols:
                s = pl.Series(name, cols[name])
            elif f.has_default():
                default = f.get_default()
                if isinstance(default, datetime.datetime):
                    default = self.load_time
                elif isinstance(default, dict | list):
                    default = "{}" if isinstance(default, dict) else "[]"
                s = pl.Series(name, [default] * n) if n else pl.Series(name, [], dtype=pl.Int64)
            elif f.null:
                s = pl.Series(name, [None] * n, dtype=pl.Int64)
            else:
                s = pl.Series(name, [""] * n, dtype=pl.String)
            s = self._convert(f, s)
            data[str(f.column)] = s.alias(str(f.column))
        return pl.DataFrame(data)

    def _convert(self, f: models.Field, s: pl.Series) -> pl.Series:
        if isinstance(f, models.DateTimeField):
            if s.dtype == pl.String or s.dtype == pl.Null:
                return s.cast(pl.String)
            ints = s.cast(pl.Int64)
            fmt = "%Y-%m-%d %H:%M:%S+00" if self.postgres else "%Y-%m-%d %H:%M:%S"
            return pl.select(
                pl.when(ints >= 0).then(pl.from_epoch(ints, time_unit="s").dt.strftime(fmt))
            ).to_series()
        if isinstance(f, models.DateField):
            if s.dtype == pl.String:
                return pl.select(pl.when(s != "").then(s)).to_series()
            ints = s.cast(pl.Int64)
            return pl.select(
                pl.when(ints > 0).then(pl.from_epoch(ints, time_unit="d").dt.strftime("%Y-%m-%d"))
            ).to_series()
        if (
            f.null
            and s.dtype.is_integer()
            and isinstance(f, models.ForeignKey | models.IntegerField)
        ):
            return pl.select(pl.when(s > 0).then(s)).to_series()  # ids: ≤ 0 means none
        if isinstance(f, models.BooleanField):
            b = s.cast(pl.Boolean)
            return b if self.postgres else b.cast(pl.Int8)
        return s

    def write(self, model: type[models.Model], cols: Columns) -> int:
        """Insert the rows of ``cols`` (equal-length arrays keyed by attname)."""
        if not cols or not len(next(iter(cols.values()))):
            return 0
        started = time.monotonic()
        df = self._frame(model, cols)
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(c) for c in df.columns)
        with connection.cursor() as cursor:
            if self.postgres:
                buf = io.BytesIO()
                df.write_csv(buf, include_header=False, null_value="\\N")
                sql = f"COPY {table} ({names}) FROM STDIN (FORMAT csv, NULL '\\N')"
                with cursor.cursor.copy(sql) as copy:
                    copy.write(buf.getbuffer())
            else:
                marks = ", ".join("?" * len(df.columns))
                raw = cursor.connection
                sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - names from _meta
                # Column lists zipped into tuples in C: ~3x cheaper than DataFrame.iter_rows.
                for part in df.iter_slices(SQLITE_BATCH):
                    cols_ = [c.to_list() for c in part.get_columns()]
                    raw.executemany(sql, zip(*cols_, strict=True))
        label = model._meta.label
        self.rows_written[label] = self.rows_written.get(label, 0) + len(df)
        self.seconds += time.monotonic() - started
        return len(df)


# --- plan and ids -----------------------------------------------------------------------------


@dataclass
class IdRanges:
    """The next free primary key of each table the loader fills."""

    next: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_db(cls, models_: list[type[models.Model]]) -> IdRanges:
        out = cls()
        for m in models_:
            pk = m._meta.pk
            assert pk is not None
            top = m._default_manager.aggregate(top=models.Max(pk.attname))["top"] or 0
            out.next[m._meta.label] = int(top) + 1
        return out

    def take(self, model: type[models.Model], n: int) -> int:
        start = self.next[model._meta.label]
        self.next[model._meta.label] = start + n
        return start


def parse_size(size: str | int) -> int:
    """``small|medium|large`` or a number of customers."""
    if isinstance(size, int):
        return size
    if size in SIZES:
        return SIZES[size]
    try:
        n = int(size.replace("_", "").replace(",", ""))
    except ValueError:
        raise ValueError(f"unknown size {size!r}: use small, medium, large or a number") from None
    if n < 50:
        raise ValueError("the demo needs at least 50 customers")
    return n


@dataclass
class LoadResult:
    """What was loaded, for the command's summary."""

    customers: int
    counts: dict[str, int]
    seconds: float
    company: Company
    # Seconds per phase: setup, generate, write, aggregates, indexes, finish.
    timings: dict[str, float] = field(default_factory=dict)


# Work on the demo's customers by other domains, and data derived from their orders, deleted
# first by ``--reset``.
# Work done on the demo's customers after the load (tasks, the duplicate search and its queue,
# merges, quality figures): --reset deletes it too.
WORK_MODELS: list[type[models.Model]] = [
    Task, PurchasedProduct, DuplicateCandidate, DedupeRun, MergeRecord, QualitySnapshot,
]  # fmt: skip

# --- wiping -----------------------------------------------------------------------------------


def has_customers() -> bool:
    return Customer.objects.exists()


def wipe() -> None:
    """Delete the demo domain tables and the demo staff (for ``--reset``)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            tables = ", ".join(
                connection.ops.quote_name(m._meta.db_table)
                for m in WORK_MODELS + ANALYTICS_MODELS + DOMAIN_MODELS
            )
            with connection.cursor() as cursor:
                # Deferred foreign-key checks of earlier writes in this transaction must run first.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            with connection.cursor() as cursor:
                for m in WORK_MODELS + ANALYTICS_MODELS + DOMAIN_MODELS:
                    table = connection.ops.quote_name(m._meta.db_table)
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - from _meta
        staff = User.objects.filter(email__endswith="dangol.local")
        PiiAccessLog.objects.filter(user__in=staff).delete()
        staff.delete()
        names = [spec["name"] for spec in company_mod.ROLE_SPECS.values()]
        Role.objects.filter(name__in=names).delete()
        team_names = [t[0] for t in company_mod.REGION_TEAMS] + [
            company_mod.B2B_TEAM, company_mod.SERVICE_TEAM, company_mod.MARKETING_TEAM,
            company_mod.FIELD_TEAM,
        ]  # fmt: skip
        Team.objects.filter(name__in=team_names).delete()
        Team.objects.filter(name=company_mod.HQ_TEAM).delete()


# --- catalogue --------------------------------------------------------------------------------


def load_catalog(since: datetime.datetime) -> Catalog:
    """Categories and products (a few hundred rows: the ORM's bulk_create is plenty), in the
    catalogue `since` the simulated window opens: each product's list price is the first change
    of its price history from then on, as ``commerce.services.create_product`` writes it."""
    by_path: dict[str, ProductCategory] = {}
    for path, name in CATEGORIES:
        parent_path, _, slug = path.rpartition("/")
        by_path[path] = ProductCategory.objects.create(
            name=name, slug=slug, parent=by_path.get(parent_path), path=path
        )
    first = (Product.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1
    cat = build_catalog(first_id=first)
    Product.objects.bulk_create(
        [
            Product(
                id=int(pid), sku=str(cat.sku[i]), name=str(cat.name[i]),
                category=by_path[str(cat.category_path[i])], brand=str(cat.brand[i]),
                line=str(cat.line[i]), tier=str(cat.tier[i]), price=int(cat.price[i]),
                source="demo", created_at=since,
            )
            for i, pid in enumerate(cat.ids)
        ]
    )  # fmt: skip
    PriceChange.objects.bulk_create(
        [
            PriceChange(
                product_id=int(pid), old_price=None, new_price=int(cat.price[i]), currency="KRW",
                effective_at=since, source="demo", created_at=since,
            )
            for i, pid in enumerate(cat.ids)
        ]
    )  # fmt: skip
    return cat


# --- one chunk --------------------------------------------------------------------------------

ORG_WORDS = ["올리브", "하늘", "미소", "청담", "새봄", "바른", "한빛", "초록", "해밀", "다온"]
ORG_KINDS = ["뷰티", "코스메틱", "드럭스토어", "유통", "마트", "면세점", "호텔 어메니티"]
MEMBER_ROLES = ["구매 담당", "대표", "MD", "매장 관리자"]


def _chunk(
    *,
    index: int,
    n: int,
    seed: int,
    ids: IdRanges,
    company: Company,
    catalog: Catalog,
    writer: BulkWriter,
    cal: Any,
    now: int,
    cts: dict[str, int],
    progress: Progress,
) -> None:
    rng = np.random.default_rng([seed, 100, index])
    first_cid = ids.take(Customer, n)
    rec = generate_records(
        n, seed, first_record_id=first_cid, first_person_id=index * CHUNK * 2 + 1
    )
    cid = rec["record_id"].to_numpy()
    region = rec["region"].to_numpy().astype(object)
    channel = rec["signup_channel"].to_numpy().astype(object)
    signup_day = signup_days(cal, n, rng)
    signup_at = cal.start_epoch + (signup_day * DAY).astype(np.int64)

    # B2B: organizations with a few contacts each, owned by the wholesale desk.
    n_org = max(1, round(n * B2B_CONTACT_SHARE / 1.6))
    org_first = ids.take(Organization, n_org)
    org_ids = np.arange(org_first, org_first + n_org, dtype=np.int64)
    org_owner = company.b2b_reps[rng.integers(0, len(company.b2b_reps), n_org)]
    contacts = rng.choice(n, size=min(n, round(n_org * 1.6)), replace=False)
    org_of = np.zeros(n, dtype=np.int64)
    org_of[contacts] = org_ids[np.arange(len(contacts)) % n_org]

    purchases = generate_purchases(
        CustomerBatch(cid, signup_day, channel, region, org_of),
        cal,
        catalog,
        company.channels,
        company.store_by_region,
        first_order_id=ids.next[Order._meta.label],
        first_line_id=ids.next[OrderLine._meta.label],
        first_return_id=ids.next[Return._meta.label],
        first_return_line_id=ids.next[ReturnLine._meta.label],
        rng=rng,
    )
    ids.take(Order, len(purchases.orders["id"]))
    ids.take(OrderLine, len(purchases.lines["id"]))
    ids.take(Return, len(purchases.returns["id"]))
    ids.take(ReturnLine, len(purchases.return_lines["id"]))

    # Owners: B2B contacts belong to their account's rep; the best retail customers get one of
    # their region's reps; everyone else is the region team's.
    spend = np.bincount(
        purchases.orders["customer_id"] - first_cid, weights=purchases.orders["total"], minlength=n
    )
    team = np.array([company.region_team[str(r)] for r in region], dtype=np.int64)
    owner = np.zeros(n, dtype=np.int64)
    vip = spend >= np.quantile(spend, 0.97)
    for tid, reps in company.reps_by_team.items():
        sel = np.flatnonzero(vip & (team == tid))
        owner[sel] = reps[rng.integers(0, len(reps), len(sel))]
    b2b = org_of > 0
    owner[b2b] = org_owner[org_of[b2b] - org_first]
    team[b2b] = company.b2b_team

    birth = rec["birth_date"].to_numpy()
    writer.write(
        Organization,
        {
            "id": org_ids,
            "name": np.array(
                [
                    f"{ORG_WORDS[i % 10]}{ORG_KINDS[(i // 10) % 7]} {i // 70 + 1}호점"
                    for i in org_ids.tolist()
                ],
                dtype=object,
            ),
            "business_number": np.array(
                [company_mod.business_number(i) for i in org_ids.tolist()], dtype=object
            ),
            "industry": np.full(n_org, "화장품 유통", dtype=object),
            "size": np.array(["1-9", "10-49", "50-299", "300-999"], dtype=object)[
                rng.choice(4, n_org, p=[0.4, 0.35, 0.2, 0.05])
            ],
            "region": region[contacts[:n_org]]
            if len(contacts) >= n_org
            else np.full(n_org, "seoul"),
            "owner_id": org_owner,
            "team_id": np.full(n_org, company.b2b_team),
            "status": np.full(n_org, "active", dtype=object),
            "source": np.full(n_org, "wholesale"),
            "created_at": np.full(n_org, cal.start_epoch),
            "updated_at": np.full(n_org, now),
        },
    )
    writer.write(
        Customer,
        {
            "id": cid,
            "family_name": rec["family_name"].to_numpy(),
            "given_name": rec["given_name"].to_numpy(),
            "full_name": rec["full_name"].to_numpy(),
            "birth_date": birth,
            "birth_date_is_lunar": rec["birth_date_is_lunar"].to_numpy(),
            "gender": rec["gender"].to_numpy(),
            "lifecycle_stage": np.full(n, "lead", dtype=object),
            "status": np.full(n, "active", dtype=object),
            "region": region,
            "owner_id": owner,
            "team_id": team,
            "source": rec["source"].to_numpy(),
            "signup_channel": channel,
            "created_at": signup_at,
            "updated_at": signup_at,
            "order_count": np.zeros(n, dtype=np.int64),
            "total_spent": np.zeros(n, dtype=np.int64),
        },
    )
    writer.write(DemoIdentityLabel, {"customer_id": cid, "person_id": rec["person_id"].to_numpy()})
    bm = np.flatnonzero(b2b)
    if len(bm):
        mem_first = ids.take(OrganizationMembership, len(bm))
        first_of_org = np.unique(org_of[bm], return_index=True)[1]
        primary = np.zeros(len(bm), dtype=bool)
        primary[first_of_org] = True
        writer.write(
            OrganizationMembership,
            {
                "id": np.arange(mem_first, mem_first + len(bm)),
                "customer_id": cid[bm],
                "organization_id": org_of[bm],
                "role": np.array(MEMBER_ROLES, dtype=object)[rng.integers(0, 4, len(bm))],
                "is_primary": primary,
                "started_on": (signup_at[bm] // DAY),
            },
        )

    # Contact points, normalized exactly as the services do (see tests/test_people.py).
    phone = rec["phone"].to_numpy()
    email = rec["email"].to_numpy()
    has_email = email != ""
    e = np.flatnonzero(has_email)
    local_dom = [s.partition("@") for s in email[e].tolist()]
    normalized = np.array([f"{lo}@{dom.lower()}" for lo, _at, dom in local_dom], dtype=object)
    cp_n = n + len(e)
    cp_first = ids.take(ContactPoint, cp_n)
    e164 = rec["phone_e164"].to_numpy().astype(object)
    writer.write(
        ContactPoint,
        {
            "id": np.arange(cp_first, cp_first + cp_n),
            "customer_id": np.concatenate([cid, cid[e]]),
            "organization_id": np.full(cp_n, -1),
            "kind": np.array(["mobile"] * n + ["email"] * len(e), dtype=object),
            "value": np.concatenate([phone, email[e]]).astype(object),
            "normalized": np.concatenate([e164, normalized]),
            "match_key": np.concatenate(
                [e164, np.char.lower(normalized.astype(str)).astype(object)]
            ),
            "last4": np.concatenate(
                [np.array([s[-4:] for s in e164], dtype=object), np.full(len(e), "", dtype=object)]
            ),
            "label": np.array(["휴대폰"] * n + ["개인"] * len(e), dtype=object),
            "is_primary": np.ones(cp_n, dtype=bool),
            "is_legacy": np.concatenate(
                [rec["is_legacy_phone"].to_numpy(), np.zeros(len(e), bool)]
            ),
            "verified_at": np.concatenate(
                [np.where(channel == "app", signup_at, -1), np.full(len(e), -1)]
            ),
            "created_at": np.concatenate([signup_at, signup_at[e]]),
        },
    )
    addr = rec["address"].to_numpy()
    a = np.flatnonzero(addr != "")
    parts = [s.rpartition(", ") for s in addr[a].tolist()]
    ad_first = ids.take(Address, len(a))
    writer.write(
        Address,
        {
            "id": np.arange(ad_first, ad_first + len(a)),
            "customer_id": cid[a],
            "organization_id": np.full(len(a), -1),
            "kind": np.full(len(a), "home", dtype=object),
            "postal_code": rec["postal_code"].to_numpy()[a],
            "region": region[a],
            "city": np.array([p[0].split(" ")[1] for p in parts], dtype=object),
            "line1": np.array([p[0] for p in parts], dtype=object),
            "line2": np.array([p[2] for p in parts], dtype=object),
            "country": np.full(len(a), "KR", dtype=object),
            "is_primary": np.ones(len(a), dtype=bool),
            "created_at": signup_at[a],
        },
    )
    source = rec["source"].to_numpy().astype(object)
    ex_first = ids.take(ExternalId, n)
    writer.write(
        ExternalId,
        {
            "id": np.arange(ex_first, ex_first + n),
            "customer_id": cid,
            "organization_id": np.full(n, -1),
            "source": source,
            "key": np.char.add(
                np.char.upper(source.astype(str)),
                np.char.add("-", np.char.zfill(cid.astype(str), 9)),
            ).astype(object),
            "created_at": signup_at,
        },
    )

    consents, history, preferred = generate_consents(cid, signup_at, has_email, channel, now, rng)
    k = len(consents["customer_id"])
    c_first = ids.take(Consent, k)
    consents["id"] = np.arange(c_first, c_first + k)
    consents["purpose"] = np.full(k, "marketing", dtype=object)
    consents["evidence"] = np.full(k, "", dtype=object)
    writer.write(Consent, consents)
    k = len(history["customer_id"])
    h_first = ids.take(ConsentEvent, k)
    history["id"] = np.arange(h_first, h_first + k)
    history["purpose"] = np.full(k, "marketing", dtype=object)
    history["actor_id"] = np.full(k, -1)
    writer.write(ConsentEvent, history)

    o = purchases.orders
    o["currency"] = np.full(len(o["id"]), "KRW", dtype=object)
    o["source"] = np.full(len(o["id"]), "demo", dtype=object)
    writer.write(Order, o)
    writer.write(OrderLine, purchases.lines)
    r = purchases.returns
    r["note"] = np.full(len(r["id"]), "", dtype=object)
    writer.write(Return, r)
    writer.write(ReturnLine, purchases.return_lines)

    stores = np.array([c for ids_ in company.store_by_region.values() for c in ids_])
    timeline = generate_interactions(
        TimelineInputs(cid, signup_at, preferred, org_of, owner, stores),
        purchases, cal, company.agents,
        order_ct=cts["order"], return_ct=cts["return"],
        per_customer=INTERACTIONS_PER_CUSTOMER, first_id=ids.next[Interaction._meta.label], rng=rng,
    )  # fmt: skip
    if timeline:
        ids.take(Interaction, len(timeline["id"]))
        timeline["source"] = np.full(len(timeline["id"]), "demo", dtype=object)
        writer.write(Interaction, timeline)
    progress("customers", n)


# --- aggregates -------------------------------------------------------------------------------


def compute_aggregates(now: int) -> None:
    """Customer purchase aggregates and lifecycle stage from the orders, set-based in SQL.

    Matches the order services: cancelled orders do not count, returns lower lifetime spend.
    """
    q = connection.ops.quote_name
    cust, order = q(Customer._meta.db_table), q(Order._meta.db_table)
    lapsed = datetime.datetime.fromtimestamp(now - LAPSED_AFTER_DAYS * DAY, tz=datetime.UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {cust} SET
                order_count = s.n, total_spent = s.spent,
                first_purchase_at = s.first_at, last_purchase_at = s.last_at
            FROM (
                SELECT customer_id, COUNT(*) AS n, SUM(total - returned_amount) AS spent,
                       MIN(placed_at) AS first_at, MAX(placed_at) AS last_at
                FROM {order} WHERE status <> 'cancelled' GROUP BY customer_id
            ) AS s
            WHERE {cust}.id = s.customer_id
            """  # noqa: S608 - table names from _meta
        )
        cursor.execute(
            f"""
            UPDATE {cust} SET lifecycle_stage = CASE
                WHEN order_count = 0 THEN 'lead'
                WHEN last_purchase_at < %s THEN 'lapsed'
                WHEN order_count = 1 THEN 'customer'
                ELSE 'repeat' END
            """,  # noqa: S608 - table names from _meta
            [lapsed.strftime("%Y-%m-%d %H:%M:%S") if connection.vendor == "sqlite" else lapsed],
        )


def reset_sequences() -> None:
    """Point PostgreSQL's id sequences past the ids the loader set itself."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), DOMAIN_MODELS):
            cursor.execute(sql)


# The big tables whose secondary indexes are dropped during a load and rebuilt afterwards.
BIG_MODELS: list[type[models.Model]] = [
    Customer, ContactPoint, Address, ExternalId, Consent, ConsentEvent, Order, OrderLine,
    Interaction, DemoIdentityLabel,
]  # fmt: skip


# Leading columns whose values only grow in the order the loader writes rows (each chunk's
# customers, orders and lines get ids above every earlier one, and children are written in
# parent order). An index that starts with one of them is only ever appended to at its right
# edge, which is cheap, so on SQLite it stays during the load instead of being rebuilt with a
# full scan and sort of a 10-million-row table at the end.
APPEND_ONLY_COLUMNS = {"customer_id", "order_id"}


def _leading_column(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA index_info({connection.ops.quote_name(name)})")
        cols = sorted(cursor.fetchall())
    return str(cols[0][2]) if cols else ""


@contextmanager
def _deferred_indexes(enabled: bool) -> Iterator[None]:
    """Drop the big tables' secondary indexes for the load, rebuild them at the end.

    Building an index from sorted data once is several times faster than maintaining it row
    by row through millions of inserts. Primary-key and constraint indexes stay. On SQLite,
    indexes that lead with a column the load only appends to stay as well (see
    ``APPEND_ONLY_COLUMNS``), and the rebuild sorts with a worker thread per core. The
    mechanism is ``core.bulkwrite.deferred_indexes`` (shared with the import's bulk mode): the
    indexes are rebuilt at the end even when the load fails, and a load killed in between
    leaves a marker from which ``bulkwrite.restore_indexes("demo.load")`` rebuilds them.
    """
    if not enabled:
        yield
        return

    def keep(name: str, _sql: str) -> bool:
        return connection.vendor == "sqlite" and _leading_column(name) in APPEND_ONLY_COLUMNS

    bulkwrite.restore_indexes(DEFERRAL_OWNER)  # a load killed earlier: its indexes first
    with bulkwrite.deferred_indexes(DEFERRAL_OWNER, BIG_MODELS, keep=keep):
        yield


DEFERRAL_OWNER = "demo.load"


@contextmanager
def _fast_postgres() -> Iterator[None]:
    """Skip per-row foreign-key triggers and commit waits during the bulk load.

    The loader assigns every key itself from rows it has just written, so the checks cannot
    fail; PostgreSQL would otherwise queue one trigger event per row of COPY. Needs a superuser
    (``session_replication_role``); other roles simply load with the checks on.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
        superuser = bool(row and row[0])
        cursor.execute("SET synchronous_commit = off")
        if superuser:
            cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
            if superuser:
                cursor.execute("RESET session_replication_role")


def _pragma(cursor: Any, sql: str) -> list[Any]:
    """Run a PRAGMA to completion: an unfinished one (some return a row) would keep a statement
    open and make a later journal-mode switch or checkpoint fail with "table is locked"."""
    cursor.execute(sql)
    return list(cursor.fetchall())


@contextmanager
def _fast_sqlite(fresh: bool) -> Iterator[None]:
    """Relax SQLite's durability for the bulk load (when not inside an outer transaction).

    Into an empty database (``fresh``) the load also runs without a journal: every page is
    then written once, straight into the database file, instead of once into the WAL and once
    more at the checkpoint. A crash mid-load leaves a file to delete and load again (nothing
    but the demo is in it); the journal mode (WAL) is restored at the end.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        journal = str(_pragma(cursor, "PRAGMA journal_mode")[0][0])
        if fresh:  # the switch returns the mode in force (it stays WAL if it cannot switch)
            mode = _pragma(cursor, f"PRAGMA journal_mode={FRESH_JOURNAL}")[0][0]
            fresh = str(mode).lower() == FRESH_JOURNAL.lower()
        _pragma(cursor, "PRAGMA synchronous=OFF")
        _pragma(cursor, "PRAGMA foreign_keys=OFF")
        # Keep the growing indexes in memory: random index inserts otherwise hit the disk.
        _pragma(cursor, "PRAGMA cache_size=-2000000")
        _pragma(cursor, "PRAGMA wal_autocheckpoint=100000")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if fresh:
                _pragma(cursor, f"PRAGMA journal_mode={journal}")
            _pragma(cursor, "PRAGMA synchronous=NORMAL")
            _pragma(cursor, "PRAGMA foreign_keys=ON")
            _pragma(cursor, "PRAGMA cache_size=-65536")
            _pragma(cursor, "PRAGMA wal_autocheckpoint=1000")
            if not fresh:  # else the WAL was only just created, and is empty
                _pragma(cursor, "PRAGMA wal_checkpoint(TRUNCATE)")


FRESH_JOURNAL = os.environ.get("DANGOL_DEMO_JOURNAL", "OFF")


def load(
    n_customers: int,
    *,
    seed: int = 42,
    as_of: datetime.date | None = None,
    admin_email: str = company_mod.ADMIN_EMAIL,
    admin_password: str = company_mod.ADMIN_PASSWORD,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> LoadResult:
    """Generate and write the demo company with ``n_customers`` customer records."""
    started = time.monotonic()
    report: Progress = progress or (lambda _what, _n: None)
    as_of = as_of or timezone.localdate()
    now = (
        int(datetime.datetime(as_of.year, as_of.month, as_of.day, tzinfo=datetime.UTC).timestamp())
        - 9 * 3600
    )
    cal = retail_calendar(as_of)
    writer = BulkWriter()
    writer.load_time = now
    with transaction.atomic():
        company = build_company(n_customers, admin_email=admin_email, admin_password=admin_password)
        catalog = load_catalog(datetime.datetime.fromtimestamp(cal.start_epoch, tz=datetime.UTC))
    cts = {
        "order": ContentType.objects.get_for_model(Order).pk,
        "return": ContentType.objects.get_for_model(Return).pk,
    }
    ids = IdRanges.from_db([m for m in DOMAIN_MODELS if m is not DemoIdentityLabel])
    fresh = not has_customers()
    timings = {"setup": time.monotonic() - started, "generate": 0.0, "write": 0.0}
    with _fast_sqlite(fresh), _fast_postgres(), deferred_name_index():
        with _deferred_indexes(n_customers >= chunk):
            for index, start in enumerate(range(0, n_customers, chunk)):
                t0, w0 = time.monotonic(), writer.seconds
                with transaction.atomic():
                    _chunk(
                        index=index, n=min(chunk, n_customers - start), seed=seed, ids=ids,
                        company=company, catalog=catalog, writer=writer, cal=cal, now=now, cts=cts,
                        progress=report,
                    )  # fmt: skip
                    c0 = time.monotonic()
                spent, wrote = time.monotonic() - t0, writer.seconds - w0 + time.monotonic() - c0
                timings["generate"] += spent - wrote
                timings["write"] += wrote  # includes each chunk's COMMIT
            # Before the indexes come back: the UPDATE then maintains only the primary key.
            report("aggregates", 0)
            t0 = time.monotonic()
            with transaction.atomic():
                compute_aggregates(now)
                rebuild_purchased_products()
            timings["aggregates"] = time.monotonic() - t0
            report("indexes", 0)
            t0 = time.monotonic()
        timings["indexes"] = time.monotonic() - t0
        t0 = time.monotonic()
        with transaction.atomic():
            reset_sequences()
            ChangeLog.objects.create(
                actor_id=company.admin_id, action="demo.loaded", object_type="demo.dataset",
                object_id=str(seed), object_repr=f"demo company, {n_customers:,} customers",
                after={"seed": seed, "as_of": as_of.isoformat(), "rows": writer.rows_written},
            )  # fmt: skip
    if not connection.in_atomic_block:
        vacuum_analyze()  # statistics and the visibility map for every table just written
    timings["finish"] = time.monotonic() - t0
    return LoadResult(
        n_customers, writer.rows_written, time.monotonic() - started, company,
        {k: round(v, 1) for k, v in timings.items()},
    )  # fmt: skip


__all__ = ["REGIONS", "SIZES", "BulkWriter", "LoadResult", "compute_aggregates", "has_customers",
           "load", "parse_size", "wipe"]  # fmt: skip
