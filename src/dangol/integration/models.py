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
    MEMBERSHIPS = "memberships", _("Organization members")
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
    are the progress; ``duplicate_count`` is set once the whole file is read (customer files).
    ``last_committed_line`` is the last line of the last committed chunk: a job run again after
    an interruption skips everything up to it.
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
    # customer files: the pairs (row, row) and (row, existing customer) the import sends to the
    # duplicate review queue, or a dry run would (``dedupe.infile``: the rule's and the
    # probabilistic matcher's unsure ones, each pair once), counted after the file
    # (None: a job finished before the count existed, migration 0006: unknown, not 0)
    duplicate_count = models.PositiveIntegerField(
        _("pairs for duplicate review"), null=True, blank=True, default=0
    )
    # customer files: the ids of the customers the import created, as [first, last] ranges (one
    # per chunk), which its matcher leaves out and its pairing reads (``dedupe.infile``)
    created_ids = models.JSONField(default=list, blank=True)
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


class ImportRowKey(models.Model):
    """A phone or e-mail key of a customer file's row, kept while its import runs, so that the
    rows of the file are compared with each other whatever chunks they fall in, without holding
    the file in memory (``dedupe.infile``).

    In a dry run, a row that would create a customer has one record per key, with what the
    duplicate rule compares (name, birth date, gender). (A real run's new rows are its
    customers: ``ImportJob.created_ids``.) In both runs, a key that a row adds to an existing
    customer it updates or matched is recorded with ``linked`` and that customer: the matcher
    leaves those contact points out. A dry run also records (``field`` ``facts``, ``match_key``
    ``#`` and the customer's id) the name, birth date and gender its rows give an existing
    customer, which its later chunks and its pairing read as the real run reads the updated
    customer. The records are written in their chunk's transaction (a resumed job finds those
    of its committed chunks) and deleted when the file has been paired (``Target.discard``),
    the job is cancelled or it starts again from the top."""

    # no constraint in the database: PostgreSQL would check each inserted row at commit (one
    # query per row, ADR 0005's amendment on foreign keys); the job deletes them with it
    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    line = models.PositiveIntegerField()
    linked = models.BooleanField(default=False)
    customer_id = models.BigIntegerField(null=True, blank=True)
    field = models.CharField(max_length=5)  # "phone" (mobile or other phone) or "email"
    match_key = models.CharField(max_length=254)
    full_name = models.CharField(max_length=160, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=1, blank=True)

    class Meta:
        verbose_name = _("key of an imported row")
        verbose_name_plural = _("keys of imported rows")
        indexes = [
            models.Index(fields=["job", "match_key"]),
            models.Index(fields=["job", "line"]),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line} {self.field}"


class ImportRowId(models.Model):
    """An external id of a customer file's row that was new to the base (the row created a
    customer, or was matched to an existing one), kept while its import runs, so that the id
    appearing again in a later chunk is rejected as it is in the same chunk (``dedupe.infile``).

    A real run records only its matched rows (a created row's id belongs to a customer the job
    created: ``ImportJob.created_ids``); a dry run records both, with ``customer_id`` set for a
    matched row. Written in the chunk's transaction, deleted with the job's ``ImportRowKey``s."""

    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    key = models.CharField(max_length=100)
    line = models.PositiveIntegerField()
    customer_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("id of an imported row")
        verbose_name_plural = _("ids of imported rows")
        indexes = [models.Index(fields=["job", "key"])]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line} {self.key}"


class ImportProposal(models.Model):
    """A row of a customer file the probabilistic matcher was unsure about, with the existing
    customer it may be (``matcher.probabilistic_matcher``), kept while its import runs. After
    the file (``dedupe.infile.finish_file``) a real run stores it as a review pair (the row's
    new customer and that customer) and both runs count it in ``duplicate_count``, once if the
    rule pairs the two as well. Written in the chunk's transaction, deleted with the job's
    other per-file records."""

    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    external_id = models.CharField(max_length=100)
    customer_id = models.BigIntegerField()
    probability = models.FloatField()
    match_rule = models.CharField(max_length=20, blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("proposed pair of an import")
        verbose_name_plural = _("proposed pairs of imports")
        indexes = [models.Index(fields=["job", "external_id"])]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.external_id} ~ {self.customer_id}"


