"""Duplicates a customer import creates: the same person twice in one file (under two ids of
the source) and a new customer who is one of several existing ones.

The import never links a row to another row of its file: its matcher leaves out the contact
points the import wrote (its customers', ``JobCustomers``, and those it added to existing
customers, ``added_by_job_sql``), so each row is compared with the base as it was before the
import, whatever chunk it is in, and a person twice in the file becomes two customers. Those,
and a new customer sharing a number with existing ones, are found here for a person to decide,
with the matching engine's deterministic rule: the same phone or e-mail key, when nothing
personal contradicts it (the names, birth dates and genders agree or one side lacks them;
families share phones; names compare as the engine normalises them, ``name_level``: spaces,
family and given swapped, the initial-sound rule 리/이), and a key held by at most
``MAX_HOLDERS`` records.

Each chunk records what the pairing needs (``remember``, in the chunk's transaction, so a
resumed job has what its committed chunks wrote): a real run the ids of the customers it
created (``ImportJob.created_ids``, a range per chunk), a dry run its new rows' keys
(``ImportRowKey``), both the keys rows add to existing customers, the ids of rows new to the
base (``ImportRowId``: an id again in a later chunk is rejected) and the probabilistic matcher's
unsure pairs (``ImportProposal``); a dry run also the names, birth dates and genders its rows give
existing customers (``facts``). Once every chunk is in,
``finish_file`` pairs the whole file (``pair_file``: each row with the file's other rows and
the customers holding its keys, in batches, only the rows with a key someone else holds),
stores the pairs as ``DuplicateCandidate``s of origin ``import`` (a dry run only counts them),
sets the job's ``duplicate_count`` and drops the records. The count depends on the file and the
base, not on the chunk size, and is the same in both runs. Pairs the rule cannot see (a changed
phone with the same name and birth date, a typo) are left to the duplicate search (중복 찾기
and the nightly run); see ADR 0005's amendments of 2026-11.
"""

from __future__ import annotations

import bisect
import datetime
import functools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from django.db import connection, transaction
from django.utils import timezone

from dangol.core.bulkwrite import TableWriter, in_keys, qn
from dangol.core.normalize import fold_initial_sound, split_name
from dangol.customers.models import ContactKind, ContactPoint, Customer, RecordStatus
from dangol.integration.models import ImportJob, ImportProposal, ImportRowId, ImportRowKey

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


@functools.lru_cache(maxsize=65_536)
def name_forms(full: str) -> tuple[str, str, str, str]:
    """A full name as the rule compares it (the matching engine's normalisation of names,
    ``matching.prepare``): family and given (``split_name``) without spaces, lower-cased, as
    family+given and given+family, then both again with the family's initial sound folded
    (``fold_initial_sound``: 리 → 이, 류 → 유, 림 → 임, 라 → 나)."""
    family, given = split_name(full)
    family, given = family.replace(" ", "").lower(), given.replace(" ", "").lower()
    folded = fold_initial_sound(family)
    return family + given, given + family, folded + given, given + folded


def name_level(a: str, b: str) -> str:
    """How two full names compare, in the engine's levels: ``exact`` (spaces and case aside),
    ``swapped`` (family and given in the other order: 홍길동 / 길동홍, 박서준 / "서준 박"),
    ``initial_sound`` (one spelled with the 두음법칙 and one without, perhaps swapped as well:
    이지은 / 리지은, 류수빈 / 유수빈), ``different`` or ``missing``."""
    if not a or not b:
        return "missing"
    fa, fb = name_forms(a), name_forms(b)
    if fa[0] == fb[0]:
        return "exact"
    if fa[0] == fb[1] or fa[1] == fb[0]:
        return "swapped"
    if set(fa) & set(fb):
        return "initial_sound"
    return "different"


def _gender(value: str) -> str:
    return value if value in ("M", "F") else ""


def compatible(a: Person, b: Person) -> bool:
    """Nothing personal says these are two people: names (``name_level``: the same name
    however spaced, ordered or spelled at its initial sound), birth dates and genders (M/F) each
    agree or are missing on a side."""
    return (
        _level(a.birth_date, b.birth_date) != "different"
        and _level(_gender(a.gender), _gender(b.gender)) != "different"
        and name_level(a.full_name, b.full_name) != "different"
    )


