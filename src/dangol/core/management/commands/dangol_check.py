"""``dangol check``: configuration (Django system checks), database and job queue."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, SystemCheckError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from dangol.core.health import check_dependencies


class Command(BaseCommand):
    help = "Check the configuration, the database (and pending migrations) and the job queue."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **opts: Any) -> None:
        problems: list[str] = []
        try:
            call_command("check", deploy=not settings.DEBUG, fail_level="ERROR", stdout=self.stdout)
        except SystemCheckError as exc:
            problems.append(f"configuration: {str(exc).splitlines()[0]}")
        results = check_dependencies()
        engine = connection.vendor
        self.stdout.write(f"database ({engine}): {results['database']}")
        if results["database"] != "ok":
            problems.append(f"database unreachable ({results['database']})")
        else:
            pending = MigrationExecutor(connection).migration_plan(
                MigrationExecutor(connection).loader.graph.leaf_nodes()
            )
            self.stdout.write(
                f"migrations: {'up to date' if not pending else f'{len(pending)} pending'}"
            )
            if pending:
                problems.append(f"{len(pending)} migrations pending: run 'dangol migrate'")
        queue = "redis" if settings.REDIS_URL else "sqlite"
        self.stdout.write(f"job queue ({queue}): {results['queue']}")
        if results["queue"] != "ok":
            problems.append(f"job queue unreachable ({results['queue']})")
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(self.style.SUCCESS("All checks passed."))
