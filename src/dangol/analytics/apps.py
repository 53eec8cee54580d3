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