def _pair(a: Person, b: Person, rule: str, shared: set[tuple[str, str]]) -> dict[str, Any]:
    """A pair as ``store_candidates`` takes it (``left_id < right_id``), with the evidence a
    reviewer reads: personal fields compared, contact fields as far as they are known (a
    base customer's other contacts are not read: only what the pair shares is shown)."""
    left, right = (a, b) if a.id < b.id else (b, a)
    evidence: dict[str, str | None] = {
        "name": name_level(left.full_name, right.full_name),
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
    later: Callable[[int, int], bool],
) -> dict[int, set[tuple[str, str]]]:
    """``{other holder: keys shared}`` of ``person``: the holders of each of its keys, unless the
    key is held by more than ``MAX_HOLDERS`` records (a shared number, not evidence), leaving
    out ``person`` itself and the holders that ``later(holder, person.id)`` says come after it
    in the file (a pair of two rows is counted once, at the later one)."""
    shared: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for key in person.keys:
        ids = holders.get(key, ())
        if len(ids) > MAX_HOLDERS:
            continue
        for other in ids:
            if other != person.id and not later(other, person.id):
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
    return [
        _pair(a, b, _rule(keys), keys) for a, b, keys in _pairs(by_id, holders, by_id, _later_id)
    ]


# --- a whole file, chunk boundaries aside -------------------------------------------------------

# rows of a file paired per batch (their keys and the holders of those keys in memory)
PAIR_BATCH = 20_000
KINDS = tuple(KEY_FIELD)


class JobCustomers:
    """The customers import ``job_id`` created, as the ranges of ids its chunks allocated
    (``ImportJob.created_ids``: one range per chunk, a few more if another writer took ids
    between; so a few hundred for ten million rows)."""

    def __init__(self, job_id: int | None) -> None:
        ranges: list[list[int]] = []
        if job_id is not None:
            ranges = (
                ImportJob.objects.filter(pk=job_id).values_list("created_ids", flat=True).first()
                or []
            )
        self.firsts = [int(first) for first, _last in ranges]
        self.lasts = [int(last) for _first, last in ranges]

    def __contains__(self, customer_id: object) -> bool:
        if not isinstance(customer_id, int):
            return False
        i = bisect.bisect_left(self.lasts, customer_id)
        return i < len(self.lasts) and self.firsts[i] <= customer_id

    def __bool__(self) -> bool:
        return bool(self.lasts)

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self.firsts, self.lasts, strict=True))

    def later(self, other: int, row: int) -> bool:
        """Whether holder ``other`` is a customer of the file created after customer ``row``
        (ids are allocated in the file's order)."""
        return other > row and other in self


def _ranges(ids: Sequence[int]) -> list[list[int]]:
    """Sorted ids as ``[first, last]`` runs of consecutive ids."""
    out: list[list[int]] = []
    for cid in sorted(ids):
        if out and cid == out[-1][1] + 1:
            out[-1][1] = cid
        else:
            out.append([cid, cid])
    return out


# ``ImportRowKey.field`` of a dry run's record of what a row made of an existing customer's name,
# birth date and gender (its ``match_key`` is ``#`` and the customer's id: no contact key)
FACTS = "facts"


