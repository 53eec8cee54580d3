"""Staff pages of imports: a wizard (upload → map columns → check → import) and the history.

1. ``import_upload``: target, source system, file; the file is read once to catch a wrong
   encoding or a broken file before anything is stored.
2. ``import_mapping``: the file's columns with sample values, each mapped to a target field
   (suggested from the headers, or a saved mapping of the source system); fixed values for
   fields no column holds; save the mapping as a template.
3. ``import_preview``: the first rows checked cell by cell; a dry run over the whole file.
4. ``import_detail``: the running job (htmx polls ``import_progress``) and its result, with the
   rejected rows to download and links onward.

Thin, like the API: parse, check permission, call one service or selector, render.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from dangol.core.errors import ServiceError, ValidationFailed
from dangol.core.money import default_currency, format_money
from dangol.core.normalize import national_phone
from dangol.integration import selectors, services
from dangol.integration.imports.mapping import FieldSpec
from dangol.integration.imports.pipeline import PREVIEW_ROWS, preview
from dangol.integration.imports.readers import detect_format
from dangol.integration.imports.targets import TARGETS
from dangol.integration.models import (
    ACTIVE_STATUSES,
    ImportFormat,
    ImportJob,
    ImportStatus,
    ImportTarget,
    MappingTemplate,
    PlanLevel,
    QualityField,
)
from dangol.web.htmx import is_htmx

HISTORY_SIZE = 100
ROW_COUNTED_TARGETS = (ImportTarget.ORDERS, ImportTarget.RETURNS)
ERRORS_SHOWN = 10
FINAL_STATUSES = (
    ImportStatus.COMPLETED,
    ImportStatus.VALIDATED,
    ImportStatus.CANCELLED,
    ImportStatus.FAILED,
)
ENCODINGS = selectors.ENCODINGS
TARGET_HELP = {
    ImportTarget.CUSTOMERS: gettext_lazy(
        "People: ID in your system, name, mobile, e-mail, birth date, gender, region."
    ),
    ImportTarget.CONSENTS: gettext_lazy(
        "Marketing consents per customer and channel (SMS, e-mail, KakaoTalk …)."
    ),
    ImportTarget.PRODUCTS: gettext_lazy("The catalogue: SKU, name, price, brand, category."),
    ImportTarget.ORDERS: gettext_lazy(
        "Order history, one row per order line; the lines of an order must be next to each "
        "other. Import the customers and products first."
    ),
    ImportTarget.ORGANIZATIONS: gettext_lazy(
        "Companies you sell to: ID in your system, company name, business registration number, "
        "industry, main phone, address. A known business number is matched, not duplicated."
    ),
    ImportTarget.MEMBERSHIPS: gettext_lazy(
        "Who works where: customer ID, the company's ID or business number, title, primary "
        "contact (yes/no). Import the customers and organizations first."
    ),
    ImportTarget.CONTACT_POINTS: gettext_lazy(
        "More phones, e-mails and KakaoTalk IDs for existing customers, one per row, found by "
        "customer ID or by a mobile number or e-mail they already have."
    ),
    ImportTarget.RETURNS: gettext_lazy(
        "Returned goods, one row per product: return ID, order ID, SKU, quantity, reason. "
        "Refunds lower the customer's spend; import the orders first."
    ),
    ImportTarget.INTERACTIONS: gettext_lazy(
        "Call-center and store history: customer ID, channel (phone, store, KakaoTalk …; "
        "Korean or English names), type, subject, details, date and time, staff member."
    ),
}
KIND_HELP = {
    "phone": gettext_lazy("any format: 010-1234-5678, 01012345678, +82 10 …"),
    "email": gettext_lazy("an e-mail address"),
    "date": gettext_lazy("2024-03-01, 2024.3.1, 2024년 3월 1일, 20240301"),
    "birthdate": gettext_lazy("1974-02-11, 1974.2.11, 19740211 or 740211"),
    "datetime": gettext_lazy("a date, with or without a time (15:30, 오후 3:30, 3:30 PM)"),
    "postal": gettext_lazy("five digits (06236), or an old code such as 135-080"),
    "amount": gettext_lazy("₩1,234,000 or 1234000"),
    "int": gettext_lazy("a whole number"),
    "bool": gettext_lazy("Y/N, 예/아니오, 동의/거부, O/X"),
    "choice": gettext_lazy("one of the allowed values"),
}


def _label(field: str, target: str = "") -> str:
    return selectors.field_label(field, target)


def _errors(exc: ServiceError) -> dict[str, list[str]]:
    """A service error as ``{field: [message]}``; ``""`` holds errors of the whole form."""
    out: dict[str, list[str]] = {}
    for e in exc.errors:
        out.setdefault(e.field, []).append(str(e.message))
    if not exc.errors:
        out[""] = [str(exc)]
    return out


def _job(request: HttpRequest, job_id: int, *, write: bool = False) -> ImportJob:
    """The job if the user may see it (and, with `write`, import into its target)."""
    job = selectors.job_for(request.user, job_id)
    if job is None or (write and not services.can_import(request.user, job.target)):
        raise Http404
    return job


def _targets(user: Any) -> list[dict[str, Any]]:
    out = []
    for value, label in ImportTarget.choices:
        supported = value in TARGETS
        allowed = supported and services.can_import(user, value)
        reason = ""
        if not supported:
            reason = _("Not supported yet.")
        elif not allowed:
            reason = _("Your role may not add these records.")
        out.append(
            {
                "value": value,
                "label": label,
                "help": TARGET_HELP.get(ImportTarget(value), ""),
                "enabled": allowed,
                "reason": reason,
            }
        )
    return out


def _field_options(target: str) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "label": _label(s.name, target),
            "required": s.required,
            "help": KIND_HELP.get(s.kind, ""),
            "hint": selectors.field_help(s.name, target),
            "choices": sorted(c for c in s.choices if c) if s.kind == "choice" else [],
        }
        for s in TARGETS[target].specs
    ]


# --- history ------------------------------------------------------------------------------------


@login_required
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    jobs = list(selectors.jobs_for(request.user).select_related("created_by")[:HISTORY_SIZE])
    rows = [
        {"job": j, "url": _next_url(j), "counts_rows": j.target in ROW_COUNTED_TARGETS}
        for j in jobs
    ]
    can_import = any(t["enabled"] for t in _targets(request.user))
    return render(
        request,
        "integration/imports/list.html",
        {"rows": rows, "can_import": can_import, "limit": HISTORY_SIZE},
    )


def _next_url(job: ImportJob) -> str:
    """Where a job continues: the mapping before a check, the preview after a dry run, else
    its result page."""
    if job.status == ImportStatus.UPLOADED:
        return reverse("web:import_mapping", args=[job.pk])
    if job.dry_run and job.status in (ImportStatus.VALIDATED, ImportStatus.FAILED):
        return reverse("web:import_preview", args=[job.pk])
    return reverse("web:import_detail", args=[job.pk])


# --- 1. upload ----------------------------------------------------------------------------------


@login_required
def import_upload(request: HttpRequest) -> HttpResponse:
    targets = _targets(request.user)
    if not any(t["enabled"] for t in targets):
        raise Http404
    enabled = [t["value"] for t in targets if t["enabled"]]
    values = {
        "target": request.GET.get("target", enabled[0]),
        "source": request.GET.get("source", ""),
        "encoding": "",
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("target", "source", "encoding")}
        upload = request.FILES.get("file")
        if values["target"] not in enabled:
            errors["target"] = [_("Choose what the file holds.")]
        if not values["source"]:
            errors["source"] = [_("Name the system the file comes from.")]
        if upload is None:
            errors["file"] = [_("Choose a file.")]
        elif not errors:
            try:
                fmt = detect_format(upload.name or "")
                selectors.file_sample(upload, file_format=fmt, encoding=values["encoding"])
                upload.seek(0)
                job = services.create_import_job(
                    target=values["target"],
                    source=values["source"],
                    upload=upload,
                    encoding=values["encoding"],
                    actor=request.user,
                )
                return redirect("web:import_mapping", job.pk)
            except ServiceError as exc:
                errors = _errors(exc)
    context = {
        "step": 1,
        "targets": targets,
        "values": values,
        "errors": errors,
        "form_errors": [
            m
            for k, ms in errors.items()
            if k not in ("target", "source", "file", "encoding")
            for m in ms
        ],
        "sources": selectors.known_sources(),
        "encodings": ENCODINGS,
        "formats": ImportFormat.choices,
    }
    return render(
        request, "integration/imports/upload.html", context, status=422 if errors else 200
    )


# --- 2. mapping ---------------------------------------------------------------------------------


def _initial_mapping(
    request: HttpRequest, job: ImportJob, sample: selectors.FileSample
) -> tuple[dict[str, str], dict[str, Any], MappingTemplate | None, str]:
    """The mapping the form starts from, and where it came from: a template the user chose, the
    job's own, the latest template of the source system, or the suggestion."""
    saved = selectors.templates(job.source, job.target).order_by("-updated_at", "-id")
    chosen = request.GET.get("template", "")
    template = saved.filter(pk=int(chosen)).first() if chosen.isdigit() else None
    origin = "template"
    if template is None and job.mapping:
        return dict(job.mapping), dict(job.transforms), job.mapping_template, "job"
    if template is None:
        template, origin = saved.first(), "latest"
    if template is not None:
        mapping = {c: f for c, f in template.mapping.items() if c in sample.header}
        return mapping, dict(template.transforms), template, origin
    guess = selectors.suggest_mapping(job.target, sample.header, sample.rows)
    return guess.mapping, guess.transforms, None, "suggested"


