"""``dangol dedupe INPUT.csv --id-column ID --output PAIRS.csv [--threshold P]``.

Finds the records of a CSV file that are the same person and writes one line per pair:
``left_id,right_id,probability`` with ``left_id < right_id`` compared as text, each pair once,
best-known pairs first by id. Offline: reads no database and writes none.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dangol.integration.matching import (
    DEFAULT_THRESHOLD,
    INPUT_COLUMNS,
    find_duplicate_pairs,
    read_records_csv,
)
from dangol.integration.matching.prepare import UnreadableFileError


class Command(BaseCommand):
    help = (
        "Find duplicate people in a CSV (columns understood: "
        + ", ".join(INPUT_COLUMNS)
        + ") and write left_id,right_id,probability for each matched pair."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", help="CSV file: UTF-8 (BOM or not), CP949 or EUC-KR")
        parser.add_argument("--id-column", required=True, help="the column with record ids")
        parser.add_argument("--output", required=True, help="where to write the pairs (CSV)")
        parser.add_argument(
            "--threshold",
            type=float,
            default=None,
            help=f"match probability from which a pair is written (default {DEFAULT_THRESHOLD})",
        )
        parser.add_argument(
            "--transitive",
            action="store_true",
            help="also write pairs implied by chains of matches (a~b, b~c ⇒ a~c)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["input"])
        threshold = options["threshold"]
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise CommandError("--threshold must be between 0 and 1")
        if not source.is_file():
            raise CommandError(f"{source}: no such file")
        started = time.perf_counter()
        try:
            records = read_records_csv(source)
        except (UnreadableFileError, pl.exceptions.PolarsError) as error:
            raise CommandError(f"{source}: cannot read the CSV ({error})") from error
        id_column = options["id_column"]
        if id_column not in records.columns:
            raise CommandError(f"{source}: there is no column {id_column!r}")
        try:
            pairs = find_duplicate_pairs(
                records,
                id_column=id_column,
                threshold=threshold,
                transitive=options["transitive"],
            )
        except ValueError as error:
            raise CommandError(f"{source}: {error}") from error
        pairs.select("left_id", "right_id", pl.col("probability").round(6)).write_csv(
            options["output"]
        )
        self.stdout.write(
            f"{records.height} records, {pairs.height} pairs written to {options['output']} "
            f"in {time.perf_counter() - started:.1f}s"
        )
