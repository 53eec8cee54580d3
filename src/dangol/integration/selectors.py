"""Read queries of imports shared by the API, the web app and the CLI."""

from __future__ import annotations

import codecs
import functools
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy

from dangol.core.visibility import Action, Scope, can_view_pii, scope_for
from dangol.customers.models import Address, ContactPoint, Customer, ExternalId, RecordStatus
from dangol.customers.selectors import ContactView, PiiRead, log_pii_reads, present_contacts
from dangol.integration.imports.readers import write_rows
from dangol.integration.models import (
    CandidateStatus,
    DedupeSettings,
    DuplicateCandidate,
    ImportFormat,
    ImportJob,
    ImportRowError,
    ImportTarget,
    MappingTemplate,
    QualityField,
)

CONTENT_TYPES = {
    ImportFormat.CSV: "text/csv",
    ImportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ImportFormat.JSONL: "application/x-ndjson",
    ImportFormat.VCARD: "text/vcard",
}
EXTENSIONS = {
    ImportFormat.CSV: "csv",
    ImportFormat.XLSX: "xlsx",
    ImportFormat.JSONL: "jsonl",
    ImportFormat.VCARD: "vcf",
}
# the encodings a text file can be read in, as the mapping page's select names them
ENCODINGS = (
    ("", gettext_lazy("Detect automatically")),
    ("utf-8", "UTF-8"),
    ("utf-8-sig", gettext_lazy("UTF-8 with BOM")),
    ("cp949", gettext_lazy("CP949 / EUC-KR (Korean Excel)")),
    ("utf-16", "UTF-16"),
)


def encoding_label(codec: str) -> str:
    """A codec as the encoding select names it ("utf-8-sig" → "UTF-8(BOM 포함)"), else its
    name in capitals ("EUC_KR")."""
    try:
        name = codecs.lookup(codec).name
    except LookupError:
        return codec
    for value, label in ENCODINGS:
        if value and codecs.lookup(value).name == name:
            return str(label)
    return codec.upper()


# the last column of a rejected-rows download "with the reasons", in the downloader's language
# ("오류", "Error")
REASONS_COLUMN = gettext_lazy("error")

# --- field labels and rejection reasons, in the reader's language -----------------------------