# --- identity resolution in the base: duplicate candidates and their review -------------------
# (docs/adr/0009-dedupe-quality-exports.md)

DEDUPE_SETTINGS_OBJECT_TYPE = "integration.dedupesettings"
PLAN_OBJECT_TYPE = "integration.informationplanitem"


class CandidateStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    MERGED = "merged", _("Merged")
    DISMISSED = "dismissed", _("Not the same person")


class CandidateOrigin(models.TextChoices):
    BATCH = "batch", _("Duplicate search")
    IMPORT = "import", _("Import")


class DuplicateCandidate(models.Model):
    """Two active customers the matcher thinks may be one person, and what became of the pair.

    ``left_id < right_id`` always, and a pair exists once: a new search never creates it again
    and never reopens a dismissed pair. ``evidence`` is ``{field: level}`` for each compared
    field (``exact``, ``jamo_typo``, ``lunar``, ``different``, ``missing`` ...; see
    ``matching.evidence_labels``) plus ``match_rule`` when a deterministic rule matched.
    Candidates stay with their records when those are merged (a no-op merge handler below), so
    a merge's undo finds them unchanged.
    """

    left = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", verbose_name=_("record")
    )
    right = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("other record"),
    )
    probability = models.FloatField(_("match probability"))
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    origin = models.CharField(
        _("found by"), max_length=10, choices=CandidateOrigin.choices, default=CandidateOrigin.BATCH
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CandidateStatus.choices, default=CandidateStatus.PENDING
    )
    merge = models.ForeignKey(
        "customers.MergeRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewer"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    created_at = models.DateTimeField(_("found"), default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
        constraints = [
            models.UniqueConstraint(
                fields=["left", "right"], name="duplicatecandidate_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(left__lt=models.F("right")), name="duplicatecandidate_ordered_pair"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-probability", "id"]),
            models.Index(fields=["right"]),
        ]

    def __str__(self) -> str:
        return f"#{self.left_id} ~ #{self.right_id} ({self.probability:.3f})"


class DedupeSettings(models.Model):
    """How duplicate search behaves (one row, ``pk=1``; see ``selectors.dedupe_settings``).

    Pairs at or above ``review_threshold`` are stored for review; with ``auto_merge`` on, pairs
    at or above ``auto_merge_threshold`` are merged at once (undoable). The import matcher
    links an incoming row to an existing customer from ``import_link_threshold`` and sends the
    rows between the two thresholds to review. ``shared_id_sources`` names the source systems
    whose ids identify a person across systems (a membership card number used by the shop and
    the POS): only those take part in the external-id comparison.
    """

    review_threshold = models.FloatField(_("review from probability"), default=0.9)
    auto_merge = models.BooleanField(_("merge automatically"), default=False)
    auto_merge_threshold = models.FloatField(
        _("merge automatically from probability"), default=0.99
    )
    import_link_threshold = models.FloatField(
        _("imports: link to an existing customer from probability"), default=0.99
    )
    shared_id_sources = models.JSONField(_("sources with shared person ids"), default=list)
    stale_months = models.PositiveSmallIntegerField(
        _("stale after months without update or purchase"), default=24
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("duplicate search settings")
        verbose_name_plural = _("duplicate search settings")

    def __str__(self) -> str:
        return str(_("Duplicate search settings"))


class DedupeRunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


class DedupeRun(models.Model):
    """One duplicate search over the active customers, with what it found and did."""

    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DedupeRunStatus.choices,
        default=DedupeRunStatus.RUNNING,
    )
    records = models.PositiveIntegerField(_("records compared"), default=0)
    pairs_found = models.PositiveIntegerField(_("pairs found"), default=0)
    created_count = models.PositiveIntegerField(_("new candidates"), default=0)
    updated_count = models.PositiveIntegerField(_("candidates updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("pairs already decided"), default=0)
    auto_merged_count = models.PositiveIntegerField(_("merged automatically"), default=0)
    error_message = models.TextField(_("error"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("duplicate search")
        verbose_name_plural = _("duplicate searches")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.status}"


# --- data quality -----------------------------------------------------------------------------


class QualityField(models.TextChoices):
    """The customer fields whose completeness and validity are measured."""

    NAME = "name", _("Name")
    BIRTH_DATE = "birth_date", _("Birth date")
    GENDER = "gender", _("Gender")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    ADDRESS = "address", _("Address")
    REGION = "region", _("Region")


class PlanLevel(models.TextChoices):
    REQUIRED = "required", _("Required")
    RECOMMENDED = "recommended", _("Recommended")


class InformationPlanItem(models.Model):
    """The customer information plan: one field declared required or recommended for the
    customers of one source system (``source=""``: every source without a plan of its own).

    The quality score weighs required fields twice as much as recommended ones; the customer
    import rejects rows missing a field that the plan of the file's source requires.
    """

    source = models.CharField(_("source system"), max_length=50, blank=True)
    field = models.CharField(_("field"), max_length=16, choices=QualityField.choices)
    level = models.CharField(_("level"), max_length=12, choices=PlanLevel.choices)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("information plan field")
        verbose_name_plural = _("customer information plan")
        ordering = ["source", "field"]
        constraints = [
            models.UniqueConstraint(fields=["source", "field"], name="informationplan_unique_field")
        ]

    def __str__(self) -> str:
        return f"{self.source or '*'}: {self.field} {self.level}"


class QualitySnapshot(models.Model):
    """The data-quality figures of one day (written by a nightly job), for the trend."""

    day = models.DateField(_("day"), unique=True)
    customers = models.PositiveIntegerField(_("active customers"), default=0)
    score = models.FloatField(_("quality score"), null=True, blank=True)
    duplicate_rate = models.FloatField(_("duplicate rate"), default=0.0)
    stale_rate = models.FloatField(_("stale share"), default=0.0)
    figures = models.JSONField(_("figures"), default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("data quality snapshot")
        verbose_name_plural = _("data quality snapshots")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.score}"


# --- exports ----------------------------------------------------------------------------------


class ExportFormat(models.TextChoices):
    CSV = "csv", _("CSV")
    XLSX = "xlsx", _("Excel (XLSX)")
    PARQUET = "parquet", _("Parquet")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    """A customer list written to a file in the background.

    ``filters`` are the customer API's list filters (``CustomerFilters``). The rows are the
    customers the requester may export (``visible_to(user, Action.EXPORT)``); contact data is
    unmasked only when ``unmasked`` (a role with the PII permission), and every customer so
    exported is in the PII access log. Only the requester may download the file, which lives
    under ``MEDIA_ROOT/exports/``.
    """

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    format = models.CharField(_("format"), max_length=8, choices=ExportFormat.choices)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    segment = models.CharField(_("segment"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    unmasked = models.BooleanField(_("contact data unmasked"), default=False)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    file_path = models.CharField(_("file"), max_length=300, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_format_display()} #{self.pk}"


class MatchingModel(models.Model):
    """A trained identity-resolution model (Splink settings with the learnt prior, m and u),
    kept so that an import's chunks, and the imports of the next days, link their rows without
    training again (``dedupe.matcher.DatabaseModelStore``; docs/adr/0004). ``key`` names the
    kind of data it was trained on (``matching.model_key``)."""

    key = models.CharField(max_length=100, unique=True)
    settings = models.JSONField()
    records = models.PositiveIntegerField(_("records trained on"), default=0)
    trained_at = models.DateTimeField(_("trained"), default=timezone.now)

    class Meta:
        verbose_name = _("matching model")
        verbose_name_plural = _("matching models")

    def __str__(self) -> str:
        return f"{self.key} ({self.trained_at:%Y-%m-%d})"


def _keep_candidates_with_their_records(src: Any, dst: Any, log: Any) -> None:
    """Duplicate candidates are not moved by a merge: each stays with the records it names."""


def _register_merge_handler() -> None:
    from dangol.customers.merge import register_merge_handler

    register_merge_handler(DuplicateCandidate)(_keep_candidates_with_their_records)


_register_merge_handler()
