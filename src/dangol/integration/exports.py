"""Customer exports (CSV, XLSX, Parquet) and the data-subject access file (개인정보 열람).

An export reads the customers the requester may export (``visible_to(user, Action.EXPORT)``)
through the customer API's list filters, in keyset chunks of ``CHUNK`` rows (one query for the
customers, one for their contact points per chunk), and hands each chunk to a streaming writer:
``csv`` row by row, openpyxl's write-only workbook, pyarrow's ``ParquetWriter`` one row group
per chunk. Memory stays bounded by the chunk size. Contact data is masked unless the
requester's role holds the PII permission; then every exported customer gets a PII access-log
row, written in bulk per chunk.

CSV and XLSX are read by people: their headers and choice values (성별 여성, 지역 경기, 음력 생일
예) are in the requester's language. Parquet is read by programs: its columns are the keys and
its values the stored codes (``F``, ``gyeonggi``, ``true``).
"""

from __future__ import annotations

import csv
import datetime
import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dangol.core import audit
from dangol.core.errors import Forbidden, NotFound, ValidationFailed
from dangol.core.visibility import Action, can_view_pii
from dangol.customers.models import (
    ContactKind,
    ContactPoint,
    Customer,
    Gender,
    LifecycleStage,
    RecordStatus,
    Region,
    SignupChannel,
)
from dangol.customers.selectors import PiiRead, log_pii_reads, present_contacts
from dangol.integration.models import ExportFormat, ExportJob

CHUNK = 2000
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header

# (key, header label): the keys are the Parquet column names; CSV and XLSX show the labels,
# which are unique and answer to the importer's aliases (성명 → full name, 성, 휴대전화, 전화 ...)
COLUMNS: list[tuple[str, Any]] = [
    ("id", _("Customer ID")),
    ("full_name", pgettext_lazy("export column", "Full name")),
    ("family_name", pgettext_lazy("export column", "Family name")),
    ("given_name", pgettext_lazy("export column", "Given name")),
    ("birth_date", _("Birth date")),
    ("birth_year", _("Birth year")),
    ("birth_date_is_lunar", _("Lunar birthday")),
    ("gender", _("Gender")),
    ("region", _("Region")),
    ("lifecycle_stage", _("Lifecycle stage")),
    ("status", _("Status")),
    ("source", _("Source")),
    ("signup_channel", _("Signup channel")),
    ("mobile", _("Mobile")),
    ("phone", pgettext_lazy("export column", "Phone")),
    ("email", _("E-mail")),
    ("order_count", _("Orders")),
    ("total_spent", _("Lifetime spend")),
    ("first_purchase_at", _("First purchase")),
    ("last_purchase_at", _("Last purchase")),
    ("created_at", _("Signed up")),
    ("updated_at", _("Updated")),
    ("owner", _("Owner")),
    ("team", _("Team")),
]
KEYS = [k for k, _label in COLUMNS]
# columns holding a choice's code: CSV and XLSX show its label (an unknown code as it is)
CHOICE_COLUMNS: dict[str, type[Any]] = {
    "gender": Gender,
    "region": Region,
    "lifecycle_stage": LifecycleStage,
    "status": RecordStatus,
    "signup_channel": SignupChannel,  # free text: values outside the choices stay as they are
}
BOOLEAN_COLUMNS = frozenset({"birth_date_is_lunar"})
EXTENSIONS = {ExportFormat.CSV: "csv", ExportFormat.XLSX: "xlsx", ExportFormat.PARQUET: "parquet"}
CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
}


# --- which customers --------------------------------------------------------------------------


SEGMENT_FILTER = "segment"


def parse_filters(filters: dict[str, Any], user: Any = None) -> Any:
    """The filters as the customer API's ``CustomerFilters`` (raises ``ValidationFailed``).
    ``"segment": <id>`` is let through (it is not a list filter); with ``user``, the segment
    must be one they may see (``export_segment``)."""
    from pydantic import ValidationError

    from dangol.customers.filters import (
        CustomerFilters,  # the list filters the API and exports share
    )

    allowed = set(CustomerFilters.model_fields) - {"cursor", "limit", "sort", "reveal"}
    unknown = sorted(set(filters) - allowed - {SEGMENT_FILTER})
    if unknown:
        raise ValidationFailed.single(
            "filters", "unknown_filter", _("Unknown filters: %(f)s.") % {"f": ", ".join(unknown)}
        )
    if user is not None:
        export_segment(user, filters)
    try:
        return CustomerFilters(**{k: v for k, v in filters.items() if k != SEGMENT_FILTER})
    except ValidationError as exc:
        raise ValidationFailed.single("filters", "invalid", str(exc.errors()[0]["msg"])) from None


