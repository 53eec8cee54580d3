"""Datasets for the benchmarks: the demo company per engine and size, plus the probes.

The demo generator (``dangol demo --size S --seed N --no-serve``) builds the data. When it is
not available, :func:`service_dataset` builds a few hundred customers through the services,
enough to exercise the harness (never to quote figures from).
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

from django.core.management import call_command, get_commands
from django.db import connection

SIZES = {"tiny": 300, "small": 2_000, "medium": 100_000, "large": 1_000_000}
BENCH_ADMIN_EMAIL = "bench-admin@example.com"
FALLBACK_CUSTOMERS = 300

FAMILY = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오"]
GIVEN = ["민준", "서연", "지호", "하은", "도윤", "서윤", "예준", "지우", "시우", "수아", "주원"]
ROMAN = {
    "민준": "minjun",
    "서연": "seoyeon",
    "지호": "jiho",
    "하은": "haeun",
    "도윤": "doyun",
    "서윤": "seoyun",
    "예준": "yejun",
    "지우": "jiwoo",
    "시우": "siwoo",
    "수아": "sua",
    "주원": "juwon",
}


def size_customers(size: str) -> int:
    """Customers for ``small|medium|large`` or a number."""
    if size in SIZES:
        return SIZES[size]
    try:
        n = int(size.replace("_", "").replace(",", ""))
    except ValueError:
        raise ValueError(
            f"unknown size {size!r}: use tiny, small, medium, large or a number"
        ) from None
    if n < 50:
        raise ValueError("a benchmark dataset needs at least 50 customers")
    return n


def customer_count() -> int:
    """Customers in the current database."""
    from dangol.customers.models import Customer

    return Customer.objects.count()


def demo_available() -> bool:
    """Whether the demo generator's management command is installed."""
    return "demo" in get_commands()


def ensure_dataset(size: str, *, seed: int = 42, log: Any = print) -> dict[str, Any]:
    """Build the dataset unless the database already has customers; say how it was built."""
    call_command("migrate", interactive=False, verbosity=0)
    existing = customer_count()
    if existing:
        return {"built": False, "generator": "reused", "customers": existing, "seconds": 0.0}
    started = datetime.datetime.now(datetime.UTC)
    if demo_available():
        log(f"Building the {size} dataset with `dangol demo --size {size} --seed {seed}` ...")
        call_command("demo", size=size, seed=seed, no_serve=True, verbosity=0)
        generator = "demo"
    else:
        n = min(size_customers(size), FALLBACK_CUSTOMERS)
        log(f"`dangol demo` is not available: building {n} customers through the services ...")
        service_dataset(n, seed=seed)
        generator = "services"
    seconds = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    return {
        "built": True,
        "generator": generator,
        "customers": customer_count(),
        "seconds": round(seconds, 1),
    }


def service_dataset(n: int, *, seed: int = 42) -> None:
    """``n`` customers with phones, e-mails and a few orders, created through the services."""
    from dangol.commerce import services as commerce
    from dangol.customers import services as customers

    rng = random.Random(seed)
    actor = bench_admin()
    product = commerce.create_product(
        actor=actor, sku=f"BENCH-{seed}", name="벤치 수분 크림", price=Decimal(25_000)
    )
    for i in range(n):
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        phone = f"010-{rng.randrange(2000, 9999):04d}-{rng.randrange(0, 9999):04d}"
        email = f"{ROMAN[given]}.{i}@example.com"
        customer = customers.create_customer(
            data=customers.CustomerInput(
                family_name=family,
                given_name=given,
                region=rng.choice(["seoul", "busan", "gyeonggi"]),
                source="bench",
                contacts=[
                    customers.ContactInput("mobile", phone, True),
                    customers.ContactInput("email", email, True),
                ],
                external_ids=[("bench", f"S{i:06d}")],
            ),
            actor=actor,
        )
        for _ in range(rng.randrange(0, 4)):
            commerce.place_order(
                data=commerce.OrderInput(
                    customer=customer,
                    lines=[commerce.LineInput(product=product, quantity=rng.randrange(1, 3))],
                    placed_at=datetime.datetime.now(datetime.UTC)
                    - datetime.timedelta(days=rng.randrange(1, 700)),
                ),
                actor=actor,
            )


def bench_admin() -> Any:
    """The administrator the benchmarks act as (created once per database)."""
    from dangol.core import services
    from dangol.core.models import User

    user = User.objects.filter(email=BENCH_ADMIN_EMAIL).first()
    if user is None:
        user = services.create_user(
            email=BENCH_ADMIN_EMAIL, password=None, display_name="Benchmark", is_superuser=True
        )
    return user


def bench_token() -> str:
    """A fresh write-scoped personal access token for the benchmark administrator."""
    from dangol.core import services

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S%f")
    _token, raw = services.create_api_token(
        user=bench_admin(), name=f"bench {stamp}", scope="write"
    )
    return raw


def probes(*, seed: int, count: int = 200) -> dict[str, Any]:
    """Random customer ids and search terms taken from the data, so every probe can hit."""
    from dangol.customers.models import ContactPoint, Customer

    rng = random.Random(seed)
    top = Customer.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ids: list[int] = []
    # Random ids by range (cheap at any size), kept only when they exist.
    for _ in range(6):
        want = [rng.randint(1, top) for _ in range(count * 2)]
        ids += list(Customer.objects.filter(pk__in=want).values_list("id", flat=True))
        if len(ids) >= count:
            break
    rng.shuffle(ids)
    ids = ids[:count]
    sample = list(Customer.objects.filter(pk__in=ids[:100]).values_list("given_name", flat=True))
    names = [g[:2] for g in sample if len(g) >= 2] or ["민준"]
    if "민준" not in names:
        names.append("민준")
    emails = list(
        ContactPoint.objects.filter(customer_id__in=ids[:100], kind="email").values_list(
            "match_key", flat=True
        )
    )
    prefixes = sorted({e.split("@")[0][:5] for e in emails if len(e.split("@")[0]) >= 5})
    last4 = sorted(
        set(
            ContactPoint.objects.filter(customer_id__in=ids[:100])
            .exclude(last4="")
            .values_list("last4", flat=True)
        )
    )
    owner = (
        Customer.objects.filter(pk__in=ids[:20])
        .exclude(owner_id=None)
        .values_list("owner_id", flat=True)
        .first()
    )
    return {
        "customer_ids": ids,
        "names": names[:20],
        "email_prefixes": prefixes[:20] or ["minju"],
        "last4": last4[:20] or ["1234"],
        "owner_id": owner,
    }


def list_filters(p: dict[str, Any]) -> list[str]:
    """Query strings of the filtered-list case: the filters a list page offers, with sorts."""
    since = (datetime.date.today() - datetime.timedelta(days=90)).isoformat()
    filters = [
        "lifecycle_stage=repeat&limit=50",
        "region=seoul&sort=-last_purchase_at&limit=50",
        f"last_purchase_after={since}T00:00:00%2B09:00&sort=-total_spent&limit=50",
        "lifecycle_stage=lapsed&region=busan&sort=-created_at&limit=50",
    ]
    if p.get("owner_id"):
        filters.append(f"owner_id={p['owner_id']}&sort=-updated_at&limit=50")
    return filters


def engine_version() -> str:
    """The database engine and its version."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"
