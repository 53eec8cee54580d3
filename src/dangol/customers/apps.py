from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "dangol.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from dangol.customers.timeline import register_customer_sources

        register_customer_sources()  # interactions, notes, consents, record history