def export_segment(user: Any, filters: dict[str, Any]) -> Any:
    """The segment named by ``filters["segment"]`` if `user` may see it; None without one.
    An unknown or hidden segment is one error (docs/adr/0010-segments.md)."""
    from dangol.analytics.segment_selectors import get_segment

    raw = filters.get(SEGMENT_FILTER)
    if raw in (None, ""):
        return None
    try:
        segment_id = int(raw)
        if segment_id < 1:
            raise ValueError
        return get_segment(user, segment_id)
    except (TypeError, ValueError, NotFound):
        raise ValidationFailed.single(
            "filters.segment", "not_found", _("No such segment.")
        ) from None


# The filters as the export history shows them: (key, label, choices or None). The segment has
# its own badge (``ExportJob.segment``, its name when requested).
FILTER_LABELS: list[tuple[str, Any, type[Any] | None]] = [
    ("q", _("Find"), None),
    ("source", _("Source"), None),
    ("tag", _("Tag"), None),
    ("lifecycle_stage", _("Lifecycle stage"), LifecycleStage),
    ("region", _("Region"), Region),
    ("status", _("Status"), RecordStatus),
    ("owner_id", _("Owner"), None),
    ("team_id", _("Team"), None),
    ("created_after", _("Signed up from"), None),
    ("created_before", _("Signed up before"), None),
    ("last_purchase_after", _("Last purchase from"), None),
    ("last_purchase_before", _("Last purchase before"), None),
    ("updated_after", _("Updated from"), None),
]


def describe_filters(filters: dict[str, Any]) -> list[str]:
    """What an export job's ``filters`` selected, as short lines in the active language
    ("출처: pos", "지역: 서울"); no queries (owners and teams by id). The default status
    (active) is not shown."""
    out = []
    for key, label, choices in FILTER_LABELS:
        value = filters.get(key)
        if value in (None, "") or (key == "status" and value == RecordStatus.ACTIVE):
            continue
        shown = str(value)
        if choices is not None:
            shown = str(dict(choices.choices).get(shown, shown))
        elif key in ("owner_id", "team_id"):
            shown = f"#{value}"
        out.append(f"{label}: {shown}")
    return out


def customers_to_export(user: Any, filters: dict[str, Any]) -> QuerySet[Customer]:
    """The customers `user` may export that match `filters`: with a segment, its customers
    (``segment_queryset``) within the export scope, then the list filters."""
    from dangol.customers.filters import filter_customers

    parsed = parse_filters(filters)
    base = Customer.objects.visible_to(user, Action.EXPORT)
    segment = export_segment(user, filters)
    if segment is not None:
        from dangol.analytics.segment_selectors import segment_queryset

        base = base.filter(pk__in=segment_queryset(segment, user).values("pk"))
    qs = filter_customers(base, parsed)
    return qs.distinct() if parsed.q else qs


def chunks(qs: QuerySet[Customer]) -> Iterator[list[Customer]]:
    """`qs` in keyset chunks by id, with owner, team and ordered contact points."""
    contacts = ContactPoint.objects.filter(
        kind__in=[ContactKind.MOBILE, ContactKind.PHONE, ContactKind.EMAIL]
    ).order_by("kind", "-is_primary", "id")
    last = 0
    while True:
        chunk = list(
            qs.filter(pk__gt=last)
            .order_by("pk")
            .select_related("owner", "team")
            .prefetch_related(Prefetch("contact_points", queryset=contacts))[:CHUNK]
        )
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def rows(
    user: Any, chunk: list[Customer], *, unmasked: bool, read: PiiRead
) -> list[dict[str, Any]]:
    """The export rows of one chunk. Unmasked rows are logged (one PII row per customer)."""
    contacts = {c: list(c.contact_points.all()) for c in chunk}
    if unmasked:
        log_pii_reads(user, contacts, read)
    out = []
    for c in chunk:
        shown = present_contacts(user, contacts[c], reveal=unmasked)
        out.append(
            {
                "id": c.pk,
                "full_name": c.full_name,
                "family_name": c.family_name,
                "given_name": c.given_name,
                # the full birth date is personal data: masked exports keep only the year
                "birth_date": c.birth_date if unmasked else None,
                "birth_year": c.birth_date.year if c.birth_date else None,
                "birth_date_is_lunar": c.birth_date_is_lunar,
                "gender": c.gender,
                "region": c.region,
                "lifecycle_stage": c.lifecycle_stage,
                "status": c.status,
                "source": c.source,
                "signup_channel": c.signup_channel,
                "mobile": next((v.value for v in shown if v.kind == ContactKind.MOBILE), ""),
                "phone": next((v.value for v in shown if v.kind == ContactKind.PHONE), ""),
                "email": next((v.value for v in shown if v.kind == ContactKind.EMAIL), ""),
                "order_count": c.order_count,
                "total_spent": c.total_spent,
                "first_purchase_at": c.first_purchase_at,
                "last_purchase_at": c.last_purchase_at,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "owner": str(c.owner) if c.owner else "",
                "team": c.team.name if c.team else "",
            }
        )
    return out


