"""The data-subject access file as a document a customer can read (개인정보 열람, PIPA §35).

``exports.subject_access_data`` gives everything Dangol holds about a customer as JSON, for
programs. This module writes the same person's data as an Excel workbook for people: one sheet
per section (기본 정보, 연락처, 주소, 수신 동의 with its history, 주문, 상담/접촉 이력, 병합 이력),
headers and choice values in the staff user's language, times in Korea's time zone
(``settings.TIME_ZONE``, Asia/Seoul) and no internal keys (no ids of rows, owners or match keys).
The same rights apply as for the JSON (export right on the customer and the PII permission),
and the read is written to the PII access log the same way.

A fixed number of queries, whatever the customer's history: one per section.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from dangol.core import audit
from dangol.core.errors import Forbidden, NotFound
from dangol.core.normalize import national_phone
from dangol.core.visibility import Action, can_view_pii
from dangol.customers.models import Customer, HistoryKind
from dangol.customers.selectors import PiiRead
from dangol.integration.exports import DSAR_SECTIONS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
MONEY_FORMAT = "#,##0"

Row = list[Any]


# --- reading, with the same rights and log as the JSON file ----------------------------------


def _customer(user: Any, customer_id: int) -> Customer:
    customer = Customer.objects.visible_to(user, Action.EXPORT).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound()
    if not can_view_pii(user):
        raise Forbidden()
    return customer


def subject_access_workbook(*, user: Any, customer_id: int, read: PiiRead) -> bytes:
    """Everything Dangol holds about one customer as a readable XLSX workbook, in `user`'s
    language. Needs the export right on the customer and the PII permission (else
    ``NotFound`` / ``Forbidden``); written to the PII access log like the JSON file."""
    customer = _customer(user, customer_id)
    language = getattr(user, "language", None) or settings.LANGUAGE_CODE
    with translation.override(language):
        content = _workbook(customer)
    audit.log_pii_access(
        user,
        customer,
        fields=DSAR_SECTIONS,
        channel=read.channel,
        endpoint=read.endpoint,
        ip_address=read.ip_address,
    )
    return content


# --- cells -------------------------------------------------------------------------------------

_ZONE = ZoneInfo(settings.TIME_ZONE)


def _when(value: datetime.datetime | None) -> datetime.datetime | None:
    """A stored time as Korea's wall-clock time (Excel has no time zones)."""
    return timezone.localtime(value, _ZONE).replace(tzinfo=None) if value else None


def _yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def _phone_or_value(kind: str, value: str, normalized: str) -> str:
    if kind in ("email", "kakao"):
        return value
    return national_phone(normalized) or value


def _label(choices: Any, value: str) -> str:
    return str(dict(choices.choices).get(value, value)) if value else ""


# --- the sections --------------------------------------------------------------------------


def _profile(c: Customer) -> Iterator[Row]:
    from dangol.core.models import TaggedItem
    from dangol.customers.models import Gender, LifecycleStage, Region, SignupChannel

    tags = sorted(
        TaggedItem.objects.filter(
            content_type__app_label="customers",
            content_type__model="customer",
            object_id=c.pk,
        ).values_list("tag__name", flat=True)
    )
    ids = [f"{e.source}: {e.key}" for e in c.external_ids.order_by("source", "key")]
    orgs = [
        m.organization.name + (f" ({m.role})" if m.role else "")
        for m in c.memberships.select_related("organization").order_by("id")
    ]
    yield [pgettext("personal data", "Item"), pgettext("personal data", "Value")]
    yield [_("Customer ID"), c.pk]
    yield [pgettext("export column", "Full name"), c.full_name]
    yield [pgettext("export column", "Family name"), c.family_name]
    yield [pgettext("export column", "Given name"), c.given_name]
    yield [_("Birth date"), c.birth_date]
    yield [_("Lunar birthday"), _yes_no(c.birth_date_is_lunar)]
    yield [_("Gender"), _label(Gender, c.gender)]
    yield [_("Region"), _label(Region, c.region)]
    yield [_("Lifecycle stage"), _label(LifecycleStage, c.lifecycle_stage)]
    yield [_("Signup channel"), _label(SignupChannel, c.signup_channel)]
    yield [_("Source"), c.source]
    yield [_("Member numbers in other systems"), ", ".join(ids)]
    yield [_("Organizations"), ", ".join(orgs)]
    yield [_("Tags"), ", ".join(tags)]
    yield [_("Signed up"), _when(c.created_at)]
    yield [_("First purchase"), _when(c.first_purchase_at)]
    yield [_("Last purchase"), _when(c.last_purchase_at)]
    yield [_("Orders"), c.order_count]
    yield [_("Lifetime spend"), c.total_spent]


