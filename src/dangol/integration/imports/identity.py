"""Identity hook of the customer import: who in the base is the person on an incoming row?

The pipeline first looks up ``(source, external id)``. The rows left over in a chunk are handed,
all at once, to the *matcher*: a function ``(candidates, visible, *, job_id) -> {row index:
customer id}``. ``job_id`` is the import calling: the matcher leaves out the contact points that
import wrote (its own customers', ``dedupe.infile.JobCustomers``, and those it added to existing
ones, ``added_by_job_sql``), so that a row is matched against the base as it was before the
import, never against another row of its file, whatever chunk that row was in (ADR 0005,
amendment "in-file duplicates whatever the chunks").
The default, ``deterministic_matcher``, matches on the normalized mobile number (E.164) or the
e-mail match key, and only when exactly one active customer carries it. The identity-resolution
engine replaces it by naming its own function in ``settings.IMPORT_CUSTOMER_MATCHER`` (a dotted
path) or by passing ``matcher=`` to ``run_import``; it may call ``deterministic_matcher`` first.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from dangol.customers.models import ContactKind, ContactPoint, Customer, RecordStatus
from dangol.integration.dedupe.infile import JobCustomers, added_by_job_sql
from dangol.integration.imports.writer import in_keys, qn

DEFAULT_MATCHER = "dangol.integration.imports.identity.deterministic_matcher"


@dataclass
class MatchCandidate:
    """What an incoming customer row says about the person (normalized)."""

    index: int
    external_id: str
    full_name: str = ""
    birth_date: datetime.date | None = None
    mobile_keys: list[str] = field(default_factory=list)
    email_keys: list[str] = field(default_factory=list)


class Matcher(Protocol):
    """The identity hook: ``{candidate index: customer id}`` for the candidates that are surely
    an existing customer the user may change (``visible``; None: every customer), leaving out
    the contact points import ``job_id`` wrote."""

    def __call__(
        self,
        candidates: Sequence[MatchCandidate],
        visible: QuerySet[Customer] | None,
        /,
        *,
        job_id: int | None = None,
    ) -> dict[int, int]: ...


def deterministic_matcher(
    candidates: Sequence[MatchCandidate],
    visible: QuerySet[Customer] | None,
    /,
    *,
    job_id: int | None = None,
) -> dict[int, int]:
    """Match on one normalized mobile number or e-mail key held by exactly one customer that the
    importing user may change (``visible``; None when the user may change every customer).
    Mobile wins over e-mail. With ``job_id``, the contact points that import wrote are not
    looked at (the base before the import)."""

    keys = sorted(
        {(ContactKind.MOBILE.value, k) for c in candidates for k in c.mobile_keys}
        | {(ContactKind.EMAIL.value, k) for c in candidates for k in c.email_keys}
    )
    if not keys:
        return {}
    owners: dict[tuple[str, str], set[int]] = defaultdict(set)
    cp, cust = ContactPoint._meta.db_table, Customer._meta.db_table
    visible_sql, visible_params = "", []
    if visible is not None:
        sub, sub_params = visible.values("pk").query.sql_with_params()
        visible_sql, visible_params = f" AND cp.customer_id IN ({sub})", list(sub_params)
    mine, mine_params = added_by_job_sql(job_id)
    own = JobCustomers(job_id)
    with connection.cursor() as cursor:
        for kind in (ContactKind.MOBILE, ContactKind.EMAIL):
            wanted = [k for knd, k in keys if knd == kind]
            if not wanted:
                continue
            # one join against the chunk's keys (an in-memory table), not batches of IN lists
            cond, params = in_keys("cp.match_key", wanted)
            cursor.execute(
                f"SELECT cp.match_key, cp.customer_id FROM {qn(cp)} cp "  # noqa: S608
                f"JOIN {qn(cust)} c ON c.id = cp.customer_id "
                f"WHERE cp.kind = %s AND {cond} AND c.status = %s{visible_sql}{mine}",
                [kind.value, *params, RecordStatus.ACTIVE.value, *visible_params, *mine_params],
            )
            for key, customer_id in cursor.fetchall():
                if customer_id not in own:
                    owners[(str(kind), key)].add(customer_id)
    out: dict[int, int] = {}
    for c in candidates:
        pairs = ((str(ContactKind.MOBILE), c.mobile_keys), (str(ContactKind.EMAIL), c.email_keys))
        for kind_name, ks in pairs:
            hits = {cid for k in ks for cid in owners.get((kind_name, k), ())}
            if len(hits) == 1:
                out[c.index] = hits.pop()
                break
    return out


def get_matcher() -> Matcher:
    """The configured matcher (``settings.IMPORT_CUSTOMER_MATCHER``) or the deterministic one."""
    path = getattr(settings, "IMPORT_CUSTOMER_MATCHER", "") or DEFAULT_MATCHER
    matcher: Matcher = import_string(path)
    return matcher
