"""Data quality of the customer base: completeness and validity per field and per source, the
plan-weighted quality score, duplicate rate, consent coverage and stale records.

Everything is computed set-based: one query per table into Polars frames (see
``dedupe.frames``) plus SQL aggregates, never a loop over customers. The daily figures are kept
in ``QualitySnapshot`` rows (``services.take_quality_snapshot``, run nightly) for the trend.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentStatus,
    ContactKind,
    Customer,
    RecordStatus,
    Region,
)
from dangol.integration.dedupe import frames
from dangol.integration.models import (
    CandidateStatus,
    DuplicateCandidate,
    InformationPlanItem,
    PlanLevel,
    QualityField,
)

FIELDS = [f.value for f in QualityField]
WEIGHTS = {PlanLevel.REQUIRED.value: 2.0, PlanLevel.RECOMMENDED.value: 1.0}
# The plan in force until an administrator declares one: what every Korean CRM needs to reach
# and recognize a customer.
DEFAULT_PLAN: dict[str, str] = {
    QualityField.NAME: PlanLevel.REQUIRED,
    QualityField.PHONE: PlanLevel.REQUIRED,
    QualityField.EMAIL: PlanLevel.RECOMMENDED,
    QualityField.BIRTH_DATE: PlanLevel.RECOMMENDED,
    QualityField.GENDER: PlanLevel.RECOMMENDED,
    QualityField.ADDRESS: PlanLevel.RECOMMENDED,
    QualityField.REGION: PlanLevel.RECOMMENDED,
}
# Which parsed fields of a customer import row carry each plan field (no address in imports).
IMPORT_FIELDS: dict[str, tuple[str, ...]] = {
    QualityField.NAME: ("full_name", "family_name", "given_name"),
    QualityField.BIRTH_DATE: ("birth_date",),
    QualityField.GENDER: ("gender",),
    QualityField.PHONE: ("mobile", "phone"),
    QualityField.EMAIL: ("email",),
    QualityField.REGION: ("region",),
    QualityField.ADDRESS: ("address",),
}
NAME_PATTERN = r"^([가-힣]{2,6}|[A-Za-z][A-Za-z .'\-]{1,80})$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
POSTAL_PATTERN = r"^[0-9]{5}$"
MIN_BIRTH_DATE = datetime.date(1900, 1, 1)


# --- the plan ---------------------------------------------------------------------------------


def plan_table(*, declared_only: bool = False) -> dict[str, dict[str, str]]:
    """``{source: {field: level}}`` as declared ("" = every source without its own plan);
    for scoring, the built-in ``DEFAULT_PLAN`` stands for "" until one is declared."""
    out: dict[str, dict[str, str]] = {}
    for source, field_name, level in InformationPlanItem.objects.values_list(
        "source", "field", "level"
    ):
        out.setdefault(source, {})[field_name] = level
    out.setdefault("", {} if declared_only else {str(k): str(v) for k, v in DEFAULT_PLAN.items()})
    return out


def plan_for(source: str, table: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """The plan in force for customers of `source`."""
    table = plan_table() if table is None else table
    return table.get(source) or table[""]


class RowLike:
    """What the import pipeline's rows offer (``imports.targets.Row``)."""

    data: dict[str, Any]
    reasons: list[Any]

    def reject(self, field_name: str, code: str, message: str) -> None: ...


def check_import_rows(source: str, rows: Sequence[Any]) -> int:
    """The import hook: reject the rows (not rejected yet) that lack a field the plan of
    `source` requires, with code ``required_by_plan``. One query per chunk. Returns how many
    rows were rejected (an address is its 주소 line). Without a declared plan nothing is
    rejected."""
    # Only a plan an admin declared rejects rows; the built-in default only scores quality.
    required = [
        f
        for f, level in plan_for(source, plan_table(declared_only=True)).items()
        if level == PlanLevel.REQUIRED and f in IMPORT_FIELDS
    ]
    if not required:
        return 0
    rejected = 0
    for row in rows:
        if row.reasons:
            continue
        missing = [f for f in required if not any(row.data.get(k) for k in IMPORT_FIELDS[f])]
        for f in missing:
            row.reject(
                f,
                "required_by_plan",
                _("The customer information plan of this source requires %(field)s.")
                % {"field": QualityField(f).label},
            )
        rejected += bool(missing)
    return rejected


# --- per-customer flags -----------------------------------------------------------------------


