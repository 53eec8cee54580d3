"""``dangol find_duplicates [--background]``: search the active customers for duplicates.

Stores new candidate pairs for review (decided pairs are never reopened) and, when automatic
merging is on in the settings, merges the pairs above its threshold.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dangol.integration import services


class Command(BaseCommand):
    help = "Search the customer base for duplicates and queue the pairs for review."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--background", action="store_true", help="queue the search as a job and return"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["background"]:
            services.start_duplicate_search(actor=None)
            self.stdout.write("queued")
            return
        started = time.perf_counter()
        run = services.find_duplicates()
        self.stdout.write(
            f"{run.records} records, {run.pairs_found} pairs: {run.created_count} new, "
            f"{run.updated_count} updated, {run.skipped_count} already decided, "
            f"{run.auto_merged_count} merged automatically "
            f"({time.perf_counter() - started:.1f} s)"
        )