def remember(
    job_id: int,
    rows: Sequence[tuple[int, Person]],
    linked: Iterable[tuple[int, str, str]] = (),
    *,
    ids: Sequence[tuple[str, int, int | None]] = (),
    facts: Sequence[tuple[int, Person]] = (),
) -> None:
    """What ``pair_file`` needs of a chunk, written in the chunk's transaction (a resumed job
    finds what its committed chunks wrote). ``rows`` are its new customer rows ``(line,
    person)``: in a real run the person's id is the customer the row created, and the ids are
    added to the job's ``created_ids`` (the rows' keys and names are their customer's contact
    points and fields); in a dry run it is 0, and each key is recorded with the row's name,
    birth date and gender (``ImportRowKey``). ``linked`` are the keys the chunk's other rows add
    to existing customers (``(customer id, contact kind, match key)``), recorded in both runs:
    the matcher leaves them out, and ``pair_file`` counts those customers as holders. A key a
    repeated id adds to a customer this import created is that customer's own, not recorded.

    ``ids`` are the external ids of the chunk's rows that were new to the base ``(id, line,
    customer the row was matched to or None)``: a later chunk rejects them again
    (``repeated_ids``). ``facts`` (dry runs) are ``(line, person)`` of the existing customers
    whose name, birth date or gender the chunk's rows change, as they would be after it: the
    dry run's pairing and its later chunks read the customer so (``facts_of``), as the real run
    reads the updated row."""
    created = [person.id for _line, person in rows if person.id]
    if created:
        job = ImportJob.objects.select_for_update().only("created_ids").get(pk=job_id)
        ImportJob.objects.filter(pk=job_id).update(
            created_ids=[*(job.created_ids or []), *_ranges(created)]
        )
    now = timezone.now()
    dry_rows = [
        (line, name, key, person.full_name, person.birth_date, person.gender)
        for line, person in rows
        if not person.id
        for name, key in sorted(person.keys)
    ]
    if dry_rows:
        TableWriter(
            ImportRowKey,
            ("line", "field", "match_key", "full_name", "birth_date", "gender"),
            now,
            constants={"job_id": job_id, "linked": False},
        ).insert(dry_rows)
    extra = [(cid, KEY_FIELD[kind], key) for cid, kind, key in linked if kind in KEY_FIELD]
    if extra:
        mine = JobCustomers(job_id)
        extra = [e for e in extra if e[0] not in mine]
    if extra:
        TableWriter(
            ImportRowKey,
            ("customer_id", "field", "match_key"),
            now,
            constants={"job_id": job_id, "linked": True, "line": 0},
        ).insert(extra)
    if ids:
        TableWriter(
            ImportRowId, ("key", "line", "customer_id"), now, constants={"job_id": job_id}
        ).insert(list(ids))
    if facts:
        TableWriter(
            ImportRowKey,
            ("line", "customer_id", "match_key", "full_name", "birth_date", "gender"),
            now,
            constants={"job_id": job_id, "linked": True, "field": FACTS},
        ).insert(
            [(line, p.id, f"#{p.id}", p.full_name, p.birth_date, p.gender) for line, p in facts]
        )


