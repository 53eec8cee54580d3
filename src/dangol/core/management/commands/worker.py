"""``dangol worker``: run the job consumer (Huey) with periodic tasks."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the background job worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=None, help="Worker threads.")

    def handle(self, *args: Any, **opts: Any) -> None:
        extra: dict[str, Any] = {}
        if opts["workers"]:
            extra["workers"] = opts["workers"]
        call_command("run_huey", **extra)
