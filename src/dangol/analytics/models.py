"""Analytical CRM tables: one metrics row per customer, the run log, RFM and grade settings.

The nightly engine (``analytics/engine.py``) replaces every ``CustomerMetrics`` row in one
transaction; ``ModelRun`` records what each run and each of its steps did. Grade programs
(고객등급) are configuration edited through ``analytics/services.py``; ``CustomerGrade`` holds each
customer's current tier and ``GradeChange`` every change with its reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dangol.core.visibility import VisibleManager
from dangol.customers.models import Customer


class RFMSegment(models.TextChoices):
    """Named RFM segments (rules in docs/adr/0007-analytics-engine.md)."""

    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALISTS = "potential_loyalists", _("Potential loyalists")
    NEW = "new", _("New")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class RFMScoring(models.TextChoices):
    QUINTILES = "quintiles", _("Quintiles (ranked within the customer base)")
    THRESHOLDS = "thresholds", _("Business thresholds (days, orders, KRW)")


class ChurnBand(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class PurchaseModelChoice(models.TextChoices):
    BGNBD = "bgnbd", _("BG/NBD")
    PARETO_NBD = "pareto_nbd", _("Pareto/NBD")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    PARTIAL = "partial", _("Partly failed")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("Nightly schedule")
    MANUAL = "manual", _("Started by a user")
    COMMAND = "command", _("Command line")


class EvaluationSchedule(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")


class TierMatch(models.TextChoices):
    ALL = "all", _("All of the set requirements")
    ANY = "any", _("Any one of the set requirements")


class GradeChangeReason(models.TextChoices):
    INITIAL = "initial", _("First grade")
    UPGRADE = "upgrade", _("Qualified for a higher grade")
    DOWNGRADE = "downgrade", _("No longer qualified (period end)")
    PERIOD_UPGRADE = "period_upgrade", _("Qualified for a higher grade (period end)")
    PROGRAM_CHANGED = "program_changed", _("Grade program changed")


def _default_recency_days() -> list[int]:
    return [30, 90, 180, 365]


def _default_frequency_counts() -> list[int]:
    return [2, 3, 5, 10]


def _default_monetary_krw() -> list[int]:
    return [100_000, 300_000, 1_000_000, 3_000_000]


class RFMConfig(models.Model):
    """The single RFM and CLV settings row (pk = 1), edited through ``update_rfm_config``.

    Thresholds are four ascending cut points per dimension: a customer scores 5 at or past the
    last one (recency: at or within it), 1 below the first.
    """

    SINGLETON_ID = 1

    window_days = models.PositiveIntegerField(
        _("RFM window (days)"), default=365, validators=[MinValueValidator(1)]
    )
    scoring = models.CharField(
        _("scoring"), max_length=12, choices=RFMScoring.choices, default=RFMScoring.QUINTILES
    )
    recency_days = models.JSONField(_("recency thresholds (days)"), default=_default_recency_days)
    frequency_counts = models.JSONField(
        _("frequency thresholds (orders)"), default=_default_frequency_counts
    )
    monetary_krw = models.JSONField(_("monetary thresholds (KRW)"), default=_default_monetary_krw)
    clv_model = models.CharField(
        _("purchase model"),
        max_length=12,
        choices=PurchaseModelChoice.choices,
        default=PurchaseModelChoice.BGNBD,
    )
    clv_months = models.PositiveSmallIntegerField(_("CLV horizon (months)"), default=12)
    clv_monthly_discount_rate = models.FloatField(_("monthly discount rate"), default=0.01)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("RFM and CLV settings")
        verbose_name_plural = _("RFM and CLV settings")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="rfmconfig_singleton")]

    def __str__(self) -> str:
        return str(_("RFM and CLV settings"))

    @classmethod
    def current(cls) -> RFMConfig:
        """The settings row, created with the defaults on first use."""
        config, _created = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return config


class ModelRun(models.Model):
    """One run of the analytics engine (``model="engine"``) or of one of its steps.

    Step rows point at their engine run through ``parent``; the run's status is ``partial`` when
    a step failed (the step's columns then keep their previous values).
    """

    ENGINE = "engine"

    model = models.CharField(_("model"), max_length=40)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="steps"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    trigger = models.CharField(
        _("trigger"), max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL
    )
    only = models.JSONField(_("steps asked for"), default=list, blank=True)
    as_of = models.DateField(_("as of"))
    window_start = models.DateField(_("data from"), null=True, blank=True)
    window_end = models.DateField(_("data to"), null=True, blank=True)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    quality = models.JSONField(_("quality figures"), default=dict, blank=True)
    rows_in = models.JSONField(_("rows read"), default=dict, blank=True)
    rows_out = models.PositiveIntegerField(_("rows written"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ()

    class Meta:
        verbose_name = _("model run")
        verbose_name_plural = _("model runs")
        indexes = [models.Index(fields=["model", "-id"]), models.Index(fields=["status", "-id"])]

    def __str__(self) -> str:
        return f"{self.model} #{self.pk} ({self.status})"


class SegmentSnapshot(models.Model):
    """Every customer's RFM segment at one engine run, compressed into two arrays.

    ``customer_ids`` holds the zlib-compressed first differences of the sorted ids (int64),
    ``segments`` the segment codes (uint8, index into ``RFMSegment.values``, 255 = none): about
    2-3 MB for a million customers, so movement between any two runs stays cheap to keep.
    """

    run = models.OneToOneField(
        ModelRun, on_delete=models.CASCADE, primary_key=True, related_name="segment_snapshot"
    )
    customer_ids = models.BinaryField()
    segments = models.BinaryField()
    counts = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("RFM segment snapshot")

    def __str__(self) -> str:
        return f"segments of run #{self.pk}"


class GradeProgram(models.Model):
    """A customer-grade (고객등급) programme: ordered tiers, the window, when grades change.

    At most one programme is active; the engine evaluates it every night. Upgrades can apply at
    once; downgrades only at the end of an evaluation period and only after ``min_stay_months``
    in the current tier.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    is_active = models.BooleanField(_("active"), default=False)
    window_months = models.PositiveSmallIntegerField(
        _("rolling window (months)"), default=12, validators=[MinValueValidator(1)]
    )
    schedule = models.CharField(
        _("evaluation schedule"),
        max_length=10,
        choices=EvaluationSchedule.choices,
        default=EvaluationSchedule.MONTHLY,
    )
    upgrade_immediately = models.BooleanField(_("upgrade immediately"), default=True)
    downgrade_at_period_end = models.BooleanField(_("downgrade at period end"), default=True)
    min_stay_months = models.PositiveSmallIntegerField(_("minimum stay (months)"), default=0)
    last_period_evaluated = models.DateField(
        _("last period evaluated"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ()

    class Meta:
        verbose_name = _("grade program")
        verbose_name_plural = _("grade programs")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="gradeprogram_one_active"
            )
        ]

    def __str__(self) -> str:
        return self.name


class GradeTier(models.Model):
    """One grade of a programme; a higher ``rank`` is a better grade.

    A customer qualifies when the set requirements (spend, orders, visits over the programme's
    window) are met, all of them or any one (``match``). A tier without requirements is the
    entry grade every customer qualifies for.
    """

    program = models.ForeignKey(GradeProgram, on_delete=models.CASCADE, related_name="tiers")
    code = models.SlugField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=50)
    rank = models.PositiveSmallIntegerField(_("rank"))
    min_spend = models.DecimalField(
        _("minimum spend (KRW)"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    min_orders = models.PositiveIntegerField(_("minimum orders"), null=True, blank=True)
    min_visits = models.PositiveIntegerField(_("minimum visits"), null=True, blank=True)
    match = models.CharField(
        _("requirements"), max_length=3, choices=TierMatch.choices, default=TierMatch.ALL
    )
    benefits = models.JSONField(_("benefits"), default=list, blank=True)
    description = models.TextField(_("description"), blank=True)

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ()

    class Meta:
        verbose_name = _("grade tier")
        verbose_name_plural = _("grade tiers")
        ordering = ["program", "-rank"]
        constraints = [
            models.UniqueConstraint(fields=["program", "rank"], name="gradetier_unique_rank"),
            models.UniqueConstraint(fields=["program", "code"], name="gradetier_unique_code"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_entry(self) -> bool:
        return self.min_spend is None and self.min_orders is None and self.min_visits is None


class CustomerGrade(models.Model):
    """A customer's current grade in the active programme (primary key = customer id)."""

    # Rewritten in bulk by each run from rows it has just read: no per-row foreign-key
    # triggers in the database (Django still cascades deletes).
    customer = models.OneToOneField(
        Customer,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="grade",
        db_constraint=False,
    )
    program = models.ForeignKey(
        GradeProgram, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    tier = models.ForeignKey(
        GradeTier, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    since = models.DateField(_("since"))
    qualified_tier = models.ForeignKey(
        GradeTier,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    spend = models.DecimalField(_("spend in window"), max_digits=18, decimal_places=2, default=0)
    orders = models.PositiveIntegerField(_("orders in window"), default=0)
    visits = models.PositiveIntegerField(_("visits in window"), default=0)
    evaluated_at = models.DateTimeField(_("evaluated"))

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("customer grade")
        verbose_name_plural = _("customer grades")
        # "customers of these grades" (segments, the grade dashboard) from the index alone
        indexes = [models.Index(fields=["tier", "customer"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.tier_id}"


class GradeChange(models.Model):
    """Every grade change with its reason and the figures behind it (for migration reports)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="grade_changes")
    program = models.ForeignKey(GradeProgram, on_delete=models.CASCADE, related_name="+")
    from_tier = models.ForeignKey(
        GradeTier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_tier = models.ForeignKey(
        GradeTier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=16, choices=GradeChangeReason.choices)
    data = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)
    run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("grade change")
        verbose_name_plural = _("grade changes")
        indexes = [
            models.Index(fields=["at"]),
            models.Index(fields=["customer", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_tier_id} → {self.to_tier_id}"


class CustomerMetrics(models.Model):
    """The analytics of one customer as of the last engine run (primary key = customer id).

    Replaced as a whole by each run in one transaction. ``churn_*`` and ``next_best_offers`` are
    filled by the churn and next-best-offer steps once they are registered.
    """

    # Rewritten in bulk by each run: no per-row foreign-key triggers (see CustomerGrade).
    customer = models.OneToOneField(
        Customer,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="metrics",
        db_constraint=False,
    )
    recency_days = models.IntegerField(_("days since last purchase"), null=True, blank=True)
    frequency = models.PositiveIntegerField(_("orders in window"), default=0)
    monetary = models.DecimalField(
        _("spend in window"), max_digits=18, decimal_places=2, default=Decimal(0)
    )
    r_score = models.PositiveSmallIntegerField(_("R score"), null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(_("F score"), null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(_("M score"), null=True, blank=True)
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=20, choices=RFMSegment.choices, blank=True, default=""
    )
    previous_rfm_segment = models.CharField(
        _("previous RFM segment"), max_length=20, choices=RFMSegment.choices, blank=True, default=""
    )
    grade = models.ForeignKey(
        GradeTier,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("grade"),
        db_constraint=False,
    )
    expected_purchases_90d = models.FloatField(_("expected purchases (90 days)"), null=True)
    p_alive = models.FloatField(_("probability active"), null=True, blank=True)
    clv_12m = models.FloatField(_("12-month CLV"), null=True, blank=True)
    churn_risk = models.FloatField(_("churn risk"), null=True, blank=True)
    churn_band = models.CharField(
        _("churn band"), max_length=10, choices=ChurnBand.choices, blank=True, default=""
    )
    churn_drivers = models.JSONField(_("churn drivers"), default=list, blank=True)
    next_best_offers = models.JSONField(_("next best offers"), default=list, blank=True)
    run = models.ForeignKey(
        ModelRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,  # one value for every row: an index would only slow the nightly write
    )
    computed_at = models.DateTimeField(_("computed"))

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("customer metrics")
        verbose_name_plural = _("customer metrics")
        indexes = [
            models.Index(fields=["rfm_segment"]),
            models.Index(fields=["clv_12m"]),
            # list filter, dashboards, churn alerts; with the CLV, the home page's "valuable
            # customers at risk" walks one band from the most valuable down
            models.Index(fields=["churn_band", "clv_12m"], name="metrics_band_clv"),
        ]

    def __str__(self) -> str:
        return f"metrics of {self.customer_id}"


# --- segments (docs/adr/0010-segments.md) -------------------------------------------------------


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", _("Dynamic (evaluated live)")
    STATIC = "static", _("Static (a snapshot)")


class SegmentStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ARCHIVED = "archived", _("Archived")


class Segment(models.Model):
    """A named group of customers defined by rules (``analytics/segments.py``).

    A dynamic segment is evaluated live each time it is read; a static one holds the customers
    of its last snapshot (``SegmentMember``). Either can take a snapshot: it records when and how
    many, so a campaign can target exactly the customers it was sent to. Whoever reads a segment
    sees only the members within their own scope (``Customer.objects.visible_to``).
    """

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC
    )
    status = models.CharField(
        _("status"), max_length=10, choices=SegmentStatus.choices, default=SegmentStatus.ACTIVE
    )
    definition = models.JSONField(_("definition"), default=dict)
    snapshot_at = models.DateTimeField(_("snapshot taken"), null=True, blank=True)
    snapshot_count = models.PositiveIntegerField(
        _("customers in the snapshot"), null=True, blank=True
    )
    snapshot_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(status="active"), name="segment_unique_active_name"
            )
        ]
        indexes = [models.Index(fields=["status", "-id"])]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """One customer of a segment's last snapshot (written in bulk by ``INSERT … SELECT``)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    # Written in bulk from rows just read: no per-row foreign-key triggers (see CustomerGrade).
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )

    objects = VisibleManager()
    visibility_paths: ClassVar[tuple[str, ...]] = ("customer",)

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segmentmember_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.customer_id}"
