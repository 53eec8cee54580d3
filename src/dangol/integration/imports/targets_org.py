"""Import targets for B2B accounts: organizations, and the people who work for them.

``OrganizationTarget`` writes what ``create_organization`` / ``update_organization``,
``add_external_id``, ``add_contact_point`` and ``add_address`` write, set-based per chunk:
the organization (business number checked and stored as ``123-45-67890``), its external id,
its main phone / fax / e-mail (normalized, the first of a kind primary) and its address (the
first primary), and a change-feed entry per created or changed organization. A row whose id is
new but whose business number belongs to an organization the user may change is *matched*:
the id is attached to it, as the customer import does with a mobile number. A row whose parent
(by id or business number) is not found is tried again after the last chunk, when the whole file
is written (``OrganizationTarget.after_file``): exports sorted by name list subsidiaries before
their parent. A dry run writes nothing but keeps what its chunks would have written
(``_Earlier``), and tries its waiting rows the same way in ``after_file``, writing to that, so
it reports what the real run does.

``MembershipTarget`` links customers to organizations with a title, as
``link_to_organization`` does (one primary contact per organization; a change-feed entry for
the customer). Its dry run keeps the memberships its chunks would have written, so a later
chunk finds them as the real run does.
"""

from __future__ import annotations

import functools
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.core.normalize import NormalizationError, clean_name, normalize_business_number
from dangol.core.visibility import Action, Scope, object_type_of, scope_for
from dangol.customers.models import (
    Address,
    AddressKind,
    ChangeOp,
    ContactKind,
    ContactPoint,
    ExternalId,
    Organization,
    OrganizationMembership,
    OrganizationSize,
    RecordStatus,
    Region,
)
from dangol.integration.imports import parsing
from dangol.integration.imports.mapping import CompiledMapping, FieldSpec, Reason
from dangol.integration.imports.parsing import FieldIssue
from dangol.integration.imports.readers import Reader, Record, column_of, stored_record
from dangol.integration.imports.targets import (
    Context,
    Row,
    Target,
    customers_by_external_id,
    record_changes,
)
from dangol.integration.imports.targets_shared import (
    organizations_by_external_id,
    owner_for,
    reason,
    rows_by_keys,
    scoped,
    visible_subset,
)
from dangol.integration.imports.writer import (
    TableWriter,
    allocate_ids,
    in_keys,
    qn,
    update_rows,
)
from dangol.integration.models import (
    ImportFormat,
    ImportJob,
    ImportRowError,
    ImportStatus,
    ImportTarget,
    RowOutcome,
)

REGION_VALUES = frozenset(Region.values)
ORGANIZATION_COMPARE = ("name", "business_number", "industry", "size", "website", "region")
ORGANIZATION_CONTACTS = (
    ("phone", ContactKind.PHONE),
    ("fax", ContactKind.FAX),
    ("email", ContactKind.EMAIL),
)
SIZE_ALIASES = {
    "소상공인": OrganizationSize.MICRO.value,
    "소기업": OrganizationSize.SMALL.value,
    "중소기업": OrganizationSize.SMALL.value,
    "중기업": OrganizationSize.MEDIUM.value,
    "중견기업": OrganizationSize.LARGE.value,
    "대기업": OrganizationSize.ENTERPRISE.value,
}
ORGANIZATION_ID_ALIASES = (
    "거래처코드",
    "거래처번호",
    "거래처id",
    "회사코드",
    "업체코드",
    "고객사코드",
    "법인코드",
    "company_id",
    "organization_id",
    "account_id",
)
BUSINESS_NUMBER_ALIASES = (
    "사업자등록번호",
    "사업자번호",
    "사업자",
    "brn",
    "business_registration_number",
)
PARENT_ID_ALIASES = (
    "모회사",
    "모회사코드",
    "모회사id",
    "모회사거래처코드",
    "모법인",
    "모법인코드",
    "상위법인",
    "상위법인코드",
    "상위거래처",
    "상위거래처코드",
    "상위회사",
    "parent",
    "parent_id",
    "parent_company_id",
)
PARENT_NUMBER_ALIASES = (
    "모회사사업자번호",
    "모회사사업자등록번호",
    "모법인사업자번호",
    "상위법인사업자번호",
    "상위법인사업자등록번호",
    "parent_brn",
    "parent_business_registration_number",
)
PARENT_FIELDS = ("parent_external_id", "parent_business_number")

# Rows rejected for want of a parent are tried again once the whole file is written
# (``after_file``): those whose one reason is that the parent was not found, or that the
# parent's row was rejected (it may be one of them). ``RETRY_BATCH`` rows per transaction, as
# the pipeline's chunks.
RETRY_CODES = frozenset({"parent_not_found", "parent_rejected"})
RETRY_BATCH = 20_000

# An organization's key in a file: ("external_id" | "business_number", value).
Key = tuple[str, str]

# A node of the organization tree while a chunk is planned: ("db", id) for an organization
# that exists (in a dry run also one an earlier chunk would have created, by its negative id:
# see ``_Earlier``), ("new", external id) for one this chunk creates.
Node = tuple[str, Any]


class _Waiting(NamedTuple):
    """A rejected row that may be tried again (``id`` of its ``ImportRowError``)."""

    id: int
    line: int
    raw: Any
    reasons: list[Reason]


class _Org:
    """An organization as a dry run's earlier chunks would have left it: the columns a chunk
    reads (``id``, ``ORGANIZATION_COMPARE``, ``parent_id``), its contact keys and addresses."""

    __slots__ = ("addresses", "contacts", "values")

    def __init__(
        self,
        values: dict[str, Any],
        contacts: set[tuple[str, str]],
        addresses: set[tuple[str, str]],
    ) -> None:
        self.values = values
        self.contacts = contacts
        self.addresses = addresses


class _Earlier:
    """What the chunks (and retry batches) of a dry run before the current one would have
    written. A dry run writes no organization; ``_write_chunk`` reads these before the base,
    as a real run reads what its earlier chunks committed: the organization each id of the
    source names (``ext``), who holds a business number (``numbers``; None: nobody any more),
    and the organizations created or changed (``orgs``: values, parent, contacts, addresses).
    Organizations the dry run would create get negative ids, which no table holds. Memory grows
    with the rows the dry run accepts (a real run keeps nothing)."""

    __slots__ = ("_last", "ext", "numbers", "orgs", "reach")

    def __init__(self) -> None:
        self.ext: dict[str, int] = {}
        self.numbers: dict[str, int | None] = {}
        self.orgs: dict[int, _Org] = {}
        self.reach: dict[str, bool] = {}  # by action: whether the user reaches what they create
        self._last = 0

    def allocate(self, n: int) -> list[int]:
        """Ids for ``n`` organizations the dry run would create: -1, -2, ..."""
        first = self._last - 1
        self._last -= n
        return list(range(first, self._last - 1, -1))


