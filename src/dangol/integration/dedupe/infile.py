"""Duplicates a customer import creates: the same person twice in one file (under two ids of
the source) and a new customer who is one of several existing ones.

The import never links a row to another row of its file: its matcher leaves out the contact
points the import wrote (``written_by_job_sql``), so each row is compared with the base as it
was before the import, whatever chunk it is in, and a person twice in the file becomes two
customers. Those, and a new customer sharing a number with existing ones, are found here for a
person to decide, with the matching engine's deterministic rule: the same phone or e-mail key,
when nothing personal contradicts it (the names, birth dates and genders agree or one side
lacks them; families share phones), and a key held by at most ``MAX_HOLDERS`` records.

Each chunk records its new rows' keys (``remember``: ``ImportRowKey``s, in the chunk's
transaction, in a dry run too, so a resumed job has those of its committed chunks). Once every
chunk is in, ``finish_file`` pairs the whole file in batches of rows (``pair_file``: each row
with the file's other rows and the customers holding its keys, one query of each kind per
batch), stores the pairs as ``DuplicateCandidate``s of origin ``import`` (a dry run only counts
them), sets the job's ``duplicate_count`` and drops the records. The count depends on the file
and the base, not on the chunk size. Pairs the rule cannot see (a changed phone with the same
name and birth date, a typo) are left to the duplicate search (중복 찾기 and the nightly run);
see ADR 0005's amendments of 2026-11.
"""

from __future__ import annotations

import datetime
import operator
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import polars as pl
from django.db import connection, transaction
from django.utils import timezone

from dangol.customers.models import ContactKind, ContactPoint, Customer, RecordStatus
from dangol.integration.imports.writer import TableWriter, in_keys, qn
from dangol.integration.models import ImportJob, ImportRowKey

# the engine's probability of a deterministic-rule pair (``matching.model.RULE_PROBABILITY``;
# not imported: Splink loads with that module)
RULE_PROBABILITY = 1.0
# what a contact point's kind is compared as: a mobile in one file is a phone in another
KEY_FIELD = {
    ContactKind.MOBILE.value: "phone",
    ContactKind.PHONE.value: "phone",
    ContactKind.EMAIL.value: "email",
}
EVIDENCE_FIELDS = ("name", "birth_date", "gender", "phone", "email")
# a key held by more records than this (new and existing together) is a shared number or
# address (a shop's own phone typed for walk-in customers), not evidence of one person
MAX_HOLDERS = 10


@dataclass
class Person:
    """What a customer row says about the person, for the rule: name, birth date, gender and
    contact keys as ``(field, match key)`` with field ``phone`` or ``email``."""

    id: int
    full_name: str = ""
    birth_date: datetime.date | None = None
    gender: str = ""
    keys: set[tuple[str, str]] = field(default_factory=set)


def _level(a: Any, b: Any) -> str:
    if not a or not b:
        return "missing"
    return "exact" if a == b else "different"


def _gender(value: str) -> str:
    return value if value in ("M", "F") else ""


def compatible(a: Person, b: Person) -> bool:
    """Nothing personal says these are two people: names, birth dates and genders (M/F) each
    agree or are missing on a side."""
    return all(
        _level(x, y) != "different"
        for x, y in (
            (a.full_name, b.full_name),
            (a.birth_date, b.birth_date),
            (_gender(a.gender), _gender(b.gender)),
        )
    )


def _pair(a: Person, b: Person, rule: str, shared: set[tuple[str, str]]) -> dict[str, Any]:
    """A pair as ``store_candidates`` takes it (``left_id < right_id``), with the evidence a
    reviewer reads: personal fields compared, contact fields as far as they are known (a
    base customer's other contacts are not read: only what the pair shares is shown)."""
    left, right = (a, b) if a.id < b.id else (b, a)
    evidence: dict[str, str | None] = {
        "name": _level(left.full_name, right.full_name),
        "birth_date": _level(left.birth_date, right.birth_date),
        "gender": _level(_gender(left.gender), _gender(right.gender)),
        "phone": None,
        "email": None,
    }
    for name, _key in shared:
        evidence[name] = "exact"
    return {
        "left_id": left.id,
        "right_id": right.id,
        "probability": RULE_PROBABILITY,
        "match_rule": rule,
        "evidence": evidence,
    }


def _rule(shared: Iterable[tuple[str, str]]) -> str:
    names = {name for name, _key in shared}
    return "phone" if "phone" in names else "email"


def _shared_keys(
    person: Person,
    holders: Mapping[tuple[str, str], Collection[int]],
    counted_later: Callable[[int], bool],
) -> dict[int, set[tuple[str, str]]]:
    """``{other holder: keys shared}`` of ``person``: the holders of each of its keys, unless the
    key is held by more than ``MAX_HOLDERS`` records (a shared number, not evidence), leaving
    out ``person`` itself and the holders ``counted_later(holder)`` says the pair is counted at
    (a pair of two rows is counted once, at the later one)."""
    shared: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for key in person.keys:
        ids = holders.get(key, ())
        if len(ids) > MAX_HOLDERS:
            continue
        for other in ids:
            if other != person.id and not counted_later(other):
                shared[other].add(key)
    return shared