FIELD_LABELS: dict[str, Any] = {
    "external_id": gettext_lazy("ID in the source system"),
    "customer_external_id": gettext_lazy("Customer's ID in the source system"),
    "full_name": gettext_lazy("Full name"),
    "family_name": gettext_lazy("Family name"),
    "given_name": gettext_lazy("Given name"),
    "birth_date": gettext_lazy("Birth date"),
    "birth_date_is_lunar": gettext_lazy("Birth date is lunar"),
    "gender": gettext_lazy("Gender"),
    "region": gettext_lazy("Region"),
    "signup_channel": gettext_lazy("Sign-up channel"),
    "signed_up": gettext_lazy("Signed up"),
    "mobile": gettext_lazy("Mobile phone"),
    "phone": gettext_lazy("Other phone"),
    "email": gettext_lazy("E-mail"),
    "channel": gettext_lazy("Channel"),
    "purpose": gettext_lazy("Purpose"),
    "granted": gettext_lazy("Consent given (yes/no)"),
    "at": gettext_lazy("Date of the consent"),
    "night_time": gettext_lazy("Night-time consent (yes/no)"),
    "evidence": gettext_lazy("Evidence"),
    "sku": gettext_lazy("SKU"),
    "name": gettext_lazy("Product name"),
    "price": gettext_lazy("Price"),
    "brand": gettext_lazy("Brand"),
    "line": gettext_lazy("Product line"),
    "tier": gettext_lazy("Tier"),
    "currency": gettext_lazy("Currency"),
    "is_active": gettext_lazy("On sale (yes/no)"),
    "category": gettext_lazy("Category"),
    "quantity": gettext_lazy("Quantity"),
    "unit_price": gettext_lazy("Unit price"),
    "line_discount": gettext_lazy("Line discount"),
    "order_discount": gettext_lazy("Order discount"),
    "placed_at": gettext_lazy("Order date"),
    "status": gettext_lazy("Order status"),
    # Dangol's own number of an order, not the source's (order_id): 주문번호 in files is that one
    "number": gettext_lazy("Order number in Dangol (made when empty)"),
}
FIELD_LABELS.update(
    {
        "customer_mobile": gettext_lazy("Customer's known mobile (to find them)"),
        "customer_email": gettext_lazy("Customer's known e-mail (to find them)"),
        "kind": gettext_lazy("Kind"),
        "value": gettext_lazy("Phone, e-mail or ID"),
        "label": gettext_lazy("Label"),
        "is_primary": gettext_lazy("Primary (yes/no)"),
        "organization_external_id": gettext_lazy("Organization's ID in the source system"),
        "business_number": gettext_lazy("Business registration number"),
        "parent_external_id": gettext_lazy("Parent organization's ID in the source system"),
        "parent_business_number": gettext_lazy("Parent organization's business number"),
        "industry": gettext_lazy("Industry"),
        "size": gettext_lazy("Size"),
        "website": gettext_lazy("Website"),
        "fax": gettext_lazy("Fax"),
        "postal_code": gettext_lazy("Postal code"),
        "address": gettext_lazy("Address"),
        "address_detail": gettext_lazy("Address detail"),
        "role": gettext_lazy("Title"),
        "started_on": gettext_lazy("Start date"),
        "ended_on": gettext_lazy("End date"),
        "return_id": gettext_lazy("Return ID in the source system"),
        "order_id": gettext_lazy("Order number in the source system"),
        "order_number": gettext_lazy("Order number in Dangol"),
        "order_line_id": gettext_lazy("Order line ID in Dangol"),
        "line_id": gettext_lazy("Order line ID in the source system"),
        "line_number": gettext_lazy("Line number on the order (1 = first)"),
        "reason": gettext_lazy("Reason"),
        "returned_at": gettext_lazy("Return date"),
        "note": gettext_lazy("Note"),
        "direction": gettext_lazy("Direction (inbound/outbound)"),
        "subject": gettext_lazy("Subject"),
        "body": gettext_lazy("Details"),
        "occurred_at": gettext_lazy("Date and time"),
        "staff": gettext_lazy("Staff member (e-mail or name)"),
    }
)
# where a field name means something else in one target
TARGET_FIELD_LABELS: dict[str, dict[str, Any]] = {
    ImportTarget.ORGANIZATIONS: {
        "name": gettext_lazy("Company name"),
        "phone": gettext_lazy("Main phone"),
        "email": gettext_lazy("Main e-mail"),
        "external_id": gettext_lazy("Company's ID in the source system"),
    },
    ImportTarget.INTERACTIONS: {
        "kind": gettext_lazy("Type (call, visit, inquiry, complaint …)"),
        "external_id": gettext_lazy("Interaction ID (optional)"),
    },
    ImportTarget.CONTACT_POINTS: {"kind": gettext_lazy("Kind (mobile, phone, e-mail …)")},
    ImportTarget.MEMBERSHIPS: {"is_primary": gettext_lazy("Primary contact (yes/no)")},
}


def field_label(field: str, target: str = "") -> str:
    """A target's field as people read it ("birth_date" → "생년월일" / "Birth date")."""
    label = TARGET_FIELD_LABELS.get(target, {}).get(field) or FIELD_LABELS.get(field, field)
    return str(label)


# One line under a field on the mapping page, where its label alone leaves a choice open: the
# source's order number (주문번호 in a shop's file) beside Dangol's own.
FIELD_HELP: dict[str, dict[str, Any]] = {
    ImportTarget.ORDERS: {
        "order_id": gettext_lazy(
            "The number the shop, POS or ERP gave the order: rows with the same "
            "one are one order, and importing the file again updates that order."
        ),
        "number": gettext_lazy(
            "The number Dangol shows for the order. Usually leave it unmapped: Dangol then makes "
            "one such as DG20240301-7KQ2M9XA. A number you import must not belong to another "
            "order."
        ),
    },
    ImportTarget.RETURNS: {
        "order_id": gettext_lazy(
            "The order's number in the shop, POS or ERP the return comes from."
        ),
        "order_number": gettext_lazy(
            "The number Dangol shows for the order (DG…), for files without the source's order "
            "number."
        ),
    },
}


def field_help(field: str, target: str) -> str:
    """The line of help under a target's field on the mapping page, or ``""``."""
    return str(FIELD_HELP.get(target, {}).get(field, ""))