def _defaults(transforms: dict[str, Any]) -> dict[str, str]:
    """The fixed values (``default`` transforms) of a mapping, by field."""
    out = {}
    for name, ops in transforms.items():
        for op in ops if isinstance(ops, list) else [ops]:
            if isinstance(op, dict) and op.get("op") == "default":
                out[name] = str(op.get("value", ""))
    return out


def _other_transforms(transforms: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, ops in transforms.items():
        kept = [
            op
            for op in (ops if isinstance(ops, list) else [ops])
            if not (isinstance(op, dict) and op.get("op") == "default")
        ]
        if kept:
            out[name] = kept
    return out


def _posted_mapping(
    request: HttpRequest, target: str, header: list[str]
) -> tuple[dict[str, str], dict[str, Any]]:
    names = {s.name for s in TARGETS[target].specs}
    mapping = {
        column: field
        for i, column in enumerate(header)
        if (field := request.POST.get(f"col-{i}", "")) and field in names
    }
    try:
        extra = json.loads(request.POST.get("other_transforms", "") or "{}")
    except json.JSONDecodeError:
        extra = {}
    transforms: dict[str, Any] = {
        k: list(v) for k, v in (extra if isinstance(extra, dict) else {}).items() if k in names
    }
    for name in names:
        value = request.POST.get(f"default-{name}", "").strip()
        if value and name not in mapping.values():
            transforms.setdefault(name, []).append({"op": "default", "value": value})
    return mapping, transforms


@login_required
def import_mapping(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id, write=True)
    if job.status in ACTIVE_STATUSES or job.status == ImportStatus.COMPLETED:
        return redirect("web:import_detail", job.pk)
    posting = request.method == "POST"
    data = request.POST if posting else request.GET
    encoding = data.get("encoding")
    errors: dict[str, list[str]] = {}
    try:
        sample = selectors.job_sample(job, encoding=encoding)
    except ValidationFailed as exc:
        sample, errors = None, _errors(exc)
    mapping: dict[str, str] = {}
    transforms: dict[str, Any] = {}
    template: MappingTemplate | None = None
    origin = ""
    if sample is not None and posting:
        mapping, transforms = _posted_mapping(request, job.target, sample.header)
        chosen = request.POST.get("template_id", "")
        template = (
            selectors.templates(job.source, job.target).filter(pk=int(chosen)).first()
            if chosen.isdigit()
            else None
        )
        try:
            services.configure_import(
                job=job,
                actor=request.user,
                mapping=mapping,
                transforms=transforms,
                encoding=encoding or "",
                template=template,
            )
        except ServiceError as exc:
            errors = _errors(exc)
        else:
            name = request.POST.get("template_name", "").strip()
            if name:
                try:
                    services.save_mapping_template(
                        name=name,
                        source=job.source,
                        target=job.target,
                        mapping=mapping,
                        transforms=transforms,
                        actor=request.user,
                    )
                    messages.success(
                        request,
                        _("The mapping was saved as “%(name)s” for %(source)s.")
                        % {"name": name, "source": job.source},
                    )
                except ServiceError as exc:
                    messages.error(request, str(exc))
            return redirect("web:import_preview", job.pk)
    elif sample is not None:
        mapping, transforms, template, origin = _initial_mapping(request, job, sample)
    context = _mapping_context(job, sample, mapping, transforms, template, origin, errors)
    context["encoding"] = job.encoding if encoding is None else encoding
    return render(
        request,
        "integration/imports/mapping.html",
        context,
        status=422 if errors and posting else 200,
    )


def _mapping_context(
    job: ImportJob,
    sample: selectors.FileSample | None,
    mapping: dict[str, str],
    transforms: dict[str, Any],
    template: MappingTemplate | None,
    origin: str,
    errors: dict[str, list[str]],
) -> dict[str, Any]:
    defaults = _defaults(transforms)
    fields = [{**f, "default": defaults.get(f["name"], "")} for f in _field_options(job.target)]
    header = sample.header if sample is not None else []
    hints = {f["name"]: f["hint"] for f in fields if f["hint"]}
    columns = [
        {
            "index": i,
            "name": column,
            "samples": [v for r in sample.rows if (v := r.get(column, "").strip())][:3]
            if sample is not None
            else [],
            "field": mapping.get(column, ""),
            "hint": hints.get(mapping.get(column, ""), ""),
            "errors": errors.get(f"mapping.{column}", []),
        }
        for i, column in enumerate(header)
    ]
    required_errors = [m for f in fields for m in errors.get(f"mapping.{f['name']}", [])]
    shown = {f"mapping.{c}" for c in header} | {f"mapping.{f['name']}" for f in fields}
    other_errors = [m for k, ms in errors.items() if k not in shown for m in ms]
    consent_columns = (
        selectors.consent_columns(header) if job.target == ImportTarget.CUSTOMERS else []
    )
    return {
        "step": 2,
        "job": job,
        "sample": sample,
        "encoding_label": selectors.encoding_label(sample.encoding) if sample else "",
        "columns": columns,
        "fields": fields,
        "required": [f for f in fields if f["required"]],
        "defaults": defaults,
        "other_transforms": json.dumps(_other_transforms(transforms), ensure_ascii=False),
        "template": template,
        "origin": origin,
        "templates": list(selectors.templates(job.source, job.target).order_by("name")[:100]),
        "errors": errors,
        "required_errors": required_errors,
        "other_errors": other_errors,
        "encodings": ENCODINGS,
        # an HTML table saved as .xls is text: its encoding can be chosen like a CSV's
        "text_format": job.format != ImportFormat.XLSX
        or bool(sample.encoding if sample is not None else "encoding" in errors),
        "consent_columns": consent_columns,
        "mapping_json": json.dumps({str(c["index"]): c["field"] for c in columns}),
        "defaults_json": json.dumps(
            {f["name"]: f["default"] for f in fields},
            ensure_ascii=False,
        ),
        "required_json": json.dumps([f["name"] for f in fields if f["required"]]),
        "hints_json": json.dumps(hints, ensure_ascii=False),
        "plan_required": _plan_required(job),
    }


def _plan_required(job: ImportJob) -> list[dict[str, Any]]:
    """The fields the customer information plan of the job's source requires (a customer
    import rejects the rows without them), each with the import fields that can carry it."""
    if job.target != ImportTarget.CUSTOMERS:
        return []
    from dangol.integration.quality import IMPORT_FIELDS, plan_for, plan_table

    plan = plan_for(job.source, plan_table(declared_only=True))
    return [
        {
            "field": f,
            "label": str(QualityField(f).label),
            "carriers": json.dumps(list(IMPORT_FIELDS[f])),
        }
        for f, level in plan.items()
        if level == PlanLevel.REQUIRED and f in IMPORT_FIELDS
    ]


# --- 3. preview and dry run -----------------------------------------------------------------------


@login_required
@require_GET
def import_preview(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id, write=True)
    if job.status == ImportStatus.COMPLETED or (job.status in ACTIVE_STATUSES and not job.dry_run):
        return redirect("web:import_detail", job.pk)
    try:
        checked = preview(job, rows=PREVIEW_ROWS)
    except ValidationFailed as exc:
        return render(
            request,
            "integration/imports/preview.html",
            {"step": 3, "job": job, "errors": _errors(exc)},
            status=422,
        )
    fields = list(dict.fromkeys([*checked["mapping"].values(), *job.transforms]))
    by_field = {f: c for c, f in checked["mapping"].items()}
    specs = {s.name: s for s in TARGETS[job.target].specs}
    rows = []
    for r in checked["rows"]:
        cells = [
            _preview_cell(
                specs.get(f),
                r["values"].get(f, ""),
                r["data"],
                [_reason_row(job.target, e) for e in r["errors"] if e.get("field") == f],
                from_column=f in by_field,
            )
            for f in fields
        ]
        others = [e for e in r["errors"] if e.get("field") not in fields]
        rows.append({"line": r["line"], "valid": r["valid"], "cells": cells, "others": others})
    good = sum(1 for r in rows if r["valid"])
    context = {
        "step": 3,
        "job": job,
        "encoding": checked["encoding"],
        "columns": [
            {"field": f, "label": _label(f, job.target), "column": by_field.get(f, "")}
            for f in fields
        ],
        "rows": rows,
        "good": good,
        "bad": len(rows) - good,
        **(_status_context(request, job) if job.dry_run else {}),
    }
    return render(request, "integration/imports/preview.html", context)


def stored_text(spec: FieldSpec, value: Any, currency: str = "") -> str:
    """A parsed value of an import row as Dangol stores it, in the form people read it: a phone
    in the national format (010-1234-5678), an e-mail as normalized, a date 2024-03-01, a
    date and time 2024-03-01 14:30 (local time), an amount ₩1,234,000 (in ``currency``), yes
    or no, a choice's label ("M" → 남성); anything else as text."""
    if isinstance(value, dict):  # a contact point's stored columns (``parsing.phone_values``)
        normalized = str(value.get("normalized", ""))
        is_phone = normalized.startswith("+") and "@" not in normalized
        return national_phone(normalized) if is_phone else normalized
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime.datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return date_format(local, "Y-m-d H:i:s" if local.second else "Y-m-d H:i")
    if isinstance(value, datetime.date):
        return date_format(value, "Y-m-d")
    if isinstance(value, Decimal):
        return format_money(value, currency or default_currency())
    if spec.kind == "choice" or spec.labels:
        return spec.label(str(value))
    return str(value)


# values that read wrong when a narrow column breaks them (010-1234-<br>5678)
NOWRAP_KINDS = frozenset({"phone", "date", "birthdate", "datetime", "amount", "int"})


def _preview_cell(
    spec: FieldSpec | None,
    text: str,
    data: dict[str, Any],
    errors: list[dict[str, Any]],
    *,
    from_column: bool,
) -> dict[str, Any]:
    """One cell of the preview: a good value as it will be stored (``stored_text``) with the
    file's text under it when that reads differently; a rejected or blank cell as the file
    has it."""
    value = data.get(spec.name) if spec is not None and not errors and text.strip() else None
    nowrap = spec is not None and spec.kind in NOWRAP_KINDS
    if spec is None or value is None:
        return {"value": text, "file": "", "errors": errors, "nowrap": nowrap}
    shown = stored_text(spec, value, str(data.get("currency") or ""))
    if spec.kind == "datetime" and shown.endswith(" 00:00") and ":" not in text:
        shown = shown.removesuffix(" 00:00")  # a date alone in the file: the day, no time
    differs = from_column and shown != text.strip()
    return {
        "value": shown,
        "file": text.strip() if differs else "",
        "errors": errors,
        "nowrap": nowrap,
    }


@login_required
@require_POST
def import_dry_run(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id, write=True)
    try:
        services.start_import(job=job, actor=request.user, dry_run=True)
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("web:import_preview", args=[job.pk]) + "#dry-run")


