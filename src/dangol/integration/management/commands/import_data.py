"""``dangol import <target> FILE``: import a file on the command line with a progress bar."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dangol.core.errors import ServiceError
from dangol.core.models import User
from dangol.integration import selectors, services
from dangol.integration.imports.pipeline import CHUNK_SIZE
from dangol.integration.imports.targets import TARGETS
from dangol.integration.models import ImportJob, ImportStatus, ImportTarget

# the statuses of a customer job whose file was read to the end (``duplicate_count`` is set)
DUPLICATES_COUNTED = (ImportStatus.COMPLETED, ImportStatus.VALIDATED)


class Command(BaseCommand):
    help = (
        "Import customers, organizations and their members, contact points, consents, products, "
        "orders, returns or interactions from CSV, XLSX, JSON Lines or vCard."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", choices=sorted(TARGETS))
        parser.add_argument("file", nargs="?", help="the file (not needed with --resume)")
        parser.add_argument("--source", default="import", help="source system (default: import)")
        parser.add_argument("--mapping", help="name of a saved mapping template")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument("--encoding", default="", help="override the detected encoding")
        parser.add_argument("--user", help="e-mail of the staff user the import runs as")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE)
        parser.add_argument("--resume", type=int, metavar="JOB_ID", help="resume a failed job")
        bulk = parser.add_mutually_exclusive_group()
        bulk.add_argument(
            "--bulk",
            action="store_true",
            default=None,
            help="bulk mode: defer the tables' secondary indexes, rebuild them at the end "
            "(default: chosen for a file at least as large as the table)",
        )
        bulk.add_argument(
            "--no-bulk", dest="bulk", action="store_false", help="keep every index live"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(file=self.stdout, stderr=False)  # type: ignore[arg-type]
        actor = None
        if opts["user"]:
            actor = User.objects.filter(email=opts["user"].strip().lower()).first()
            if actor is None:
                raise CommandError(f"no user {opts['user']}")
        try:
            if opts["resume"]:
                job = ImportJob.objects.filter(pk=opts["resume"]).first()
                if job is None:
                    raise CommandError(f"no import job {opts['resume']}")
            else:
                if not opts["file"]:
                    raise CommandError("give the FILE to import")
                template = None
                if opts["mapping"]:
                    template = selectors.find_template(opts["mapping"], opts["source"])
                    if template is None:
                        raise CommandError(f"no mapping template {opts['mapping']!r}")
                job = services.create_import_job(
                    target=opts["target"],
                    source=opts["source"],
                    path=opts["file"],
                    template=template,
                    encoding=opts["encoding"],
                    actor=actor,
                )
            if opts["resume"] and job.status in (ImportStatus.RUNNING, ImportStatus.FAILED):
                # a run that died without marking itself: take it over where it stopped
                ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
            else:
                job = services.start_import(
                    job=job, actor=actor, dry_run=opts["dry_run"], enqueue=False
                )
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[counts]}"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            ) as bar:
                task = bar.add_task(
                    f"{job.target} ← {job.original_name}", total=job.total_bytes or None, counts=""
                )

                def progress(j: ImportJob) -> None:
                    counts = ", ".join(f"{k} {v:,}" for k, v in j.counts().items())
                    bar.update(task, completed=j.processed_bytes, counts=counts)

                job = services.run_import(
                    job=job, chunk_size=opts["chunk_size"], progress=progress, bulk=opts["bulk"]
                )
                bar.update(task, completed=job.total_bytes)
        except ServiceError as exc:
            details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            raise CommandError(f"{exc.message} {details}".strip()) from None
        counts = ", ".join(f"{k} {v:,}" for k, v in job.counts().items())
        self.stdout.write(
            f"import #{job.pk} {job.status}{' (dry run)' if job.dry_run else ''}: {counts}"
        )
        if job.target == ImportTarget.CUSTOMERS and job.status in DUPLICATES_COUNTED:
            # pairs of rows (or a row and a customer) that look like one person: the real run
            # creates each row and sends the pairs to the duplicate review queue
            verb = "would go" if job.dry_run else "went"
            count = "unknown" if job.duplicate_count is None else f"{job.duplicate_count:,}"
            self.stdout.write(
                f"pairs for duplicate review: {count} ({verb} to the review "
                "queue: Duplicates in the web app)"
            )
        if job.rejected_count:
            self.stdout.write(f"rejected rows: GET /api/v1/imports/{job.pk}/errors/download")
