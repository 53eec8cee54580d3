"""Import targets: the fields each accepts, how a row is checked, and the set-based chunk writer.

Each writer handles one chunk of rows with a fixed number of queries: it prefetches the
existing keys of the whole chunk, decides per row created / updated / matched / unchanged /
rejected, and (unless it is a dry run) writes with ``TableWriter`` and ``update_rows``. The rows
written are the rows the services would write: normalized contact points, ``ConsentEvent``
history, order lines with the services' totals, customer purchase aggregates recomputed
set-based for the customers of an order file's orders, once per file (``finish_owed``).
"""

from __future__ import annotations

import datetime
import difflib
import re
import secrets
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
from django.db import connection, models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.commerce.models import (
    Order,
    OrderLine,
    OrderStatus,
    PriceChange,
    Product,
    ProductCategory,
    ProductTier,
    PurchasedProduct,
    SalesChannel,
)
from dangol.commerce.purchases import refresh_purchase_aggregates
from dangol.core import bulkwrite
from dangol.core.models import User
from dangol.core.money import MINOR_UNITS, quantize
from dangol.core.normalize import address_key, clean_name
from dangol.customers import changefeed, name_index
from dangol.customers.models import (
    CONSENT_RECONFIRM_YEARS,
    Address,
    AddressKind,
    ChangeOp,
    Consent,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    ConsentStatus,
    ContactKind,
    ContactPoint,
    Customer,
    ExternalId,
    Gender,
    LifecycleStage,
    RecordStatus,
    Region,
    SignupChannel,
)
from dangol.integration.dedupe import infile
from dangol.integration.imports import parsing, speedpaths
from dangol.integration.imports.identity import MatchCandidate, Matcher
from dangol.integration.imports.mapping import FieldSpec, Reason
from dangol.integration.imports.parsing import FieldIssue
from dangol.integration.imports.writer import (
    TableWriter,
    allocate_ids,
    in_batches,
    in_keys,
    qn,
    update_rows,
)
from dangol.integration.models import ImportTarget, RowOutcome


@dataclass
class Context:
    """What a chunk writer needs to know about the job it works for."""

    job_id: int
    source: str
    actor: User | None
    now: datetime.datetime
    dry_run: bool
    fields: set[str]
    matcher: Matcher
    visible_customers: QuerySet[Customer] | None  # None: the actor may change every customer
    owner_id: int | None = None
    team_id: int | None = None
    bulk: bool = False  # bulk mode: the target tables' secondary indexes are deferred
    owed_opened: bool = False  # the per-file work marker of this job is open (``owe_refresh``)


class Row:
    """One record of a chunk: line, raw row, parsed values, and what became of it."""

    __slots__ = ("data", "line", "outcome", "raw", "reasons")

    def __init__(self, line: int, raw: Any, data: dict[str, Any], reasons: list[Reason]) -> None:
        self.line = line
        self.raw = raw
        self.data = data
        self.reasons = reasons
        self.outcome = RowOutcome.REJECTED if reasons else ""

    def reject(self, field_name: str, code: str, message: str) -> None:
        self.reasons.append({"field": field_name, "code": code, "message": str(message)})
        self.outcome = RowOutcome.REJECTED


def _reason(field_name: str, code: str, message: Any) -> Reason:
    return {"field": field_name, "code": code, "message": str(message)}


def _parser(spec: FieldSpec) -> Callable[[str], Any]:
    kind = spec.kind
    if kind == "text":
        if spec.labels:  # free text whose known values may come as their labels
            return parsing.KnownText(spec.max_length, spec.accepted())
        return parsing.Text(spec.max_length)
    if kind == "name":
        return clean_name
    if kind == "phone":
        return parsing.phone_values
    if kind == "email":
        return parsing.email_values
    if kind == "date":
        return parsing.parse_date
    if kind == "birthdate":  # a date, or YYMMDD (``parse_birth_date``)
        return parsing.parse_birth_date
    if kind == "postal":
        return parsing.parse_postal_code
    if kind == "datetime":
        return parsing.parse_datetime
    if kind == "amount":
        return parsing.parse_amount
    if kind == "int":
        return parsing.parse_int
    if kind == "bool":
        return parsing.parse_bool
    if kind == "choice":  # a value, an alias or a label in any language (``accepted``)
        choices, aliases = spec.choices, spec.accepted()
        return lambda v: parsing.parse_choice(v, choices, aliases)
    raise ValueError(kind)


class Target(ABC):
    """Base of the targets: field specs, row cleaning, and ``write`` for a chunk."""

    name: ClassVar[str]
    specs: ClassVar[tuple[FieldSpec, ...]]
    group_field: ClassVar[str] = ""  # rows sharing this field's value form one unit (orders)
    permission_models: ClassVar[tuple[tuple[str, type], ...]] = ()
    # bulk mode: the tables whose secondary indexes a large load defers (ADR 0005 §13)
    bulk_models: ClassVar[tuple[type[models.Model], ...]] = ()

    def __init__(self, fields: set[str]) -> None:
        self.fields = fields
        self.parsers: list[tuple[str, Callable[[str], Any] | None, bool, str]] = [
            (s.name, _parser(s), s.required, s.kind) for s in self.specs if s.name in fields
        ] + [
            (s.name, None, True, s.kind) for s in self.specs if s.required and s.name not in fields
        ]
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)

    def clean(self, texts: dict[str, str]) -> tuple[dict[str, Any], list[Reason]]:
        """Check one row (the per-value path; ``clean_many`` gives the same for a chunk)."""
        return self.clean_many([texts])[0]

    def clean_many(
        self, texts: Sequence[dict[str, str]]
    ) -> list[tuple[dict[str, Any], list[Reason]]]:
        """Check a chunk of rows given as ``{field: text}`` dicts (``clean_columns`` of their
        columns)."""
        names = {name for name, *_rest in self.parsers}
        columns = {name: [t.get(name, "") for t in texts] for name in names}
        return self.clean_columns(columns, len(texts))

    def clean_columns(
        self, columns: Mapping[str, Sequence[str]], n: int
    ) -> list[tuple[dict[str, Any], list[Reason]]]:
        """Check a chunk of ``n`` rows given column by column (``{field: [text per row]}``; a
        field without a column is blank): each field with ``speedpaths.parse_column``, then
        the cross-field rules (``check``) row by row. Returns ``(data, reasons)`` per row, in
        row order; reasons keep the order of the fields. This is what the pipeline calls; a
        target overrides ``check`` (and, to add derived values, may extend this method)."""
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        reasons: list[list[Reason]] = [[] for _i in range(n)]
        names: list[str] = []
        parsed: list[list[Any]] = []
        missing = speedpaths.MISSING
        for name, parse, required, kind in self.parsers:
            texts = columns.get(name)
            column = speedpaths.parse_column(kind, parse, texts if texts is not None else [""] * n)
            if required:
                message = _("This field is required.")
                for i in [i for i, v in enumerate(column) if v is missing]:
                    reasons[i].append(_reason(name, "required", message))
            for i in [i for i, v in enumerate(column) if isinstance(v, FieldIssue)]:
                issue = column[i]
                reasons[i].append(_reason(name, issue.code, issue.message))
                column[i] = missing
            names.append(name)
            parsed.append(column)
        if parsed:
            datas = [
                {k: v for k, v in zip(names, values, strict=True) if v is not missing}
                for values in zip(*parsed, strict=True)
            ]
        else:
            datas = [{} for _i in range(n)]
        check = self.check
        for data, why in zip(datas, reasons, strict=True):
            if not why:
                check(data, why)
        return list(zip(datas, reasons, strict=True))

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:  # noqa: B027
        """Cross-field rules of one row: an optional hook, none by default (override);
        ``self.now`` / ``self.today`` are the chunk's clock."""

    @abstractmethod
    def write(self, ctx: Context, rows: list[Row]) -> None:
        """Write the chunk's good rows (each target does it set-based, in bulk)."""

    def bulk_keep(self, name: str, sql: str) -> bool:
        """Whether a secondary index of ``bulk_models`` stays during a bulk load (one the
        chunks' own lookups read)."""
        return False

    def bulk_statements(self, deferred: Sequence[type[models.Model]]) -> dict[str, list[str]]:
        """Other statements a bulk load runs before (``drop``) and after (``restore``) the
        chunks, recorded with the deferred indexes: by default, on PostgreSQL, the foreign keys
        of the tables the load writes (``bulk_foreign_keys``) are dropped and re-added, checked
        once per table instead of once per row (``bulkwrite.foreign_key_statements``)."""
        return bulkwrite.foreign_key_statements(self.bulk_foreign_keys(deferred))

    def bulk_foreign_keys(self, deferred: Sequence[type[models.Model]]) -> list[type[models.Model]]:
        """The tables whose foreign keys a bulk load drops and re-adds: the deferred ones."""
        return list(deferred)

    def after_file(self, ctx: Context) -> None:
        """Work that needs the whole file written: called once every chunk is committed, for a
        dry run too (``ctx.dry_run``), before ``finish``; not when a chunk failed or the job was
        cancelled (the resumed job calls it). In a dry run it must write no domain row: only the
        job's own records (rejected rows, counters), as the chunks do. Nothing by default."""
        return

    def finish(self, ctx: Context, owner: str) -> None:
        """Per-file work after the last chunk (and after a failed one): what the chunks owe
        (``owe_refresh``)."""
        finish_owed(owner)

    @classmethod
    def discard(cls, job_id: int) -> None:
        """Delete the records a run of this target keeps for its file while it runs (a
        customer file's row keys). The pipeline calls it for every target once they are of no
        more use: when the file is done (after ``after_file``, dry run or not), when the job
        is cancelled, and when it starts again from the top. Not when a chunk fails: the job
        resumes after its last committed chunk (the task's retries, "Start again") and needs
        what the committed chunks recorded. Nothing by default."""
        return