def repeated_ids(job_id: int, keys: Sequence[str]) -> set[str]:
    """The ``keys`` (external ids) that a row of an earlier chunk of import ``job_id`` had while
    new to the base (``remember``'s ``ids``): one query, a join against the keys."""
    if not keys:
        return set()
    cond, params = in_keys(qn("key"), list(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {qn('key')} FROM {qn(ImportRowId._meta.db_table)} "  # noqa: S608
            f"WHERE job_id = %s AND {cond}",
            [job_id, *params],
        )
        return {r[0] for r in cursor.fetchall()}


def facts_of(job_id: int, ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """A dry run's ``{customer id: {full_name, birth_date, gender}}``: what its earlier rows
    made of these existing customers (the latest record of each), for those it changed. One
    query, a join against the records' keys."""
    if not ids:
        return {}
    cond, params = in_keys("match_key", [f"#{cid}" for cid in sorted(ids)])
    out: dict[int, dict[str, Any]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id, full_name, birth_date, gender "  # noqa: S608
            f"FROM {qn(ImportRowKey._meta.db_table)} "
            f"WHERE job_id = %s AND field = %s AND {cond} ORDER BY line, id",
            [job_id, FACTS, *params],
        )
        for cid, name, birth, gender in cursor.fetchall():
            out[int(cid)] = {"full_name": name, "birth_date": _date(birth), "gender": gender}
    return out


def propose(job_id: int, review: pl.DataFrame) -> None:
    """Keep the probabilistic matcher's unsure pairs of a chunk (``external_id, existing_id,
    probability, match_rule, evidence``) for ``finish_file``, in the chunk's transaction."""
    if review.is_empty():
        return
    ImportProposal.objects.bulk_create(
        [
            ImportProposal(
                job_id=job_id,
                external_id=r["external_id"],
                customer_id=r["existing_id"],
                probability=r["probability"],
                match_rule=r["match_rule"] or "",
                evidence={k: v for k, v in (r["evidence"] or {}).items() if v is not None},
            )
            for r in review.iter_rows(named=True)
        ],
        batch_size=1000,
    )


def discard(job_id: int) -> None:
    """Delete the per-file records of import ``job_id`` (its row keys, ids and proposals)."""
    for model in (ImportRowKey, ImportRowId, ImportProposal):
        model.objects.filter(job_id=job_id).delete()


def added_by_job_sql(job_id: int | None, alias: str = "cp") -> tuple[str, list[Any]]:
    """A condition on the contact point ``alias`` leaving out the ones import ``job_id`` added
    to existing customers (its own customers' are ``JobCustomers``): with both left out, its
    rows are compared with the base as it was before the import, in a real run as in a dry run.
    Empty without a job."""
    if job_id is None:
        return "", []
    return (
        f" AND NOT EXISTS (SELECT 1 FROM {qn(ImportRowKey._meta.db_table)} k "  # noqa: S608
        f"WHERE k.job_id = %s AND k.match_key = {alias}.match_key "
        f"AND k.customer_id = {alias}.customer_id)",
        [job_id],
    )


def pair_file(job_id: int, *, dry_run: bool) -> int:
    """The pairs of a customer file once every chunk is in: each new customer row (a row that
    created a customer, or in a dry run would) with the file's other new rows and with the
    active customers holding one of its keys (from before the import, or added by a row of the
    file), by the rule (``compatible``; a key held by more than ``MAX_HOLDERS`` of them is no
    evidence). A real run reads its rows as the customers they created (``JobCustomers``) and
    stores the pairs as import candidates, batch by batch; a dry run reads the rows' records
    (``remember``) and only counts. Only the rows with a key someone else holds are read, in
    batches of ``PAIR_BATCH``: memory does not grow with the file, nor the Python work with its
    rows. Returns the number of pairs, the same in both runs and whatever the chunks were: a
    pair of two rows is counted once, at the later one."""
    unsure = _proposals(job_id, dry_run=dry_run)
    if dry_run:
        return _pair_rows(job_id, unsure) + len(unsure)
    total = 0
    mine = JobCustomers(job_id)
    for first, last in mine.ranges():
        after = first - 1
        while ids := _customers_to_pair(after, last):
            after = ids[-1]
            batch = _customer_people(ids)
            holders, people = _holders(job_id, batch, dry_run=False)
            pairs = _pairs(batch, holders, people, mine.later)
            total += len(pairs)
            for a, b, _keys in pairs:  # found by the rule too: stored and counted as the rule's
                unsure.pop(_ordered(a.id, b.id), None)
            if pairs:
                with transaction.atomic():
                    store_pairs([_pair(a, b, _rule(keys), keys) for a, b, keys in pairs])
    if unsure:
        with transaction.atomic():
            store_pairs(list(unsure.values()))
    return total + len(unsure)


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _proposals(job_id: int, *, dry_run: bool) -> dict[tuple[int, int], dict[str, Any]]:
    """The probabilistic matcher's unsure pairs of the file (``propose``) as pairs of the rule's
    ids, by ``(left, right)``: in a real run the customer the row created (its external id in
    the job's source, among the job's customers) and the existing one; in a dry run the row
    (``-line``, from its ``ImportRowId``) and the existing one. As many as the matcher was
    unsure about (not one per row of the file)."""
    found = list(
        ImportProposal.objects.filter(job_id=job_id)
        .order_by("id")
        .values_list("external_id", "customer_id", "probability", "match_rule", "evidence")
    )
    if not found:
        return {}
    keys = sorted({f[0] for f in found})
    row_of: dict[str, int] = {}
    if dry_run:
        for batch in _batches(keys):
            row_of.update(
                (key, -line)
                for key, line in ImportRowId.objects.filter(
                    job_id=job_id, key__in=batch, customer_id__isnull=True
                ).values_list("key", "line")
            )
    else:
        from dangol.customers.models import ExternalId

        source = ImportJob.objects.filter(pk=job_id).values_list("source", flat=True).get()
        mine = JobCustomers(job_id)
        for batch in _batches(keys):
            row_of.update(
                (key, cid)
                for key, cid in ExternalId.objects.filter(
                    source=source, key__in=batch, customer_id__isnull=False
                ).values_list("key", "customer_id")
                if cid in mine
            )
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for key, existing, probability, rule, evidence in found:
        row = row_of.get(key)
        if row is None or row == existing:
            continue
        left, right = _ordered(row, existing)
        out.setdefault(
            (left, right),
            {
                "left_id": left,
                "right_id": right,
                "probability": probability,
                "match_rule": rule or None,
                "evidence": evidence or {},
            },
        )
    return out


def _batches(keys: Sequence[str], size: int = 900) -> Iterator[Sequence[str]]:
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


def _pairs(
    batch: Mapping[int, Person],
    holders: Mapping[tuple[str, str], Collection[int]],
    people: Mapping[int, Person],
    later: Callable[[int, int], bool],
) -> list[tuple[Person, Person, set[tuple[str, str]]]]:
    """The pairs of the ``batch`` rows by the rule, each once: a pair of two rows of the file
    is left to the later row (``later(other, row)``)."""
    out = []
    for person in batch.values():
        for other, keys in _shared_keys(person, holders, later).items():
            if compatible(person, people[other]):
                out.append((person, people[other], keys))
    return out


def _pair_rows(job_id: int, unsure: dict[tuple[int, int], dict[str, Any]]) -> int:
    """``pair_file`` of a dry run: its rows' records, a row's id its line. The pairs the rule
    finds are dropped from ``unsure`` (counted once, as the rule's)."""
    total = 0
    after = 0
    table = qn(ImportRowKey._meta.db_table)
    while lines := _lines_to_pair(job_id, after):
        after = lines[-1]
        batch: dict[int, Person] = {}
        cond, params = in_keys("line", lines)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT line, field, match_key, full_name, birth_date, gender FROM {table} "  # noqa: S608
                f"WHERE job_id = %s AND linked = %s AND {cond}",
                [job_id, False, *params],
            )
            for line, field_name, key, name, birth, gender in cursor.fetchall():
                person = batch.setdefault(-line, Person(-line, name, _date(birth), gender))
                person.keys.add((field_name, key))
        holders, people = _holders(job_id, batch, dry_run=True)
        pairs = _pairs(batch, holders, people, _later_row)
        total += len(pairs)
        for a, b, _keys in pairs:
            unsure.pop(_ordered(a.id, b.id), None)
    return total


def _later_id(other: int, row: int) -> bool:
    """Among new customers by id (allocated in file order): whether ``other`` came after
    ``row``."""
    return other > row


def _later_row(other: int, row: int) -> bool:
    """In a dry run's pairing a row is ``-line`` (customers are their positive ids): whether
    holder ``other`` is a row later in the file than ``row``."""
    return other < row


def _lines_to_pair(job_id: int, after: int) -> list[int]:
    """A dry run's next ``PAIR_BATCH`` lines after ``after`` whose row may have a pair: a key of
    it held by another record of the job (a row, or a customer a row added it to) or by a
    contact point. One query, two index probes per record."""
    table, cp = qn(ImportRowKey._meta.db_table), qn(ContactPoint._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT k.line FROM {table} k WHERE k.job_id = %s AND k.linked = %s "  # noqa: S608
            f"AND k.line > %s AND (EXISTS (SELECT 1 FROM {table} o WHERE o.job_id = k.job_id "
            f"AND o.match_key = k.match_key AND o.id <> k.id) OR EXISTS (SELECT 1 FROM {cp} cp "
            f"WHERE cp.match_key = k.match_key)) ORDER BY k.line LIMIT %s",
            [job_id, False, after, PAIR_BATCH],
        )
        return [int(r[0]) for r in cursor.fetchall()]


def _customers_to_pair(after: int, last: int) -> list[int]:
    """A real run's next ``PAIR_BATCH`` customers of its own, from ``after`` (excluded) to
    ``last``, with a phone or e-mail key another customer holds. One query, an index probe per
    contact point."""
    cp = qn(ContactPoint._meta.db_table)
    kinds = ", ".join(["%s"] * len(KINDS))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT cp.customer_id FROM {cp} cp "  # noqa: S608
            f"WHERE cp.customer_id > %s AND cp.customer_id <= %s AND cp.kind IN ({kinds}) "
            f"AND EXISTS (SELECT 1 FROM {cp} o WHERE o.match_key = cp.match_key "
            f"AND o.customer_id <> cp.customer_id) ORDER BY cp.customer_id LIMIT %s",
            [after, last, *KINDS, PAIR_BATCH],
        )
        return [int(r[0]) for r in cursor.fetchall()]


