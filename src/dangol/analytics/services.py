"""State changes of the analytics app: runs, RFM/CLV settings, grade programmes and tiers.

Every function takes a keyword-only ``actor``, validates with translated messages, writes its
audit row in the same transaction and queues jobs only after commit.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.analytics import engine
from dangol.analytics.models import (
    EvaluationSchedule,
    GradeProgram,
    GradeTier,
    ModelRun,
    PurchaseModelChoice,
    RFMConfig,
    RFMScoring,
    RunTrigger,
    TierMatch,
)
from dangol.core import audit
from dangol.core.errors import Conflict, FieldError, Forbidden, ValidationFailed
from dangol.core.visibility import Action, can

# ------------------------------------------------------------------------------- runs


def require_run_permission(actor: Any) -> None:
    """Only administrators (or roles granted ``add`` on model runs) may start a run."""
    if not can(actor, Action.ADD, ModelRun):
        raise Forbidden()


@transaction.atomic
def start_analytics_run(
    *, actor: Any, only: Iterable[str] | None = None, as_of: dt.date | None = None
) -> ModelRun:
    """Queue an engine run as a background job (what the admin button and the API call)."""
    require_run_permission(actor)
    run = engine.queue_run(trigger=RunTrigger.MANUAL, only=only, as_of=as_of, actor=actor)
    audit.record(actor, "analytics.run_started", run, after={"only": run.only, "as_of": run.as_of})
    from dangol.analytics.tasks import run_analytics_job

    run_id = run.pk
    transaction.on_commit(lambda: run_analytics_job(run_id))
    return run


def run_analytics(
    *,
    actor: Any = None,
    only: Iterable[str] | None = None,
    as_of: dt.date | None = None,
    trigger: str = RunTrigger.COMMAND,
) -> ModelRun:
    """Run the engine now, in this process (the command and the nightly job).

    Not inside a transaction: the run commits its own results in one transaction.
    """
    return engine.run(only=only, as_of=as_of, trigger=trigger, actor=actor)


def run_queued(*, run_id: int) -> ModelRun | None:
    """Run a queued engine run (the job behind :func:`start_analytics_run`)."""
    queued = ModelRun.objects.filter(pk=run_id, model=ModelRun.ENGINE).first()
    if queued is None:
        return None
    return engine.run(queued=queued)


# --------------------------------------------------------------------------- settings


def _cut_points(errors: list[FieldError], name: str, values: Any) -> list[int]:
    ok = (
        isinstance(values, list | tuple)
        and len(values) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values)
        and all(a < b for a, b in itertools.pairwise(values))
    )
    if not ok:
        errors.append(FieldError(name, "invalid", _("Give four increasing numbers, zero or more.")))
        return []
    return [int(v) if float(v).is_integer() else v for v in values]


RFM_FIELDS = (
    "window_days",
    "scoring",
    "recency_days",
    "frequency_counts",
    "monetary_krw",
    "clv_model",
    "clv_months",
    "clv_monthly_discount_rate",
)


@transaction.atomic
def update_rfm_config(*, actor: Any, **changes: Any) -> RFMConfig:
    """Change the RFM window and scoring and the CLV settings (unknown keys are refused)."""
    require_run_permission(actor)
    config = RFMConfig.current()
    errors: list[FieldError] = []
    unknown = sorted(set(changes) - set(RFM_FIELDS))
    for name in unknown:
        errors.append(FieldError(name, "unknown", _("No such setting.")))
    if "window_days" in changes and not (
        isinstance(changes["window_days"], int) and 1 <= changes["window_days"] <= 3650
    ):
        errors.append(FieldError("window_days", "out_of_range", _("Between 1 and 3650 days.")))
    if "scoring" in changes and changes["scoring"] not in RFMScoring.values:
        errors.append(FieldError("scoring", "invalid_choice", _("Not a valid choice.")))
    for name in ("recency_days", "frequency_counts", "monetary_krw"):
        if name in changes:
            changes[name] = _cut_points(errors, name, changes[name])
    if "clv_model" in changes and changes["clv_model"] not in PurchaseModelChoice.values:
        errors.append(FieldError("clv_model", "invalid_choice", _("Not a valid choice.")))
    if "clv_months" in changes and not (
        isinstance(changes["clv_months"], int) and 1 <= changes["clv_months"] <= 120
    ):
        errors.append(FieldError("clv_months", "out_of_range", _("Between 1 and 120 months.")))
    rate = changes.get("clv_monthly_discount_rate", 0.0)
    if not isinstance(rate, int | float) or not 0 <= rate < 1:
        errors.append(
            FieldError("clv_monthly_discount_rate", "out_of_range", _("At least 0, below 1."))
        )
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(config)
    for name, value in changes.items():
        setattr(config, name, value)
    config.updated_at = timezone.now()
    config.updated_by = actor if getattr(actor, "pk", None) else None
    config.save()
    audit.record(actor, "analytics.rfm_config_updated", config, before=before, after=changes)
    return config


# ----------------------------------------------------------------------- grade programmes


@dataclass
class TierInput:
    """One tier as given to :func:`create_grade_program` / :func:`set_grade_tiers`."""

    code: str
    name: str
    rank: int
    min_spend: Decimal | None = None
    min_orders: int | None = None
    min_visits: int | None = None
    match: str = TierMatch.ALL
    benefits: list[Any] = field(default_factory=list)
    description: str = ""


PROGRAM_FIELDS = (
    "name",
    "window_months",
    "schedule",
    "upgrade_immediately",
    "downgrade_at_period_end",
    "min_stay_months",
)


def _validate_program(values: dict[str, Any], errors: list[FieldError]) -> None:
    if "name" in values and not str(values["name"]).strip():
        errors.append(FieldError("name", "required", _("This field is required.")))
    if "window_months" in values and not (
        isinstance(values["window_months"], int) and 1 <= values["window_months"] <= 60
    ):
        errors.append(FieldError("window_months", "out_of_range", _("Between 1 and 60 months.")))
    if "schedule" in values and values["schedule"] not in EvaluationSchedule.values:
        errors.append(FieldError("schedule", "invalid_choice", _("Not a valid choice.")))
    if "min_stay_months" in values and not (
        isinstance(values["min_stay_months"], int) and 0 <= values["min_stay_months"] <= 60
    ):
        errors.append(FieldError("min_stay_months", "out_of_range", _("Between 0 and 60 months.")))


def _validate_tiers(tiers: Sequence[TierInput], errors: list[FieldError]) -> None:
    if not tiers:
        errors.append(FieldError("tiers", "required", _("A program needs at least one tier.")))
        return
    seen_codes: set[str] = set()
    seen_ranks: set[int] = set()
    for i, t in enumerate(tiers):
        where = f"tiers[{i}]"
        if not t.code or not t.code.replace("-", "").replace("_", "").isalnum():
            errors.append(FieldError(f"{where}.code", "invalid", _("Letters, digits, - and _.")))
        if t.code in seen_codes:
            errors.append(FieldError(f"{where}.code", "duplicate", _("Each code only once.")))
        if t.rank in seen_ranks:
            errors.append(FieldError(f"{where}.rank", "duplicate", _("Each rank only once.")))
        seen_codes.add(t.code)
        seen_ranks.add(t.rank)
        if not t.name.strip():
            errors.append(FieldError(f"{where}.name", "required", _("This field is required.")))
        if t.rank < 0:
            errors.append(FieldError(f"{where}.rank", "min_value", _("Zero or more.")))
        for name in ("min_spend", "min_orders", "min_visits"):
            value = getattr(t, name)
            if value is not None and value < 0:
                errors.append(FieldError(f"{where}.{name}", "negative", _("Cannot be negative.")))
        if t.match not in TierMatch.values:
            errors.append(FieldError(f"{where}.match", "invalid_choice", _("Not a valid choice.")))
        if not isinstance(t.benefits, list):
            errors.append(FieldError(f"{where}.benefits", "invalid", _("Give a list.")))
    lowest = min(tiers, key=lambda t: t.rank)
    if any(v is not None for v in (lowest.min_spend, lowest.min_orders, lowest.min_visits)):
        errors.append(
            FieldError(
                "tiers",
                "no_entry_tier",
                _("The lowest tier must have no requirements: every customer gets a grade."),
            )
        )
    ordered = sorted(tiers, key=lambda t: t.rank)
    for lower, higher in itertools.pairwise(ordered):
        for name in ("min_spend", "min_orders", "min_visits"):
            a, b = getattr(lower, name), getattr(higher, name)
            if a is not None and b is not None and b < a and lower.match == higher.match == "all":
                errors.append(
                    FieldError(
                        "tiers",
                        "not_increasing",
                        _("A higher tier cannot ask for less than a lower one (%(f)s).")
                        % {"f": name},
                    )
                )


def _write_tiers(program: GradeProgram, tiers: Sequence[TierInput]) -> None:
    GradeTier.objects.bulk_create(
        [
            GradeTier(
                program=program,
                code=t.code,
                name=t.name.strip(),
                rank=t.rank,
                min_spend=t.min_spend,
                min_orders=t.min_orders,
                min_visits=t.min_visits,
                match=t.match,
                benefits=t.benefits,
                description=t.description,
            )
            for t in tiers
        ]
    )


@transaction.atomic
def create_grade_program(
    *,
    actor: Any,
    name: str,
    tiers: Sequence[TierInput],
    window_months: int = 12,
    schedule: str = EvaluationSchedule.MONTHLY,
    upgrade_immediately: bool = True,
    downgrade_at_period_end: bool = True,
    min_stay_months: int = 0,
    activate: bool = False,
) -> GradeProgram:
    """Create a grade programme with its tiers (and make it the active one with `activate`)."""
    require_run_permission(actor)
    values = {
        "name": name.strip(),
        "window_months": window_months,
        "schedule": schedule,
        "upgrade_immediately": upgrade_immediately,
        "downgrade_at_period_end": downgrade_at_period_end,
        "min_stay_months": min_stay_months,
    }
    errors: list[FieldError] = []
    _validate_program(values, errors)
    _validate_tiers(tiers, errors)
    if GradeProgram.objects.filter(name=values["name"]).exists():
        errors.append(FieldError("name", "duplicate", _("A program with this name exists.")))
    if errors:
        raise ValidationFailed(errors)
    program = GradeProgram.objects.create(**values)
    _write_tiers(program, tiers)
    audit.record(actor, "grade_program.created", program, after=audit.snapshot(program))
    if activate:
        activate_grade_program(program=program, actor=actor)
    return program


@transaction.atomic
def update_grade_program(
    *, program: GradeProgram, changes: dict[str, Any], actor: Any
) -> GradeProgram:
    """Change a programme's window, schedule or rules (takes effect on the next run)."""
    require_run_permission(actor)
    errors: list[FieldError] = [
        FieldError(k, "unknown", _("No such setting.")) for k in changes if k not in PROGRAM_FIELDS
    ]
    _validate_program(changes, errors)
    if (
        "name" in changes
        and GradeProgram.objects.filter(name=changes["name"]).exclude(pk=program.pk).exists()
    ):
        errors.append(FieldError("name", "duplicate", _("A program with this name exists.")))
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(program)
    for name, value in changes.items():
        setattr(program, name, value)
    program.updated_at = timezone.now()
    program.save()
    audit.record(actor, "grade_program.updated", program, before=before, after=changes)
    return program