# --- customers --------------------------------------------------------------------------------

GENDER_VALUES = frozenset(Gender.values) - {""}
REGION_VALUES = frozenset(Region.values)
CUSTOMER_COMPARE = (
    "family_name",
    "given_name",
    "full_name",
    "birth_date",
    "birth_date_is_lunar",
    "gender",
    "region",
    "signup_channel",
)
CONTACT_FIELDS = (
    ("mobile", ContactKind.MOBILE),
    ("phone", ContactKind.PHONE),
    ("email", ContactKind.EMAIL),
)


# a sign-up time this far ahead of the import's clock is still taken (clocks differ a little)
SIGNUP_LEEWAY = datetime.timedelta(minutes=5)


def earlier_signup(signed_up: datetime.datetime, stored: datetime.datetime) -> bool:
    """Whether a file's sign-up time is earlier than the stored one, at the file's precision:
    a time in whole seconds (most files, Dangol's own export) says nothing of the fractions, so
    a stored time within that second is not later than it (an export read back changes none)."""
    if not signed_up.microsecond:
        stored = stored.replace(microsecond=0)
    return signed_up < stored


def contacts_of(data: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(field, kind, stored columns)`` of a checked customer row's contact points. A landline
    in the mobile column (a POS's 연락처 holds either) is kept as a phone: no SMS goes to it."""
    for fname, kind in CONTACT_FIELDS:
        norm = data.get(fname)
        if norm is None:
            continue
        if kind == ContactKind.MOBILE and norm.get("is_landline"):
            kind = ContactKind.PHONE
        yield fname, kind, norm


class NewPrimaries:
    """A known customer's new contact value becomes the primary of its kind, as the customer
    API's ``add_contact_point`` makes a value sent as primary: the file is the source's latest
    word. The old primary stays, as a contact point that is not primary (nothing is deleted).
    Called for each new value of a known customer that is to be primary; ``demote_old`` then
    demotes the old primaries of every (customer, kind) pair met, in one ``UPDATE``, before the
    chunk's contact points are inserted, so each pair keeps exactly one primary."""

    def __init__(self) -> None:
        self.pairs: set[tuple[int, str]] = set()  # (customer, kind) whose primary is demoted
        self.planned: dict[tuple[int, str], int] = {}  # the chunk's new primary of a pair

    def __call__(
        self,
        new_contacts: list[tuple[int, str, str, dict[str, Any], bool]],
        pair: tuple[int, str],
        index: int,
        stored: bool,
    ) -> None:
        """``new_contacts[index]`` will be the primary of ``pair``: a value planned as its
        primary by an earlier row of the chunk (the same customer under another id) is not;
        ``stored``: the customer may have a stored primary of that kind (it is demoted)."""
        if (earlier := self.planned.get(pair)) is not None:
            cid, kind, raw, norm, _primary = new_contacts[earlier]
            new_contacts[earlier] = (cid, kind, raw, norm, False)
        self.planned[pair] = index
        if stored:
            self.pairs.add(pair)

    def demote_old(self) -> None:
        """One ``UPDATE`` for the chunk: the stored primaries of the pairs met are no longer."""
        if not self.pairs:
            return
        by_kind: dict[str, list[int]] = defaultdict(list)
        for cid, kind in self.pairs:
            by_kind[kind].append(cid)
        conds: list[str] = []
        params: list[Any] = [False]
        for kind, ids in sorted(by_kind.items()):
            cond, key_params = in_keys("customer_id", sorted(ids))
            conds.append(f"(kind = %s AND {cond})")
            params += [kind, *key_params]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qn(ContactPoint._meta.db_table)} SET is_primary = %s "  # noqa: S608
                f"WHERE is_primary AND ({' OR '.join(conds)})",
                params,
            )


# a checked row's address: (key, line1, line2, postal code, region)
RowAddress = tuple[str, str, str, str, str]


def address_of(data: dict[str, Any]) -> RowAddress | None:
    """The address a checked customer row gives (``None`` without one): its key
    (``core.normalize.address_key``: one address however it is spaced or spelled), the lines as
    ``add_address`` stores them, the postal code, and the region its first word names
    (서울특별시 → ``seoul``; blank when it names none). A postal code or detail without an
    address line gives none (a detail without one is rejected by ``check``)."""
    line1 = clean_name(data.get("address", ""))
    if not line1:
        return None
    line2 = clean_name(data.get("address_detail", ""))
    return (
        address_key(line1, line2),
        line1,
        line2,
        data.get("postal_code", ""),
        _address_region(line1.partition(" ")[0]),
    )


def _address_region(word: str) -> str:
    try:
        return parsing.parse_choice(word, REGION_VALUES, parsing.REGIONS)
    except FieldIssue:
        return ""


class NewAddresses:
    """A chunk's new customer addresses, written at once (``write``). The file's new address
    of a customer becomes the primary one, as its new contact values do (``NewPrimaries``):
    the customer's stored primary address is demoted (kept, not primary), and of two new
    addresses of one customer in a chunk the later row's is primary."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []  # customer, line1, line2, postal code, region, primary
        self.latest: dict[int, int] = {}  # a customer's primary among ``rows``
        self.demote: set[int] = set()  # customers whose stored primary address is demoted

    def add(self, cid: int, address: RowAddress, *, stored: bool) -> None:
        """Queue ``address`` as ``cid``'s new primary; ``stored``: the customer has addresses."""
        if (earlier := self.latest.get(cid)) is not None:
            self.rows[earlier][5] = False
        self.latest[cid] = len(self.rows)
        _key, line1, line2, postal, region = address
        self.rows.append([cid, line1, line2, postal, region, True])
        if stored:
            self.demote.add(cid)

    def write(self, now: datetime.datetime) -> None:
        """One ``UPDATE`` demoting the stored primaries, one insert of the new addresses."""
        if self.demote:
            cond, params = in_keys("customer_id", sorted(self.demote))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {qn(Address._meta.db_table)} SET is_primary = %s "  # noqa: S608
                    f"WHERE is_primary AND {cond}",
                    [False, *params],
                )
        TableWriter(
            Address,
            ("customer_id", "line1", "line2", "postal_code", "region", "is_primary"),
            now,
            constants={"kind": AddressKind.HOME.value, "created_at": now},
        ).insert(self.rows)


def _visible_ids(visible: QuerySet[Customer] | None, ids: set[int]) -> set[int]:
    if visible is None or not ids:
        return ids
    sub, params = visible.values("pk").query.sql_with_params()
    cond, key_params = in_keys("c.id", sorted(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM {qn(Customer._meta.db_table)} c "  # noqa: S608 - names from _meta
            f"WHERE {cond} AND c.id IN ({sub})",
            [*key_params, *params],
        )
        return {int(r[0]) for r in cursor.fetchall()}


def customers_by_external_id(
    source: str, keys: Sequence[str], visible: QuerySet[Customer] | None
) -> tuple[dict[str, int], set[str]]:
    """``{key: customer id}`` of known keys the user may change, and the known keys they may not.
    One query for the whole chunk (a join against its keys)."""
    found: dict[str, int] = {}
    if keys:
        cond, params = in_keys(qn("key"), list(keys))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {qn('key')}, customer_id FROM {qn(ExternalId._meta.db_table)} "  # noqa: S608
                f"WHERE source = %s AND {cond} AND customer_id IS NOT NULL",
                [source, *params],
            )
            found.update(cursor.fetchall())
    allowed = _visible_ids(visible, set(found.values()))
    hidden = {k for k, cid in found.items() if cid not in allowed}
    return {k: cid for k, cid in found.items() if cid in allowed}, hidden


