"""Jobs of the integration app: running an import in the background."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from dangol.integration import services
from dangol.integration.models import ImportJob


@db_task(retries=2, retry_delay=30)
def run_import_job(job_id: int) -> None:
    """Run (or resume, when retried after a failure) the import job ``job_id``."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None:
        services.run_import(job=job)