# --- 4. import, progress, result ----------------------------------------------------------------


@login_required
@require_POST
def import_commit(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id, write=True)
    try:
        services.start_import(job=job, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("web:import_detail", job.pk)


@login_required
@require_POST
def import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id, write=True)
    try:
        services.cancel_import(job=job, actor=request.user)
        messages.success(request, _("The import stops after the rows it is writing now."))
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("web:import_detail", job.pk)


def _progress(job: ImportJob) -> int:
    if job.status in FINAL_STATUSES and not job.error_message:
        return 100
    total = job.total_bytes or 0
    return int(min(job.processed_bytes / total, 1.0) * 100) if total else 0


# where the rows of each target can be seen once imported (customers have their own link)
NEXT_PAGES: dict[str, tuple[str, Any]] = {
    ImportTarget.ORGANIZATIONS: ("web:organization_list", gettext_lazy("See the organizations")),
    ImportTarget.MEMBERSHIPS: ("web:organization_list", gettext_lazy("See the organizations")),
    ImportTarget.CONTACT_POINTS: ("web:customer_list", gettext_lazy("See the customers")),
    ImportTarget.CONSENTS: ("web:customer_list", gettext_lazy("See the customers")),
    ImportTarget.INTERACTIONS: (
        "web:customer_list",
        gettext_lazy("See the customers (the interactions are on their timelines)"),
    ),
    ImportTarget.PRODUCTS: ("web:product_list", gettext_lazy("See the products")),
    ImportTarget.ORDERS: ("web:order_list", gettext_lazy("See the orders")),
    ImportTarget.RETURNS: ("web:order_list", gettext_lazy("See the orders")),
}