def _existing(
    model: type[models.Model], column: str, keys: Sequence[str], source: str | None = None
) -> set[str]:
    """The ``keys`` that ``model`` already has in ``column`` (within ``source`` when given):
    one query for the chunk, a join against its keys."""
    if not keys:
        return set()
    cond, params = in_keys(qn(column), list(keys))
    where, extra = (
        (f"source = %s AND {cond}", [source, *params])
        if source is not None
        else (
            cond,
            params,
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {qn(column)} FROM {qn(model._meta.db_table)} WHERE {where}",  # noqa: S608
            extra,
        )
        return {r[0] for r in cursor.fetchall()}


def _file_people(rows: Sequence[Row], ids: Sequence[int] | None) -> list[tuple[int, infile.Person]]:
    """``(line, person)`` of new customer rows for ``infile.remember``: the customer each created
    (``ids``; none in a dry run), its name, birth date, gender and phone / e-mail keys."""
    return [
        (
            row.line,
            infile.Person(
                cid,
                row.data["full_name"],
                row.data.get("birth_date"),
                row.data.get("gender", ""),
                {(infile.KEY_FIELD[kind], n["match_key"]) for _f, kind, n in contacts_of(row.data)},
            ),
        )
        for row, cid in zip(rows, ids if ids is not None else [0] * len(rows), strict=True)
    ]


PERSON_FIELDS = ("full_name", "birth_date", "gender")


def _changed_people(
    current: Mapping[int, dict[str, Any]],
    updates: Mapping[int, dict[str, Any]],
    last_line: Mapping[int, int],
) -> list[tuple[int, infile.Person]]:
    """A dry run's ``(line, person)`` of the existing customers whose name, birth date or gender
    the chunk's rows change, as they would be after it (``infile.remember``'s ``facts``)."""
    return [
        (
            last_line[cid],
            infile.Person(
                cid, merged["full_name"], merged.get("birth_date"), merged.get("gender") or ""
            ),
        )
        for cid, merged in updates.items()
        if any(merged.get(f) != current[cid].get(f) for f in PERSON_FIELDS)
    ]


def record_changes(object_type: str, changes: Sequence[tuple[Sequence[int], ChangeOp]]) -> None:
    """``changefeed.record(object_type, ids, op)`` for each ``(ids, op)``, as one insert
    (``changefeed.record_many``)."""
    changefeed.record_many(object_type, changes)


class CustomerTarget(Target):
    name = ImportTarget.CUSTOMERS
    specs = (
        FieldSpec(
            "external_id",
            required=True,
            max_length=100,
            aliases=(
                "id",
                "uid",
                "회원번호",
                "고객번호",
                "회원id",
                "고객id",
                "customer_id",
                "member_id",
                "번호",
            ),
        ),
        FieldSpec(
            "full_name",
            "name",
            aliases=("name", "이름", "성명", "고객명", "회원명", "fn", "full name"),
        ),
        FieldSpec("family_name", "name", aliases=("성", "last_name", "surname", "family name")),
        # 이름 is the full name, but the given name beside 성 (or 성명): ``auto_mapping``
        FieldSpec(
            "given_name",
            "name",
            aliases=("first_name", "given", "이름(名)", "이름", "given name"),
            preferred_beside=("family_name",),
        ),
        FieldSpec(
            "birth_date", "birthdate", aliases=("생년월일", "생일", "birthday", "bday", "dob")
        ),
        FieldSpec(
            "birth_date_is_lunar", "bool", aliases=("음력", "lunar", "음력 생일", "lunar birthday")
        ),
        FieldSpec(
            "gender",
            "choice",
            aliases=("성별", "sex"),
            choices=GENDER_VALUES,
            choice_aliases=parsing.GENDERS,
            labels=dict(Gender.choices),
        ),
        FieldSpec(
            "region",
            "choice",
            aliases=("지역", "시도"),
            choices=REGION_VALUES,
            choice_aliases=parsing.REGIONS,
            labels=dict(Region.choices),
        ),
        FieldSpec(
            "signup_channel",
            max_length=50,
            aliases=("가입경로", "가입채널", "channel"),
            labels=dict(SignupChannel.choices),  # free text: the known channels' labels map back
        ),
        FieldSpec(
            "mobile",
            "phone",
            aliases=(
                "휴대폰",
                "휴대전화",
                "핸드폰",
                "휴대폰번호",
                "cell",
                "mobile_phone",
                "hp",
                "연락처",
            ),
        ),
        FieldSpec("phone", "phone", aliases=("전화", "전화번호", "tel", "유선전화")),
        FieldSpec("email", "email", aliases=("이메일", "e-mail", "메일", "email_address")),
        # when the person became a customer (a POS's 가입일): ``Customer.created_at``, which
        # segments (signup_date), cohorts and exports read; a date is midnight, local time
        FieldSpec(
            "signed_up",
            "datetime",
            aliases=(
                "가입일",
                "가입일자",
                "가입일시",
                "회원가입일",
                "등록일",
                "joined",
                "joined_at",
                "signup_date",
                "signed_up_at",
                "created_at",
            ),
        ),
        # the postal address (a POS's 주소, 상세주소, 우편번호): a home ``Address``, the file's
        # new one primary (``NewAddresses``); an address already there adds nothing
        FieldSpec(
            "address",
            max_length=200,
            aliases=(
                "주소",
                "도로명주소",
                "지번주소",
                "기본주소",
                "주소1",
                "자택주소",
                "집주소",
                "address1",
                "address_line1",
                "street",
            ),
        ),
        FieldSpec(
            "address_detail",
            max_length=200,
            aliases=("상세주소", "나머지주소", "주소2", "address2", "address_line2"),
        ),
        FieldSpec(
            "postal_code",
            "postal",
            aliases=("우편번호", "우편 번호", "zip", "zipcode", "zip code", "postcode", "우편"),
        ),
    )

    bulk_models = (Customer, ContactPoint, ExternalId)

    def bulk_keep(self, name: str, sql: str) -> bool:
        return "match_key" in sql  # the matcher looks contact keys up chunk by chunk

    def bulk_statements(self, deferred: Sequence[type[models.Model]]) -> dict[str, list[str]]:
        """The foreign keys (PostgreSQL, as every target) and, on SQLite, the trigram table of
        names, rebuilt once instead of kept by triggers row by row (``customers.name_index``,
        as the demo loader does)."""
        statements = super().bulk_statements(deferred)
        if Customer not in deferred or not name_index.has_name_index():
            return statements
        fts = name_index.FTS_TABLE
        return {
            "drop": [
                *statements.get("drop", []),
                *(f"DROP TRIGGER IF EXISTS {qn(name)}" for name in name_index.TRIGGERS),
            ],
            "restore": [
                *statements.get("restore", []),
                f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # noqa: S608 - a constant
                *name_index.TRIGGERS.values(),
            ],
        }

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        family, given, full = speedpaths.resolve_name(
            data.get("family_name", ""), data.get("given_name", ""), data.get("full_name", "")
        )
        if not full:
            reasons.append(_reason("full_name", "required", _("Enter the customer's name.")))
        elif len(given) > 100 or len(family) > 100 or len(full) > 160:
            reasons.append(_reason("full_name", "too_long", _("This name is too long.")))
        if family or given or full:
            data["family_name"], data["given_name"], data["full_name"] = family, given, full
        if data.get("address_detail") and not data.get("address"):
            reasons.append(
                _reason("address", "required", _("Give the address the detail belongs to."))
            )
        birth = data.get("birth_date")
        if birth is not None and (birth > self.today or birth.year < 1900):
            reasons.append(_reason("birth_date", "out_of_range", _("Enter a real birth date.")))
        signed_up = data.get("signed_up")
        if signed_up is not None:
            if signed_up > self.now + SIGNUP_LEEWAY:
                reasons.append(
                    _reason(
                        "signed_up",
                        "in_future",
                        _("A sign-up date cannot be in the future."),
                    )
                )
            elif signed_up.year < 1900:
                reasons.append(
                    _reason("signed_up", "out_of_range", _("Enter a real sign-up date."))
                )

    def write(self, ctx: Context, rows: list[Row]) -> None:
        from dangol.integration.quality import check_import_rows

        check_import_rows(ctx.source, rows)  # the customer information plan of this source
        seen: dict[str, Row] = {}
        for row in rows:
            if row.reasons:
                continue
            ext = row.data["external_id"]
            if ext in seen:
                row.reject(
                    "external_id",
                    "duplicate_in_file",
                    _("This id appears twice in the file (line %d).") % seen[ext].line,
                )
            else:
                seen[ext] = row
        known, hidden = customers_by_external_id(ctx.source, list(seen), ctx.visible_customers)
        for ext in hidden:
            seen.pop(ext).reject("external_id", "not_found", _("Not found."))
        # an id new to the base that a row of an earlier chunk had: rejected, as in one chunk
        # (a real run knows it as one of its own customers', or from its matched rows' records)
        if ctx.dry_run:
            again = infile.repeated_ids(ctx.job_id, [k for k in seen if k not in known])
        else:
            own = infile.JobCustomers(ctx.job_id)
            again = {k for k, cid in known.items() if cid in own}
            again |= infile.repeated_ids(ctx.job_id, [k for k in known if k not in again])
        for ext in again:
            seen.pop(ext).reject(
                "external_id", "duplicate_in_file", _("This id appears earlier in the file.")
            )
        # identity: the rows without a known external id go to the matcher all at once
        pending = [r for ext, r in seen.items() if ext not in known]
        candidates = [
            MatchCandidate(
                index=i,
                external_id=r.data["external_id"],
                full_name=r.data.get("full_name", ""),
                birth_date=r.data.get("birth_date"),
                mobile_keys=[r.data["mobile"]["match_key"]] if "mobile" in r.data else [],
                email_keys=[r.data["email"]["match_key"]] if "email" in r.data else [],
            )
            for i, r in enumerate(pending)
        ]
        matches = (
            ctx.matcher(candidates, ctx.visible_customers, job_id=ctx.job_id) if candidates else {}
        )
        matched: dict[str, int] = {
            pending[i].data["external_id"]: cid for i, cid in matches.items()
        }
        target_ids = {**known, **matched}

        current: dict[int, dict[str, Any]] = {}
        contacts: dict[int, set[tuple[str, str]]] = defaultdict(set)
        with_addresses = "address" in ctx.fields
        addresses: dict[int, set[str]] = defaultdict(set)  # the customers' address keys
        new_addresses = NewAddresses()
        ids = sorted(set(target_ids.values()))
        for batch in in_batches(ids):
            for values in Customer.objects.filter(pk__in=batch).values(
                "id", *CUSTOMER_COMPARE, "created_at"
            ):
                current[values["id"]] = values
            for cid, kind, key in ContactPoint.objects.filter(customer_id__in=batch).values_list(
                "customer_id", "kind", "match_key"
            ):
                contacts[cid].add((kind, key))
            if with_addresses:
                for cid, line1, line2 in Address.objects.filter(customer_id__in=batch).values_list(
                    "customer_id", "line1", "line2"
                ):
                    addresses[cid].add(address_key(line1, line2))
        if ctx.dry_run:  # what the earlier chunks' rows would have made of them
            for cid, values in infile.facts_of(ctx.job_id, ids).items():
                current[cid].update(values)

        compare = [
            f
            for f in CUSTOMER_COMPARE
            if f in ctx.fields
            or (
                f in ("family_name", "given_name", "full_name")
                and {"family_name", "given_name", "full_name"} & ctx.fields
            )
        ]
        new_rows: list[Row] = []
        updates: dict[int, dict[str, Any]] = {}
        new_contacts: list[tuple[int, str, str, dict[str, Any], bool]] = []
        new_ext: list[tuple[int, str]] = []
        promote = NewPrimaries()
        last_line: dict[int, int] = {}
        for ext, row in seen.items():
            found = target_ids.get(ext)
            if found is None:
                new_rows.append(row)
                row.outcome = RowOutcome.CREATED
                continue
            cid = found
            firsts: set[str] = set()  # the kinds of the row's new values
            cur = current[cid]
            merged = updates.get(cid) or dict(cur)
            changed = False
            for f in compare:
                value = row.data.get(f)
                if value is not None and value != "" and merged.get(f) != value:
                    merged[f] = value
                    changed = True
            # the earliest known sign-up wins: a file moves it earlier, never later
            signed_up = row.data.get("signed_up")
            if signed_up is not None and earlier_signup(signed_up, merged["created_at"]):
                merged["created_at"] = signed_up
                changed = True
            have = contacts[cid]
            kinds = {k for k, _key in have}
            for fname, kind, norm in contacts_of(row.data):
                if (kind, norm["match_key"]) in have:
                    continue
                # the file's new value is the primary of its kind (the row's first, if two)
                primary = kind not in firsts
                if primary:
                    promote(new_contacts, (cid, kind), len(new_contacts), kind in kinds)
                    firsts.add(kind)
                new_contacts.append((cid, kind, row.data.get("_raw_" + fname, ""), norm, primary))
                have.add((kind, norm["match_key"]))
                kinds.add(kind)
                changed = True
            address = address_of(row.data)
            if address is not None and address[0] not in addresses[cid]:
                new_addresses.add(cid, address, stored=bool(addresses[cid]))
                addresses[cid].add(address[0])
                changed = True
            if ext in matched:
                new_ext.append((cid, ext))
                row.outcome = RowOutcome.MATCHED
            else:
                row.outcome = RowOutcome.UPDATED if changed else RowOutcome.UNCHANGED
            if changed or ext in matched:
                updates[cid] = merged
                last_line[cid] = row.line
        # the file's new rows and the keys it adds to customers, paired after the file; the ids
        # new to the base (a later chunk rejects them again)
        added = [(c[0], c[1], c[3]["match_key"]) for c in new_contacts]
        ids_new: list[tuple[str, int, int | None]] = [
            (ext, seen[ext].line, cid) for ext, cid in matched.items()
        ]
        if ctx.dry_run:
            ids_new += [(r.data["external_id"], r.line, None) for r in new_rows]
            infile.remember(
                ctx.job_id,
                _file_people(new_rows, None),
                added,
                ids=ids_new,
                facts=_changed_people(current, updates, last_line),
            )
            return

        now = ctx.now
        new_ids = allocate_ids(Customer, len(new_rows))
        infile.remember(ctx.job_id, _file_people(new_rows, new_ids), added, ids=ids_new)
        for cid, row in zip(new_ids, new_rows, strict=True):
            kinds_new: set[str] = set()
            keys_new: set[tuple[str, str]] = set()
            for fname, kind, norm in contacts_of(row.data):
                if (kind, norm["match_key"]) in keys_new:
                    continue
                keys_new.add((kind, norm["match_key"]))
                new_contacts.append(
                    (cid, kind, row.data.get("_raw_" + fname, ""), norm, kind not in kinds_new)
                )
                kinds_new.add(kind)
            address = address_of(row.data)
            if address is not None:
                new_addresses.add(cid, address, stored=False)
            new_ext.append((cid, row.data["external_id"]))
        # the sign-up time is a column only when the file has one (else a constant: now)
        signups = "signed_up" in ctx.fields
        TableWriter(
            Customer,
            (
                "id",
                "family_name",
                "given_name",
                "full_name",
                "birth_date",
                "birth_date_is_lunar",
                "gender",
                "region",
                "signup_channel",
                *(("created_at",) if signups else ()),
            ),
            now,
            constants={
                "source": ctx.source,
                "owner_id": ctx.owner_id,
                "team_id": ctx.team_id,
                "lifecycle_stage": LifecycleStage.LEAD.value,
                "status": RecordStatus.ACTIVE.value,
                **({} if signups else {"created_at": now}),
                "updated_at": now,
            },
        ).insert(
            [
                (
                    cid,
                    d.get("family_name", ""),
                    d.get("given_name", ""),
                    d["full_name"],
                    d.get("birth_date"),
                    d.get("birth_date_is_lunar", False),
                    d.get("gender", ""),
                    d.get("region", ""),
                    d.get("signup_channel", ""),
                    *((d.get("signed_up") or now,) if signups else ()),
                )
                for cid, d in zip(new_ids, (r.data for r in new_rows), strict=True)
            ]
        )
        if updates:
            written = [*compare, *(("created_at",) if signups else ())]
            update_rows(
                Customer,
                [*written, "updated_at"],
                [[*(vals[c] for c in written), now, cid] for cid, vals in updates.items()],
            )
        promote.demote_old()  # before the new primaries are inserted
        TableWriter(
            ContactPoint,
            (
                "customer_id",
                "kind",
                "value",
                "normalized",
                "match_key",
                "last4",
                "is_legacy",
                "is_primary",
            ),
            now,
            constants={"label": "", "created_at": now},
        ).insert(
            [
                (
                    cid,
                    kind,
                    raw,
                    n["normalized"],
                    n["match_key"],
                    n["last4"],
                    n["is_legacy"],
                    primary,
                )
                for cid, kind, raw, n, primary in new_contacts
            ]
        )
        new_addresses.write(now)
        TableWriter(
            ExternalId,
            ("customer_id", "key"),
            now,
            constants={"source": ctx.source, "created_at": now},
        ).insert(new_ext)
        # the change feed: one bulk write per chunk, in this transaction
        record_changes(
            "customer", [(new_ids, ChangeOp.CREATED), (sorted(updates), ChangeOp.UPDATED)]
        )

    def after_file(self, ctx: Context) -> None:
        """The duplicates of the whole file, whatever its chunks (``dedupe.infile.finish_file``):
        its new rows paired with each other and with the customers sharing a key, and the
        matcher's unsure pairs, stored for review (a dry run only counts them),
        ``duplicate_count`` set."""
        infile.finish_file(ctx.job_id, dry_run=ctx.dry_run)

    @classmethod
    def discard(cls, job_id: int) -> None:
        """The file's row keys, ids and the matcher's proposals (``infile.discard``)."""
        infile.discard(job_id)

    def clean_columns(
        self, columns: Mapping[str, Sequence[str]], n: int
    ) -> list[tuple[dict[str, Any], list[Reason]]]:
        """As the base, plus the contact points' text as given (``_raw_mobile`` ...), which
        the contact point's ``value`` keeps."""
        out = super().clean_columns(columns, n)
        for fname, _kind in CONTACT_FIELDS:
            texts = columns.get(fname)
            if texts is None:
                continue
            key = "_raw_" + fname
            for text, (data, _reasons) in zip(texts, out, strict=True):
                if fname in data:
                    data[key] = text.strip()[:254]
        return out


# --- consents ---------------------------------------------------------------------------------

CHANNEL_ALIASES = {
    "문자": "sms",
    "sms": "sms",
    "mms": "sms",
    "lms": "sms",
    "이메일": "email",
    "메일": "email",
    "e-mail": "email",
    "푸시": "push",
    "앱푸시": "push",
    "앱 푸시": "push",
    "전화": "phone",
    "카카오": "kakao",
    "카카오톡": "kakao",
    "알림톡": "kakao",
    "친구톡": "kakao",
}
PURPOSE_ALIASES = {
    "마케팅": "marketing",
    "광고": "marketing",
    "서비스": "service",
    "제3자": "third_party",
    "제3자제공": "third_party",
}


def reconfirm_due(at: datetime.datetime) -> datetime.date:
    local = timezone.localtime(at).date()
    try:
        return local.replace(year=local.year + CONSENT_RECONFIRM_YEARS)
    except ValueError:  # 29 February
        return local.replace(year=local.year + CONSENT_RECONFIRM_YEARS, day=28)


class ConsentTarget(Target):
    """One row per (customer, channel, purpose): granted or withdrawn, when, with what proof."""

    name = ImportTarget.CONSENTS
    specs = (
        FieldSpec(
            "customer_external_id",
            required=True,
            max_length=100,
            aliases=("external_id", "회원번호", "고객번호", "customer_id", "member_id"),
        ),
        FieldSpec(
            "channel",
            "choice",
            required=True,
            aliases=("채널", "수신채널"),
            choices=frozenset(ConsentChannel.values),
            choice_aliases=CHANNEL_ALIASES,
            labels=dict(ConsentChannel.choices),
        ),
        FieldSpec(
            "purpose",
            "choice",
            aliases=("목적", "동의목적"),
            choices=frozenset(ConsentPurpose.values),
            choice_aliases=PURPOSE_ALIASES,
            labels=dict(ConsentPurpose.choices),
        ),
        FieldSpec(
            "granted",
            "bool",
            required=True,
            aliases=("status", "동의", "동의여부", "수신동의", "수신여부", "consent"),
        ),
        FieldSpec("at", "datetime", aliases=("date", "동의일", "동의일시", "일시", "변경일")),
        FieldSpec("night_time", "bool", aliases=("야간", "야간동의", "야간수신동의")),
        FieldSpec("evidence", aliases=("근거", "증빙", "proof")),
    )

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        at = data.get("at")
        if at is not None and at > self.now + datetime.timedelta(minutes=5):
            reasons.append(
                _reason("at", "in_future", _("A consent cannot be given in the future."))
            )

    def write(self, ctx: Context, rows: list[Row]) -> None:
        good = [r for r in rows if not r.reasons]
        keys = sorted({r.data["customer_external_id"] for r in good})
        known, _hidden = customers_by_external_id(ctx.source, keys, ctx.visible_customers)
        state: dict[tuple[int, str, str], dict[str, Any]] = {}
        ids = sorted(set(known.values()))
        fields = (
            "id",
            "customer_id",
            "channel",
            "purpose",
            "status",
            "night_time",
            "granted_at",
            "withdrawn_at",
            "reconfirm_due",
            "source",
            "evidence",
            "updated_at",
        )
        for batch in in_batches(ids):
            for c in Consent.objects.filter(customer_id__in=batch).values(*fields):
                state[(c["customer_id"], c["channel"], c["purpose"])] = c
        events: list[tuple[Any, ...]] = []
        changed: dict[tuple[int, str, str], dict[str, Any]] = {}
        for row in good:
            cid = known.get(row.data["customer_external_id"])
            if cid is None:
                row.reject(
                    "customer_external_id",
                    "customer_not_found",
                    _("No customer with this id in this source."),
                )
                continue
            d = row.data
            key = (cid, d["channel"], d.get("purpose", ConsentPurpose.MARKETING.value))
            status = ConsentStatus.GRANTED if d["granted"] else ConsentStatus.WITHDRAWN
            night = bool(d.get("night_time", False)) and status == ConsentStatus.GRANTED
            at = d.get("at") or ctx.now
            cur = state.get(key)
            if cur is not None and (
                (cur["status"] == status and cur["night_time"] == night) or at < cur["updated_at"]
            ):
                row.outcome = RowOutcome.UNCHANGED  # same state, or older than what we know
                continue
            row.outcome = RowOutcome.CREATED if cur is None else RowOutcome.UPDATED
            new = (
                dict(cur)
                if cur
                else {
                    "id": None,
                    "customer_id": cid,
                    "channel": key[1],
                    "purpose": key[2],
                    "granted_at": None,
                    "withdrawn_at": None,
                    "reconfirm_due": None,
                }
            )
            new.update(
                status=status,
                night_time=night,
                source=ctx.source,
                evidence=d.get("evidence", ""),
                updated_at=at,
            )
            if status == ConsentStatus.GRANTED:
                new.update(granted_at=at, withdrawn_at=None, reconfirm_due=reconfirm_due(at))
            else:
                new["withdrawn_at"] = at
            state[key] = changed[key] = new
            events.append(
                (
                    cid,
                    key[1],
                    key[2],
                    status,
                    night,
                    at,
                    ctx.source,
                    d.get("evidence", ""),
                    ctx.actor.pk if ctx.actor else None,
                )
            )
        if ctx.dry_run:
            return
        cols = [
            "status",
            "night_time",
            "granted_at",
            "withdrawn_at",
            "reconfirm_due",
            "source",
            "evidence",
            "updated_at",
        ]
        update_rows(
            Consent,
            cols,
            [[c[k] for k in cols] + [c["id"]] for c in changed.values() if c["id"] is not None],
        )
        TableWriter(Consent, ["customer_id", "channel", "purpose", *cols], ctx.now).insert(
            [
                [c["customer_id"], c["channel"], c["purpose"], *(c[k] for k in cols)]
                for c in changed.values()
                if c["id"] is None
            ]
        )
        TableWriter(
            ConsentEvent,
            (
                "customer_id",
                "channel",
                "purpose",
                "status",
                "night_time",
                "at",
                "source",
                "evidence",
                "actor_id",
            ),
            ctx.now,
        ).insert(events)


# --- products ---------------------------------------------------------------------------------

PRODUCT_COMPARE = (
    "sku",
    "name",
    "brand",
    "line",
    "tier",
    "price",
    "currency",
    "is_active",
    "category_id",
)


# how a product file names a category: a name path's separators ("스킨케어 > 세럼"; "/" too, once
# the text is neither a category path nor a name: a name may hold a "/")
_NAME_PATH_SEP = re.compile(r"\s*>\s*")
_SLASH_SEP = re.compile(r"\s*/\s*")
CATEGORY_HINTS = 5  # valid names a not-found reason lists


class CategoryLookup:
    """The category tree read once (one query, for a chunk's rows) to resolve what a product
    file writes in its category column: the path (``skincare/serum``), a name (``세럼``, any
    case, exact after trimming) or a name path ``상위 > 하위`` (``상위>하위``, and ``상위/하위``
    when the text is no path or name), which may leave out the top levels. A name or name
    path that fits several categories is ambiguous; the reason names their full name paths."""

    def __init__(self) -> None:
        rows = list(
            ProductCategory.objects.order_by("path").values_list("id", "name", "path", "parent_id")
        )
        self.names = {cid: name.strip() for cid, name, _path, _parent in rows}
        parents = {cid: parent for cid, _name, _path, parent in rows}
        self.by_path = {path: cid for cid, _name, path, _parent in rows}
        self.by_low_path: dict[str, list[int]] = defaultdict(list)
        self.by_name: dict[str, list[int]] = defaultdict(list)
        self.chain: dict[int, tuple[int, ...]] = {}  # root ... category
        for cid, name, path, _parent in rows:
            self.by_low_path[path.casefold()].append(cid)
            self.by_name[name.strip().casefold()].append(cid)
            chain = [cid]
            while (up := parents.get(chain[-1])) is not None and up not in chain:
                chain.append(up)
            self.chain[cid] = tuple(reversed(chain))
        self.order = [cid for cid, *_rest in rows]

    def full_name(self, cid: int) -> str:
        return " > ".join(self.names.get(c, "") for c in self.chain[cid])

    def _by_name_path(self, parts: list[str]) -> list[int]:
        """The categories whose name path ends with ``parts`` (any case)."""
        want = [p.casefold() for p in parts]
        if not want:
            return []
        return [
            cid
            for cid in self.by_name.get(want[-1], ())
            if [self.names[c].casefold() for c in self.chain[cid][-len(want) :]] == want
        ]

    def resolve(self, text: str) -> tuple[int | None, str, str]:
        """``(category id, "", "")`` or ``(None, code, translated reason)``."""
        text = text.strip()
        if (cid := self.by_path.get(text)) is not None:
            return cid, "", ""
        hits = self.by_low_path.get(text.casefold(), [])
        if len(hits) != 1:
            hits = self.by_name.get(text.casefold(), [])
        if not hits and ">" in text:
            hits = self._by_name_path([p for p in _NAME_PATH_SEP.split(text) if p])
        elif not hits and "/" in text:
            hits = self._by_name_path([p for p in _SLASH_SEP.split(text) if p])
        if len(hits) == 1:
            return hits[0], "", ""
        if hits:
            return (
                None,
                "ambiguous",
                _(
                    "Several categories are called this: %(names)s. "
                    "Write its name path, such as %(example)s."
                )
                % {
                    "names": ", ".join(self.full_name(c) for c in hits),
                    "example": self.full_name(hits[0]),
                },
            )
        return None, "not_found", self.not_found(text)

    def not_found(self, text: str) -> str:
        """The reason for a text that names no category: up to ``CATEGORY_HINTS`` valid names
        (the closest first, then in tree order), or that there are none."""
        if not self.order:
            return _("No such category: there are no product categories yet.")
        names = [self.full_name(cid) for cid in self.order]
        close = difflib.get_close_matches(text, names, n=CATEGORY_HINTS, cutoff=0.5)
        shown = (close + [n for n in names if n not in close])[:CATEGORY_HINTS]
        listed = ", ".join(shown) + (", …" if len(names) > len(shown) else "")
        return _("No such category. Categories include: %(names)s") % {"names": listed}


class ProductTarget(Target):
    name = ImportTarget.PRODUCTS
    specs = (
        FieldSpec(
            "sku", required=True, max_length=64, aliases=("상품코드", "품번", "product_code")
        ),
        FieldSpec(
            "name", required=True, max_length=200, aliases=("상품명", "품명", "product_name")
        ),
        FieldSpec(
            "price", "amount", required=True, aliases=("가격", "판매가", "정가", "list_price")
        ),
        FieldSpec("external_id", max_length=100, aliases=("id", "product_id", "상품id")),
        FieldSpec("brand", max_length=100, aliases=("브랜드",)),
        FieldSpec("line", max_length=100, aliases=("라인", "product_line")),
        FieldSpec(
            "tier",
            "choice",
            choices=frozenset(ProductTier.values),
            choice_aliases={"일반": "standard", "프리미엄": "premium"},
            labels=dict(ProductTier.choices),
            aliases=("등급",),
        ),
        FieldSpec(
            "currency",
            "choice",
            choices=frozenset(MINOR_UNITS),
            choice_aliases={c.lower(): c for c in MINOR_UNITS} | {"원": "KRW"},
            aliases=("통화",),
        ),
        FieldSpec("is_active", "bool", aliases=("판매중", "active", "사용여부")),
        FieldSpec("category", max_length=500, aliases=("카테고리", "분류", "category_path")),
    )

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        # a row without a currency is rounded in ``write``, in its product's currency (a known
        # product's own, KRW for a new one)
        if "currency" in data:
            data["price"] = quantize(data["price"], data["currency"])
        if data["price"] < 0:
            reasons.append(_reason("price", "negative", _("A price cannot be negative.")))

    def write(self, ctx: Context, rows: list[Row]) -> None:
        good = [r for r in rows if not r.reasons]
        for r in good:
            r.data.setdefault("external_id", r.data["sku"])
        # what the file writes in its category column, resolved once per distinct text
        texts = sorted({r.data["category"] for r in good if "category" in r.data})
        lookup = CategoryLookup() if texts else None
        categories = {t: lookup.resolve(t) for t in texts} if lookup is not None else {}
        by_ext: dict[str, dict[str, Any]] = {}
        by_sku: dict[str, dict[str, Any]] = {}
        exts = sorted({r.data["external_id"] for r in good})
        skus = sorted({r.data["sku"] for r in good})
        for batch in in_batches(exts):
            for p in Product.objects.filter(source=ctx.source, external_id__in=batch).values(
                "id", "external_id", *PRODUCT_COMPARE
            ):
                by_ext[p["external_id"]] = p
        for batch in in_batches(skus):
            for p in Product.objects.filter(sku__in=batch).values(
                "id", "external_id", *PRODUCT_COMPARE
            ):
                by_sku[p["sku"]] = p
        compare = [
            f
            for f in PRODUCT_COMPARE
            if f in ctx.fields or (f == "category_id" and "category" in ctx.fields)
        ]
        prices = PriceHistory(ctx, {p["id"] for p in (*by_ext.values(), *by_sku.values())})
        seen: set[str] = set()
        new: list[dict[str, Any]] = []
        updates: dict[int, dict[str, Any]] = {}
        for row in good:
            d = row.data
            if d["sku"] in seen:
                row.reject("sku", "duplicate_in_file", _("This SKU appears twice in the file."))
                continue
            seen.add(d["sku"])
            if "category" in d:
                category_id, code, why = categories[d["category"]]
                if category_id is None:
                    row.reject("category", code, why)
                    continue
                d["category_id"] = category_id
            cur = by_ext.get(d["external_id"]) or by_sku.get(d["sku"])
            if cur is None:
                if d["sku"] in by_sku:
                    row.reject("sku", "duplicate_sku", _("A product with this SKU exists."))
                    continue
                d["price"] = quantize(d["price"], d.get("currency", "KRW"))
                new.append(d)
                row.outcome = RowOutcome.CREATED
                continue
            other = by_sku.get(d["sku"])
            if other is not None and other["id"] != cur["id"]:
                row.reject("sku", "duplicate_sku", _("A product with this SKU exists."))
                continue
            merged = updates.get(cur["id"]) or dict(cur)
            d["price"] = quantize(d["price"], d.get("currency", merged["currency"]))
            changes = {f: d[f] for f in compare if f in d and d[f] != merged[f]}
            # the price as of the import joins the history; it is the current price unless
            # the history has a later change (``record_price``)
            priced = prices.say(cur, d["price"], d.get("currency", merged["currency"]))
            if not prices.moves_current(cur["id"]):
                changes.pop("price", None)
            merged.update(changes)
            if changes:
                updates[cur["id"]] = merged
            row.outcome = RowOutcome.UPDATED if changes or priced else RowOutcome.UNCHANGED
        if ctx.dry_run:
            return
        now = ctx.now
        if updates:
            update_rows(
                Product,
                [*compare, "updated_at"],
                [[*(m[f] for f in compare), now, pid] for pid, m in updates.items()],
            )
        new_ids = allocate_ids(Product, len(new))
        TableWriter(
            Product,
            (
                "id",
                "sku",
                "name",
                "brand",
                "line",
                "tier",
                "price",
                "currency",
                "is_active",
                "category_id",
                "source",
                "external_id",
                "created_at",
                "updated_at",
            ),
            now,
        ).insert(
            [
                (
                    pid,
                    d["sku"],
                    d["name"],
                    d.get("brand", ""),
                    d.get("line", ""),
                    d.get("tier", ProductTier.STANDARD.value),
                    d["price"],
                    d.get("currency", "KRW"),
                    d.get("is_active", True),
                    d.get("category_id"),
                    ctx.source,
                    d["external_id"],
                    now,
                    now,
                )
                for pid, d in zip(new_ids, new, strict=True)
            ]
        )
        prices.write(
            [
                (pid, d["price"], d.get("currency", "KRW"))
                for pid, d in zip(new_ids, new, strict=True)
            ]
        )


class PriceHistory:
    """The price history a products chunk writes, as the API's price writers do
    (``commerce.services.record_price``, ``update_product``): a new product's price, and every
    price a file changes, is a ``PriceChange`` as of the import's instant (``ctx.now``, the
    products' ``updated_at``) with the import's source; a price the product has at that instant
    already writes nothing (importing a file again adds no row). The history has no actor: the
    chunk's audit row names who imported it.

    The price a file row is compared with is the one in effect at the import's instant: the
    product's, unless its history has a change at or after it (one query per chunk reads those:
    an earlier chunk of the same file, or a change the prices API dated up to a day ahead).
    A change at that very instant is corrected in place; before a later change, the import's
    price joins the history without moving the current price, and the later change's
    ``old_price`` becomes it. ``old_price`` is the price replaced, empty when the currency
    changes with it (or for a new product: there was none). In a dry run nothing is written."""

    def __init__(self, ctx: Context, product_ids: set[int]) -> None:
        self.ctx = ctx
        # per product: the price in effect at ``ctx.now`` as (amount, currency), what the chunk
        # found there first, the change at that instant and the next one after it (their ids)
        self.in_effect: dict[int, tuple[Decimal | None, str]] = {}
        self.found: dict[int, tuple[Decimal | None, str]] = {}
        self.same: dict[int, int] = {}
        self.after: dict[int, int] = {}
        at = ctx.now
        for batch in in_batches(sorted(product_ids)):
            for cid, pid, effective_at, old, price, currency in (
                PriceChange.objects.filter(product_id__in=batch, effective_at__gte=at)
                .order_by("-effective_at")  # the earliest last: it is the one that stays
                .values_list(
                    "id", "product_id", "effective_at", "old_price", "new_price", "currency"
                )
            ):
                if effective_at == at:  # the last of the product's rows
                    self.same[pid] = cid
                    self.found[pid] = (price, currency)
                else:  # the price before it is the one in effect, unless one comes at ``at``
                    self.after[pid] = cid
                    self.found[pid] = (old, currency)
        self.in_effect.update(self.found)

    def moves_current(self, product_id: int) -> bool:
        """Whether the import's price of the product becomes its current price: when its
        history has no change after the import's instant."""
        return product_id not in self.after

    def say(self, product: dict[str, Any], price: Decimal, currency: str) -> bool:
        """A file row's price of a known product; whether it changes the price in effect."""
        pid = product["id"]
        if pid not in self.found:
            self.found[pid] = self.in_effect[pid] = (product["price"], product["currency"])
        if self.in_effect[pid] == (price, currency):
            return False
        self.in_effect[pid] = (price, currency)
        return True

    def write(self, new_products: Sequence[tuple[int, Decimal, str]]) -> None:
        """The chunk's history: one insert for the new products' prices and the known products'
        changed ones; corrections of a change at the import's instant and the next change's
        ``old_price`` only when the history has such changes."""
        ctx = self.ctx
        rows: list[tuple[Any, ...]] = [
            (pid, None, price, currency) for pid, price, currency in new_products
        ]
        corrected: list[tuple[Any, ...]] = []
        follows: list[tuple[Any, ...]] = []
        for pid, (price, currency) in self.in_effect.items():
            old, old_currency = self.found[pid]
            if (price, currency) == (old, old_currency):
                continue
            if pid in self.same:
                corrected.append((price, currency, self.same[pid]))
            else:
                rows.append((pid, old if old_currency == currency else None, price, currency))
            if pid in self.after:
                follows.append((price, self.after[pid]))
        update_rows(PriceChange, ("new_price", "currency"), corrected)
        update_rows(PriceChange, ("old_price",), follows)
        TableWriter(
            PriceChange,
            ("product_id", "old_price", "new_price", "currency"),
            ctx.now,
            constants={"effective_at": ctx.now, "source": ctx.source, "created_at": ctx.now},
        ).insert(rows)


# --- orders with lines ------------------------------------------------------------------------

ORDER_NUMBER_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
NEW_ORDER_STATUSES = frozenset({OrderStatus.PLACED, OrderStatus.PAID, OrderStatus.FULFILLED})


def _order_suffix() -> str:
    """Eight characters of the order-number alphabet from one call to the system's randomness
    (``get_random_string`` makes one call per character)."""
    return _order_suffixes(1)[0]


def _order_suffixes(n: int) -> list[str]:
    """``n`` suffixes of eight characters of the order-number alphabet, from one read of the
    system's randomness for the chunk: each is a 64-bit random number reduced modulo 34⁸
    (a bias below 10⁻⁷) and written in base 34, column-wise with NumPy."""
    if n <= 0:
        return []
    base = len(ORDER_NUMBER_ALPHABET)
    numbers = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64) % np.uint64(base**8)
    digits = np.empty((n, 8), dtype=np.uint8)
    for j in range(8):
        numbers, digits[:, j] = np.divmod(numbers, np.uint64(base))
    letters = np.frombuffer(ORDER_NUMBER_ALPHABET.encode("ascii"), dtype=np.uint8)[digits]
    return [b.decode("ascii") for b in np.ascontiguousarray(letters).view("S8").ravel()]


