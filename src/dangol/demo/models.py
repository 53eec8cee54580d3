"""The demo's only table: the hidden truth of which customer records are the same person."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DemoIdentityLabel(models.Model):
    """Which synthetic person a demo customer record belongs to.

    Identity resolution must not read it: it is the answer key that measures how well
    duplicates were found (records with the same ``person_id`` are the same human).
    """

    customer = models.OneToOneField(
        "customers.Customer",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    person_id = models.BigIntegerField(_("person"), db_index=True)

    class Meta:
        verbose_name = _("demo identity label")
        verbose_name_plural = _("demo identity labels")

    def __str__(self) -> str:
        return f"{self.customer_id} → person {self.person_id}"