# The messages an import stores under each reason code, as msgids: a stored reason holds the
# message translated in the importer's language at import time, so a reader in another language
# gets it again from its code. Several messages share a code; the stored text tells which one
# (and gives back the line number or field of a message with a placeholder). A message missing
# here is shown as stored.
REASON_MESSAGES: dict[str, tuple[Any, ...]] = {
    "ambiguous": (
        gettext_lazy(
            "Several categories are called this: %(names)s. "
            "Write its name path, such as %(example)s."
        ),
    ),
    "before_start": (gettext_lazy("This is before the start."),),
    "checksum": (
        gettext_lazy(
            "This business registration number is not valid: its check digit does not match."
        ),
    ),
    "customer_not_found": (
        gettext_lazy("No customer with this id in this source."),
        gettext_lazy("No customer with this id, mobile number or e-mail."),
    ),
    "cycle": (
        gettext_lazy("An organization cannot be its own parent."),
        gettext_lazy("This parent is already below this organization in the group."),
    ),
    "duplicate": (gettext_lazy("An organization with this business number exists."),),
    "duplicate_in_file": (
        gettext_lazy("This SKU appears twice in the file."),
        gettext_lazy("This business number appears twice in the file (line %d)."),
        gettext_lazy("This contact point appears twice in the file (line %d)."),
        gettext_lazy("This id appears twice in the file (line %d)."),
        gettext_lazy("This person and organization appear twice in the file (line %d)."),
    ),
    "duplicate_line_id": (gettext_lazy("Another line of this order has the same line id."),),
    "duplicate_number": (gettext_lazy("An order with this number exists."),),
    "duplicate_sku": (gettext_lazy("A product with this SKU exists."),),
    "email_invalid": (gettext_lazy("Enter a valid e-mail address."),),
    "in_future": (
        gettext_lazy("A consent cannot be given in the future."),
        gettext_lazy("A sign-up date cannot be in the future."),
        gettext_lazy("This is in the future."),
    ),
    "invalid": (
        gettext_lazy("A business number has ten digits."),
        gettext_lazy("A postal code has five digits."),
        gettext_lazy(
            "Enter a postal code of five digits, such as 06236 (or an old one such as 135-080)."
        ),
    ),
    "invalid_amount": (gettext_lazy("Enter an amount such as 12,000."),),
    "invalid_boolean": (gettext_lazy("Enter Y or N (예/아니오, 동의/거부)."),),
    "invalid_choice": (
        gettext_lazy("Not a valid choice."),
        gettext_lazy("Unknown kind of contact point."),
    ),
    "invalid_date": (
        gettext_lazy("Enter a date such as 2024-03-01."),
        gettext_lazy("This date does not exist."),
    ),
    "invalid_datetime": (
        gettext_lazy("Enter a date and time such as 2024-03-01 14:30."),
        gettext_lazy("This time does not exist."),
        gettext_lazy(
            "With AM or PM write the hour as 1 to 12, and the marker once: 2024-03-01 2:30 PM."
        ),
    ),
    "invalid_json": (gettext_lazy("This line is not a JSON object."),),
    "invalid_number": (gettext_lazy("Enter a whole number."),),
    "min_value": (gettext_lazy("At least 1."),),
    "negative": (
        gettext_lazy("A line's discount exceeds its price."),
        gettext_lazy("A price cannot be negative."),
        gettext_lazy("Cannot be negative."),
    ),
    "not_mobile": (gettext_lazy("This is a landline number: enter it as a phone, not a mobile."),),
    "not_found": (
        gettext_lazy("No sales channel with this code."),
        gettext_lazy("No such category: there are no product categories yet."),
        gettext_lazy("No such category. Categories include: %(names)s"),
        gettext_lazy("Not found."),
    ),
    "order_rejected": (gettext_lazy("Another line of this order was rejected (line %d)."),),
    "organization_not_found": (gettext_lazy("No organization with this id or business number."),),
    "out_of_range": (
        gettext_lazy("Enter a real birth date."),
        gettext_lazy("Enter a real sign-up date."),
    ),
    "parent_mismatch": (
        gettext_lazy("The parent's id and business number name different organizations."),
    ),
    "parent_not_found": (
        gettext_lazy("No organization with this id or business number to be the parent."),
    ),
    "parent_rejected": (gettext_lazy("The parent organization's row was rejected."),),
    "phone_empty": (gettext_lazy("Enter a phone number."),),
    "phone_invalid": (
        gettext_lazy("A phone number may only contain digits."),
        gettext_lazy("This is not a valid phone number."),
    ),
    "product_not_found": (gettext_lazy("No product with this SKU."),),
    "required": (
        gettext_lazy("This field is required."),
        gettext_lazy("Enter the KakaoTalk ID."),
        gettext_lazy("Enter the customer's name."),
        gettext_lazy("Give the address the detail belongs to."),
        gettext_lazy("Give the customer's id, or a mobile number or e-mail they already have."),
        gettext_lazy("Give the order's id or its order number."),
        gettext_lazy("Give the organization's id or its business number."),
        gettext_lazy("Give the price in the order's currency."),
        gettext_lazy("Give the product's SKU, the order line's id or its line number."),
    ),
    "required_by_plan": (
        gettext_lazy("The customer information plan of this source requires %(field)s."),
    ),
    "return_rejected": (gettext_lazy("Another line of this return was rejected (line %d)."),),
    "staff_not_found": (gettext_lazy("No active staff member with this e-mail or name."),),
    "too_large": (gettext_lazy("The discount exceeds the subtotal."),),
    "too_long": (
        gettext_lazy("At most %d characters."),
        gettext_lazy("This name is too long."),
    ),
}

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%d|%s")


