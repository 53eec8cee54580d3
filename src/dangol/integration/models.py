"""Imports of customer data from other systems: jobs, their rejected rows, saved column mappings.

An ``ImportJob`` is one file being brought in. Its counters are its progress (the web page polls
them) and ``last_committed_line`` is where an interrupted job resumes: every chunk of rows is
written in one transaction together with the counters and that position, so a job never leaves
half a row behind. See docs/adr/0005-import-pipeline.md.
"""

from __future__ import annotations

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.visibility import Action, Scope, scope_for

JOB_OBJECT_TYPE = "integration.importjob"


class ImportTarget(models.TextChoices):
    """What the rows of a file become."""

    CUSTOMERS = "customers", _("Customers")
    ORGANIZATIONS = "organizations", _("Organizations")
    CONTACT_POINTS = "contact_points", _("Contact points")
    CONSENTS = "consents", _("Consents")
    PRODUCTS = "products", _("Products")
    ORDERS = "orders", _("Orders with lines")
    RETURNS = "returns", _("Returns")
    INTERACTIONS = "interactions", _("Interactions")


class ImportFormat(models.TextChoices):
    CSV = "csv", _("CSV")
    XLSX = "xlsx", _("Excel (XLSX)")
    JSONL = "jsonl", _("JSON Lines")
    VCARD = "vcard", _("vCard")


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    VALIDATED = "validated", _("Dry run finished")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_STATUSES = (ImportStatus.QUEUED, ImportStatus.RUNNING)


class RowOutcome(models.TextChoices):
    """What became of one row."""

    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    MATCHED = "matched", _("Matched to an existing record")
    UNCHANGED = "unchanged", _("Unchanged")
    REJECTED = "rejected", _("Rejected")


class ImportJobQuerySet(models.QuerySet["ImportJob"]):
    """Jobs a user may see: their own; their team's or all with an ``integration.importjob``
    grant of that scope; all for superusers."""

    def visible_to(self, user: Any, action: Action | str = Action.VIEW) -> Self:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        scope = scope_for(user, JOB_OBJECT_TYPE, action)
        if scope == Scope.ALL:
            return self
        q = Q(created_by_id=user.pk)
        if scope == Scope.TEAM and user.team_id:
            q |= Q(created_by__team_id=user.team_id)
        return self.filter(q)


class MappingTemplate(models.Model):
    """A saved column → field mapping for files of one source system and target.

    ``mapping`` is ``{"column header": "field"}``; ``transforms`` is ``{"field": [op, ...]}``
    where an op is a name (``"strip"``, ``"upper"``, ``"lower"``, ``"digits"``) or
    ``{"op": "map", "values": {"남": "M"}}`` / ``{"op": "default", "value": "..."}``.
    """

    name = models.CharField(_("name"), max_length=100)
    source = models.CharField(_("source system"), max_length=50)
    target = models.CharField(_("target"), max_length=20, choices=ImportTarget.choices)
    mapping = models.JSONField(_("column mapping"), default=dict)
    transforms = models.JSONField(_("transforms"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mapping template")
        verbose_name_plural = _("mapping templates")
        ordering = ["source", "name"]
        constraints = [
            models.UniqueConstraint(fields=["source", "name"], name="mappingtemplate_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.name}"


class ImportJob(models.Model):
    """One file imported into one target, run in chunks as a background job (or on the CLI).

    The counters (``rows_read`` ... ``rejected_count``, ``processed_bytes`` of ``total_bytes``)
    are the progress. ``last_committed_line`` is the last line of the last committed chunk: a
    job run again after an interruption skips everything up to it.
    """

    target = models.CharField(_("target"), max_length=20, choices=ImportTarget.choices)
    source = models.CharField(_("source system"), max_length=50)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", blank=True)
    local_path = models.CharField(_("local file"), max_length=500, blank=True)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    format = models.CharField(_("format"), max_length=8, choices=ImportFormat.choices)
    encoding = models.CharField(_("encoding"), max_length=32, blank=True)
    header = models.JSONField(_("columns"), default=list, blank=True)
    mapping_template = models.ForeignKey(
        MappingTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    transforms = models.JSONField(_("transforms"), default=dict, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(
        _("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total_bytes = models.BigIntegerField(default=0)
    processed_bytes = models.BigIntegerField(default=0)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    matched_count = models.PositiveIntegerField(_("matched"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    last_committed_line = models.PositiveIntegerField(_("last committed line"), default=0)
    error_message = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_target_display()} ← {self.original_name or self.local_path}"

    @property
    def is_finished(self) -> bool:
        return self.status in (
            ImportStatus.COMPLETED,
            ImportStatus.VALIDATED,
            ImportStatus.CANCELLED,
        )

    def counts(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "created": self.created_count,
            "updated": self.updated_count,
            "matched": self.matched_count,
            "unchanged": self.unchanged_count,
            "rejected": self.rejected_count,
        }


class ImportRowError(models.Model):
    """A rejected row: where it was in the file, the row as read, and why (``reasons`` is
    ``[{field, code, message}]``). Written in the same transaction as its chunk."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(_("line"))
    raw = models.JSONField(_("row as read"))
    reasons = models.JSONField(_("reasons"), default=list)

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["job", "line"])]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line}"