# The headers of an order line's own id in the source system (an ERP's or POS's 주문상품번호),
# which the returns import reads with the same meaning. Not ``order_line_id``: in Dangol's API
# and the returns import that name is Dangol's own line id.
LINE_ID_ALIASES: tuple[str, ...] = (
    "주문상품번호",
    "주문상품id",
    "주문라인id",
    "주문상세번호",
    "주문상세id",
    "order_line",
    "line_id",
)


class OrderTarget(Target):
    """One row per order line; consecutive rows with the same ``order_id`` are one order. A line
    may carry its id in the source (``line_id``), unique within its order, kept as
    ``OrderLine.external_id`` so that returns can name the line."""

    name = ImportTarget.ORDERS
    group_field = "order_id"
    # the customers too: their purchase aggregates are rewritten once per file
    bulk_models = (Order, OrderLine, Customer)

    def bulk_foreign_keys(self, deferred: Sequence[type[models.Model]]) -> list[type[models.Model]]:
        """The orders', the lines' and, as the per-file refresh rewrites them, the purchased
        products' foreign keys (the customers' own keys are not touched by the refresh)."""
        if Order not in deferred:
            return [m for m in deferred if m is not Customer]
        return [*(m for m in deferred if m is not Customer), PurchasedProduct]

    def bulk_keep(self, name: str, sql: str) -> bool:
        """Two indexes stay: the orders' by customer (customer, -placed_at, -id), which the
        per-file aggregate refresh probes, and the lines' by order, which the filling of known
        orders' line ids reads chunk by chunk (a re-import of a whole history is as large as
        the table, so it loads in bulk mode). The lines' ids grow with the file, so keeping
        that one costs an append per line."""
        plain = sql.replace('"', "").replace("USING btree ", "")
        return (
            f"{Order._meta.db_table} (customer_id," in plain
            or f"{OrderLine._meta.db_table} (order_id)" in plain
        )

    specs = (
        FieldSpec(
            "order_id",
            required=True,
            max_length=100,
            aliases=("주문번호", "주문id", "order_no", "external_id"),
        ),
        FieldSpec(
            "customer_external_id",
            required=True,
            max_length=100,
            aliases=("회원번호", "고객번호", "customer_id", "member_id"),
        ),
        FieldSpec(
            "sku", required=True, max_length=64, aliases=("상품코드", "품번", "product_code")
        ),
        FieldSpec("quantity", "int", required=True, aliases=("수량", "qty")),
        FieldSpec("unit_price", "amount", aliases=("단가", "판매가", "price")),
        FieldSpec("line_discount", "amount", aliases=("할인", "상품할인", "discount")),
        FieldSpec("order_discount", "amount", aliases=("주문할인",)),
        FieldSpec("placed_at", "datetime", aliases=("주문일", "주문일시", "order_date", "date")),
        FieldSpec(
            "status",
            "choice",
            choices=frozenset(NEW_ORDER_STATUSES),
            labels=dict(OrderStatus.choices),
            choice_aliases={
                "주문": "placed",
                "결제완료": "paid",
                "결제": "paid",
                "배송완료": "fulfilled",
                "완료": "fulfilled",
            },
            aliases=("주문상태", "상태"),
        ),
        FieldSpec("channel", max_length=32, aliases=("채널", "판매채널", "매장", "store")),
        FieldSpec(
            "currency",
            "choice",
            choices=frozenset(MINOR_UNITS),
            choice_aliases={c.lower(): c for c in MINOR_UNITS} | {"원": "KRW"},
            aliases=("통화",),
        ),
        # Dangol's own number (DG…), made when empty; 주문번호 is the source's: ``order_id``
        FieldSpec("number", max_length=40, aliases=("order_number", "주문번호(단골)")),
        FieldSpec("line_id", max_length=100, aliases=LINE_ID_ALIASES),
    )

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        if data["quantity"] < 1:
            reasons.append(_reason("quantity", "min_value", _("At least 1.")))
        for name in ("unit_price", "line_discount", "order_discount"):
            if name in data and data[name] < 0:
                reasons.append(_reason(name, "negative", _("Cannot be negative.")))
        at = data.get("placed_at")
        if at is not None and at > self.now + datetime.timedelta(days=1):
            reasons.append(_reason("placed_at", "in_future", _("This is in the future.")))

    def write(self, ctx: Context, rows: list[Row]) -> None:
        orders: dict[str, list[Row]] = {}
        for row in rows:
            key = row.data.get("order_id") if not row.reasons else None
            if key is None:
                continue
            orders.setdefault(key, []).append(row)
        # an order with a bad line is rejected whole: never half an order
        for row in rows:
            if row.reasons and (key := row.data.get("order_id")) in orders:
                for other in orders.pop(key):
                    other.reject(
                        "order_id",
                        "order_rejected",
                        _("Another line of this order was rejected (line %d).") % row.line,
                    )
        existing = _existing(Order, "external_id", list(orders), source=ctx.source)
        # a known order is unchanged, unless its lines were imported without the source's ids
        # and the file gives them for the same lines (``_fill_line_ids``)
        fillable: dict[str, list[Row]] = {}
        for key in existing:
            group = orders.pop(key)
            for row in group:
                row.outcome = RowOutcome.UNCHANGED
            if "line_id" in ctx.fields and _all_line_ids(group):
                fillable[key] = group
        all_rows = [r for rs in orders.values() for r in rs]
        customers, _hidden = customers_by_external_id(
            ctx.source,
            sorted({r.data["customer_external_id"] for r in all_rows}),
            ctx.visible_customers,
        )
        skus = {r.data["sku"] for r in all_rows}
        skus.update(r.data["sku"] for rs in fillable.values() for r in rs)
        products: dict[str, tuple[int, Decimal, str]] = {}
        for batch in in_batches(sorted(skus)):
            for pid, sku, price, cur in Product.objects.filter(sku__in=batch).values_list(
                "id", "sku", "price", "currency"
            ):
                products[sku] = (pid, price, cur)
        if fillable:
            _fill_line_ids(ctx, fillable, products)
        codes = sorted({r.data["channel"] for r in all_rows if "channel" in r.data})
        channels = dict(SalesChannel.objects.filter(code__in=codes).values_list("code", "id"))
        numbers = sorted({r.data["number"] for r in all_rows if "number" in r.data})
        taken = _existing(Order, "number", numbers)

        memo: dict[tuple[Any, str], Decimal] = {}

        def rounded(amount: Any, currency: str) -> Decimal:
            """``quantize``, once per distinct (amount, currency) of the chunk."""
            try:
                return memo[(amount, currency)]
            except KeyError:
                hit = memo[(amount, currency)] = quantize(amount, currency)
                return hit

        order_rows: list[tuple[Any, ...]] = []
        line_rows: list[tuple[Any, ...]] = []
        planned: list[tuple[list[Row], dict[str, Any], list[tuple[Any, ...]]]] = []
        # the lines' ids in the source are a column only when the chunk has any
        with_line_ids = any("line_id" in r.data for r in all_rows)
        for key, group in orders.items():
            head = group[0].data
            cur = head.get("currency", "KRW")
            problem: tuple[Row, str, str, str] | None = _duplicate_line_id(group)
            cid = customers.get(head["customer_external_id"])
            if problem is None and cid is None:
                problem = (
                    group[0],
                    "customer_external_id",
                    "customer_not_found",
                    _("No customer with this id in this source."),
                )
            channel_id = channels.get(head["channel"]) if "channel" in head else None
            if problem is None and "channel" in head and channel_id is None:
                problem = (group[0], "channel", "not_found", _("No sales channel with this code."))
            if problem is None and head.get("number") in taken:
                problem = (
                    group[0],
                    "number",
                    "duplicate_number",
                    _("An order with this number exists."),
                )
            lines: list[tuple[Any, ...]] = []
            subtotal = Decimal(0)
            for row in group if problem is None else ():
                d = row.data
                product = products.get(d["sku"])
                if product is None:
                    problem = (row, "sku", "product_not_found", _("No product with this SKU."))
                    break
                pid, price, product_cur = product
                unit_raw = d.get("unit_price")
                if unit_raw is None and product_cur != cur:
                    problem = (
                        row,
                        "unit_price",
                        "required",
                        _("Give the price in the order's currency."),
                    )
                    break
                unit = rounded(unit_raw if unit_raw is not None else price, cur)
                disc = rounded(d.get("line_discount", 0), cur)
                total = unit * d["quantity"] - disc
                if total < 0:
                    problem = (
                        row,
                        "line_discount",
                        "negative",
                        _("A line's discount exceeds its price."),
                    )
                    break
                subtotal += total
                if with_line_ids:
                    lines.append((pid, d["quantity"], unit, disc, total, d.get("line_id", "")))
                else:
                    lines.append((pid, d["quantity"], unit, disc, total))
            discount = rounded(head.get("order_discount", 0), cur)
            if problem is None and discount > subtotal:
                problem = (
                    group[0],
                    "order_discount",
                    "too_large",
                    _("The discount exceeds the subtotal."),
                )
            if problem is not None:
                bad, fname, code, message = problem
                bad.reject(fname, code, message)
                for row in group:
                    if row is not bad:
                        row.reject(
                            "order_id",
                            "order_rejected",
                            _("Another line of this order was rejected (line %d).") % bad.line,
                        )
                continue
            for row in group:
                row.outcome = RowOutcome.CREATED
            if "number" in head:
                taken.add(head["number"])
            planned.append(
                (
                    group,
                    {
                        "key": key,
                        "customer_id": cid,
                        "channel_id": channel_id,
                        "currency": cur,
                        "subtotal": subtotal,
                        "discount": discount,
                        "placed_at": head.get("placed_at") or ctx.now,
                        "status": head.get("status", OrderStatus.PAID.value),
                        "number": head.get("number", ""),
                    },
                    lines,
                )
            )
        if ctx.dry_run or not planned:
            return
        ids = allocate_ids(Order, len(planned))
        suffixes = iter(_order_suffixes(sum(1 for _g, o, _l in planned if not o["number"])))
        days: dict[datetime.date, str] = {}
        zone = timezone.get_current_timezone()
        for oid, (_group, o, lines) in zip(ids, planned, strict=True):
            number = o["number"]
            if not number:
                local = o["placed_at"].astimezone(zone)
                day = days.get(local.date())
                if day is None:
                    day = days[local.date()] = f"DG{local:%Y%m%d}-"
                number = day + next(suffixes)
            order_rows.append(
                (
                    oid,
                    number,
                    o["customer_id"],
                    o["channel_id"],
                    o["status"],
                    o["placed_at"],
                    o["currency"],
                    o["subtotal"],
                    o["discount"],
                    o["subtotal"] - o["discount"],
                    o["key"],
                )
            )
            line_rows.extend((oid, *line) for line in lines)
        TableWriter(
            Order,
            (
                "id",
                "number",
                "customer_id",
                "channel_id",
                "status",
                "placed_at",
                "currency",
                "subtotal",
                "discount",
                "total",
                "external_id",
            ),
            ctx.now,
            constants={"returned_amount": 0, "source": ctx.source, "created_at": ctx.now},
        ).insert(order_rows)
        line_columns = (
            "order_id",
            "product_id",
            "quantity",
            "unit_price",
            "discount",
            "line_total",
        )
        TableWriter(
            OrderLine,
            (*line_columns, "external_id") if with_line_ids else line_columns,
            ctx.now,
            constants={"returned_quantity": 0},
        ).insert(line_rows)
        owe_refresh(ctx, min(ids))  # the aggregates of their customers, once per file