def _template_pattern(text: str) -> re.Pattern[str]:
    """A translated message template as a pattern whose groups catch its placeholders."""
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        parts.append(re.escape(text[pos : m.start()]))
        parts.append(r"(\d+)" if m.group(0) == "%d" else "(.+?)")
        pos = m.end()
    parts.append(re.escape(text[pos:]))
    return re.compile("".join(parts), re.DOTALL)


@functools.cache
def _reason_patterns(language: str) -> dict[str, list[tuple[re.Pattern[str], Any]]]:
    """Per code, each message's pattern as `language` writes it."""
    out: dict[str, list[tuple[re.Pattern[str], Any]]] = {}
    with translation.override(language):
        for code, msgs in REASON_MESSAGES.items():
            out[code] = [(_template_pattern(str(m)), m) for m in msgs]
    return out


@functools.lru_cache(maxsize=4096)
def _translated(language: str | None, code: str, field_name: str, stored: str) -> str:
    """The stored message of (code, field) again in the active language (`language` keys the
    cache), or the stored text when no known message matches it."""
    for lang, _name in settings.LANGUAGES:
        for pattern, msg in _reason_patterns(lang).get(code, ()):
            m = pattern.fullmatch(stored)
            if m is None:
                continue
            template = str(msg)
            names = re.findall(r"%\((\w+)\)s", template)
            if names:
                values = dict(zip(names, m.groups(), strict=True))
                if "field" in values and field_name in QualityField.values:
                    values["field"] = str(QualityField(field_name).label)
                return template % values
            if m.groups():
                return template % tuple(int(g) if g.isdigit() else g for g in m.groups())
            return template
    return stored


def reason_message(reason: Mapping[str, Any]) -> str:
    """A stored rejection reason's message in the active language (from its stable ``code``),
    or as stored when its code and text name no known message."""
    stored = str(reason.get("message") or "")
    code = str(reason.get("code") or "")
    if not code:
        return stored
    return _translated(translation.get_language(), code, str(reason.get("field") or ""), stored)


def choice_hint(target: str, field: str) -> str:
    """The values a choice field accepts, in the words a Korean file uses (전화, 매장 …), for a
    rejected cell that held none of them ("" for a field that is no choice)."""
    from dangol.integration.imports.targets import TARGETS

    specs = TARGETS[target].specs if target in TARGETS else ()
    spec = next((s for s in specs if s.name == field), None)
    if spec is None or spec.kind != "choice":
        return ""
    words: dict[str, str] = {}
    for alias, value in spec.choice_aliases.items():
        if not alias.isascii():
            words.setdefault(value, alias)
    shown = [words.get(v, v) for v in sorted(c for c in spec.choices if c)]
    return gettext("Allowed: %s") % ", ".join(shown)


def reason_text(
    reasons: Iterable[Mapping[str, Any]],
    *,
    target: str = "",
    columns: Mapping[str, str] | None = None,
) -> str:
    """Reasons as one line for people: "생년월일: 없는 날짜입니다.; …", each named by the file's
    column that fed the field (`columns`: field → column) or else the field's label; a value
    that is none of a choice's says which are (as the result page does). The codes stay out
    (the JSON Lines download keeps them in ``_errors``)."""
    columns = columns or {}
    out = []
    for r in reasons:
        name = str(r.get("field") or "")
        message = reason_message(r)
        if r.get("code") == "invalid_choice" and name and target:
            hint = choice_hint(target, name)
            message = f"{message} {hint}" if hint else message
        out.append(
            f"{columns.get(name) or field_label(name, target)}: {message}" if name else message
        )
    return "; ".join(out)


