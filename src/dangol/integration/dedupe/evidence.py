"""The matcher's comparison levels as reviewable evidence: which fields agree and how."""

from __future__ import annotations

from typing import Any

import polars as pl
from django.utils.translation import gettext_lazy as _

# How each level reads to a reviewer: the same, close (a typo, a lunar birthday, swapped
# names ...), different, or not known on one side.
AGREE, SIMILAR, DIFFER, MISSING = "agree", "similar", "differ", "missing"

LEVEL_LABELS: dict[str, Any] = {
    "exact": _("the same"),
    "swapped": _("family and given name swapped"),
    "initial_sound": _("same name, first sound spelled another way"),
    "jamo_typo": _("one letter off"),
    "romanized": _("same name in Latin letters"),
    "similar": _("similar"),
    "same_given": _("same given name only"),
    "same_family": _("same family name only"),
    "lunar_solar": _("lunar and solar birthday"),
    "day_month_swapped": _("day and month swapped"),
    "typo": _("one character off"),
    "same_local_part": _("same name, other domain"),
    "same_street": _("same road and number"),
    "same_district": _("same district"),
    "same_area": _("same area"),
    "different": _("different"),
    "missing": _("not known on both"),
}
FIELD_LABELS: dict[str, Any] = {
    "name": _("Name"),
    "birth_date": _("Birth date"),
    "phone": _("Phone"),
    "email": _("E-mail"),
    "address": _("Address"),
    "postal_code": _("Postal code"),
    "gender": _("Gender"),
    "external_id": _("External id"),
}


def verdict(level: str) -> str:
    """agree / similar / differ / missing for a comparison level."""
    if level == "exact":
        return AGREE
    if level == "different":
        return DIFFER
    if level == "missing":
        return MISSING
    return SIMILAR


def add_evidence(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` (the engine's output) with an ``evidence`` struct column ``{field: level}``
    made set-based from its ``gamma_*`` columns, which it replaces."""
    from dangol.integration.matching import evidence_labels  # Splink loads on first use

    labels = evidence_labels()
    gammas = [c for c in pairs.columns if c in labels]
    if not gammas:
        return pairs.with_columns(evidence=pl.lit(None))
    named = [
        pl.col(c)
        .cast(pl.Int64)
        .replace_strict(labels[c], default="missing", return_dtype=pl.String)
        .alias(c.removeprefix("gamma_"))
        for c in gammas
    ]
    return pairs.with_columns(evidence=pl.struct(named)).drop(gammas)


def with_evidence(pairs: pl.DataFrame) -> pl.DataFrame:
    """The engine's pairs as candidates to store: int ids ordered ``left_id < right_id``,
    ``probability``, ``match_rule`` and the ``evidence`` struct."""
    a, b = pl.col("left_id").cast(pl.Int64), pl.col("right_id").cast(pl.Int64)
    return add_evidence(pairs).select(
        left_id=pl.min_horizontal(a, b),
        right_id=pl.max_horizontal(a, b),
        probability=pl.col("probability").cast(pl.Float64),
        match_rule=pl.col("match_rule").cast(pl.String),
        evidence="evidence",
    )


def evidence_dict(fields: dict[str, Any] | None, match_rule: str | None) -> dict[str, Any]:
    out = {k: v for k, v in (fields or {}).items() if v is not None}
    if match_rule:
        out["match_rule"] = match_rule
    return out


def explain(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows a page or the API shows: field, level, its label and the verdict."""
    out = []
    for name, label in FIELD_LABELS.items():
        level = evidence.get(name)
        if level is None:
            continue
        out.append(
            {
                "field": name,
                "field_label": str(label),
                "level": level,
                "level_label": str(LEVEL_LABELS.get(level, level)),
                "verdict": verdict(level),
            }
        )
    return out
