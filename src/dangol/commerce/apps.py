from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommerceConfig(AppConfig):
    name = "dangol.commerce"
    label = "commerce"
    verbose_name = _("Commerce")

    def ready(self) -> None:
        from dangol.commerce import timeline
        from dangol.commerce.models import Payment, PurchasedProduct
        from dangol.commerce.purchases import refresh_purchase_aggregates
        from dangol.commerce.services import refresh_payment_customers
        from dangol.customers.merge import register_derived

        timeline.register()  # orders, payments and returns on the customer timeline
        # what a customer bought (their purchase aggregates and PurchasedProduct) follows their
        # orders through merges and unmerges
        register_derived(PurchasedProduct, refresh_purchase_aggregates)
        # and so do the payments of their orders (a payment's customer is its order's)
        register_derived(Payment, refresh_payment_customers)
