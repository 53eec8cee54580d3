from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommerceConfig(AppConfig):
    name = "dangol.commerce"
    label = "commerce"
    verbose_name = _("Commerce")

    def ready(self) -> None:
        from dangol.commerce import timeline

        timeline.register()  # orders and returns on the customer timeline