def months_before(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    first_next = datetime.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last = (first_next - datetime.timedelta(days=1)).day
    return datetime.date(year, month + 1, min(day.day, last))


def quality_frame(
    qs: QuerySet[Customer], *, stale_months: int = 24, today: datetime.date | None = None
) -> pl.DataFrame:
    """One row per customer of `qs`: ``id, source``, ``complete_<field>`` and ``valid_<field>``
    for each ``QualityField`` (valid implies complete), ``legacy_phone`` and ``stale``."""
    today = today or timezone.localdate()
    cutoff = timezone.make_aware(
        datetime.datetime.combine(months_before(today, stale_months), datetime.time.min)
    ).astimezone(datetime.UTC)
    base = frames.customers(qs)
    points = frames.contacts(qs)
    phone_kinds = [ContactKind.MOBILE.value, ContactKind.PHONE.value]
    contact = points.group_by("customer_id").agg(
        has_phone=pl.col("kind").is_in(phone_kinds).any(),
        phone_ok=(
            pl.col("kind").is_in(phone_kinds)
            & pl.col("normalized").str.starts_with("+")
            & ~pl.col("is_legacy")
        ).any(),
        legacy_phone=(pl.col("kind").is_in(phone_kinds) & pl.col("is_legacy")).any(),
        has_email=(pl.col("kind") == ContactKind.EMAIL.value).any(),
        email_ok=(
            (pl.col("kind") == ContactKind.EMAIL.value)
            & pl.col("normalized").str.contains(EMAIL_PATTERN)
        ).any(),
    )
    addr = frames.addresses(qs)
    address = addr.group_by("customer_id").agg(
        has_address=(pl.col("line1").str.strip_chars().str.len_chars() > 0).any(),
        address_ok=(
            (pl.col("line1").str.strip_chars().str.len_chars() > 0)
            & pl.col("postal_code").str.contains(POSTAL_PATTERN)
        ).any(),
    )
    primary_region = frames.first_per_customer(addr, "address_id").select(
        "customer_id", address_region=pl.col("address_region")
    )
    regions = [r for r in Region.values if r]
    df = (
        base.join(contact, left_on="id", right_on="customer_id", how="left")
        .join(address, left_on="id", right_on="customer_id", how="left")
        .join(primary_region, left_on="id", right_on="customer_id", how="left")
    )
    flag = pl.col
    filled = lambda c: flag(c).fill_null("").str.strip_chars().str.len_chars() > 0  # noqa: E731
    yes = lambda c: flag(c).fill_null(False)  # noqa: E731
    return df.select(
        "id",
        source=flag("source").fill_null(""),
        complete_name=filled("full_name"),
        valid_name=filled("full_name")
        & filled("family_name")
        & filled("given_name")
        & flag("full_name").fill_null("").str.contains(NAME_PATTERN),
        complete_birth_date=flag("birth_date").is_not_null(),
        valid_birth_date=flag("birth_date").is_between(MIN_BIRTH_DATE, today).fill_null(False),
        complete_gender=filled("gender"),
        valid_gender=flag("gender").is_in(["F", "M", "X"]).fill_null(False),
        complete_phone=yes("has_phone"),
        valid_phone=yes("phone_ok"),
        complete_email=yes("has_email"),
        valid_email=yes("email_ok"),
        complete_address=yes("has_address"),
        valid_address=yes("address_ok"),
        complete_region=filled("region"),
        valid_region=flag("region").is_in(regions).fill_null(False)
        & (~filled("address_region") | (flag("address_region") == flag("region"))).fill_null(True),
        legacy_phone=yes("legacy_phone"),
        stale=(flag("updated_at") < cutoff)
        & (flag("last_purchase_at").is_null() | (flag("last_purchase_at") < cutoff)),
    )


def _rates(frame: pl.DataFrame) -> dict[str, dict[str, float | int]]:
    n = frame.height
    row = frame.select(
        [pl.col(f"complete_{f}").sum().alias(f"complete_{f}") for f in FIELDS]
        + [pl.col(f"valid_{f}").sum().alias(f"valid_{f}") for f in FIELDS]
    ).row(0, named=True)
    return {
        f: {
            "complete": int(row[f"complete_{f}"] or 0),
            "valid": int(row[f"valid_{f}"] or 0),
            "complete_rate": (row[f"complete_{f}"] or 0) / n if n else 0.0,
            "valid_rate": (row[f"valid_{f}"] or 0) / n if n else 0.0,
        }
        for f in FIELDS
    }


def scores(frame: pl.DataFrame, table: dict[str, dict[str, str]]) -> pl.DataFrame:
    """Each customer's plan-weighted score (0..1): the weighted share of the plan's fields
    that are complete and valid (required fields weigh twice a recommended one). Columns
    ``id, source, score``."""
    if frame.is_empty():
        return pl.DataFrame(schema={"id": pl.Int64, "source": pl.String, "score": pl.Float64})
    sources = frame["source"].unique().to_list()
    plan_rows = [(s, f, WEIGHTS[level]) for s in sources for f, level in plan_for(s, table).items()]
    plan = pl.DataFrame(
        plan_rows,
        schema={"source": pl.String, "field": pl.String, "weight": pl.Float64},
        orient="row",
    )
    long = frame.select(
        "id",
        "source",
        *[(pl.col(f"complete_{f}") & pl.col(f"valid_{f}")).alias(f) for f in FIELDS],
    ).unpivot(index=["id", "source"], variable_name="field", value_name="ok")
    return (
        long.join(plan, on=["source", "field"], how="inner")
        .group_by("id", "source")
        .agg(
            score=(pl.col("ok").cast(pl.Float64) * pl.col("weight")).sum() / pl.col("weight").sum()
        )
    )


@dataclass
class QualityReport:
    """The figures a page, the API and a snapshot show."""

    day: datetime.date
    customers: int
    score: float | None
    fields: dict[str, dict[str, float | int]]
    sources: list[dict[str, Any]]
    legacy_phones: int
    duplicate_pairs: int
    duplicate_rate: float
    consent: dict[str, dict[str, float | int]]
    stale: int
    stale_rate: float
    stale_months: int
    plan: dict[str, dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "customers": self.customers,
            "score": self.score,
            "fields": self.fields,
            "sources": self.sources,
            "legacy_phones": self.legacy_phones,
            "duplicate_pairs": self.duplicate_pairs,
            "duplicate_rate": self.duplicate_rate,
            "consent": self.consent,
            "stale": self.stale,
            "stale_rate": self.stale_rate,
            "stale_months": self.stale_months,
            "plan": self.plan,
        }


def consent_coverage(qs: QuerySet[Customer], today: datetime.date) -> dict[str, int]:
    """Customers of `qs` with a current marketing consent, per channel (one SQL aggregate)."""
    current = Consent.objects.filter(
        customer_id__in=qs.order_by().values("pk"),
        purpose=ConsentPurpose.MARKETING,
        status=ConsentStatus.GRANTED,
    ).filter(Q(reconfirm_due__isnull=True) | Q(reconfirm_due__gte=today))
    counts = dict(
        current.order_by().values_list("channel").annotate(n=Count("customer_id", distinct=True))
    )
    return {c: int(counts.get(c, 0)) for c in ConsentChannel.values}


def quality_report(
    *,
    qs: QuerySet[Customer] | None = None,
    stale_months: int | None = None,
    today: datetime.date | None = None,
) -> QualityReport:
    """The data-quality figures of the active customers (or of `qs`)."""
    from dangol.integration.selectors import dedupe_settings

    today = today or timezone.localdate()
    qs = Customer.objects.filter(status=RecordStatus.ACTIVE) if qs is None else qs
    months = stale_months or dedupe_settings().stale_months
    frame = quality_frame(qs, stale_months=months, today=today)
    table = plan_table()
    scored = scores(frame, table)
    n = frame.height
    by_source: list[dict[str, Any]] = []
    source_scores = (
        dict(scored.group_by("source").agg(pl.col("score").mean()).iter_rows()) if n else {}
    )
    for (source,), part in sorted(frame.group_by("source"), key=lambda g: str(g[0][0])):
        by_source.append(
            {
                "source": source,
                "customers": part.height,
                "score": source_scores.get(source),
                "fields": _rates(part),
                "plan": plan_for(str(source), table),
            }
        )
    pending = DuplicateCandidate.objects.filter(
        status=CandidateStatus.PENDING,
        left_id__in=qs.order_by().values("pk"),
        right_id__in=qs.order_by().values("pk"),
    ).count()
    consent = consent_coverage(qs, today)
    stale = int(frame["stale"].sum()) if n else 0
    return QualityReport(
        day=today,
        customers=n,
        score=float(scored["score"].mean()) if n else None,  # type: ignore[arg-type]
        fields=_rates(frame),
        sources=by_source,
        legacy_phones=int(frame["legacy_phone"].sum()) if n else 0,
        duplicate_pairs=pending,
        duplicate_rate=pending / n if n else 0.0,
        consent={c: {"customers": k, "rate": k / n if n else 0.0} for c, k in consent.items()},
        stale=stale,
        stale_rate=stale / n if n else 0.0,
        stale_months=months,
        plan=table,
    )
