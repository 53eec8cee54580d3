"""Grade changes on the customer timeline (registered from AnalyticsConfig.ready).

Read from the grade history (``GradeChange``), which keeps the reason and the tiers; the
customer record history leaves grade changes to this source.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dangol.analytics.models import GradeChange, GradeChangeReason
from dangol.customers.timeline import (
    TimelineEntry,
    TimelineRequest,
    choice_label,
    register_timeline_source,
)


def _tier_name(tier: object, data: dict[str, object], key: str) -> str:
    if tier is not None:
        return str(getattr(tier, "name", "") or "—")
    return str(data.get(key) or "—")


def _grade_changes(r: TimelineRequest) -> list[TimelineEntry]:
    qs = GradeChange.objects.filter(customer=r.customer).select_related("from_tier", "to_tier")
    entries = []
    for g in r.window(qs, "grade", "at"):
        data = g.data if isinstance(g.data, dict) else {}
        change = f"{_tier_name(g.from_tier, data, 'from')} → {_tier_name(g.to_tier, data, 'to')}"
        entries.append(
            TimelineEntry(
                kind="grade",
                at=g.at,
                id=g.pk,
                title=change,
                heading=_("Grade changed"),
                icon="tag",
                meta=change,
                summary=choice_label(GradeChangeReason, g.reason),
                obj=g,
            )
        )
    return entries


def register() -> None:
    """Put grade changes on the customer timeline."""
    register_timeline_source("grade", gettext_lazy("Grade changes"), _grade_changes, position=60)
