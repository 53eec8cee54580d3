"""RFM: recency, frequency and monetary value per customer, scores 1-5 and named segments.

Pure Polars/NumPy (no Django), vectorised over customers. See
docs/adr/0007-analytics-engine.md for the rules.

- ``recency_days``: days from the last purchase (any time up to ``as_of``) to ``as_of``;
- ``frequency``: orders in the window ``(as_of - window_days, as_of]``;
- ``monetary``: net spend (totals less refunds) of those orders.

Scores are computed for customers with at least one purchase; others get nulls and no segment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

#: Segment codes in a fixed order; SegmentSnapshot stores the index into this tuple.
SEGMENTS: tuple[str, ...] = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)
NO_SEGMENT_CODE = 255


@dataclass(frozen=True)
class RFMSettings:
    """How to score: ``quintiles`` (rank within the base) or business ``thresholds``."""

    window_days: int = 365
    scoring: str = "quintiles"
    recency_days: Sequence[float] = field(default=(30, 90, 180, 365))
    frequency_counts: Sequence[float] = field(default=(2, 3, 5, 10))
    monetary_krw: Sequence[float] = field(default=(100_000, 300_000, 1_000_000, 3_000_000))


def rfm_values(
    orders: pl.DataFrame, customers: pl.Series, *, as_of: dt.date, window_days: int
) -> pl.DataFrame:
    """customer_id, recency_days, frequency, monetary for every id in `customers`.

    `orders` holds customer_id, day (Date) and amount (net of refunds) of counted orders.
    """
    start = as_of - dt.timedelta(days=window_days)
    end = pl.lit(as_of, dtype=pl.Date)
    agg = (
        orders.lazy()
        .filter(pl.col("day") <= end)
        .group_by("customer_id")
        .agg(
            pl.col("day").max().alias("last_day"),
            (pl.col("day") > start).sum().cast(pl.Int64).alias("frequency"),
            pl.col("amount").filter(pl.col("day") > start).sum().alias("monetary"),
        )
    )
    base = pl.DataFrame({"customer_id": customers.cast(pl.Int64)}).lazy()
    return (
        base.join(agg, on="customer_id", how="left")
        .select(
            "customer_id",
            (end - pl.col("last_day")).dt.total_days().cast(pl.Int64).alias("recency_days"),
            pl.col("frequency").fill_null(0),
            pl.col("monetary").fill_null(0.0).round(2),
        )
        .collect()
    )


def _quintile(values: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """Scores 1-5 from average ranks: ties share a score; ``floor(5 (rank - ½) / n) + 1``."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    keyed = values if higher_is_better else -values
    ranks = pl.Series(keyed).rank("average").to_numpy()
    return np.clip(np.floor(5.0 * (ranks - 0.5) / n).astype(np.int64) + 1, 1, 5)


def _thresholds(values: np.ndarray, cuts: Sequence[float], *, lower_is_better: bool) -> np.ndarray:
    """Scores 1-5 against four ascending cut points (inclusive)."""
    edges = np.asarray(sorted(float(c) for c in cuts), dtype=np.float64)
    if lower_is_better:  # recency: within the first cut point scores 5
        return (5 - np.searchsorted(edges, values, side="left")).astype(np.int64)
    return (1 + np.searchsorted(edges, values, side="right")).astype(np.int64)


def score(values: pl.DataFrame, settings: RFMSettings) -> pl.DataFrame:
    """Add r_score, f_score, m_score and rfm_segment to the output of :func:`rfm_values`."""
    bought = values.filter(pl.col("recency_days").is_not_null())
    rec = bought["recency_days"].to_numpy().astype(np.float64)
    freq = bought["frequency"].to_numpy().astype(np.float64)
    mon = bought["monetary"].to_numpy().astype(np.float64)
    if settings.scoring == "thresholds":
        r = _thresholds(rec, settings.recency_days, lower_is_better=True)
        f = _thresholds(freq, settings.frequency_counts, lower_is_better=False)
        m = _thresholds(mon, settings.monetary_krw, lower_is_better=False)
    else:
        r = _quintile(rec, higher_is_better=False)
        f = _quintile(freq, higher_is_better=True)
        m = _quintile(mon, higher_is_better=True)
    scored = bought.select("customer_id").with_columns(
        pl.Series("r_score", r, dtype=pl.Int64),
        pl.Series("f_score", f, dtype=pl.Int64),
        pl.Series("m_score", m, dtype=pl.Int64),
        pl.Series("rfm_segment", segments(r, f, m, freq), dtype=pl.String),
    )
    return values.join(scored, on="customer_id", how="left").with_columns(
        pl.col("rfm_segment").fill_null("")
    )


def segments(r: np.ndarray, f: np.ndarray, m: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """Segment codes from the scores, first matching rule wins (fm = mean of F and M):

    champions r≥4 & fm≥4 · new r≥4 & at most one order in the window · loyal r≥3 & fm≥3 ·
    potential loyalists r≥3 · can't lose them r≤2 & fm≥4 · at risk r≤2 & fm≥3 ·
    hibernating r=2 · lost r=1.
    """
    fm = (f + m) / 2.0
    conditions = [
        (r >= 4) & (fm >= 4),
        (r >= 4) & (frequency <= 1),
        (r >= 3) & (fm >= 3),
        r >= 3,
        fm >= 4,
        fm >= 3,
        r == 2,
    ]
    choices = ["champions", "new", "loyal", "potential_loyalists", "cant_lose", "at_risk"]
    return np.select(conditions, [*choices, "hibernating"], default="lost")


def segment_codes(segment: pl.Series) -> np.ndarray:
    """Segment names as uint8 codes (index into SEGMENTS; 255 for none)."""
    mapping = {name: i for i, name in enumerate(SEGMENTS)}
    return (
        segment.replace_strict(mapping, default=NO_SEGMENT_CODE, return_dtype=pl.UInt8)
        .to_numpy()
        .astype(np.uint8)
    )


def movement(
    ids_a: np.ndarray, codes_a: np.ndarray, ids_b: np.ndarray, codes_b: np.ndarray
) -> np.ndarray:
    """A 9×9 count matrix from → to (index 8 = no segment / not in that run); ids sorted."""
    k = len(SEGMENTS)
    all_ids = np.union1d(ids_a, ids_b)
    from_codes = np.full(len(all_ids), k, dtype=np.int64)
    to_codes = np.full(len(all_ids), k, dtype=np.int64)
    from_codes[np.searchsorted(all_ids, ids_a)] = np.where(codes_a == NO_SEGMENT_CODE, k, codes_a)
    to_codes[np.searchsorted(all_ids, ids_b)] = np.where(codes_b == NO_SEGMENT_CODE, k, codes_b)
    flat = np.bincount(from_codes * (k + 1) + to_codes, minlength=(k + 1) ** 2)
    return flat.reshape(k + 1, k + 1)
