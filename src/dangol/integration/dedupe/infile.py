"""Duplicates a customer import creates: the same person twice in one file (under two ids of
the source) and a new customer who is one of several existing ones.

The import's matcher compares a chunk's rows with the customers already committed, so a row
whose person is in an *earlier* chunk is found like any existing customer; two rows of the
*same* chunk never see each other, and a row sharing its mobile or e-mail with several
existing customers becomes a new customer without a word. ``pairs_of_new`` finds both kinds
for a chunk's new customers, set-based (one dictionary pass over the chunk's contact keys and
one query, a join against those keys, for the base), with the matching engine's deterministic
rule: the same phone or e-mail key, when nothing personal contradicts it (the names, birth
dates and genders agree or one side lacks them; families share phones). ``propose_after_commit``
stores the pairs once the chunk has committed, as ``DuplicateCandidate``s of origin
``import`` for a person to decide, which the import's result page counts and links to.
Pairs the rule cannot see (a changed phone with the same name and birth date, a typo) are left
to the duplicate search (중복 찾기 and the nightly run); see ADR 0005's 2026-11 amendment.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import polars as pl
from django.db import connection, transaction

from dangol.customers.models import ContactKind, ContactPoint, Customer, RecordStatus
from dangol.integration.imports.writer import in_keys, qn

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


def pairs_among(people: Sequence[Person]) -> list[dict[str, Any]]:
    """Pairs of ``people`` (the chunk's new customers) sharing a phone or e-mail key, when
    ``compatible``: one pass grouping them by key."""
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, person in enumerate(people):
        for key in person.keys:
            by_key[key].append(i)
    shared: dict[tuple[int, int], set[tuple[str, str]]] = defaultdict(set)
    for key, members in by_key.items():
        if 1 < len(members) <= MAX_HOLDERS:
            for i, j in combinations(members, 2):
                shared[(i, j)].add(key)
    out = []
    for (i, j), keys in shared.items():
        a, b = people[i], people[j]
        if compatible(a, b):
            out.append(_pair(a, b, _rule(keys), keys))
    return out


def pairs_with_base(people: Sequence[Person]) -> list[dict[str, Any]]:
    """Pairs (new customer, active customer of the base) sharing a phone or e-mail key, when
    ``compatible``: one query joining the chunk's keys to the contact points and their
    customers. Run before the chunk's customers are written (or it finds them too)."""
    wanted = sorted({key for person in people for _name, key in person.keys})
    if not wanted:
        return []
    cond, params = in_keys("cp.match_key", wanted)
    found: dict[int, Person] = {}
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
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
            if isinstance(birth, str):  # SQLite returns the text of a raw query's date
                birth = datetime.date.fromisoformat(birth)
            found.setdefault(cid, Person(cid, name or "", birth, gender or ""))
            holders[(name_of, key)].append(cid)
    in_chunk: dict[tuple[str, str], int] = defaultdict(int)
    for person in people:
        for key in person.keys:
            in_chunk[key] += 1
    out = []
    for person in people:
        shared: dict[int, set[tuple[str, str]]] = defaultdict(set)
        for key in person.keys:
            if len(holders.get(key, ())) + in_chunk[key] > MAX_HOLDERS:
                continue
            for cid in holders.get(key, ()):
                if cid != person.id:
                    shared[cid].add(key)
        for cid, keys in shared.items():
            if compatible(person, found[cid]):
                out.append(_pair(person, found[cid], _rule(keys), keys))
    return out


def pairs_of_new(people: Sequence[Person]) -> list[dict[str, Any]]:
    """``pairs_among`` and ``pairs_with_base`` of a chunk's new customers."""
    if not people:
        return []
    return pairs_among(people) + pairs_with_base(people)


def propose_after_commit(pairs: list[dict[str, Any]]) -> None:
    """Store ``pairs`` as import candidates once the current transaction (the chunk that
    created the customers) has committed; nothing if it rolls back."""
    if pairs:
        transaction.on_commit(lambda: store_pairs(pairs))


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


__all__ = ["Person", "pairs_of_new", "propose_after_commit"]