def field_columns(job: ImportJob) -> dict[str, str]:
    """``{field: column}`` of the job's mapping, or of the guess the pipeline uses when the job
    has none (the first column of a field fed by several)."""
    from dangol.integration.imports.mapping import auto_mapping
    from dangol.integration.imports.targets import TARGETS

    mapping = job.mapping
    if not mapping and job.target in TARGETS:
        mapping = auto_mapping(list(job.header or []), TARGETS[job.target].specs)
    out: dict[str, str] = {}
    for column, name in (mapping or {}).items():
        if isinstance(name, str) and name:
            out.setdefault(name, str(column))
    return out


def jobs_for(user: Any, action: str = Action.VIEW) -> QuerySet[ImportJob]:
    """The import jobs `user` may see, newest first."""
    return ImportJob.objects.visible_to(user, action).select_related("mapping_template")


def job_for(user: Any, job_id: int, action: str = Action.VIEW) -> ImportJob | None:
    return jobs_for(user, action).filter(pk=job_id).first()


def row_errors(job: ImportJob) -> QuerySet[ImportRowError]:
    return ImportRowError.objects.filter(job=job).order_by("line", "id")


def templates(source: str | None = None, target: str | None = None) -> QuerySet[MappingTemplate]:
    qs = MappingTemplate.objects.all()
    if source:
        qs = qs.filter(source=source)
    if target:
        qs = qs.filter(target=target)
    return qs


def find_template(name: str, source: str | None = None) -> MappingTemplate | None:
    """A template by name (and source system when given)."""
    qs = MappingTemplate.objects.filter(name=name)
    if source:
        qs = qs.filter(source=source)
    return qs.order_by("id").first()


def rejected_rows_file(job: ImportJob, *, with_reasons: bool = False) -> tuple[bytes, str, str]:
    """The rejected rows written back in the file's own format and encoding (so they can be
    fixed and imported again): (content, file name, content type). Every Excel file comes back
    as an XLSX workbook named ``….xlsx``, an Excel 97–2003 file, an HTML table or an Excel 2003
    XML file too (Dangol writes no .xls), with the cells as read. With `with_reasons`, CSV and
    XLSX get a last column and JSON Lines a ``_errors`` key."""
    out = io.BytesIO()
    header = list(job.header)
    width = len(header)  # the reasons go right after the file's columns
    errors = row_errors(job).iterator(chunk_size=2000)
    columns = field_columns(job)

    def raws() -> Any:
        for e in errors:
            raw = e.raw
            if with_reasons and job.format in (ImportFormat.CSV, ImportFormat.XLSX):
                reasons = reason_text(e.reasons, target=job.target, columns=columns)
                raw = [*raw, *[""] * (width - len(raw)), reasons]
            elif with_reasons and job.format == ImportFormat.JSONL and isinstance(raw, dict):
                raw = {**raw, "_errors": e.reasons}
            yield raw

    if with_reasons and job.format in (ImportFormat.CSV, ImportFormat.XLSX):
        header.append(capfirst(str(REASONS_COLUMN)))
    encoding = job.encoding or "utf-8"
    write_rows(job.format, header, raws(), out, encoding=encoding)
    stem = (job.original_name.rsplit(".", 1)[0] or "import") + "-rejected"
    return (
        out.getvalue(),
        f"{stem}.{EXTENSIONS[ImportFormat(job.format)]}",
        CONTENT_TYPES[ImportFormat(job.format)],
    )


# --- duplicates -------------------------------------------------------------------------------


def dedupe_settings(*, for_update: bool = False) -> DedupeSettings:
    """The duplicate-search settings (created with the defaults on first use)."""
    qs = DedupeSettings.objects.select_for_update() if for_update else DedupeSettings.objects
    conf = qs.filter(pk=1).first()
    if conf is None:
        conf, _created = DedupeSettings.objects.get_or_create(pk=1)
    return conf