def pairs_among(people: Sequence[Person]) -> list[dict[str, Any]]:
    """Pairs of ``people`` (new customers, distinct ids) sharing a phone or e-mail key, when
    ``compatible``: the rule on its own, as ``pair_file`` applies it to a file."""
    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    for person in people:
        for key in person.keys:
            holders[key].add(person.id)
    by_id = {p.id: p for p in people}
    out = []
    for person in people:
        later = person.id
        for other, keys in _shared_keys(person, holders, partial(operator.lt, later)).items():
            if compatible(person, by_id[other]):
                out.append(_pair(person, by_id[other], _rule(keys), keys))
    return out


# --- a whole file, chunk boundaries aside -------------------------------------------------------

# rows of a file paired per batch (their keys and the holders of those keys in memory)
PAIR_BATCH = 20_000


def remember(
    job_id: int,
    rows: Sequence[tuple[int, Person]],
    linked: Iterable[tuple[int, str, str]] = (),
) -> None:
    """Record a chunk's new customer rows (``(line, person)``, the person's id the customer the
    real run created, or 0 in a dry run) and the keys its other rows add to existing customers
    (``(customer id, contact kind, match key)``) as ``ImportRowKey``s, in the chunk's
    transaction, for ``pair_file``. A key added to a customer the same import created (its id
    repeated in a later chunk) is not recorded: that row is the customer's own."""
    extra = [(cid, KEY_FIELD[kind], key) for cid, kind, key in linked if kind in KEY_FIELD]
    if extra:
        created = _created_by_job(job_id, sorted({cid for cid, _f, _k in extra}))
        extra = [e for e in extra if e[0] not in created]
    records = [
        (
            job_id,
            line,
            False,
            person.id or None,
            name,
            key,
            person.full_name,
            person.birth_date,
            person.gender,
        )
        for line, person in rows
        for name, key in sorted(person.keys)
    ]
    records += [(job_id, 0, True, cid, name, key, "", None, "") for cid, name, key in extra]
    if not records:
        return
    TableWriter(
        ImportRowKey,
        (
            "job_id",
            "line",
            "linked",
            "customer_id",
            "field",
            "match_key",
            "full_name",
            "birth_date",
            "gender",
        ),
        timezone.now(),
    ).insert(records)