def business_number(text: str) -> str | None:
    """``123-45-67891`` from a business registration number in any common format, as
    ``create_organization`` stores it; None when it is not ten digits with the right check
    digit (``core.normalize.normalize_business_number`` says which)."""
    try:
        return normalize_business_number(text)
    except NormalizationError:
        return None


def _parent_field(row: Row) -> str:
    """The column a row names its parent organization by (for the reason's cell)."""
    return "parent_external_id" if row.data.get("parent_external_id") else "parent_business_number"


def _check_business_number(data: dict[str, Any], reasons: list[Reason]) -> None:
    """The row's business number stored as ``123-45-67891``, or a reason: not ten digits
    (``invalid``) or a wrong check digit (``checksum``)."""
    if "business_number" in data:
        try:
            data["business_number"] = normalize_business_number(data["business_number"])
        except NormalizationError as exc:
            reasons.append(reason("business_number", exc.code, exc.message))


def _with_parents(ctx: Context) -> bool:
    """Whether the file names parent organizations at all."""
    return any(f in ctx.fields for f in PARENT_FIELDS)


def _waiting(reasons: Sequence[Reason]) -> bool:
    """Whether a row rejected with ``reasons`` waits for its parent (``RETRY_CODES``)."""
    return len(reasons) == 1 and reasons[0].get("code") in RETRY_CODES


def _placed(row: Row) -> bool:
    """Whether a row was written (created, updated, matched or unchanged)."""
    return bool(row.outcome) and row.outcome != RowOutcome.REJECTED


def _own_keys(data: dict[str, Any]) -> list[Key]:
    """The keys a checked row is known by: its id and its business number."""
    keys: list[Key] = [("external_id", data["external_id"])]
    if data.get("business_number"):
        keys.append(("business_number", data["business_number"]))
    return keys


def _parent_keys(data: dict[str, Any]) -> list[Key]:
    """The keys a checked row names its parent by."""
    return [
        (kind, data[fname])
        for fname, kind in (
            ("parent_external_id", "external_id"),
            ("parent_business_number", "business_number"),
        )
        if data.get(fname)
    ]


def committed_records(
    ctx: Context, rows: list[Row] | None
) -> tuple[ImportJob, Iterator[Record]] | None:
    """When a dry run resumes one that stopped (its job is running and ``rows``, its first
    chunk, or None after its last, start after its last committed line): the job and the
    records its committed chunks accepted (no rejected-row record), read again from its file in
    file order. None otherwise, as for a preview's check (its rows start at the top of the
    file, not after the job's last committed line)."""
    job = ImportJob.objects.get(pk=ctx.job_id)
    resumed_after = job.last_committed_line
    if (
        job.status != ImportStatus.RUNNING
        or not resumed_after
        or (rows and rows[0].line <= resumed_after)
    ):
        return None

    def records() -> Iterator[Record]:
        from dangol.integration.imports.pipeline import open_file

        rejected = set(
            ImportRowError.objects.filter(job_id=job.pk, line__lte=resumed_after).values_list(
                "line", flat=True
            )
        )
        with open_file(job) as f:
            for rec in Reader(f, job.format, job.encoding):
                if rec.line > resumed_after:
                    return
                if not rec.invalid and rec.line not in rejected:
                    yield rec

    return job, records()


