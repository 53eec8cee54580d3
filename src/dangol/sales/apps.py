from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "dangol.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from dangol.sales import (
            subscribers,  # noqa: F401  (churn alerts → tasks, merge handler)
            timeline,
        )

        timeline.register()  # created and completed tasks on the customer timeline
