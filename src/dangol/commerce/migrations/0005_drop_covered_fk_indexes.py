import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0004_orderline_external_id"),
        ("customers", "0006_customer_owner_team_fk_indexes"),
    ]

    # Two foreign keys' own indexes go, each covered by a composite index that starts with the
    # same column: order.customer by (customer, -placed_at, -id), orderline.product by
    # (product, order). Every order and every line written maintained one more index for no
    # lookup. An AlterField would rebuild both tables on SQLite (17M lines at `large`), so the
    # state changes and the database only drops the index.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="order",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="customers.customer",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "commerce_order_customer_id_9af2ddae"',
                    reverse_sql='CREATE INDEX "commerce_order_customer_id_9af2ddae" '
                    'ON "commerce_order" ("customer_id")',
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="orderline",
                    name="product",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="order_lines",
                        to="commerce.product",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "commerce_orderline_product_id_9af4f2f1"',
                    reverse_sql='CREATE INDEX "commerce_orderline_product_id_9af4f2f1" '
                    'ON "commerce_orderline" ("product_id")',
                ),
            ],
        ),
    ]