def _reason_row(target: str, reason: dict[str, Any]) -> dict[str, Any]:
    field = reason.get("field") or ""
    out = {
        **reason,
        "label": _label(field, target) if field else "",
        "message": selectors.reason_message(reason),  # in the reader's language
    }
    if reason.get("code") == "invalid_choice" and field:
        out["hint"] = selectors.choice_hint(target, field)
    return out


def _row_namer(job: ImportJob) -> Callable[[Any], str]:
    """For a rejected row as read, the values that say which row it is (a customer's ID and
    name, an order's number and customer …): the cells of the target's first two fields that
    the file has a column for, so a reader finds the row without opening the download."""
    columns = selectors.field_columns(job)
    specs = TARGETS[job.target].specs[:2] if job.target in TARGETS else ()
    names = [columns[s.name] for s in specs if s.name in columns]
    index = {str(h): i for i, h in enumerate(job.header or [])}

    def name_of(raw: Any) -> str:
        values = []
        for column in names:
            if isinstance(raw, dict):
                value = raw.get(column)
            elif isinstance(raw, list | tuple) and index.get(column, len(raw)) < len(raw):
                value = raw[index[column]]
            else:
                value = None
            if value is not None and str(value).strip():
                values.append(str(value).strip()[:40])
        return " · ".join(values)

    return name_of


