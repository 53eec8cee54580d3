"""Payments of orders and the products' price history; roles get a payment grant.

Every role that has a grant on returns gets the same grant on payments (the money side of the
same orders), so nobody loses sight of an order's payments on an upgrade; new roles are given
the grant by whoever creates them.
"""

from typing import Any

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def grant_payments(apps: Any, schema_editor: Any) -> None:
    RoleGrant = apps.get_model("core", "RoleGrant")
    have = set(
        RoleGrant.objects.filter(object_type="commerce.payment").values_list("role_id", flat=True)
    )
    RoleGrant.objects.bulk_create(
        [
            RoleGrant(
                role_id=g.role_id, object_type="commerce.payment", actions=g.actions, scope=g.scope
            )
            for g in RoleGrant.objects.filter(object_type="commerce.return")
            if g.role_id not in have
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0005_drop_covered_fk_indexes"),
        ("customers", "0006_customer_owner_team_fk_indexes"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Payment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "method",
                    models.CharField(
                        choices=[
                            ("card", "Card"),
                            ("bank_transfer", "Bank transfer"),
                            ("virtual_account", "Virtual account"),
                            ("mobile", "Mobile phone payment"),
                            ("easy_pay", "Easy pay"),
                            ("points", "Points"),
                            ("cash", "Cash"),
                            ("other", "Other"),
                        ],
                        max_length=20,
                        verbose_name="payment method",
                    ),
                ),
                ("provider", models.CharField(blank=True, max_length=50, verbose_name="provider")),
                (
                    "amount",
                    models.DecimalField(decimal_places=2, max_digits=18, verbose_name="amount"),
                ),
                (
                    "currency",
                    models.CharField(default="KRW", max_length=3, verbose_name="currency"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("paid", "Paid"),
                            ("cancelled", "Cancelled"),
                            ("refunded", "Refunded"),
                            ("partially_refunded", "Partially refunded"),
                        ],
                        default="paid",
                        max_length=20,
                        verbose_name="status",
                    ),
                ),
                (
                    "refunded_amount",
                    models.DecimalField(
                        decimal_places=2, default=0, max_digits=18, verbose_name="refunded"
                    ),
                ),
                ("paid_at", models.DateTimeField(blank=True, null=True, verbose_name="paid")),
                (
                    "refunded_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="refunded at"),
                ),
                ("source", models.CharField(blank=True, max_length=50, verbose_name="source")),
                (
                    "external_id",
                    models.CharField(blank=True, max_length=100, verbose_name="external id"),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "customer",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payments",
                        to="customers.customer",
                    ),
                ),
                (
                    "order",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payments",
                        to="commerce.order",
                    ),
                ),
            ],
            options={
                "verbose_name": "payment",
                "verbose_name_plural": "payments",
                "indexes": [
                    models.Index(
                        fields=["customer", "-paid_at"], name="commerce_pa_custome_f23e4d_idx"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("external_id", ""), _negated=True),
                        fields=("source", "external_id"),
                        name="payment_unique_external_id",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("amount__gt", 0)), name="payment_amount_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("refunded_amount__gte", 0),
                            ("refunded_amount__lte", models.F("amount")),
                        ),
                        name="payment_refund_within_amount",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="PriceChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "old_price",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        max_digits=18,
                        null=True,
                        verbose_name="old price",
                    ),
                ),
                (
                    "new_price",
                    models.DecimalField(decimal_places=2, max_digits=18, verbose_name="new price"),
                ),
                (
                    "currency",
                    models.CharField(default="KRW", max_length=3, verbose_name="currency"),
                ),
                ("effective_at", models.DateTimeField(verbose_name="effective")),
                ("source", models.CharField(blank=True, max_length=50, verbose_name="source")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "product",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="price_changes",
                        to="commerce.product",
                    ),
                ),
            ],
            options={
                "verbose_name": "price change",
                "verbose_name_plural": "price changes",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("product", "effective_at"), name="pricechange_unique_instant"
                    )
                ],
            },
        ),
        migrations.RunPython(grant_payments, migrations.RunPython.noop),
    ]
