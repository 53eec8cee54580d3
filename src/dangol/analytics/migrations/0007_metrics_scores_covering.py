"""PostgreSQL: the metrics' scores as a covering index, a narrow copy of the table.

Each metrics row also carries the churn drivers and next best offers (≈ 0.9 KB at 1,000,000
customers), and each run deletes and rewrites every row, so the table is about two generations
wide (2.7 GB at `large`). A segment that ORs an analytics condition with anything else must
read every customer's scores: from this index (≈ 100 MB) without the heap, instead of the whole
table (docs/adr/0012). SQLite has no INCLUDE and reads its own, narrower rows.
"""

from django.db import migrations

NAME = "metrics_scores_covering"
COLUMNS = (
    "recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment, "
    "expected_purchases_90d, p_alive, clv_12m, churn_risk, churn_band, grade_id"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("analytics", "CustomerMetrics")._meta.db_table)
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON {table} (customer_id) INCLUDE ({COLUMNS})"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0006_grade_tier_customer_index")]

    operations = [migrations.RunPython(create, drop)]
