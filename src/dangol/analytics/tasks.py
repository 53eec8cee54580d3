"""Jobs of the analytics app: the nightly engine run and runs started from the app or API."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from dangol.analytics import services
from dangol.analytics.models import RunTrigger
from dangol.core.errors import Conflict


@db_periodic_task(crontab(hour="2", minute="30"))
def nightly_analytics() -> None:
    """Every night at 02:30 (server time): all steps as of yesterday. A run still going is left
    alone (the next night catches up)."""
    try:
        services.run_analytics(trigger=RunTrigger.SCHEDULE)
    except Conflict:
        return


@db_task()
def run_analytics_job(run_id: int) -> None:
    """Run the queued engine run ``run_id`` (idempotent: a finished run is not run again)."""
    services.run_queued(run_id=run_id)