def _customer_people(ids: Sequence[int]) -> dict[int, Person]:
    """The active customers ``ids`` as the rule reads them: name, birth date, gender, phone and
    e-mail keys (one query)."""
    cond, params = in_keys("c.id", list(ids))
    out: dict[int, Person] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, c.full_name, c.birth_date, c.gender, cp.kind, cp.match_key "  # noqa: S608
            f"FROM {qn(Customer._meta.db_table)} c "
            f"JOIN {qn(ContactPoint._meta.db_table)} cp ON cp.customer_id = c.id "
            f"WHERE {cond} AND c.status = %s",
            [*params, RecordStatus.ACTIVE.value],
        )
        for cid, name, birth, gender, kind, key in cursor.fetchall():
            person = out.setdefault(cid, Person(cid, name or "", _date(birth), gender or ""))
            if kind in KEY_FIELD:
                person.keys.add((KEY_FIELD[kind], key))
    return out


def _holders(
    job_id: int, batch: Mapping[int, Person], *, dry_run: bool
) -> tuple[dict[tuple[str, str], set[int]], dict[int, Person]]:
    """Who holds each key of the ``batch`` rows, and the people by id: the active customers with
    a contact point of it (in a real run the file's own among them, by the contact points they
    got); in a dry run also the file's rows (``-line``) and the customers a row added it to,
    from the job's records. One query of each kind for the batch."""
    wanted = sorted({key for person in batch.values() for _name, key in person.keys})
    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    people: dict[int, Person] = {}
    linked: set[int] = set()
    cond, params = in_keys("cp.match_key", wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT cp.customer_id, cp.kind, cp.match_key, c.full_name, c.birth_date, c.gender "  # noqa: S608
            f"FROM {qn(ContactPoint._meta.db_table)} cp "
            f"JOIN {qn(Customer._meta.db_table)} c ON c.id = cp.customer_id "
            f"WHERE {cond} AND c.status = %s",
            [*params, RecordStatus.ACTIVE.value],
        )
        for cid, kind, key, name, birth, gender in cursor.fetchall():
            name_of = KEY_FIELD.get(kind)
            if name_of is None:
                continue
            people.setdefault(cid, Person(cid, name or "", _date(birth), gender or ""))
            holders[(name_of, key)].add(cid)
        if not dry_run:
            return holders, people
        cond, params = in_keys("k.match_key", wanted)
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
            holders[(name_of, key)].add(-line)
    missing = sorted(linked - people.keys())
    for values in Customer.objects.filter(pk__in=missing, status=RecordStatus.ACTIVE).values(
        "id", "full_name", "birth_date", "gender"
    ):
        people[values["id"]] = Person(
            values["id"], values["full_name"], values["birth_date"], values["gender"]
        )
    gone = linked - people.keys()  # a linked customer merged or archived since holds nothing
    if gone:
        for ids in holders.values():
            ids -= gone
    # as the real run reads them: with the names, birth dates and genders the file gave them
    for cid, fact in facts_of(job_id, [p for p in people if p > 0]).items():
        person = people[cid]
        person.full_name = fact["full_name"] or ""
        person.birth_date = fact["birth_date"]
        person.gender = fact["gender"] or ""
    return holders, people


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, str):  # SQLite returns the text of a raw query's date
        return datetime.date.fromisoformat(value)
    return value