class OrganizationTarget(Target):
    """One row per organization (a B2B account), keyed by its id in the source system."""

    name = ImportTarget.ORGANIZATIONS
    specs = (
        FieldSpec(
            "external_id",
            required=True,
            max_length=100,
            aliases=("id", "코드", "번호", *ORGANIZATION_ID_ALIASES),
        ),
        FieldSpec(
            "name",
            "name",
            required=True,
            aliases=(
                "회사명",
                "상호",
                "상호명",
                "거래처명",
                "업체명",
                "법인명",
                "기업명",
                "고객사명",
                "company",
                "company_name",
                "organization",
            ),
        ),
        FieldSpec("business_number", max_length=20, aliases=BUSINESS_NUMBER_ALIASES),
        FieldSpec(
            "industry", max_length=100, aliases=("업종", "업태", "산업", "업종명", "업종/업태")
        ),
        FieldSpec(
            "size",
            "choice",
            aliases=("규모", "기업규모", "직원수", "employees"),
            choices=frozenset(OrganizationSize.values) - {""},
            choice_aliases=SIZE_ALIASES,
            labels=dict(OrganizationSize.choices),
        ),
        FieldSpec("website", max_length=200, aliases=("홈페이지", "웹사이트", "url", "homepage")),
        FieldSpec(
            "region",
            "choice",
            aliases=("지역", "시도"),
            choices=REGION_VALUES,
            choice_aliases=parsing.REGIONS,
            labels=dict(Region.choices),
        ),
        # contact points: checked in ``check``, which keeps the text as entered for ``value``
        FieldSpec(
            "phone", max_length=254, aliases=("대표전화", "전화", "전화번호", "tel", "대표번호")
        ),
        FieldSpec("fax", max_length=254, aliases=("팩스", "팩스번호", "fax_number")),
        FieldSpec("email", max_length=254, aliases=("대표메일", "이메일", "메일", "e-mail")),
        FieldSpec("postal_code", "postal", aliases=("우편번호", "zip", "zipcode")),
        FieldSpec(
            "address",
            max_length=200,
            aliases=("주소", "소재지", "사업장주소", "사업장소재지", "도로명주소", "address1"),
        ),
        FieldSpec("address_detail", max_length=200, aliases=("상세주소", "address2")),
        # the parent organization (계열사 → 모회사): its id in the same source or its number
        FieldSpec("parent_external_id", max_length=100, aliases=PARENT_ID_ALIASES),
        FieldSpec("parent_business_number", max_length=20, aliases=PARENT_NUMBER_ALIASES),
    )

    def __init__(self, fields: set[str]) -> None:
        super().__init__(fields)
        # dry run only: what its earlier chunks would have written (``_Earlier``)
        self._early: _Earlier | None = None
        self._begun = False  # dry run: a resumed run's rebuild is done (``_begin_dry_run``)
        # the job's format, header and mapping, to check stored rows again (``_recheck``)
        self._replay: tuple[str, list[str], CompiledMapping] | None = None

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        if len(data.get("name", "")) > 200:
            reasons.append(reason("name", "too_long", _("At most %d characters.") % 200))
        _check_business_number(data, reasons)
        for fname, kind in ORGANIZATION_CONTACTS:
            text = data.pop(fname, "")
            if not text:
                continue
            try:
                if kind == ContactKind.EMAIL:
                    data[fname] = parsing.email_values(text)
                else:
                    data[fname] = parsing.phone_values(text)
            except FieldIssue as exc:
                reasons.append(reason(fname, exc.code, exc.message))
                continue
            data["_raw_" + fname] = text
        if data.get("address_detail") and not data.get("address"):
            reasons.append(
                reason("address", "required", _("Give the address the detail belongs to."))
            )
        if "parent_business_number" in data:
            try:
                bn = normalize_business_number(data["parent_business_number"])
            except NormalizationError as exc:
                reasons.append(reason("parent_business_number", exc.code, exc.message))
            else:
                data["parent_business_number"] = bn
        own = (
            ("parent_external_id", data.get("external_id")),
            ("parent_business_number", data.get("business_number")),
        )
        for fname, mine in own:
            if mine and data.get(fname) == mine:
                reasons.append(
                    reason(fname, "cycle", _("An organization cannot be its own parent."))
                )

    def write(self, ctx: Context, rows: list[Row]) -> None:
        """Write the chunk (``_write_chunk``; a dry run records in ``_Earlier`` what it would
        write, after rebuilding what a stopped run's committed chunks would have written:
        ``_begin_dry_run``). The rows waiting for a parent are tried again once every chunk is
        committed (``after_file``)."""
        if ctx.dry_run and not self._begun:
            self._begun = True
            self._begin_dry_run(ctx, rows)
        self._write_chunk(ctx, rows)

    def _write_chunk(self, ctx: Context, rows: list[Row]) -> None:
        if ctx.dry_run and self._early is None:
            self._early = _Earlier()
        seen: dict[str, Row] = {}
        numbers: dict[str, Row] = {}
        for row in rows:
            if row.reasons:
                continue
            ext, bn = row.data["external_id"], row.data.get("business_number")
            if ext in seen:
                row.reject(
                    "external_id",
                    "duplicate_in_file",
                    _("This id appears twice in the file (line %d).") % seen[ext].line,
                )
            elif bn and bn in numbers:
                row.reject(
                    "business_number",
                    "duplicate_in_file",
                    _("This business number appears twice in the file (line %d).")
                    % numbers[bn].line,
                )
            else:
                seen[ext] = row
                if bn:
                    numbers[bn] = row
        visible = scoped(ctx.actor, Organization, Action.CHANGE)
        known, hidden = self._known(ctx, list(seen), visible, Action.CHANGE)
        for ext in hidden:
            seen.pop(ext).reject("external_id", "not_found", _("Not found."))
        by_number = self._numbered(sorted(numbers))
        reachable = self._reachable(ctx, visible, Action.CHANGE, by_number.values())

        target: dict[str, int] = {}
        matched: set[str] = set()
        for ext, row in list(seen.items()):
            bn = row.data.get("business_number")
            holder = by_number.get(bn) if bn else None
            oid = known.get(ext)
            if oid is None and holder is not None and holder in reachable:
                oid = holder
                matched.add(ext)
            if holder is not None and holder != oid:
                seen.pop(ext).reject(
                    "business_number",
                    "duplicate",
                    _("An organization with this business number exists."),
                )
                continue
            if oid is not None:
                target[ext] = oid

        with_parents = any(f in ctx.fields for f in PARENT_FIELDS)
        parents = self._parents(ctx, seen, target) if with_parents else {}

        current, contacts, addresses = self._current(sorted(set(target.values())))
        compare = [f for f in ORGANIZATION_COMPARE if f in ctx.fields]
        new_rows: list[Row] = []
        updates: dict[int, dict[str, Any]] = {}
        new_contacts: list[tuple[int, str, str, dict[str, Any], bool]] = []
        new_addresses: list[tuple[int, dict[str, Any], bool]] = []
        new_ext: list[tuple[int, str]] = []
        for ext, row in seen.items():
            oid_or_none = target.get(ext)
            if oid_or_none is None:
                new_rows.append(row)
                row.outcome = RowOutcome.CREATED
                continue
            oid = oid_or_none
            merged = updates.get(oid) or dict(current[oid])
            changed = False
            for f in compare:
                value = row.data.get(f)
                if value not in (None, "") and merged.get(f) != value:
                    merged[f] = value
                    changed = True
            parent = parents.get(ext)
            if parent is not None and (parent[0] != "db" or merged["parent_id"] != parent[1]):
                merged["parent_id"] = parent
                changed = True
            changed |= self._contacts(oid, row, contacts[oid], new_contacts)
            changed |= self._address(oid, row, addresses[oid], new_addresses)
            if ext in matched:
                new_ext.append((oid, ext))
                row.outcome = RowOutcome.MATCHED
            else:
                row.outcome = RowOutcome.UPDATED if changed else RowOutcome.UNCHANGED
            if changed or ext in matched:
                updates[oid] = merged

        early = self._early if ctx.dry_run else None
        if early is not None:
            new_ids = early.allocate(len(new_rows))
        else:
            new_ids = allocate_ids(Organization, len(new_rows))
        new_by_ext = {r.data["external_id"]: oid for oid, r in zip(new_ids, new_rows, strict=True)}

        def parent_id(node: Node | int | None) -> int | None:
            if node is None or isinstance(node, int):
                return node
            return int(node[1]) if node[0] == "db" else new_by_ext[node[1]]

        for oid, row in zip(new_ids, new_rows, strict=True):
            self._contacts(oid, row, set(), new_contacts)
            self._address(oid, row, set(), new_addresses)
            new_ext.append((oid, row.data["external_id"]))
        if early is not None:
            for oid, row in zip(new_ids, new_rows, strict=True):
                d = row.data
                values = {f: d.get(f, "") for f in ORGANIZATION_COMPARE}
                values.update(id=oid, parent_id=parent_id(parents.get(d["external_id"])))
                early.orgs[oid] = _Org(values, set(), set())
                if d.get("business_number"):
                    early.numbers[d["business_number"]] = oid
            for oid, m in updates.items():
                org = early.orgs.get(oid)
                if org is None:  # an organization of the base: what it holds, and what is added
                    org = early.orgs[oid] = _Org(m, contacts[oid], addresses[oid])
                org.values = {**m, "parent_id": parent_id(m["parent_id"])}
                before, after = current[oid]["business_number"], m["business_number"]
                if before != after:
                    if before:
                        early.numbers[before] = None
                    if after:
                        early.numbers[after] = oid
            for oid, kind, _raw, n, _primary in new_contacts:
                early.orgs[oid].contacts.add((kind, n["match_key"]))
            for oid, a, _primary in new_addresses:
                early.orgs[oid].addresses.add((a["line1"], a["line2"]))
            early.ext.update((key, oid) for oid, key in new_ext)
            return

        now = ctx.now
        owner_id, team_id = owner_for(ctx.actor, Organization)
        TableWriter(
            Organization,
            (
                "id",
                *ORGANIZATION_COMPARE,
                "owner_id",
                "team_id",
                "status",
                "source",
                "created_at",
                "updated_at",
                "parent_id",
            ),
            now,
        ).insert(
            [
                (
                    oid,
                    d["name"],
                    d.get("business_number", ""),
                    d.get("industry", ""),
                    d.get("size", ""),
                    d.get("website", ""),
                    d.get("region", ""),
                    owner_id,
                    team_id,
                    RecordStatus.ACTIVE.value,
                    ctx.source,
                    now,
                    now,
                    parent_id(parents.get(d["external_id"])),
                )
                for oid, d in zip(new_ids, (r.data for r in new_rows), strict=True)
            ]
        )
        if updates:
            columns = [*compare, *(["parent_id"] if with_parents else [])]
            update_rows(
                Organization,
                [*columns, "updated_at"],
                [
                    [
                        *(m[f] for f in compare),
                        *([parent_id(m["parent_id"])] if with_parents else []),
                        now,
                        oid,
                    ]
                    for oid, m in updates.items()
                ],
            )
        TableWriter(ExternalId, ("organization_id", "source", "key", "created_at"), now).insert(
            [(oid, ctx.source, key, now) for oid, key in new_ext]
        )
        TableWriter(
            ContactPoint,
            (
                "organization_id",
                "kind",
                "value",
                "normalized",
                "match_key",
                "last4",
                "is_legacy",
                "is_primary",
                "label",
                "created_at",
            ),
            now,
        ).insert(
            [
                (
                    oid,
                    kind,
                    raw,
                    n["normalized"],
                    n["match_key"],
                    n["last4"],
                    n["is_legacy"],
                    primary,
                    "",
                    now,
                )
                for oid, kind, raw, n, primary in new_contacts
            ]
        )
        TableWriter(
            Address,
            (
                "organization_id",
                "kind",
                "postal_code",
                "line1",
                "line2",
                "is_primary",
                "created_at",
            ),
            now,
        ).insert(
            [
                (
                    oid,
                    AddressKind.WORK.value,
                    a.get("postal_code", ""),
                    a["line1"],
                    a["line2"],
                    primary,
                    now,
                )
                for oid, a, primary in new_addresses
            ]
        )
        record_changes(
            "organization", [(new_ids, ChangeOp.CREATED), (sorted(updates), ChangeOp.UPDATED)]
        )

    # --- lookups: the base, and in a dry run what its earlier chunks would have written -------

    def _known(
        self, ctx: Context, keys: list[str], visible: Any, action: Action
    ) -> tuple[dict[str, int], set[str]]:
        """``{external id: organization id}`` of the ``keys`` known in the source that the user
        may reach (``visible``, for ``action``), and the known keys they may not: one query
        (``organizations_by_external_id``), with a dry run's earlier chunks' ids first."""
        early = self._early
        if early is None or not early.ext:
            return organizations_by_external_id(ctx.source, keys, visible)
        mine = {k: early.ext[k] for k in keys if k in early.ext}
        found, _all = organizations_by_external_id(
            ctx.source, [k for k in keys if k not in mine], None
        )
        found.update(mine)
        allowed = self._reachable(ctx, visible, action, found.values())
        return (
            {k: oid for k, oid in found.items() if oid in allowed},
            {k for k, oid in found.items() if oid not in allowed},
        )

    def _numbered(self, numbers: list[str]) -> dict[str, int]:
        """``{business number: organization id}`` for ``numbers`` held by any organization (one
        query), a dry run's earlier chunks' holders first."""
        early = self._early
        ask = numbers if early is None else [n for n in numbers if n not in early.numbers]
        out = {
            o["business_number"]: o["id"]
            for o in rows_by_keys(Organization, "business_number", ask, ("id", "business_number"))
        }
        if early is not None:
            out.update((n, oid) for n in numbers if (oid := early.numbers.get(n)) is not None)
        return out

    def _reachable(
        self, ctx: Context, visible: Any, action: Action, ids: Iterable[int]
    ) -> set[int]:
        """The ids among ``ids`` the user may reach (``visible_subset``); an organization a dry
        run would create is reached as the user reaches what they import (``_reaches_new``)."""
        wanted = set(ids)
        out = visible_subset(visible, [i for i in wanted if i > 0])
        created = {i for i in wanted if i < 0}
        if created and self._reaches_new(ctx, visible, action):
            out |= created
        return out

    def _reaches_new(self, ctx: Context, visible: Any, action: Action) -> bool:
        """Whether the user reaches (for ``action``) an organization this import creates: it is
        theirs (``owner_for``) unless they may add anywhere, and ``visible`` filters on the
        owner and team (``core.visibility.scope_filter``)."""
        if visible is None:
            return True
        early = self._early
        assert early is not None  # only a dry run has organizations it would create
        if action not in early.reach:
            actor = ctx.actor
            scope = scope_for(actor, object_type_of(Organization), action)
            owner_id, team_id = owner_for(actor, Organization)
            early.reach[action] = actor is not None and (
                (scope in (Scope.OWN, Scope.TEAM) and owner_id == actor.pk)
                or (scope == Scope.TEAM and bool(actor.team_id) and team_id == actor.team_id)
            )
        return early.reach[action]

    def _current(
        self, ids: list[int]
    ) -> tuple[
        dict[int, dict[str, Any]], dict[int, set[tuple[str, str]]], dict[int, set[tuple[str, str]]]
    ]:
        """The organizations ``ids`` as stored (one query each for the rows, contact keys and
        addresses), or as a dry run's earlier chunks would have left them."""
        early = self._early
        mine = [i for i in ids if early is not None and i in early.orgs]
        ask = [i for i in ids if early is None or i not in early.orgs]
        current = {
            o["id"]: o
            for o in rows_by_keys(
                Organization, "id", ask, ("id", *ORGANIZATION_COMPARE, "parent_id")
            )
        }
        contacts: dict[int, set[tuple[str, str]]] = {i: set() for i in ask}
        for c in rows_by_keys(
            ContactPoint, "organization", ask, ("organization_id", "kind", "match_key")
        ):
            contacts[c["organization_id"]].add((c["kind"], c["match_key"]))
        addresses: dict[int, set[tuple[str, str]]] = {i: set() for i in ask}
        for a in rows_by_keys(Address, "organization", ask, ("organization_id", "line1", "line2")):
            addresses[a["organization_id"]].add((a["line1"], a["line2"]))
        if early is not None:
            for i in mine:
                org = early.orgs[i]
                current[i] = dict(org.values)
                contacts[i] = set(org.contacts)
                addresses[i] = set(org.addresses)
        return current, contacts, addresses

    def _parent_ids(self, ids: list[int]) -> list[dict[str, Any]]:
        """``[{id, parent_id}]`` of the organizations ``ids`` (one query), as a dry run's
        earlier chunks would have left them."""
        early = self._early
        if early is None:
            return rows_by_keys(Organization, "id", ids, ("id", "parent_id"))
        stored = rows_by_keys(
            Organization, "id", [i for i in ids if i not in early.orgs], ("id", "parent_id")
        )
        return stored + [
            {"id": i, "parent_id": early.orgs[i].values["parent_id"]}
            for i in ids
            if i in early.orgs
        ]

    def _parents(
        self, ctx: Context, seen: dict[str, Row], target: dict[str, int]
    ) -> dict[str, Node]:
        """``{external id: parent node}`` for the chunk's rows that name a parent, by its id in
        the source or its business number: a row of this chunk (in any order; its new or
        matched organization), an organization the user may see (which includes one an earlier
        chunk wrote; in a dry run, one an earlier chunk would have written). Rows whose parent is
        unknown, or would close a cycle (checked in file order against the existing tree, so
        the row that closes it is the one rejected), are rejected and leave ``seen``; so is a
        row whose parent is a new organization whose own row is rejected."""
        node_of: dict[str, Node] = {
            ext: ("db", target[ext]) if ext in target else ("new", ext) for ext in seen
        }
        by_number = {
            r.data["business_number"]: ext
            for ext, r in seen.items()
            if r.data.get("business_number")
        }
        wanted_ext = sorted(
            {
                r.data["parent_external_id"]
                for r in seen.values()
                if r.data.get("parent_external_id") and r.data["parent_external_id"] not in seen
            }
        )
        wanted_bn = sorted(
            {
                r.data["parent_business_number"]
                for r in seen.values()
                if r.data.get("parent_business_number")
                and r.data["parent_business_number"] not in by_number
            }
        )
        visible = scoped(ctx.actor, Organization, Action.VIEW)
        known_ext, _hidden = self._known(ctx, wanted_ext, visible, Action.VIEW)
        numbered = self._numbered(wanted_bn)
        reachable = self._reachable(ctx, visible, Action.VIEW, numbered.values())
        known_bn = {bn: oid for bn, oid in numbered.items() if oid in reachable}

        def resolve(kind: str, key: str) -> Node | None:
            if kind == "external_id":
                if key in node_of:
                    return node_of[key]
                if key in known_ext:
                    return ("db", known_ext[key])
            else:
                if key in by_number:
                    return node_of[by_number[key]]
                if key in known_bn:
                    return ("db", known_bn[key])
            return None

        wanted: dict[str, Node] = {}
        for ext, row in list(seen.items()):
            d = row.data
            by_id = d.get("parent_external_id")
            by_bn = d.get("parent_business_number")
            if not by_id and not by_bn:
                continue
            found = [
                (fname, resolve(kind, key))
                for fname, kind, key in (
                    ("parent_external_id", "external_id", by_id),
                    ("parent_business_number", "business_number", by_bn),
                )
                if key
            ]
            nodes = [node for _f, node in found if node is not None]
            if len(nodes) < len(found):
                seen.pop(ext).reject(
                    next(fname for fname, node in found if node is None),
                    "parent_not_found",
                    _("No organization with this id or business number to be the parent."),
                )
            elif len(set(nodes)) > 1:
                seen.pop(ext).reject(
                    "parent_business_number",
                    "parent_mismatch",
                    _("The parent's id and business number name different organizations."),
                )
            else:
                wanted[ext] = nodes[0]

        # the existing tree above the organizations involved, one query per level
        up: dict[Node, Node | None] = {}
        level = {n[1] for n in [*wanted.values(), *node_of.values()] if n[0] == "db"}
        while level:
            rows = self._parent_ids(sorted(level))
            for o in rows:
                up[("db", o["id"])] = ("db", o["parent_id"]) if o["parent_id"] else None
            level = {o["parent_id"] for o in rows if o["parent_id"]} - {
                n[1] for n in up if n[0] == "db"
            }

        def closes_a_cycle(child: Node, parent: Node) -> bool:
            node: Node | None = parent
            steps = 0
            while node is not None and steps <= len(up) + len(wanted) + 1:
                if node == child:
                    return True
                node = up.get(node)
                steps += 1
            return node is not None  # a cycle already in the data: do not add to it

        parents: dict[str, Node] = {}
        for ext, parent in wanted.items():
            child = node_of[ext]
            if closes_a_cycle(child, parent):
                row = seen.pop(ext)
                row.reject(
                    _parent_field(row),
                    "cycle",
                    _("This parent is already below this organization in the group."),
                )
                continue
            up[child] = parent
            parents[ext] = parent
        # a child of a new organization whose row was rejected has no parent to point to
        while rejected := [
            ext
            for ext, parent in parents.items()
            if ext in seen and parent[0] == "new" and parent[1] not in seen
        ]:
            for ext in rejected:
                row = seen.pop(ext)
                row.reject(
                    _parent_field(row),
                    "parent_rejected",
                    _("The parent organization's row was rejected."),
                )
                del parents[ext]
        return parents

    @staticmethod
    def _contacts(
        oid: int,
        row: Row,
        have: set[tuple[str, str]],
        out: list[tuple[int, str, str, dict[str, Any], bool]],
    ) -> bool:
        """Queue the row's phone, fax and e-mail the organization lacks (the first of a kind
        primary, as ``add_contact_point``); True if any."""
        added = False
        kinds = {k for k, _key in have}
        for fname, kind in ORGANIZATION_CONTACTS:
            norm = row.data.get(fname)
            if norm is None or (kind.value, norm["match_key"]) in have:
                continue
            out.append(
                (oid, kind.value, row.data.get("_raw_" + fname, ""), norm, kind not in kinds)
            )
            have.add((kind.value, norm["match_key"]))
            kinds.add(kind.value)
            added = True
        return added

    @staticmethod
    def _address(
        oid: int, row: Row, have: set[tuple[str, str]], out: list[tuple[int, dict[str, Any], bool]]
    ) -> bool:
        """Queue the row's address if the organization lacks it (the first one primary, as
        ``add_address``); True if queued."""
        line1 = clean_name(row.data.get("address", ""))
        if not line1:
            return False
        line2 = clean_name(row.data.get("address_detail", ""))
        if (line1, line2) in have:
            return False
        out.append(
            (
                oid,
                {"line1": line1, "line2": line2, "postal_code": row.data.get("postal_code", "")},
                not have,
            )
        )
        have.add((line1, line2))
        return True

    # --- rows whose parent comes later in the file ---------------------------------------------

    def after_file(self, ctx: Context) -> None:
        """The whole file is written (in a dry run, into ``_Earlier``): the rows rejected for
        want of a parent are tried again (``retry_waiting_rows``). A failed or cancelled run
        never gets here; its resumed run does it (a resumed dry run that had committed every
        chunk rebuilds ``_Earlier`` first)."""
        if _with_parents(ctx):
            if ctx.dry_run and not self._begun:
                self._begun = True
                self._begin_dry_run(ctx, None)
            self.retry_waiting_rows(ctx)

    def retry_waiting_rows(self, ctx: Context) -> int:
        """Try again the job's rows rejected because their parent was not found (or its row
        was rejected), now that the whole file is written; pass after pass while a pass places
        rows (a grandchild, its parent and theirs, all before it in the file). Each batch of
        ``RETRY_BATCH`` rows is one transaction: its rows are checked again from the stored
        cells (the job's mapping, ``clean_columns``), written as a chunk (cycles are checked
        across them as in any chunk), and the rejected-row records of the rows placed are
        deleted and the job's counters moved in the same transaction, so a job that dies here
        leaves no row half-done and its resumed run does the rest. Returns the rows placed.

        A dry run's batches write to ``_Earlier``, as its chunks do, so it places and rejects
        exactly what the real run would (and moves the rejected-row records and counters as the
        real run does)."""
        from dangol.integration.imports.pipeline import COUNTER, log_chunk

        job = ImportJob.objects.get(pk=ctx.job_id)
        total = 0
        attempt = 0
        while True:
            attempt += 1
            placed = 0
            after = (0, 0)
            while True:
                with transaction.atomic():
                    status = ImportJob.objects.filter(pk=job.pk).values_list("status", flat=True)
                    if status.first() == ImportStatus.CANCELLED:
                        return total
                    fetched = self._waiting_after(job.pk, after)
                    if not fetched:
                        break
                    after = (fetched[-1].line, fetched[-1].id)
                    waiting = [w for w in fetched if self._replayable(ctx, w)]
                    if not waiting:
                        continue
                    batch = replace(ctx, now=timezone.now())
                    rows = self._recheck(batch, waiting)
                    self._retry(batch, rows)
                    done = self._settle(batch, waiting, rows)
                    if done and not ctx.dry_run:
                        counts = dict.fromkeys(COUNTER.values(), 0)
                        for row in done:
                            counts[COUNTER[RowOutcome(row.outcome)]] += 1
                        del counts[COUNTER[RowOutcome.REJECTED]]
                        log_chunk(
                            job, batch, (waiting[0].line, waiting[-1].line), counts,
                            retry=attempt, retried=len(waiting),
                        )  # fmt: skip
                placed += len(done)
                gc.collect()  # what the batch left in reference cycles (the pipeline's GC is off)
            total += placed
            if not placed:
                return total

    @staticmethod
    def _waiting_after(job_id: int, after: tuple[int, int]) -> list[_Waiting]:
        """The job's next ``RETRY_BATCH`` rejected rows after ``after`` (line, id) whose first
        reason is one of ``RETRY_CODES``, in file order (one query)."""
        return [
            _Waiting(e["id"], e["line"], e["raw"], e["reasons"])
            for e in ImportRowError.objects.filter(
                Q(line__gt=after[0]) | Q(line=after[0], id__gt=after[1]),
                job_id=job_id,
                reasons__0__code__in=sorted(RETRY_CODES),
            )
            .order_by("line", "id")
            .values("id", "line", "raw", "reasons")[:RETRY_BATCH]
        ]

    def _replayable(self, ctx: Context, waiting: _Waiting) -> bool:
        """Whether a rejected row waits for its parent and can be read again."""
        fmt = self._replayer(ctx)[0]
        return _waiting(waiting.reasons) and (
            fmt != ImportFormat.JSONL or isinstance(waiting.raw, dict)
        )

    def _replayer(self, ctx: Context) -> tuple[str, list[str], CompiledMapping]:
        """The job's format, header and mapping (read once per run)."""
        if self._replay is None:
            from dangol.integration.imports.pipeline import effective_mapping

            job = ImportJob.objects.get(pk=ctx.job_id)
            header = list(job.header)
            self._replay = (job.format, header, effective_mapping(job, header))
        return self._replay

    def _recheck(self, ctx: Context, waiting: Sequence[_Waiting]) -> list[Row]:
        """Rejected rows checked again from their cells, as the pipeline checked them: the
        job's mapping over the cells as read (``stored_record``), then ``clean_columns``."""
        fmt, header, mapping = self._replayer(ctx)
        return self._checked(mapping, [stored_record(fmt, header, w.line, w.raw) for w in waiting])

    def _checked(self, mapping: CompiledMapping, records: list[Record]) -> list[Row]:
        """``records`` checked as the pipeline checks a chunk (``clean_columns`` only sets the
        chunk's clock on the target, so the pipeline's read-ahead thread may check the next
        chunk meanwhile)."""
        columns = mapping.apply_columns(functools.partial(column_of, records), len(records))
        cleaned = self.clean_columns(columns, len(records))
        return [
            Row(rec.line, rec.raw, data, reasons)
            for rec, (data, reasons) in zip(records, cleaned, strict=True)
        ]

    def _retry(self, ctx: Context, rows: list[Row]) -> None:
        """Write rows tried again (in file order) as chunks: rows that share an id or a
        business number go to successive chunks in file order, so the later one updates the
        earlier instead of being rejected as a duplicate."""
        layers: list[list[Row]] = []
        layer_of: dict[Key, int] = {}
        for row in rows:
            if row.reasons:
                continue
            keys = _own_keys(row.data)
            i = max((layer_of[k] + 1 for k in keys if k in layer_of), default=0)
            layer_of.update(dict.fromkeys(keys, i))
            if i == len(layers):
                layers.append([])
            layers[i].append(row)
        for layer in layers:
            self._write_chunk(ctx, layer)

    def _settle(self, ctx: Context, waiting: Sequence[_Waiting], rows: Sequence[Row]) -> list[Row]:
        """Record what became of rejected rows tried again (``rows``, in the order of
        ``waiting``), in the caller's transaction: the records of the rows placed are deleted and
        the job's counters moved (rejected down, created / updated / matched / unchanged up);
        a row rejected now for another reason (a cycle, its parent's row rejected) gets the new
        reasons; one whose parent is still not found keeps the reasons it had. Returns the rows
        placed."""
        from dangol.integration.imports.pipeline import COUNTER

        placed: list[Row] = []
        gone: list[int] = []
        changed: list[ImportRowError] = []
        counts: dict[str, int] = defaultdict(int)
        for before, row in zip(waiting, rows, strict=True):
            if _placed(row):
                placed.append(row)
                gone.append(before.id)
                counts[COUNTER[RowOutcome(row.outcome)]] += 1
            elif [r["code"] for r in row.reasons] != ["parent_not_found"] and (
                row.reasons != before.reasons
            ):
                changed.append(ImportRowError(pk=before.id, reasons=row.reasons))
        if gone:
            cond, params = in_keys("id", gone)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {qn(ImportRowError._meta.db_table)} "  # noqa: S608
                    f"WHERE job_id = %s AND {cond}",
                    [ctx.job_id, *params],
                )
            ImportJob.objects.filter(pk=ctx.job_id).update(
                rejected_count=F("rejected_count") - len(gone),
                updated_at=timezone.now(),
                **{name: F(name) + n for name, n in counts.items()},
            )
        if changed:
            ImportRowError.objects.bulk_update(changed, ["reasons"], batch_size=1000)
        return placed

    # --- a resumed dry run: its earlier chunks ---------------------------------------------------

    def _begin_dry_run(self, ctx: Context, rows: list[Row] | None) -> None:
        """Before a dry run's first chunk (``rows``, or None when the run resumes after its
        last chunk): when it resumes one that stopped, rebuild what the chunks it committed
        would have written (``_rebuild``) from their lines that were not rejected (one read of
        those lines), so that their organizations are found as parents, updated and matched as
        in a real run.

        A preview's check (``pipeline.check_references``) needs nothing: its job is not running,
        or it is (the preview of a running dry run) and the preview's rows start at the top of
        the file, not after the job's last committed line as the run's next chunk does."""
        resumed = committed_records(ctx, rows)
        if resumed is None:
            return
        mapping = self._replayer(ctx)[2]
        accepted: list[Record] = []
        waiting: list[Row] = []
        for rec in resumed[1]:
            accepted.append(rec)
            if len(accepted) >= RETRY_BATCH:
                waiting = self._rebuild(ctx, mapping, accepted, waiting)
                accepted = []
        if accepted or waiting:
            self._rebuild(ctx, mapping, accepted, waiting)

    def _rebuild(
        self, ctx: Context, mapping: CompiledMapping, records: list[Record], carried: list[Row]
    ) -> list[Row]:
        """Record in ``_Earlier`` rows a stopped dry run accepted (``records``, in file order,
        after the ``carried`` ones): written as retried rows are (``_retry``: rows sharing a key
        in successive chunks), so a later row updates an earlier one. A row whose parent comes
        later in its chunk (the chunk sizes are not recorded) is carried to the next batch;
        returns those still waiting."""
        checked = self._checked(mapping, records) if records else []
        rows = [*carried, *(r for r in checked if not r.reasons)]
        self._retry(ctx, rows)
        return [
            Row(r.line, r.raw, r.data, [])
            for r in rows
            if r.outcome == RowOutcome.REJECTED and _waiting(r.reasons)
        ]