def candidates_for(
    user: Any, status: str | None = CandidateStatus.PENDING
) -> QuerySet[DuplicateCandidate]:
    """The candidate pairs whose two records `user` may change (Action.CHANGE on customers,
    within the role's scope), best first. Pending pairs are shown only while both records are
    active (a record merged elsewhere leaves the queue; the next search finds its survivor)."""
    scope = scope_for(user, "customers.customer", Action.CHANGE)
    if scope is None:
        return DuplicateCandidate.objects.none()
    qs = DuplicateCandidate.objects.all()
    if status:
        qs = qs.filter(status=status)
    if status == CandidateStatus.PENDING:
        qs = qs.filter(left__status=RecordStatus.ACTIVE, right__status=RecordStatus.ACTIVE)
    if scope != Scope.ALL:
        visible = Customer.objects.visible_to(user, Action.CHANGE).values("pk")
        qs = qs.filter(left_id__in=visible, right_id__in=visible)
    return qs.select_related("left", "right", "reviewer", "merge")


def candidate_for(user: Any, candidate_id: int) -> DuplicateCandidate | None:
    return candidates_for(user, status=None).filter(pk=candidate_id).first()


@dataclass
class SideView:
    """One record of a pair as the reviewer may see it."""

    customer: Customer
    contacts: list[ContactView]
    addresses: list[Address]
    external_ids: list[ExternalId]


@dataclass
class PairView:
    """A candidate pair side by side, with the evidence explained field by field."""

    candidate: DuplicateCandidate
    left: SideView
    right: SideView
    evidence: list[dict[str, Any]] = field(default_factory=list)
    revealed: bool = False

    @property
    def sides(self) -> tuple[SideView, SideView]:
        return (self.left, self.right)


def pair_views(
    user: Any,
    candidates: list[DuplicateCandidate],
    *,
    reveal: bool = False,
    read: PiiRead | None = None,
) -> list[PairView]:
    """The pairs side by side in a fixed number of queries. Contact data is masked unless
    `reveal` and the user holds the PII permission; such a reveal needs `read` and is written
    to the PII access log (one row per customer, in bulk)."""
    from dangol.integration.dedupe.evidence import explain

    ids = {c.left_id for c in candidates} | {c.right_id for c in candidates}
    customers = {
        c.pk: c
        for c in Customer.objects.filter(pk__in=ids).prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.order_by("kind", "-is_primary", "id"),
            ),
            Prefetch("addresses", queryset=Address.objects.order_by("-is_primary", "id")),
            "external_ids",
        )
    }
    unmask = reveal and read is not None and can_view_pii(user)
    if unmask:
        assert read is not None
        log_pii_reads(user, {c: list(c.contact_points.all()) for c in customers.values()}, read)

    def side(cid: int) -> SideView:
        c = customers[cid]
        return SideView(
            customer=c,
            contacts=present_contacts(user, list(c.contact_points.all()), reveal=unmask),
            addresses=list(c.addresses.all()),
            external_ids=list(c.external_ids.all()),
        )

    return [
        PairView(
            candidate=cand,
            left=side(cand.left_id),
            right=side(cand.right_id),
            evidence=explain(cand.evidence),
            revealed=unmask,
        )
        for cand in candidates
    ]


# --- the import wizard of the staff app ------------------------------------------------------

SAMPLE_ROWS = 5


@dataclass
class FileSample:
    """The first rows of a file as the import would read them (nothing is written)."""

    format: str
    encoding: str
    header: list[str]
    rows: list[dict[str, str]]


def file_sample(
    f: Any, *, file_format: str, encoding: str = "", rows: int = SAMPLE_ROWS
) -> FileSample:
    """Read the header and the first `rows` records of an open binary file with the import's
    reader (the encoding is detected when not given). A file that cannot be read raises
    ``ValidationFailed`` with a translated reason (wrong encoding, not an XLSX, no header)."""
    import zipfile

    from django.utils.translation import gettext as _

    from dangol.core.errors import ValidationFailed
    from dangol.integration.imports.readers import Reader

    if encoding:
        try:
            "".encode(encoding)
        except LookupError:
            raise ValidationFailed.single(
                "encoding", "invalid_choice", _("Unknown encoding.")
            ) from None
    reader = Reader(f, file_format, encoding)
    out: list[dict[str, str]] = []
    try:
        for rec in reader:
            if "__invalid__" not in rec.values:
                out.append(rec.values)
            if len(out) >= rows:
                break
    except ValidationFailed as exc:
        if exc.errors and exc.errors[0].code == "decode_failed":  # name the codec as the select
            raise ValidationFailed.single(
                "encoding",
                "decode_failed",
                _(
                    "The file cannot be read as %(enc)s text. Choose the file's encoding, or "
                    "check that it is a CSV, Excel, JSON Lines or vCard file."
                )
                % {"enc": encoding_label(reader.encoding or encoding)},
            ) from None
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationFailed.single(
            "file",
            "unreadable",
            _("The file could not be read as %(format)s: %(error)s")
            % {"format": ImportFormat(file_format).label, "error": exc},
        ) from None
    header = [h for h in reader.header if h]
    if not header:
        raise ValidationFailed.single(
            "file", "no_header", _("The file is empty or its first row holds no column names.")
        )
    return FileSample(str(file_format), reader.encoding, list(reader.header), out)


