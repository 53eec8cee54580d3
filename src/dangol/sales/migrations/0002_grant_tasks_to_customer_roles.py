"""Roles that existed before tasks get a ``sales.task`` grant like their customer grant.

Without it every role but the superuser's would lose the new "My tasks" page and the churn
follow-ups on an upgrade; new roles are given the grant by whoever creates them.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def grant_tasks(apps: Any, schema_editor: Any) -> None:
    RoleGrant = apps.get_model("core", "RoleGrant")
    have = set(RoleGrant.objects.filter(object_type="sales.task").values_list("role_id", flat=True))
    RoleGrant.objects.bulk_create(
        [
            RoleGrant(role_id=g.role_id, object_type="sales.task", actions=g.actions, scope=g.scope)
            for g in RoleGrant.objects.filter(object_type="customers.customer")
            if g.role_id not in have
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial"), ("core", "0001_initial")]

    operations = [migrations.RunPython(grant_tasks, migrations.RunPython.noop)]
