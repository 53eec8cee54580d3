"""Read queries of imports shared by the API, the web app and the CLI."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet

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
    MappingTemplate,
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
REASONS_COLUMN = "오류"


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


def _reason_text(reasons: list[dict[str, str]]) -> str:
    return "; ".join(
        f"{r.get('field') or '-'}: {r.get('message', '')} [{r.get('code', '')}]" for r in reasons
    )


def rejected_rows_file(job: ImportJob, *, with_reasons: bool = False) -> tuple[bytes, str, str]:
    """The rejected rows written back in the file's own format and encoding (so they can be
    fixed and imported again): (content, file name, content type). With `with_reasons`, CSV
    and XLSX get a last column and JSON Lines a ``_errors`` key."""
    out = io.BytesIO()
    header = list(job.header)
    errors = row_errors(job).iterator(chunk_size=2000)

    def raws() -> Any:
        for e in errors:
            raw = e.raw
            if with_reasons and job.format in (ImportFormat.CSV, ImportFormat.XLSX):
                raw = [*raw, *[""] * (len(header) - len(raw)), _reason_text(e.reasons)]
            elif with_reasons and job.format == ImportFormat.JSONL and isinstance(raw, dict):
                raw = {**raw, "_errors": e.reasons}
            yield raw

    if with_reasons and job.format in (ImportFormat.CSV, ImportFormat.XLSX):
        header.append(REASONS_COLUMN)
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