def job_sample(
    job: ImportJob, *, encoding: str | None = None, rows: int = SAMPLE_ROWS
) -> FileSample:
    """The first rows of a job's file, in the job's encoding unless `encoding` is given."""
    from dangol.integration.imports.pipeline import open_file

    with open_file(job) as f:
        return file_sample(
            f,
            file_format=job.format,
            encoding=job.encoding if encoding is None else encoding,
            rows=rows,
        )


# Headers seen in Korean POS, web-shop and ERP exports beyond the targets' own aliases. Keys are
# compared without spaces, underscores, dashes, dots and brackets, in lower case.
EXTRA_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        "external_id": (
            "회원코드",
            "고객코드",
            "멤버십번호",
            "member_no",
            "customer_no",
            "memberid",
        ),
        "full_name": ("고객이름", "회원이름", "성함", "fullname", "customer_name"),
        "mobile": (
            "mobile",
            "휴대폰번호",
            "핸드폰번호",
            "휴대전화번호",
            "휴대번호",
            "모바일",
            "cellphone",
            "mobile_no",
        ),
        "phone": ("전화", "집전화", "일반전화", "telephone"),
        "email": ("email", "이메일주소", "메일주소", "e_mail", "mail"),
        "birth_date": ("birth", "birthdate", "생년", "출생일", "date_of_birth"),
        "gender": ("gender", "성별구분"),
        "region": ("region", "시도명"),
        "signup_channel": ("가입매장", "가입처"),
    },
    "consents": {
        "customer_external_id": ("회원코드", "고객코드", "id", "customer_no", "member_no"),
    },
    "orders": {"customer_external_id": ("회원코드", "고객코드")},
    "products": {},
}
# Words inside a header that point at a field when no alias matched (first hit wins).
CONTAINS: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (
        ("휴대", "mobile"),
        ("핸드폰", "mobile"),
        ("mobile", "mobile"),
        ("이메일", "email"),
        ("email", "email"),
        ("생년월일", "birth_date"),
        ("birth", "birth_date"),
        ("회원번호", "external_id"),
        ("고객번호", "external_id"),
        ("성명", "full_name"),
        ("전화", "phone"),
    ),
    "consents": (
        ("수신동의", "granted"),
        ("동의여부", "granted"),
        ("consent", "granted"),
        ("optin", "granted"),
        ("동의일", "at"),
        ("회원번호", "customer_external_id"),
        ("고객번호", "customer_external_id"),
    ),
    "orders": (),
    "products": (),
}
# A consent column names its channel: "문자수신동의" → sms.
CONSENT_CHANNEL_WORDS = (
    ("문자", "sms"),
    ("sms", "sms"),
    ("카카오", "kakao"),
    ("알림톡", "kakao"),
    ("이메일", "email"),
    ("메일", "email"),
    ("email", "email"),
    ("푸시", "push"),
    ("push", "push"),
    ("전화", "phone"),
    ("tm", "phone"),
)


def _header_key(text: str) -> str:
    import re

    return re.sub(r"[\s_\-./()\[\]]+", "", text).lower()


def _looks_mobile(values: list[str]) -> bool:
    import re

    digits = [re.sub(r"\D", "", v) for v in values if v.strip()]
    digits = [d[2:] if d.startswith("82") else d for d in digits]
    return bool(digits) and all(re.fullmatch(r"0?1[016789]\d{7,8}", d) for d in digits)


@dataclass
class MappingSuggestion:
    """A guessed mapping: ``{column: field}``, transforms (fixed values) and why."""

    mapping: dict[str, str]
    transforms: dict[str, Any]
    defaults: dict[str, str]


