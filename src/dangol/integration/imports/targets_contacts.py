"""Import target for contact points: more phones, e-mails and messenger ids for known customers.

One row per contact point. The customer is found by their id in the source system, or, for files
that carry no id (a list of e-mails collected in a store), by a mobile number or e-mail address
already recorded for exactly one active customer the user may change (the customer import's
``deterministic_matcher``). Values are normalized as ``add_contact_point`` does (E.164 phones,
case-folded e-mail keys, lower-cased messenger ids); the kind may be left out and is then read
from the value (an address with ``@`` is an e-mail, a 01X number a mobile, anything else a
phone). The first contact point of a kind is primary; a row marked primary becomes the primary
of its kind. A value already on the customer is ``unchanged`` (or ``updated`` when its label or
primary flag changes), so importing a file twice changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from dangol.customers.models import ChangeOp, ContactKind, ContactPoint, Customer
from dangol.integration.imports import parsing
from dangol.integration.imports.identity import MatchCandidate, deterministic_matcher
from dangol.integration.imports.mapping import FieldSpec, Reason
from dangol.integration.imports.parsing import FieldIssue
from dangol.integration.imports.targets import (
    Context,
    Row,
    Target,
    customers_by_external_id,
    record_changes,
)
from dangol.integration.imports.targets_shared import reason, rows_by_keys
from dangol.integration.imports.writer import TableWriter, qn, update_rows
from dangol.integration.models import ImportTarget, RowOutcome

KIND_ALIASES = {
    "휴대폰": "mobile",
    "휴대전화": "mobile",
    "핸드폰": "mobile",
    "모바일": "mobile",
    "hp": "mobile",
    "cell": "mobile",
    "전화": "phone",
    "유선": "phone",
    "유선전화": "phone",
    "집전화": "phone",
    "회사전화": "phone",
    "직장전화": "phone",
    "tel": "phone",
    "이메일": "email",
    "메일": "email",
    "e-mail": "email",
    "카카오": "kakao",
    "카카오톡": "kakao",
    "카톡": "kakao",
    "팩스": "fax",
}
MOBILE_E164 = ("+8210", "+8211", "+8216", "+8217", "+8218", "+8219")


def contact_values(kind: str | None, value: str) -> tuple[str, dict[str, Any]]:
    """``(kind, stored columns)`` of a contact point, as ``add_contact_point`` normalizes it;
    without a kind, the kind the value shows. Raises ``FieldIssue``."""
    text = value.strip()
    if kind is None:
        if "@" in text:
            kind = ContactKind.EMAIL.value
        else:
            norm = parsing.phone_values(text)
            mobile = norm["normalized"].startswith(MOBILE_E164)
            return (ContactKind.MOBILE.value if mobile else ContactKind.PHONE.value), norm
    if kind == ContactKind.EMAIL:
        return kind, parsing.email_values(text)
    if kind == ContactKind.KAKAO:
        if not text:
            raise FieldIssue("required", _("Enter the KakaoTalk ID."))
        return kind, {
            "normalized": text,
            "match_key": text.lower(),
            "last4": "",
            "is_legacy": False,
        }
    return kind, parsing.phone_values(text)


class ContactPointTarget(Target):
    """One row per phone, e-mail or messenger id of a customer."""

    name = ImportTarget.CONTACT_POINTS
    specs = (
        FieldSpec(
            "customer_external_id",
            max_length=100,
            aliases=("회원번호", "고객번호", "회원id", "고객id", "customer_id", "member_id"),
        ),
        FieldSpec(
            "customer_mobile",
            "phone",
            aliases=("회원휴대폰", "기존휴대폰", "등록휴대폰", "known_mobile"),
        ),
        FieldSpec(
            "customer_email",
            "email",
            aliases=("회원이메일", "기존이메일", "등록이메일", "known_email"),
        ),
        FieldSpec(
            "kind",
            "choice",
            aliases=("종류", "유형", "연락처종류", "연락처구분", "type"),
            choices=frozenset(ContactKind.values),
            choice_aliases=KIND_ALIASES,
            labels=dict(ContactKind.choices),
        ),
        FieldSpec(
            "value",
            required=True,
            max_length=254,
            aliases=("연락처", "값", "contact", "contact_point"),
        ),
        FieldSpec("label", max_length=50, aliases=("구분", "라벨", "용도", "메모")),
        FieldSpec(
            "is_primary", "bool", aliases=("대표", "대표여부", "기본", "대표연락처", "primary")
        ),
    )

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        if not (
            data.get("customer_external_id")
            or "customer_mobile" in data
            or "customer_email" in data
        ):
            reasons.append(
                reason(
                    "customer_external_id",
                    "required",
                    _("Give the customer's id, or a mobile number or e-mail they already have."),
                )
            )
        raw = data.get("value", "")
        try:
            data["kind"], data["_norm"] = contact_values(data.get("kind"), raw)
        except FieldIssue as exc:
            reasons.append(reason("value", exc.code, exc.message))
            return
        data["value"] = raw.strip()

    def _customers(self, ctx: Context, rows: list[Row]) -> dict[int, int]:
        """``{row index: customer id}``: by external id, else by a known mobile or e-mail."""
        by_ext, _hidden = customers_by_external_id(
            ctx.source,
            sorted(
                {r.data["customer_external_id"] for r in rows if r.data.get("customer_external_id")}
            ),
            ctx.visible_customers,
        )
        out: dict[int, int] = {}
        candidates = []
        for i, row in enumerate(rows):
            ext = row.data.get("customer_external_id")
            if ext:
                if ext in by_ext:
                    out[i] = by_ext[ext]
                continue
            mobile, email = row.data.get("customer_mobile"), row.data.get("customer_email")
            candidates.append(
                MatchCandidate(
                    index=i,
                    external_id="",
                    mobile_keys=[mobile["match_key"]] if mobile else [],
                    email_keys=[email["match_key"]] if email else [],
                )
            )
        if candidates:
            out.update(deterministic_matcher(candidates, ctx.visible_customers))
        return out

    def write(self, ctx: Context, rows: list[Row]) -> None:
        good = [r for r in rows if not r.reasons]
        owners = self._customers(ctx, good)
        existing: dict[tuple[int, str, str], dict[str, Any]] = {}
        kinds: dict[tuple[int, str], int] = defaultdict(int)  # contact points of a kind
        for c in rows_by_keys(
            ContactPoint,
            "customer",
            sorted(set(owners.values())),
            ("id", "customer_id", "kind", "match_key", "label", "is_primary"),
        ):
            existing[(c["customer_id"], c["kind"], c["match_key"])] = c
            kinds[(c["customer_id"], c["kind"])] += 1
        seen: dict[tuple[int, str, str], Row] = {}
        new: list[dict[str, Any]] = []
        updates: dict[int, dict[str, Any]] = {}
        primaries: dict[tuple[int, str], str] = {}  # (customer, kind) → match key made primary
        touched: set[int] = set()
        for i, row in enumerate(good):
            cid = owners.get(i)
            if cid is None:
                row.reject(
                    "customer_external_id",
                    "customer_not_found",
                    _("No customer with this id, mobile number or e-mail."),
                )
                continue
            d = row.data
            key = (cid, d["kind"], d["_norm"]["match_key"])
            if key in seen:
                row.reject(
                    "value",
                    "duplicate_in_file",
                    _("This contact point appears twice in the file (line %d).") % seen[key].line,
                )
                continue
            seen[key] = row
            explicit = bool(d.get("is_primary"))
            cur = existing.get(key)
            if cur is None:
                primary = explicit or kinds[(cid, d["kind"])] == 0
                kinds[(cid, d["kind"])] += 1
                if explicit:
                    for other in new:  # an earlier row of this chunk is no longer primary
                        if (other["customer_id"], other["kind"]) == key[:2]:
                            other["is_primary"] = False
                new.append(
                    {
                        "customer_id": cid,
                        "kind": d["kind"],
                        "value": d["value"],
                        "label": d.get("label", ""),
                        "is_primary": primary,
                        **d["_norm"],
                    }
                )
                row.outcome = RowOutcome.CREATED
            else:
                changes: dict[str, Any] = {}
                if "label" in ctx.fields and d.get("label") and d["label"] != cur["label"]:
                    changes["label"] = d["label"]
                if explicit and not cur["is_primary"]:
                    changes["is_primary"] = True
                if changes:
                    updates[cur["id"]] = {**cur, **changes}
                row.outcome = RowOutcome.UPDATED if changes else RowOutcome.UNCHANGED
                if not changes:
                    continue
            if explicit:
                primaries[key[:2]] = key[2]
            touched.add(cid)
        if ctx.dry_run:
            return
        now = ctx.now
        if primaries:  # the others of the kind step down (``set_primary_contact_point``)
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {qn(ContactPoint._meta.db_table)} SET is_primary = %s "  # noqa: S608
                    "WHERE customer_id = %s AND kind = %s AND match_key <> %s AND is_primary = %s",
                    [(False, cid, kind, key, True) for (cid, kind), key in primaries.items()],
                )
        update_rows(
            ContactPoint,
            ["label", "is_primary"],
            [[c["label"], c["is_primary"], pk] for pk, c in updates.items()],
        )
        columns = (
            "customer_id",
            "kind",
            "value",
            "normalized",
            "match_key",
            "last4",
            "is_legacy",
            "is_primary",
            "label",
            "created_at",
        )
        TableWriter(ContactPoint, columns, now).insert(
            [[*(c[k] for k in columns[:-1]), now] for c in new]
        )
        update_rows(Customer, ["updated_at"], [[now, cid] for cid in sorted(touched)])
        record_changes("customer", [(sorted(touched), ChangeOp.UPDATED)])