@transaction.atomic
def set_grade_tiers(
    *, program: GradeProgram, tiers: Sequence[TierInput], actor: Any
) -> GradeProgram:
    """Replace a programme's tiers: tiers are matched by code (kept ids keep their customers);
    removing a tier that customers hold is refused."""
    require_run_permission(actor)
    errors: list[FieldError] = []
    _validate_tiers(tiers, errors)
    if errors:
        raise ValidationFailed(errors)
    existing = {t.code: t for t in program.tiers.all()}
    wanted = {t.code for t in tiers}
    before = [audit.snapshot(t) for t in existing.values()]
    # Free the ranks first so that swapping two ranks does not hit the unique constraint.
    for i, tier in enumerate(existing.values()):
        tier.rank = 10_000 + i
    GradeTier.objects.bulk_update(existing.values(), ["rank"])
    removed = [t for code, t in existing.items() if code not in wanted]
    try:
        with transaction.atomic():
            GradeTier.objects.filter(pk__in=[t.pk for t in removed]).delete()
    except IntegrityError:
        raise Conflict(_("Customers hold a tier you removed."), "tier_in_use") from None
    new: list[TierInput] = []
    for t in tiers:
        found = existing.get(t.code)
        if found is None:
            new.append(t)
            continue
        tier = found
        tier.name, tier.rank, tier.min_spend = t.name.strip(), t.rank, t.min_spend
        tier.min_orders, tier.min_visits, tier.match = t.min_orders, t.min_visits, t.match
        tier.benefits, tier.description = t.benefits, t.description
        tier.save()
    _write_tiers(program, new)
    program.updated_at = timezone.now()
    program.save(update_fields=["updated_at"])
    audit.record(
        actor,
        "grade_program.tiers_set",
        program,
        before={"tiers": before},
        after={"tiers": [audit.snapshot(t) for t in program.tiers.all()]},
    )
    return program


@transaction.atomic
def activate_grade_program(*, program: GradeProgram, actor: Any) -> GradeProgram:
    """Make `program` the one the engine evaluates (the previous one is deactivated)."""
    require_run_permission(actor)
    GradeProgram.objects.filter(is_active=True).exclude(pk=program.pk).update(is_active=False)
    program.is_active = True
    program.updated_at = timezone.now()
    program.save(update_fields=["is_active", "updated_at"])
    audit.record(actor, "grade_program.activated", program)
    return program