def _duplicate_line_id(group: list[Row]) -> tuple[Row, str, str, str] | None:
    """The first line of an order that repeats an earlier line's id in the source (the order
    is rejected: a return naming that id could not tell the lines apart), or None."""
    seen: set[str] = set()
    for row in group:
        line_id = row.data.get("line_id")
        if line_id is None:
            continue
        if line_id in seen:
            return (
                row,
                "line_id",
                "duplicate_line_id",
                _("Another line of this order has the same line id."),
            )
        seen.add(line_id)
    return None


def _all_line_ids(group: list[Row]) -> bool:
    """Whether every line of an order gives its id in the source, no two the same."""
    ids = {row.data.get("line_id") for row in group}
    return None not in ids and len(ids) == len(group)


def _fill_line_ids(
    ctx: Context, orders: dict[str, list[Row]], products: Mapping[str, tuple[int, Decimal, str]]
) -> None:
    """Give the lines of known orders the source's line ids the file has for them, when none of
    the order's stored lines has one and the file's lines are the stored lines one to one in
    order (the stored lines by id: the import and ``place_order`` insert them in the given
    order) with the same product and quantity; those orders' rows become ``updated``. Any other
    known order stays unchanged: an order's ids are never rewritten. One query reads the stored
    lines of all ``orders``, one ``UPDATE`` (an executemany) fills the lines (none in a dry run).
    The amounts do not change, so no purchase aggregate is owed."""
    line, order = qn(OrderLine._meta.db_table), qn(Order._meta.db_table)
    cond, params = in_keys(f"o.{qn('external_id')}", list(orders))
    lock = " FOR UPDATE OF l" if connection.vendor == "postgresql" and not ctx.dry_run else ""
    stored: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.id, l.order_id, l.product_id, l.quantity, l.{qn('external_id')}, "  # noqa: S608
            f"o.{qn('external_id')} FROM {line} l JOIN {order} o ON o.id = l.order_id "
            f"WHERE o.source = %s AND {cond} ORDER BY l.order_id, l.id{lock}",
            [ctx.source, *params],
        )
        for line_pk, _order_id, product_id, quantity, line_id, key in cursor.fetchall():
            stored[key].append((line_pk, product_id, quantity, line_id))
    fills: list[tuple[str, int]] = []
    for key, group in orders.items():
        lines = stored.get(key, [])
        if len(lines) != len(group) or any(line_id for *_rest, line_id in lines):
            continue
        if all(
            products.get(row.data["sku"], (None,))[0] == product_id
            and row.data["quantity"] == quantity
            for row, (_pk, product_id, quantity, _id) in zip(group, lines, strict=True)
        ):
            fills.extend(
                (row.data["line_id"], pk) for row, (pk, *_rest) in zip(group, lines, strict=True)
            )
            for row in group:
                row.outcome = RowOutcome.UPDATED
    if fills and not ctx.dry_run:
        update_rows(OrderLine, ("external_id",), fills)