def _status_context(request: HttpRequest, job: ImportJob) -> dict[str, Any]:
    finished = job.status in FINAL_STATUSES
    name_of = _row_namer(job)
    done = job.status == ImportStatus.COMPLETED
    consent_columns = (
        selectors.consent_columns(job.header)
        if done
        and job.target == ImportTarget.CUSTOMERS
        and services.can_import(request.user, ImportTarget.CONSENTS)
        else []
    )
    return {
        "job": job,
        "active": job.status in ACTIVE_STATUSES,
        "finished": finished,
        "percent": _progress(job),
        "counts": job.counts(),
        # an order or return file has a row per line: its counters count rows, not orders
        "counts_rows": job.target in ROW_COUNTED_TARGETS,
        "row_errors": [
            {
                "line": e.line,
                "name": name_of(e.raw),
                "reasons": [_reason_row(job.target, r) for r in e.reasons],
            }
            for e in (selectors.row_errors(job)[:ERRORS_SHOWN] if finished else [])
        ],
        "review_pairs": selectors.review_pairs_from_import(request.user, job) if done else 0,
        "customers": selectors.imported_customers(request.user, job) if done else [],
        "consent_columns": consent_columns,
        "can_write": services.can_import(request.user, job.target),
        "next_page": (
            {"url": reverse(NEXT_PAGES[job.target][0]), "label": NEXT_PAGES[job.target][1]}
            if done and job.target in NEXT_PAGES
            else None
        ),
    }


