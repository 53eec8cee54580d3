"""Upgrading an installation: roles made before tasks existed get a task grant like their
customer grant (migration sales.0002)."""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps

from dangol.core.models import RoleGrant
from dangol.core.services import create_role

upgrade = importlib.import_module("dangol.sales.migrations.0002_grant_tasks_to_customer_roles")


def test_roles_without_a_task_grant_get_their_customer_scope(db: Any) -> None:
    rep = create_role(
        name="옛 영업 담당", grants={"customers.customer": (["view", "change"], "own")}
    )
    lead = create_role(
        name="옛 팀장",
        grants={"customers.customer": (["view"], "team"), "sales.task": (["view"], "all")},
    )
    create_role(name="조회 전용", grants={"commerce.product": (["view"], "all")})

    upgrade.grant_tasks(apps, None)

    tasks = {g.role_id: g for g in RoleGrant.objects.filter(object_type="sales.task")}
    assert (sorted(tasks[rep.pk].actions), tasks[rep.pk].scope) == (["change", "view"], "own")
    assert tasks[lead.pk].scope == "all"  # an existing grant is left as it is
    assert len(tasks) == 2