def _created_by_job(job_id: int, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    cond, params = in_keys("customer_id", list(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT customer_id FROM {qn(ImportRowKey._meta.db_table)} "  # noqa: S608
            f"WHERE job_id = %s AND linked = %s AND {cond}",
            [job_id, False, *params],
        )
        return {int(r[0]) for r in cursor.fetchall()}


def written_by_job_sql(job_id: int | None, alias: str = "cp") -> tuple[str, list[Any]]:
    """A condition on the contact point ``alias`` leaving out the ones import ``job_id`` wrote
    (its customers' and those it added to existing customers): what its rows are compared with
    is the base as it was before the import, in a real run as in a dry run. Empty without a
    job."""
    if job_id is None:
        return "", []
    return (
        f" AND NOT EXISTS (SELECT 1 FROM {qn(ImportRowKey._meta.db_table)} k "  # noqa: S608
        f"WHERE k.job_id = %s AND k.match_key = {alias}.match_key "
        f"AND k.customer_id = {alias}.customer_id)",
        [job_id],
    )


def pair_file(job_id: int, *, store: bool) -> int:
    """The pairs of a customer file once every chunk is in: each new customer row (a row that
    created a customer, or in a dry run would) with the file's other new rows and with the
    active customers holding one of its keys (in a contact point from before the import, or
    one a row of the file added to them), by the rule (``compatible``; a key held by more than
    ``MAX_HOLDERS`` of them is no evidence). Reads the job's ``ImportRowKey``s in batches of
    ``PAIR_BATCH`` rows (memory does not grow with the file) and, with ``store`` (a real run),
    stores each batch's pairs as import candidates. Returns the number of pairs, which is the
    same whatever the chunks were: a pair of two rows is counted once, at the later one."""
    total = 0
    after = 0
    rows = ImportRowKey.objects.filter(job_id=job_id, linked=False)
    while True:
        lines = list(
            rows.filter(line__gt=after)
            .order_by("line")
            .values_list("line", flat=True)
            .distinct()[:PAIR_BATCH]
        )
        if not lines:
            return total
        batch: dict[int, Person] = {}
        for line, field_name, key, name, birth, gender in rows.filter(
            line__gt=after, line__lte=lines[-1]
        ).values_list("line", "field", "match_key", "full_name", "birth_date", "gender"):
            person = batch.setdefault(-line, Person(-line, name, birth, gender))
            person.keys.add((field_name, key))
        after = lines[-1]
        holders, people, customers = _holders(job_id, batch)
        pairs = []
        for person in batch.values():
            # another row of the file with a later line (a smaller id) counts the pair itself
            shared = _shared_keys(person, holders, partial(operator.gt, person.id))
            for other, keys in shared.items():
                if compatible(person, people[other]):
                    pairs.append((person, people[other], keys))
        total += len(pairs)
        if store and pairs:
            with transaction.atomic():
                store_pairs([_stored(a, b, keys, customers) for a, b, keys in pairs])


def _stored(
    a: Person, b: Person, keys: set[tuple[str, str]], customers: Mapping[int, int]
) -> dict[str, Any]:
    """A pair of ``pair_file`` as stored: a row (``-line``) by the customer it created."""

    def real(p: Person) -> Person:
        if p.id > 0:
            return p
        return Person(customers.get(p.id, 0), p.full_name, p.birth_date, p.gender, p.keys)

    return _pair(real(a), real(b), _rule(keys), keys)


def _holders(
    job_id: int, batch: Mapping[int, Person]
) -> tuple[dict[tuple[str, str], set[int]], dict[int, Person], dict[int, int]]:
    """Who holds each key of the ``batch`` rows: the file's new rows (``-line``, from the
    job's ``ImportRowKey``s), the existing customers a row of the file added it to, and the
    active customers with a contact point of it from before the import (their ids); with the
    people by id and, in a real run, the customer each of those rows created. One query of
    each kind for the batch, and one for the personal fields of linked customers."""
    wanted = sorted({key for person in batch.values() for _name, key in person.keys})
    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    people: dict[int, Person] = dict(batch)
    customers: dict[int, int] = {}
    linked: set[int] = set()
    cond, params = in_keys("k.match_key", wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT k.line, k.linked, k.customer_id, k.field, k.match_key, k.full_name, "  # noqa: S608
            f"k.birth_date, k.gender FROM {qn(ImportRowKey._meta.db_table)} k "
            f"WHERE k.job_id = %s AND {cond}",
            [job_id, *params],
        )
        for line, is_linked, cid, name_of, key, name, birth, gender in cursor.fetchall():
            if is_linked:
                holders[(name_of, key)].add(int(cid))
                linked.add(int(cid))
                continue
            if -line not in people:
                people[-line] = Person(-line, name or "", _date(birth), gender or "")
            if cid:
                customers[-line] = int(cid)
            holders[(name_of, key)].add(-line)
        cond, params = in_keys("cp.match_key", wanted)
        mine, mine_params = written_by_job_sql(job_id)
        cursor.execute(
            f"SELECT cp.customer_id, cp.kind, cp.match_key, c.full_name, c.birth_date, c.gender "  # noqa: S608
            f"FROM {qn(ContactPoint._meta.db_table)} cp "
            f"JOIN {qn(Customer._meta.db_table)} c ON c.id = cp.customer_id "
            f"WHERE {cond} AND c.status = %s{mine}",
            [*params, RecordStatus.ACTIVE.value, *mine_params],
        )
        for cid, kind, key, name, birth, gender in cursor.fetchall():
            name_of = KEY_FIELD.get(kind)
            if name_of is None:
                continue
            people.setdefault(cid, Person(cid, name or "", _date(birth), gender or ""))
            holders[(name_of, key)].add(cid)
    missing = sorted(linked - set(people))
    for values in Customer.objects.filter(pk__in=missing, status=RecordStatus.ACTIVE).values(
        "id", "full_name", "birth_date", "gender"
    ):
        people[values["id"]] = Person(
            values["id"], values["full_name"], values["birth_date"], values["gender"]
        )
    for ids in holders.values():  # a linked customer merged or archived since holds nothing
        ids.intersection_update(people)
    return holders, people, customers


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, str):  # SQLite returns the text of a raw query's date
        return datetime.date.fromisoformat(value)
    return value


def finish_file(job_id: int, *, dry_run: bool) -> int:
    """After the last chunk of a customer file: ``pair_file`` (stored unless ``dry_run``), the
    job's ``duplicate_count`` set to the number of pairs, and the job's ``ImportRowKey``s
    deleted. Run again (a job that stopped here and resumed), it stores nothing twice and sets
    the same count."""
    count = pair_file(job_id, store=not dry_run)
    with transaction.atomic():
        ImportJob.objects.filter(pk=job_id).update(duplicate_count=count, updated_at=timezone.now())
        ImportRowKey.objects.filter(job_id=job_id).delete()
    return count


def store_pairs(pairs: list[dict[str, Any]]) -> None:
    from dangol.integration.models import CandidateOrigin
    from dangol.integration.services import store_candidates

    frame = pl.DataFrame(
        pairs,
        schema={
            "left_id": pl.Int64,
            "right_id": pl.Int64,
            "probability": pl.Float64,
            "match_rule": pl.String,
            "evidence": pl.Struct(dict.fromkeys(EVIDENCE_FIELDS, pl.String)),
        },
    )
    store_candidates(frame, origin=CandidateOrigin.IMPORT)


__all__ = ["Person", "finish_file", "pair_file", "pairs_among", "remember", "written_by_job_sql"]
