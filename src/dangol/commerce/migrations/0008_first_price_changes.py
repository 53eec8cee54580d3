"""Every product's first price as the first change of its price history, from its creation on.

Products created by the services and the bulk API before this had none (the products import
and, from now on, every way of creating a product writes it), so the price in effect before
their first change could only be read from that change's ``old_price``, and a product never
changed had no history. This adds, in one statement, what ``services.create_product`` now
writes: no old price, the price at creation, its currency, ``effective_at`` the product's
``created_at``, the product's source. The price at creation is the earliest one known: the
``old_price`` of the product's earliest change (the price it replaced), or the product's
price when it has no change (every price change since the history began was recorded, so a
product without one still has its price from creation). Left alone: products whose history
already reaches back to their creation (a change at or before ``created_at``: the products
import's first price, a feed's back-dated change), and those whose earliest change has no
``old_price`` (it came with another currency: the price before is not known).
"""

from django.db import migrations
from django.utils import timezone


def add_first_prices(apps, schema_editor):
    fill(apps, schema_editor.connection)


def fill(apps, connection):
    """The statement, on `connection` (a test runs it on products written as before)."""
    q = connection.ops.quote_name
    product = q(apps.get_model("commerce", "Product")._meta.db_table)
    change = q(apps.get_model("commerce", "PriceChange")._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {change}
                (product_id, old_price, new_price, currency, effective_at, source, created_at)
            SELECT p.id, NULL, COALESCE(f.old_price, p.price), COALESCE(f.currency, p.currency),
                p.created_at, p.source, %s
            FROM {product} p
            LEFT JOIN {change} f ON f.product_id = p.id AND f.effective_at = (
                SELECT MIN(e.effective_at) FROM {change} e WHERE e.product_id = p.id
            )
            WHERE NOT EXISTS (
                SELECT 1 FROM {change} c
                WHERE c.product_id = p.id AND c.effective_at <= p.created_at
            )
            AND (f.id IS NULL OR f.old_price IS NOT NULL)""",  # noqa: S608 - names from _meta
            [connection.ops.adapt_datetimefield_value(timezone.now())],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0007_order_external_id_index"),
    ]

    operations = [
        # the rows added are what the services write for a new product; nothing to undo
        migrations.RunPython(add_first_prices, migrations.RunPython.noop, elidable=True),
    ]
