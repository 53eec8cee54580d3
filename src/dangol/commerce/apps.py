from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommerceConfig(AppConfig):
    name = "dangol.commerce"
    label = "commerce"
    verbose_name = _("Commerce")

    def ready(self) -> None:
        from functools import partial

        from dangol.commerce import timeline
        from dangol.commerce.models import Payment, PurchasedProduct, Return
        from dangol.commerce.purchases import refresh_purchase_aggregates
        from dangol.commerce.services import refresh_order_customers
        from dangol.customers.merge import register_derived

        timeline.register()  # orders, payments and returns on the customer timeline
        # what a customer bought (their purchase aggregates and PurchasedProduct) follows their
        # orders through merges and unmerges
        register_derived(PurchasedProduct, refresh_purchase_aggregates)
        # and so do the payments and returns of their orders (their customer is the order's)
        register_derived(Payment, partial(refresh_order_customers, Payment))
        register_derived(Return, partial(refresh_order_customers, Return))
