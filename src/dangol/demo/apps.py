from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    name = "dangol.demo"
    label = "demo"
    verbose_name = _("Demo data")

    def ready(self) -> None:
        from dangol.customers.merge import keep_on_merge
        from dangol.demo.models import DemoIdentityLabel

        # the answer key labels each record (one row per customer): it stays with its record
        keep_on_merge(DemoIdentityLabel)
