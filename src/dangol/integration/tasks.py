"""Jobs of the integration app: imports, duplicate searches, data-quality snapshots, exports."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from dangol.integration import services
from dangol.integration.models import ExportJob, ImportJob


@db_task(retries=2, retry_delay=30)
def run_import_job(job_id: int) -> None:
    """Run (or resume, when retried after a failure) the import job ``job_id``."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None:
        services.run_import(job=job)


@db_task(retries=1, retry_delay=60)
def find_duplicates_job(run_id: int | None = None) -> None:
    """Search the base for duplicates (idempotent: stored pairs are never repeated), filling
    the run ``run_id`` that ``services.start_duplicate_search`` stored when given."""
    services.find_duplicates(run_id=run_id)


@db_periodic_task(crontab(hour="2", minute="30"))
def nightly_duplicate_search() -> None:
    services.find_duplicates()


@db_periodic_task(crontab(hour="4", minute="10"))
def nightly_quality_snapshot() -> None:
    """Keep today's data-quality figures for the trend."""
    services.take_quality_snapshot()


@db_task(retries=2, retry_delay=30)
def run_export_job(job_id: int) -> None:
    """Write the export ``job_id`` (a failed run starts again from the top)."""
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is not None:
        services.run_export(job=job)