@login_required
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    if job.status == ImportStatus.UPLOADED:
        return redirect("web:import_mapping", job.pk)
    context = {"step": 4, **_status_context(request, job)}
    return render(request, "integration/imports/detail.html", context)


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return request.GET.get("format") == "json" or (
        "application/json" in accept and not is_htmx(request)
    )


@login_required
@require_GET
def import_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's state: JSON (``?format=json`` or ``Accept: application/json``), else the status
    fragment the pages poll with htmx (polling stops once the job is over, and the polled answer
    that first sees it over reloads the page with ``HX-Refresh``)."""
    job = _job(request, job_id)
    if _wants_json(request):
        return JsonResponse(
            {
                "id": job.pk,
                "status": job.status,
                "status_label": str(job.get_status_display()),
                "dry_run": job.dry_run,
                "finished": job.status in FINAL_STATUSES,
                "progress": _progress(job),
                "error_message": job.error_message,
                **job.counts(),
                "duplicates": job.duplicate_count,
            }
        )
    response = render(request, "integration/imports/_status.html", _status_context(request, job))
    if is_htmx(request) and job.status in FINAL_STATUSES:
        # The job ended while the page polled: parts outside the fragment (the title, the Stop
        # button, the preview's import button) depend on the state too, so htmx reloads the
        # page (a finished job's page no longer polls, so this happens once).
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_GET
def import_rejected(request: HttpRequest, job_id: int) -> HttpResponse:
    """The rejected rows in the uploaded format and encoding (``?reasons=1`` adds why)."""
    job = _job(request, job_id)
    content, name, content_type = selectors.rejected_rows_file(
        job, with_reasons=request.GET.get("reasons") == "1"
    )
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@login_required
@require_POST
def import_again(request: HttpRequest, job_id: int) -> HttpResponse:
    """Import the same file into another target (the consent columns of a customer file)."""
    job = _job(request, job_id)
    target = request.POST.get("target", "")
    if target not in TARGETS or not services.can_import(request.user, target):
        raise Http404
    try:
        new = services.import_same_file(job=job, target=target, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("web:import_detail", job.pk)
    return redirect("web:import_mapping", new.pk)