def _contacts(c: Customer) -> Iterator[Row]:
    yield [_("Kind"), _("Contact"), _("Primary"), _("Label"), _("Verified"), _("Added")]
    for cp in c.contact_points.order_by("kind", "-is_primary", "id"):
        yield [
            cp.get_kind_display(),
            _phone_or_value(cp.kind, cp.value, cp.normalized),
            _yes_no(cp.is_primary),
            cp.label,
            _when(cp.verified_at),
            _when(cp.created_at),
        ]


def _addresses(c: Customer) -> Iterator[Row]:
    yield [
        _("Kind"),
        _("Postal code"),
        _("Region"),
        _("City / district"),
        _("Address"),
        _("Address detail"),
        _("Country"),
        _("Primary"),
        _("Added"),
    ]
    for a in c.addresses.order_by("-is_primary", "id"):
        yield [
            a.get_kind_display(),
            a.postal_code,
            a.get_region_display() if a.region else "",
            a.city,
            a.line1,
            a.line2,
            a.country,
            _yes_no(a.is_primary),
            _when(a.created_at),
        ]


def _consents(c: Customer) -> Iterator[Row]:
    yield [
        _("Channel"),
        _("Purpose"),
        _("Status"),
        _("Night-time (21:00–08:00) consent"),
        _("Granted at"),
        _("Withdrawn at"),
        _("Reconfirmation due"),
        _("Source"),
    ]
    for k in c.consents.order_by("channel", "purpose"):
        yield [
            k.get_channel_display(),
            k.get_purpose_display(),
            k.get_status_display(),
            _yes_no(k.night_time),
            _when(k.granted_at),
            _when(k.withdrawn_at),
            k.reconfirm_due,
            k.source,
        ]
    yield []
    yield [_("Consent history")]
    yield [
        _("When"),
        _("Channel"),
        _("Purpose"),
        _("Status"),
        _("Night-time (21:00–08:00) consent"),
        _("Source"),
        _("Evidence"),
    ]
    for e in c.consent_events.order_by("at", "id"):
        yield [
            _when(e.at),
            e.get_channel_display(),
            e.get_purpose_display(),
            e.get_status_display(),
            _yes_no(e.night_time),
            e.source,
            e.evidence,
        ]


def _orders(c: Customer) -> Iterator[Row]:
    from dangol.commerce.models import OrderLine

    yield [
        _("Order number"),
        _("Ordered"),
        _("Status"),
        _("Sales channel"),
        _("Product"),
        _("Quantity"),
        _("Unit price"),
        _("Discount"),
        _("Amount"),
        _("Returned"),
        _("Order total"),
    ]
    lines = (
        OrderLine.objects.filter(order__customer=c)
        .select_related("order", "order__channel", "product")
        .order_by("order__placed_at", "order_id", "id")
    )
    for line in lines.iterator(chunk_size=2000):
        o = line.order
        yield [
            o.number,
            _when(o.placed_at),
            o.get_status_display(),
            o.channel.name if o.channel else "",
            line.product.name,
            line.quantity,
            line.unit_price,
            line.discount,
            line.line_total,
            line.returned_quantity,
            o.total,
        ]


def _contact_history(c: Customer) -> Iterator[Row]:
    yield [_("When"), _("Channel"), _("Direction"), _("Kind"), _("Subject"), _("Details")]
    rows: list[Row] = [
        [
            _when(i.occurred_at),
            i.get_channel_display(),
            i.get_direction_display(),
            i.get_kind_display(),
            i.subject,
            i.body,
        ]
        for i in c.interactions.order_by("occurred_at", "id").iterator(chunk_size=2000)
    ]
    rows += [[_when(n.created_at), "", "", _("Note"), "", n.body] for n in c.notes.order_by("id")]
    yield from sorted(rows, key=lambda r: r[0] or datetime.datetime.min)


