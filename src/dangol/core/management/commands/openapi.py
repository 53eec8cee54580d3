"""``dangol openapi [--output FILE]``: the API's OpenAPI 3.1 schema as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


def schema_json() -> str:
    """The schema, serialized stably (sorted keys, 2-space indent, final newline)."""
    from dangol.api.api import api

    return json.dumps(api.get_openapi_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class Command(BaseCommand):
    help = "Print the OpenAPI schema, or write it to a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args: Any, **opts: Any) -> None:
        text = schema_json()
        if opts["output"]:
            Path(opts["output"]).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
