"""Precision, recall and wall time of identity resolution on labelled person records.

Labelled data: a CSV with an id column and a truth column (records of one person share its
value), or ``--generate N`` to use ``dangol.demo.people.generate_people(N, seed)``.

    .venv/bin/python bench/dedupe_quality.py --generate 100000
    .venv/bin/python bench/dedupe_quality.py people.csv --id-column record_id --truth person_id
    .venv/bin/python bench/dedupe_quality.py --generate 20000 --thresholds 0.5,0.8,0.9,0.99

Pairwise metrics: a true pair is two records with the same truth value; precision = found
true pairs / found pairs, recall = found true pairs / true pairs. The scoring is done once at
the lowest threshold given and re-filtered for the others (the model does not depend on the
threshold).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import polars as pl

from dangol.integration.matching import find_duplicate_pairs, read_records_csv
from dangol.integration.matching.model import DEFAULT_THRESHOLD


def true_pairs(records: pl.DataFrame, id_column: str, truth: str) -> pl.DataFrame:
    """Every pair of records sharing a truth value, left_id < right_id as text."""
    labelled = records.select(
        pl.col(id_column).cast(pl.String).alias("id"), pl.col(truth).cast(pl.String).alias("t")
    ).filter(pl.col("t").is_not_null() & (pl.col("t") != ""))
    joined = labelled.join(labelled, on="t", suffix="_r").filter(pl.col("id") < pl.col("id_r"))
    return joined.select(pl.col("id").alias("left_id"), pl.col("id_r").alias("right_id"))


def scores(found: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """Pairwise precision, recall and F1 of ``found`` against ``truth``."""
    hits = found.join(truth, on=["left_id", "right_id"], how="semi").height
    precision = hits / found.height if found.height else 1.0
    recall = hits / truth.height if truth.height else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "found": found.height,
        "true": truth.height,
        "hits": hits,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="?", help="labelled CSV (else --generate)")
    parser.add_argument("--generate", type=int, help="records from dangol.demo.people")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--id-column", default="record_id")
    parser.add_argument("--truth", default="person_id")
    parser.add_argument("--thresholds", default="", help="comma-separated, default the model's")
    parser.add_argument("--transitive", action="store_true")
    parser.add_argument("--errors", type=int, default=0, help="print this many errors of each kind")
    args = parser.parse_args(argv)

    if args.csv:
        records = read_records_csv(args.csv)
        source = args.csv
    elif args.generate:
        from dangol.demo.people import generate_people

        t0 = time.perf_counter()
        records = generate_people(args.generate, args.seed)
        source = f"generate_people({args.generate}, seed={args.seed})"
        print(f"generated {records.height} records in {time.perf_counter() - t0:.1f}s")
    else:
        parser.error("give a CSV or --generate N")
    thresholds = [float(t) for t in args.thresholds.split(",") if t] or [DEFAULT_THRESHOLD]

    truth = true_pairs(records, args.id_column, args.truth)
    inputs = records.drop(args.truth).with_columns(pl.all().cast(pl.String))
    t0 = time.perf_counter()
    found = find_duplicate_pairs(
        inputs, id_column=args.id_column, threshold=min(thresholds), transitive=args.transitive
    )
    seconds = time.perf_counter() - t0
    report = {
        "data": source,
        "records": records.height,
        "cpus": os.cpu_count(),
        "seconds": round(seconds, 1),
        "by_threshold": {},
    }
    for threshold in thresholds:
        kept = found.filter(pl.col("probability") >= threshold)
        report["by_threshold"][str(threshold)] = scores(kept, truth)
    print(json.dumps(report, indent=2, ensure_ascii=False))

    if args.errors:
        kept = found.filter(pl.col("probability") >= thresholds[0])
        by_id = inputs.rename({args.id_column: "id"})
        false_pos = kept.join(truth, on=["left_id", "right_id"], how="anti")
        false_neg = truth.join(kept, on=["left_id", "right_id"], how="anti")
        for title, frame in (("false positives", false_pos), ("false negatives", false_neg)):
            print(f"--- {title}: {frame.height}")
            for row in frame.head(args.errors).iter_rows(named=True):
                print({k: v for k, v in row.items() if k.startswith(("gamma", "prob", "match"))})
                show = by_id.filter(pl.col("id").is_in([row["left_id"], row["right_id"]]))
                print(show.drop("region", "signup_channel", "source", strict=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
