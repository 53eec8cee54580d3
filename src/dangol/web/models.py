"""Tables of the staff app's shell: the list views people save."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SavedViewPage(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")


class SavedView(models.Model):
    """A named set of filters and a sort order of a list page, kept by one user.

    ``query`` is the list's query string (``stage=repeat&sort=-spend``) without cursors. A shared
    view is offered to every user of the page; only its owner changes or removes it.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    page = models.CharField(_("page"), max_length=32, choices=SavedViewPage.choices)
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filters"), max_length=2000, blank=True)
    shared = models.BooleanField(_("shared with everyone"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["page", "owner"]),
            models.Index(
                fields=["page", "shared"], condition=Q(shared=True), name="savedview_shared"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["owner", "page", "name"], name="savedview_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
