"""The import pipeline's probabilistic matcher (``settings.IMPORT_CUSTOMER_MATCHER``).

``probabilistic_matcher`` has the hook's signature (see ``imports.identity``). It applies the
deterministic rules first (one mobile number or e-mail key held by exactly one customer), then
links the remaining rows against the existing customers they could be (the ones sharing a
contact key, a birth date or a name with a row of the chunk: the blocking is done in SQL, so
the engine never loads the whole base) with ``matching.link_records``:

- a rule match or a probability at or above ``DedupeSettings.import_link_threshold``, with a
  single best existing record, links the row to that customer (reported ``matched``);
- a probability between the review threshold and that is not trusted: the row becomes a new
  customer and the pair (new customer, existing customer) is stored as a ``DuplicateCandidate``
  (origin ``import``) for a person to decide: called by an import (``job_id``), once the whole
  file is in, with the file's other pairs and counted with them in ``duplicate_count``
  (``infile.propose`` / ``finish_file``; a dry run only counts it); called without one, once
  the caller's transaction commits (``propose_after_commit``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

import polars as pl
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from dangol.customers.models import ContactPoint, Customer, ExternalId, RecordStatus
from dangol.integration.dedupe.frames import matching_frame
from dangol.integration.dedupe.infile import JobCustomers, propose
from dangol.integration.imports.identity import MatchCandidate, deterministic_matcher
from dangol.integration.imports.writer import in_batches
from dangol.integration.models import (
    CandidateOrigin,
    ImportJob,
    ImportStatus,
    ImportTarget,
    MatchingModel,
)

logger = logging.getLogger(__name__)


# A stored model is trusted this long; then the next import trains a new one on its data.
MODEL_MAX_AGE = datetime.timedelta(days=7)
# A model trained on fewer records (new and existing together) is used for its call but not
# kept: a first import of a handful of rows must not set the model of the week.
MODEL_MIN_RECORDS = 1_000


class DatabaseModelStore:
    """Trained matching models in the database (``MatchingModel``), shared by every worker:
    the first chunk of an import trains the model (10-20 s), the following chunks and the
    imports of the next ``MODEL_MAX_AGE`` reuse it (if it saw ``MODEL_MIN_RECORDS``)."""

    def __init__(self, max_age: datetime.timedelta = MODEL_MAX_AGE) -> None:
        self.max_age = max_age

    def get(self, key: str) -> dict[str, Any] | None:
        found = (
            MatchingModel.objects.filter(key=key, trained_at__gte=timezone.now() - self.max_age)
            .values_list("settings", flat=True)
            .first()
        )
        return found

    def put(self, key: str, settings: dict[str, Any], *, records: int) -> None:
        if records < MODEL_MIN_RECORDS:
            return
        MatchingModel.objects.update_or_create(
            key=key,
            defaults={"settings": settings, "records": records, "trained_at": timezone.now()},
        )


def link(new: pl.DataFrame, existing: pl.DataFrame, *, threshold: float) -> pl.DataFrame:
    """The matching engine's ``link_records`` with the stored model (a seam the tests
    replace)."""
    from dangol.integration.matching import link_records

    return link_records(
        new, existing, id_column="id", threshold=threshold, models=DatabaseModelStore()
    )


def _new_frame(candidates: Sequence[MatchCandidate]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"n{c.index}" for c in candidates],
            "full_name": [c.full_name or None for c in candidates],
            "birth_date": [c.birth_date.isoformat() if c.birth_date else None for c in candidates],
            "phone": [c.mobile_keys[0] if c.mobile_keys else None for c in candidates],
            "email": [c.email_keys[0] if c.email_keys else None for c in candidates],
        },
        schema={
            "id": pl.String,
            "full_name": pl.String,
            "birth_date": pl.String,
            "phone": pl.String,
            "email": pl.String,
        },
    )


def _pool(
    candidates: Sequence[MatchCandidate],
    visible: QuerySet[Customer] | None,
    job_id: int | None = None,
) -> QuerySet[Customer]:
    """The active customers a row of the chunk could be: same contact key, same birth date or
    same name as one of the rows; not the customers import ``job_id`` created (rows of its
    own file, which are paired for review instead: ``dedupe.infile``)."""
    keys = sorted({k for c in candidates for k in (*c.mobile_keys, *c.email_keys)})
    births = sorted({c.birth_date for c in candidates if c.birth_date})
    names = sorted({c.full_name for c in candidates if c.full_name})
    ids: set[int] = set()
    for batch in in_batches(keys):
        ids.update(
            ContactPoint.objects.filter(match_key__in=batch, customer__isnull=False).values_list(
                "customer_id", flat=True
            )
        )
    for dates in in_batches(births):
        ids.update(Customer.objects.filter(birth_date__in=dates).values_list("pk", flat=True))
    for batch in in_batches(names):
        ids.update(Customer.objects.filter(Q(full_name__in=batch)).values_list("pk", flat=True))
    base = visible if visible is not None else Customer.objects.all()
    mine = JobCustomers(job_id)
    ids = {cid for cid in ids if cid not in mine}
    return base.filter(status=RecordStatus.ACTIVE, pk__in=sorted(ids))


def probabilistic_matcher(
    candidates: Sequence[MatchCandidate],
    visible: QuerySet[Customer] | None,
    /,
    *,
    job_id: int | None = None,
) -> dict[int, int]:
    """``{row index: customer id}`` for the rows that are, surely, an existing customer (not
    one import ``job_id`` created)."""
    from dangol.integration.dedupe.evidence import add_evidence
    from dangol.integration.selectors import dedupe_settings

    out = deterministic_matcher(candidates, visible, job_id=job_id)
    rest = [c for c in candidates if c.index not in out]
    if not rest:
        return out
    conf = dedupe_settings()
    pool = _pool(rest, visible, job_id)
    existing = matching_frame(pool)
    if existing.is_empty():
        return out
    links = link(
        _new_frame(rest),
        existing.with_columns(pl.col("id").cast(pl.String)),
        threshold=conf.review_threshold,
    )
    if links.is_empty():
        return out
    links = links.with_columns(
        index=pl.col("left_id").str.slice(1).cast(pl.Int64),
        customer_id=pl.col("right_id").cast(pl.Int64),
        sure=pl.col("match_rule").is_not_null()
        | (pl.col("probability") >= conf.import_link_threshold),
    )
    # a row is linked only to a single sure record; two sure records are a question for people
    sure = links.filter("sure")
    single = (
        sure.group_by("index")
        .agg(pl.col("customer_id").first(), n=pl.len())
        .filter(pl.col("n") == 1)
    )
    for index, customer_id in single.select("index", "customer_id").iter_rows():
        out[index] = customer_id
    unsure = links.filter(~pl.col("index").is_in(list(out)))
    if not unsure.is_empty():
        external_ids = {c.index: c.external_id for c in rest}
        review = add_evidence(unsure).select(
            external_id=pl.col("index").replace_strict(external_ids, return_dtype=pl.String),
            existing_id="customer_id",
            probability=pl.col("probability").cast(pl.Float64),
            match_rule=pl.col("match_rule").cast(pl.String),
            evidence="evidence",
        )
        if job_id is not None:  # paired after the file, and counted (``infile.finish_file``)
            propose(job_id, review)
        else:
            at = timezone.now()
            transaction.on_commit(lambda: propose_after_commit(review, at=at))
    return out


def propose_after_commit(review: pl.DataFrame, *, at: datetime.datetime) -> None:
    """Store the unsure pairs once the chunk that created the new customers has committed: the
    new customer is the one now holding the row's external id in the source of a customer
    import (not a dry run) that was running at `at`, when the matcher was called."""
    from dangol.integration.services import store_candidates

    sources = list(
        ImportJob.objects.filter(
            Q(finished_at__isnull=True) | Q(finished_at__gte=at),
            status__in=(ImportStatus.RUNNING, ImportStatus.COMPLETED),
            dry_run=False,
            target=ImportTarget.CUSTOMERS,
            started_at__lte=at,
        ).values_list("source", flat=True)
    )
    if not sources:
        return
    keys = review["external_id"].unique().to_list()
    held: dict[str, int] = {}
    for batch in in_batches(keys):
        held.update(
            ExternalId.objects.filter(
                source__in=sources, key__in=batch, customer__isnull=False
            ).values_list("key", "customer_id")
        )
    resolved = review.with_columns(
        new_id=pl.col("external_id").replace_strict(held, default=None, return_dtype=pl.Int64)
    ).filter(pl.col("new_id").is_not_null() & (pl.col("new_id") != pl.col("existing_id")))
    if resolved.is_empty():
        return
    pairs = resolved.select(
        left_id=pl.min_horizontal("new_id", "existing_id"),
        right_id=pl.max_horizontal("new_id", "existing_id"),
        probability="probability",
        match_rule="match_rule",
        evidence="evidence",
    )
    store_candidates(pairs, origin=CandidateOrigin.IMPORT)


__all__ = ["probabilistic_matcher", "propose_after_commit"]