# --- per-file work: purchase aggregates once per file, durably --------------------------------

OWED = "import.owed_aggregates"  # the kind of marker: a job's orders whose aggregates are owed
REFRESH_PAGE = 20_000  # orders read, and at most customers refreshed, per transaction


def job_owner(job_id: int) -> str:
    """The owner name of an import job's durable markers."""
    return f"integration.importjob:{job_id}"


def owe_refresh(ctx: Context, first_order_id: int) -> None:
    """Note, in the chunk's transaction, that the customers of this job's orders (ids from
    ``first_order_id`` on) owe a purchase-aggregate refresh: the marker is opened with the
    job's first written chunk and closed by ``finish_owed`` after the last, so a job that dies
    in between leaves a durable record of it (run by the resumed job, or by the next import
    for an abandoned one) instead of stale aggregates."""
    if ctx.owed_opened:
        return
    owner = job_owner(ctx.job_id)
    if not bulkwrite.open_markers(OWED, owner):
        bulkwrite.open_marker(OWED, owner, {"first_order_id": first_order_id})
    ctx.owed_opened = True


def finish_owed(owner: str) -> int:
    """Refresh the purchase aggregates owed by ``owner`` (``owe_refresh``) and close its marker:
    the customers of the orders from the marker's first id on, each once, in transactions of
    ``REFRESH_PAGE`` orders (a bitmap of the customer ids keeps memory bounded whatever the
    file). Returns the customers refreshed."""
    from django.db import transaction

    markers = bulkwrite.open_markers(OWED, owner)
    if not markers:
        return 0
    ((key, (marker, data)),) = markers.items()
    order, cust = qn(Order._meta.db_table), qn(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {cust}")  # noqa: S608 - name from _meta
        seen = np.zeros(int(cursor.fetchone()[0] or 0) + 1, dtype=bool)
    after = int(data.get("first_order_id", 1)) - 1
    refreshed = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":  # as the chunks (pipeline._commit_chunk)
                    cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute(
                    f"SELECT id, customer_id FROM {order} WHERE id > %s "  # noqa: S608
                    "ORDER BY id LIMIT %s",
                    [after, REFRESH_PAGE],
                )
                page = cursor.fetchall()
            if page:
                after = int(page[-1][0])
                ids = np.unique(np.fromiter((r[1] or 0 for r in page), dtype=np.int64))
                ids = ids[ids > 0]
                if len(ids) and int(ids[-1]) >= len(seen):
                    seen = np.concatenate([seen, np.zeros(int(ids[-1]) + 1 - len(seen), bool)])
                fresh = ids[~seen[ids]]
                seen[fresh] = True
                refresh_purchase_aggregates(fresh.tolist(), timezone.now())
                refreshed += len(fresh)
            if len(page) < REFRESH_PAGE:
                bulkwrite.close_marker(OWED, key, marker)
                return refreshed


from dangol.integration.imports.targets_contacts import ContactPointTarget  # noqa: E402
from dangol.integration.imports.targets_interactions import InteractionTarget  # noqa: E402
from dangol.integration.imports.targets_org import MembershipTarget, OrganizationTarget  # noqa: E402
from dangol.integration.imports.targets_returns import ReturnTarget  # noqa: E402

TARGETS: dict[str, type[Target]] = {
    t.name: t
    for t in (
        CustomerTarget,
        ConsentTarget,
        ProductTarget,
        OrderTarget,
        OrganizationTarget,
        MembershipTarget,
        ContactPointTarget,
        ReturnTarget,
        InteractionTarget,
    )
}