def finish_file(job_id: int, *, dry_run: bool) -> int:
    """After the last chunk of a customer file: ``pair_file`` (stored unless ``dry_run``), the
    job's ``duplicate_count`` set to the number of pairs, and the job's records deleted
    (``discard``). Run again (a job that stopped here and resumed), it stores nothing twice and sets
    the same count."""
    count = pair_file(job_id, dry_run=dry_run)
    with transaction.atomic():
        ImportJob.objects.filter(pk=job_id).update(duplicate_count=count, updated_at=timezone.now())
        discard(job_id)
    return count


def store_pairs(pairs: list[dict[str, Any]]) -> None:
    """Store ``pairs`` (``_pair``'s, or the matcher's with its own evidence fields) as review
    candidates of origin ``import``."""
    from dangol.integration.models import CandidateOrigin
    from dangol.integration.services import store_candidates

    fields = sorted({name for p in pairs for name in p["evidence"]} | set(EVIDENCE_FIELDS))
    frame = pl.DataFrame(
        pairs,
        schema={
            "left_id": pl.Int64,
            "right_id": pl.Int64,
            "probability": pl.Float64,
            "match_rule": pl.String,
            "evidence": pl.Struct(dict.fromkeys(fields, pl.String)),
        },
    )
    store_candidates(frame, origin=CandidateOrigin.IMPORT)


__all__ = [
    "JobCustomers",
    "Person",
    "added_by_job_sql",
    "discard",
    "facts_of",
    "finish_file",
    "pair_file",
    "pairs_among",
    "propose",
    "remember",
    "repeated_ids",
]
