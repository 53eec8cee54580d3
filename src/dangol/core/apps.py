from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "dangol.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from dangol.core import tasks  # noqa: F401  (registers the event delivery job)
