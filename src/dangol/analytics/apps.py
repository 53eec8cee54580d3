from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "dangol.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from dangol.analytics import (
            ml_steps,  # noqa: F401  (registers the churn and NBO steps)
            timeline,
        )

        timeline.register()  # grade changes on the customer timeline

        from dangol.analytics.models import CustomerGrade, CustomerMetrics, SegmentMember
        from dangol.customers.merge import fold_on_merge, keep_on_merge

        # one row per customer, computed by the nightly run: the merged-away record keeps its
        # own, the survivor's is recomputed by the next run (which skips merged-away records)
        keep_on_merge(CustomerMetrics)
        keep_on_merge(CustomerGrade)
        # a snapshot lists a customer once: the merged-away record's memberships fold in
        fold_on_merge(SegmentMember, "segment")

    def describe_offers(self, offers: list[Any]) -> list[dict[str, Any]]:
        """Stored next best offers as the 360 page shows them (for apps that may not import
        this one: see ``dangol.analytics.selectors.describe_offers``)."""
        from dangol.analytics.selectors import describe_offers

        return describe_offers(offers)

    def describe_drivers(self, drivers: list[Any]) -> list[str]:
        """Stored churn drivers worded in the active language (``churn.driver_texts``)."""
        from dangol.analytics.churn import driver_texts

        return driver_texts(drivers)