# --- memberships -------------------------------------------------------------------------------

MEMBERSHIP_COMPARE = ("role", "is_primary", "started_on", "ended_on")


class MembershipTarget(Target):
    """One row per (customer, organization): the person's title there, primary contact or not."""

    name = ImportTarget.MEMBERSHIPS
    specs = (
        FieldSpec(
            "customer_external_id",
            required=True,
            max_length=100,
            aliases=("회원번호", "고객번호", "담당자번호", "담당자id", "customer_id", "member_id"),
        ),
        FieldSpec("organization_external_id", max_length=100, aliases=ORGANIZATION_ID_ALIASES),
        FieldSpec("business_number", max_length=20, aliases=BUSINESS_NUMBER_ALIASES),
        FieldSpec(
            "role",
            max_length=100,
            aliases=("직함", "직책", "직위", "역할", "부서/직함", "title", "position", "job_title"),
        ),
        FieldSpec(
            "is_primary",
            "bool",
            aliases=(
                "주담당자",
                "주담당자여부",
                "대표담당자",
                "주연락처",
                "대표연락처",
                "primary",
                "primary_contact",
            ),
        ),
        FieldSpec("started_on", "date", aliases=("시작일", "입사일", "담당시작일", "start_date")),
        FieldSpec("ended_on", "date", aliases=("종료일", "퇴사일", "담당종료일", "end_date")),
    )

    def __init__(self, fields: set[str]) -> None:
        super().__init__(fields)
        # dry run only: the memberships its earlier chunks would have written or changed, by
        # (customer, organization), those it would create under negative ids; and the customer
        # each organization last got as its primary contact (who unset the others)
        self._early: dict[tuple[int, int], dict[str, Any]] = {}
        self._primary: dict[int, int] = {}
        self._begun = False  # dry run: a resumed run's rebuild is done (``_begin_dry_run``)

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        _check_business_number(data, reasons)
        if not data.get("organization_external_id") and not data.get("business_number"):
            reasons.append(
                reason(
                    "organization_external_id",
                    "required",
                    _("Give the organization's id or its business number."),
                )
            )
        start, end = data.get("started_on"), data.get("ended_on")
        if start is not None and end is not None and end < start:
            reasons.append(reason("ended_on", "before_start", _("This is before the start.")))

    def write(self, ctx: Context, rows: list[Row]) -> None:
        """Write the chunk (``_write_chunk``; a dry run records what it would write, after
        rebuilding what a stopped run's committed chunks would have written:
        ``_begin_dry_run``)."""
        if ctx.dry_run and not self._begun:
            self._begun = True
            self._begin_dry_run(ctx, rows)
        self._write_chunk(ctx, rows)

    def _write_chunk(self, ctx: Context, rows: list[Row], *, replay: bool = False) -> list[Row]:
        """Write ``rows``; returns none, or with ``replay`` (a dry run's rebuild) the rows from
        the first (customer, organization) pair the batch already has on: in the run that
        accepted them they were in a later chunk, so they go to the next batch, in order."""
        carried: list[Row] = []
        good = [r for r in rows if not r.reasons]
        customers, _hidden = customers_by_external_id(
            ctx.source,
            sorted({r.data["customer_external_id"] for r in good}),
            ctx.visible_customers,
        )
        visible_orgs = scoped(ctx.actor, Organization, Action.VIEW)
        orgs, _hidden_orgs = organizations_by_external_id(
            ctx.source,
            sorted(
                {
                    r.data["organization_external_id"]
                    for r in good
                    if r.data.get("organization_external_id")
                }
            ),
            visible_orgs,
        )
        by_number = {
            o["business_number"]: o["id"]
            for o in rows_by_keys(
                Organization,
                "business_number",
                sorted({r.data["business_number"] for r in good if r.data.get("business_number")}),
                ("id", "business_number"),
            )
        }
        reachable = visible_subset(visible_orgs, by_number.values())
        by_number = {bn: oid for bn, oid in by_number.items() if oid in reachable}

        pairs: dict[tuple[int, int], Row] = {}
        for i, row in enumerate(good):
            d = row.data
            cid = customers.get(d["customer_external_id"])
            if cid is None:
                row.reject(
                    "customer_external_id",
                    "customer_not_found",
                    _("No customer with this id in this source."),
                )
                continue
            if d.get("organization_external_id"):
                oid = orgs.get(d["organization_external_id"])
                field_name = "organization_external_id"
            else:
                oid = by_number.get(d["business_number"])
                field_name = "business_number"
            if oid is None:
                row.reject(
                    field_name,
                    "organization_not_found",
                    _("No organization with this id or business number."),
                )
                continue
            if (cid, oid) in pairs and replay:
                carried = good[i:]
                break
            if (cid, oid) in pairs:
                row.reject(
                    "customer_external_id",
                    "duplicate_in_file",
                    _("This person and organization appear twice in the file (line %d).")
                    % pairs[(cid, oid)].line,
                )
                continue
            pairs[(cid, oid)] = row

        existing = {
            (m["customer_id"], m["organization_id"]): m
            for m in rows_by_keys(
                OrganizationMembership,
                "customer",
                sorted({c for c, _o in pairs}),
                ("id", "customer_id", "organization_id", *MEMBERSHIP_COMPARE),
            )
        }
        if ctx.dry_run:
            existing = self._as_written(pairs, existing)
        compare = [f for f in MEMBERSHIP_COMPARE if f in ctx.fields]
        new: list[tuple[int, int, dict[str, Any]]] = []
        updates: dict[int, dict[str, Any]] = {}
        primary: dict[int, tuple[int, int]] = {}  # organization → (customer, row line)
        for (cid, oid), row in pairs.items():
            if row.data.get("is_primary"):
                primary[oid] = (cid, row.line)  # the last primary of the file wins
        touched: set[int] = set()
        for (cid, oid), row in pairs.items():
            d = row.data
            if d.get("is_primary") and primary[oid][0] != cid:
                d["is_primary"] = False
            cur = existing.get((cid, oid))
            if cur is None:
                new.append((cid, oid, d))
                row.outcome = RowOutcome.CREATED
                touched.add(cid)
                continue
            changes = {f: d[f] for f in compare if f in d and d[f] != cur[f]}
            if changes:
                updates[cur["id"]] = {**cur, **changes}
                touched.add(cid)
            row.outcome = RowOutcome.UPDATED if changes else RowOutcome.UNCHANGED
        if ctx.dry_run:
            self._remember(new, updates, primary)
            return carried
        if updates:
            update_rows(
                OrganizationMembership,
                list(MEMBERSHIP_COMPARE),
                [[*(m[f] for f in MEMBERSHIP_COMPARE), mid] for mid, m in updates.items()],
            )
        TableWriter(
            OrganizationMembership,
            ("customer_id", "organization_id", *MEMBERSHIP_COMPARE),
            ctx.now,
        ).insert(
            [
                (
                    cid,
                    oid,
                    d.get("role", ""),
                    bool(d.get("is_primary", False)),
                    d.get("started_on"),
                    d.get("ended_on"),
                )
                for cid, oid, d in new
            ]
        )
        if primary:  # one primary contact per organization, as ``link_to_organization``
            self._one_primary(primary)
        record_changes("customer", [(sorted(touched), ChangeOp.UPDATED)])
        return carried

    def _begin_dry_run(self, ctx: Context, rows: list[Row]) -> None:
        """Before a dry run's first chunk: when it resumes one that stopped, rebuild what the
        chunks it committed would have written (the memberships, the primary contacts), so a
        pair from before the stop is updated or unchanged and a primary contact from before it
        is unset by a later one, as in a run that did not stop. The lines those chunks accepted
        (those without a rejected-row record) are read again from the file and written in file
        order, in batches of ``RETRY_BATCH``; a batch ends before a pair it already has (the
        chunk sizes are not recorded: such rows were in successive chunks). Nothing is counted
        or recorded again. A preview's check needs nothing (its rows start at the top of the
        file, not after the job's last committed line)."""
        resumed = committed_records(ctx, rows)
        if resumed is None:
            return
        job, records = resumed
        from dangol.integration.imports.pipeline import effective_mapping

        mapping = effective_mapping(job, list(job.header))
        accepted: list[Record] = []
        carried: list[Row] = []
        for rec in records:
            accepted.append(rec)
            if len(accepted) >= RETRY_BATCH:
                carried = self._rebuild(ctx, mapping, accepted, carried)
                accepted = []
                while len(carried) >= RETRY_BATCH:  # memory stays one batch or two
                    carried = self._rebuild(ctx, mapping, [], carried)
        while accepted or carried:
            carried = self._rebuild(ctx, mapping, accepted, carried)
            accepted = []

    def _rebuild(
        self, ctx: Context, mapping: CompiledMapping, records: list[Record], carried: list[Row]
    ) -> list[Row]:
        """Write ``carried`` rows then ``records`` (checked as the pipeline checks a chunk) as a
        replayed batch; returns the rows left for the next one."""
        columns = mapping.apply_columns(functools.partial(column_of, records), len(records))
        checked = [
            Row(rec.line, rec.raw, data, reasons)
            for rec, (data, reasons) in zip(
                records, self.clean_columns(columns, len(records)), strict=True
            )
        ]
        rows = [*carried, *(r for r in checked if not r.reasons)]
        return self._write_chunk(ctx, rows, replay=True)

    def _as_written(
        self, pairs: Iterable[tuple[int, int]], stored: dict[tuple[int, int], dict[str, Any]]
    ) -> dict[tuple[int, int], dict[str, Any]]:
        """A dry run's memberships for ``pairs`` as its earlier chunks would have left them:
        what they would have written, else what is ``stored``; primary only if no other customer
        became the organization's primary contact since (``_one_primary``)."""
        out = {}
        for pair in pairs:
            cur = self._early.get(pair) or stored.get(pair)
            if cur is None:
                continue
            cid, oid = pair
            if cur["is_primary"] and self._primary.get(oid, cid) != cid:
                cur = {**cur, "is_primary": False}
            out[pair] = cur
        return out

    def _remember(
        self,
        new: list[tuple[int, int, dict[str, Any]]],
        updates: dict[int, dict[str, Any]],
        primary: dict[int, tuple[int, int]],
    ) -> None:
        """Record what a dry run's chunk would have written, for the chunks after it."""
        for cid, oid, d in new:
            self._early[(cid, oid)] = {
                "id": -len(self._early) - 1,
                "customer_id": cid,
                "organization_id": oid,
                "role": d.get("role", ""),
                "is_primary": bool(d.get("is_primary", False)),
                "started_on": d.get("started_on"),
                "ended_on": d.get("ended_on"),
            }
        for m in updates.values():
            self._early[(m["customer_id"], m["organization_id"])] = m
        self._primary.update((oid, cid) for oid, (cid, _line) in primary.items())

    @staticmethod
    def _one_primary(primary: dict[int, tuple[int, int]]) -> None:
        """Unset the other primary contacts of each organization that got one."""
        table = OrganizationMembership._meta.db_table
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {qn(table)} SET is_primary = %s "  # noqa: S608 - name from _meta
                "WHERE organization_id = %s AND customer_id <> %s AND is_primary = %s",
                [(False, oid, cid, True) for oid, (cid, _line) in primary.items()],
            )