# --- writers ----------------------------------------------------------------------------------


class Writer(Protocol):
    def write(self, rows: list[dict[str, Any]]) -> None: ...
    def close(self) -> None: ...


def _local(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).replace(tzinfo=None)
    return value


class Labels:
    """Codes as people read them, in the active language, for the files people open (CSV,
    XLSX): choice labels (``F`` → 여성, ``gyeonggi`` → 경기) and 예/아니오 for booleans. The label
    tables are made once per file, so writing a row looks values up in dicts only."""

    def __init__(self) -> None:
        self.choices = {
            key: {value: str(label) for value, label in enum.choices if value != ""}
            for key, enum in CHOICE_COLUMNS.items()
        }
        self.yes, self.no = gettext_now("Yes"), gettext_now("No")

    def row(self, r: dict[str, Any]) -> dict[str, Any]:
        out = dict(r)
        for key, labels in self.choices.items():
            value = out[key]
            if value:
                out[key] = labels.get(value, value)
        for key in BOOLEAN_COLUMNS:
            if out[key] is not None:
                out[key] = self.yes if out[key] else self.no
        return out


class CsvWriter:
    """UTF-8 with a BOM, so that Excel opens Korean text correctly; values as people read them."""

    def __init__(self, path: Path, headers: list[str]) -> None:
        self.file = path.open("w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(headers)
        self.labels = Labels()

    def write(self, rows: list[dict[str, Any]]) -> None:
        for raw in rows:
            r = self.labels.row(raw)
            self.writer.writerow(["" if r[k] is None else _cell_text(_local(r[k])) for k in KEYS])

    def close(self) -> None:
        self.file.close()


def _cell_text(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class XlsxWriter:
    """openpyxl's write-only workbook: rows go to a temporary file as they come; values as
    people read them."""

    def __init__(self, path: Path, headers: list[str]) -> None:
        from openpyxl import Workbook

        self.path = path
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(str(_("Customers")))
        self.sheet.append(headers)
        self.labels = Labels()

    def write(self, rows: list[dict[str, Any]]) -> None:
        for raw in rows:
            r = self.labels.row(raw)
            self.sheet.append([_local(r[k]) for k in KEYS])

    def close(self) -> None:
        self.book.save(self.path)


class ParquetWriter:
    """pyarrow's ``ParquetWriter``: one row group per chunk, typed columns, stored codes (the
    file is for programs: ``F``, ``gyeonggi``, booleans as booleans)."""

    def __init__(self, path: Path, headers: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        ts = pa.timestamp("us", tz="UTC")
        types = {
            "id": pa.int64(),
            "birth_date": pa.date32(),
            "birth_year": pa.int32(),
            "birth_date_is_lunar": pa.bool_(),
            "order_count": pa.int64(),
            "total_spent": pa.decimal128(18, 2),
            "first_purchase_at": ts,
            "last_purchase_at": ts,
            "created_at": ts,
            "updated_at": ts,
        }
        self.schema = pa.schema([(k, types.get(k, pa.string())) for k in KEYS])
        self.writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self.pa = pa

    def write(self, rows: list[dict[str, Any]]) -> None:
        columns = {k: [Decimal(r[k]) if k == "total_spent" else r[k] for r in rows] for k in KEYS}
        self.writer.write_table(self.pa.Table.from_pydict(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


WRITERS: dict[str, type[CsvWriter] | type[XlsxWriter] | type[ParquetWriter]] = {
    ExportFormat.CSV: CsvWriter,
    ExportFormat.XLSX: XlsxWriter,
    ExportFormat.PARQUET: ParquetWriter,
}


def export_path(job: ExportJob) -> tuple[Path, str]:
    """Where the job's file goes: (absolute path, path relative to MEDIA_ROOT)."""
    now = timezone.localtime()
    relative = (
        f"exports/{now:%Y/%m}/customers-{job.pk}-{secrets.token_hex(8)}."
        f"{EXTENSIONS[ExportFormat(job.format)]}"
    )
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, relative


def write_export(job: ExportJob) -> tuple[str, int]:
    """Write the job's file; returns (path relative to MEDIA_ROOT, rows written)."""
    user = job.requested_by
    qs = customers_to_export(user, job.filters)
    if job.format == ExportFormat.XLSX and qs.count() > XLSX_MAX_ROWS:
        raise ValidationFailed.single(
            "format", "too_many_rows", _("Too many rows for Excel: choose CSV or Parquet.")
        )
    unmasked = job.unmasked and can_view_pii(user)
    read = PiiRead("export", f"exports/{job.pk}")
    path, relative = export_path(job)
    with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
        headers = [str(label) for _key, label in COLUMNS]
        writer: Writer = WRITERS[job.format](path, headers)
        count = 0
        try:
            for chunk in chunks(qs):
                writer.write(rows(user, chunk, unmasked=unmasked, read=read))
                count += len(chunk)
        finally:
            writer.close()
    return relative, count


def export_file(job: ExportJob) -> Path:
    return Path(settings.MEDIA_ROOT) / job.file_path


# --- the data-subject access file -------------------------------------------------------------

DSAR_SECTIONS = [
    "profile",
    "contact_points",
    "addresses",
    "external_ids",
    "organizations",
    "consents",
    "consent_history",
    "orders",
    "returns",
    "interactions",
    "notes",
    "tags",
    "history",
]


def subject_access_data(*, user: Any, customer_id: int, read: PiiRead) -> dict[str, Any]:
    """Everything Dangol holds about one customer, unmasked, as JSON-safe data (개인정보 열람,
    PIPA §35): profile, contact points, addresses, external ids, organization memberships,
    consents and their history, orders with lines, returns with lines, interactions, notes,
    tags and the record's history. Needs the export right on the customer and the PII
    permission; written to the PII access log."""
    from dangol.commerce.models import Order, Return
    from dangol.core.models import TaggedItem

    customer = Customer.objects.visible_to(user, Action.EXPORT).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound()
    if not can_view_pii(user):
        raise Forbidden()
    snap = audit.snapshot
    orders = (
        Order.objects.filter(customer=customer)
        .select_related("channel")
        .prefetch_related("lines__product")
        .order_by("placed_at", "id")
    )
    returns = (
        Return.objects.filter(customer=customer)
        .prefetch_related("lines__order_line__product")
        .order_by("returned_at", "id")
    )
    tags = TaggedItem.objects.filter(
        content_type__app_label="customers",
        content_type__model="customer",
        object_id=customer.pk,
    ).select_related("tag")
    data = {
        "generated_at": timezone.now().isoformat(),
        "profile": snap(customer),
        "contact_points": [snap(c) for c in customer.contact_points.order_by("id")],
        "addresses": [snap(a) for a in customer.addresses.order_by("id")],
        "external_ids": [snap(e) for e in customer.external_ids.order_by("id")],
        "organizations": [
            {**snap(m), "organization_name": m.organization.name}
            for m in customer.memberships.select_related("organization").order_by("id")
        ],
        "consents": [snap(c) for c in customer.consents.order_by("channel", "purpose")],
        "consent_history": [snap(e) for e in customer.consent_events.order_by("at", "id")],
        "orders": [
            {
                **snap(o),
                "channel_name": o.channel.name if o.channel else "",
                "lines": [
                    {**snap(line), "sku": line.product.sku, "product_name": line.product.name}
                    for line in o.lines.all()
                ],
            }
            for o in orders
        ],
        "returns": [
            {
                **snap(r),
                "lines": [
                    {**snap(line), "sku": line.order_line.product.sku} for line in r.lines.all()
                ],
            }
            for r in returns
        ],
        "interactions": [
            snap(i) for i in customer.interactions.order_by("occurred_at", "id").iterator()
        ],
        "notes": [snap(n) for n in customer.notes.order_by("created_at", "id")],
        "tags": sorted(t.tag.name for t in tags),
        "history": [snap(h) for h in customer.history.order_by("at", "id")],
    }
    audit.log_pii_access(
        user,
        customer,
        fields=DSAR_SECTIONS,
        channel=read.channel,
        endpoint=read.endpoint,
        ip_address=read.ip_address,
    )
    return data