def suggest_mapping(
    target: str, header: list[str], rows: list[dict[str, str]]
) -> MappingSuggestion:
    """Guess which column feeds which field from the headers (the target's Korean and English
    aliases, then known synonyms, then words inside the header) and the sample values (a
    "전화번호" column holding mobiles feeds ``mobile``). For consents, a "문자수신동의" column
    feeds ``granted`` and fixes the channel to SMS for every row."""
    from dangol.integration.imports.mapping import auto_mapping
    from dangol.integration.imports.targets import TARGETS

    target_cls = TARGETS.get(target)
    if target_cls is None:
        return MappingSuggestion({}, {}, {})
    specs = target_cls.specs
    names = {s.name for s in specs}
    mapping = auto_mapping(header, specs)
    used = set(mapping.values())
    extra = {
        _header_key(alias): name
        for name, aliases in EXTRA_ALIASES.get(target, {}).items()
        for alias in aliases
        if name in names
    }
    for column in header:
        if column in mapping or not column:
            continue
        key = _header_key(column)
        name = extra.get(key) or next(
            (f for word, f in CONTAINS.get(target, ()) if word in key and f not in used), None
        )
        if name and name in names and name not in used:
            mapping[column] = name
            used.add(name)
    if target == "customers" and "mobile" not in used:
        for column, name in list(mapping.items()):
            if name == "phone" and _looks_mobile([r.get(column, "") for r in rows]):
                mapping[column] = "mobile"
                break
    transforms: dict[str, Any] = {}
    defaults: dict[str, str] = {}
    if target == "consents" and "channel" not in used:
        granted = next((c for c, f in mapping.items() if f == "granted"), None)
        key = _header_key(granted or "")
        channel = next((ch for word, ch in CONSENT_CHANNEL_WORDS if word in key), None)
        if channel:
            defaults["channel"] = channel
            transforms["channel"] = [{"op": "default", "value": channel}]
    return MappingSuggestion({c: mapping[c] for c in header if c in mapping}, transforms, defaults)


def consent_columns(header: list[str]) -> list[str]:
    """Columns that hold consents (imported with the consents target, not with customers)."""
    return [
        c for c in header if any(w in _header_key(c) for w in ("수신동의", "동의여부", "optin"))
    ]


def known_sources(limit: int = 50) -> list[str]:
    """Source system names used by earlier imports and saved mappings, for suggestions."""
    jobs = ImportJob.objects.order_by().values_list("source", flat=True).distinct()[:limit]
    saved = MappingTemplate.objects.order_by().values_list("source", flat=True).distinct()[:limit]
    return sorted({*jobs, *saved})[:limit]


def _job_customer_ids(job: ImportJob) -> QuerySet[ExternalId]:
    """External ids of `job`'s source attached while the job ran (its customers)."""
    qs = ExternalId.objects.filter(source=job.source, customer__isnull=False)
    if job.started_at is not None:
        qs = qs.filter(created_at__gte=job.started_at)
    if job.finished_at is not None:
        qs = qs.filter(created_at__lte=job.finished_at)
    return qs


def candidates_from_import(
    user: Any, job: ImportJob, status: str | None = CandidateStatus.PENDING
) -> QuerySet[DuplicateCandidate]:
    """The pairs of the duplicate review queue `job` sent there that `user` may change (found by
    the import while it ran, one record of which got an id of the job's source), in `status`."""
    from django.db.models import Q

    from dangol.integration.models import CandidateOrigin

    if job.dry_run or job.started_at is None or job.target != "customers":
        return DuplicateCandidate.objects.none()
    ids = _job_customer_ids(job).values("customer_id")
    qs = candidates_for(user, status=status).filter(
        origin=CandidateOrigin.IMPORT, created_at__gte=job.started_at
    )
    return qs.filter(Q(left_id__in=ids) | Q(right_id__in=ids))


def review_pairs_from_import(user: Any, job: ImportJob) -> int:
    """How many pairs `job` sent to the duplicate review queue still wait for a decision."""
    return candidates_from_import(user, job).count()


def imported_customers(user: Any, job: ImportJob, limit: int = 10) -> list[Customer]:
    """A few of the customers `job` created or linked that `user` may see, newest first."""
    if job.dry_run or job.started_at is None or job.target != "customers":
        return []
    ids = _job_customer_ids(job).values("customer_id")
    return list(
        Customer.objects.visible_to(user).filter(pk__in=ids).order_by("-created_at", "-id")[:limit]
    )