def _merge_history(c: Customer) -> Iterator[Row]:
    yield [_("When"), _("What happened")]
    kinds = (HistoryKind.MERGED, HistoryKind.MERGED_INTO, HistoryKind.UNMERGED)
    for h in c.history.filter(kind__in=kinds).order_by("at", "id"):
        yield [_when(h.at), _merge_text(c.pk, h.kind, h.data or {})]


def _merge_text(customer_id: int, kind: str, data: dict[str, Any]) -> str:
    numbers = ", ".join(str(i) for i in data.get("merged_ids") or [])
    if kind == HistoryKind.MERGED:
        return _("The records of customer number %(ids)s were combined into this one.") % {
            "ids": numbers
        }
    if kind == HistoryKind.MERGED_INTO:
        return _("This record was combined into customer number %(id)s.") % {
            "id": data.get("survivor_id", "")
        }
    if data.get("survivor_id") == customer_id:
        return _("The combining with customer number %(ids)s was undone.") % {"ids": numbers}
    return _("The combining into customer number %(id)s was undone.") % {
        "id": data.get("survivor_id", "")
    }


def sections() -> list[tuple[str, Any]]:
    """(sheet title, rows of a customer): the workbook's sheets, in order."""
    return [
        (_("Basic information"), _profile),
        (_("Contacts"), _contacts),
        (_("Addresses"), _addresses),
        (_("Marketing consents"), _consents),
        (_("Orders"), _orders),
        (_("Contact history"), _contact_history),
        (_("Merge history"), _merge_history),
    ]


# --- the workbook ------------------------------------------------------------------------------


def _cells(sheet: Any, row: Row, *, bold: bool) -> list[Any]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    out = []
    for value in row:
        cell = WriteOnlyCell(sheet, value=value)
        if bold:
            cell.font = Font(bold=True)
        if isinstance(value, datetime.datetime):
            cell.number_format = DATETIME_FORMAT
        elif isinstance(value, datetime.date):
            cell.number_format = DATE_FORMAT
        elif isinstance(value, Decimal):
            cell.number_format = MONEY_FORMAT
        elif isinstance(value, str) and "\n" in value:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        out.append(cell)
    return out


def _write_sheet(book: Any, title: str, rows: Iterable[Row]) -> None:
    # Excel refuses []:*?/\ in sheet names: 상담/접촉 이력 becomes 상담·접촉 이력
    sheet = book.create_sheet(re.sub(r"[\[\]:*?/\\]", "·", title)[:31])
    it = iter(rows)
    header = next(it)
    for index in range(len(header)):
        sheet.column_dimensions[_column(index)].width = 36 if len(header) == 2 else 18
    sheet.freeze_panes = "A2"
    sheet.append(_cells(sheet, header, bold=True))
    for row in it:
        # a one-cell row is a sub-heading (수신 동의 이력); the row after it is its header
        sheet.append(_cells(sheet, row, bold=len(row) == 1))


def _column(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _workbook(customer: Customer) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    about = book.create_sheet(_("About this file"))
    heading = _("Personal data held about %(name)s") % {"name": customer.full_name}
    about.column_dimensions["A"].width = 24
    about.column_dimensions["B"].width = 24
    about.append(_cells(about, [heading], bold=True))
    about.append(_cells(about, [_("Prepared"), _when(timezone.now())], bold=False))
    zone = _("Times are Korea Standard Time (%(zone)s).") % {"zone": settings.TIME_ZONE}
    about.append(_cells(about, [zone], bold=False))
    for title, rows in sections():
        _write_sheet(book, title, rows(customer))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- the page's download ---------------------------------------------------------------------


@login_required
@require_POST
def personal_data_xlsx(request: HttpRequest, customer_id: int) -> HttpResponse:
    """개인정보 열람 as an Excel workbook to hand to the customer (the JSON file stays, for
    programs). Same rights as the JSON; logged; a POST, so no prefetch reads it."""
    from dangol.web.htmx import client_ip

    read = PiiRead("web", request.path, client_ip(request))
    try:
        content = subject_access_workbook(user=request.user, customer_id=customer_id, read=read)
    except (NotFound, Forbidden):
        raise Http404 from None
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(
        True, f"customer-{customer_id}-personal-data.xlsx"
    )
    return response
