"""Import target for interactions: the call-center log, store visits, e-mails and chats of other
systems, onto the customers' single timeline.

One row per interaction, written as ``record_interaction`` writes it: channel, kind and
direction from their enums (Korean words accepted: 전화, 카카오톡, 매장 / 문의, 불만 / 수신,
발신), subject and details trimmed, the staff member (found by e-mail or display name; the
importing user when the file names none, as the service does), the organization when its id is
given. The kind may be left out and then follows the channel (a phone contact is a call, a store
contact a visit). Interactions are keyed by (source, id); a file without an id column gets a
stable key from the row's content (customer, time, channel, kind, subject, details), so a
second import of the same file adds nothing. As for every import, no ``interaction.recorded``
event is sent per row: automation must not act on history as if it were happening now.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from dangol.core.models import User
from dangol.core.visibility import Action
from dangol.customers.models import (
    Direction,
    Interaction,
    InteractionChannel,
    InteractionKind,
    Organization,
)
from dangol.integration.imports.mapping import FieldSpec, Reason
from dangol.integration.imports.targets import (
    Context,
    Row,
    Target,
    customers_by_external_id,
)
from dangol.integration.imports.targets_shared import (
    organizations_by_external_id,
    reason,
    rows_by_keys,
    scoped,
)
from dangol.integration.imports.writer import TableWriter
from dangol.integration.models import ImportTarget, RowOutcome

CHANNEL_ALIASES = {
    "전화": "phone",
    "유선": "phone",
    "콜센터": "phone",
    "통화": "phone",
    "이메일": "email",
    "메일": "email",
    "e-mail": "email",
    "문자": "sms",
    "lms": "sms",
    "mms": "sms",
    "카카오": "kakao",
    "카카오톡": "kakao",
    "카톡": "kakao",
    "알림톡": "kakao",
    "웹": "web",
    "홈페이지": "web",
    "앱": "app",
    "매장": "store",
    "오프라인": "store",
    "방문": "visit",
    "출장": "visit",
    "채팅": "chat",
    "챗": "chat",
    "상담톡": "chat",
}
KIND_ALIASES = {
    "통화": "call",
    "전화": "call",
    "전화상담": "call",
    "미팅": "meeting",
    "회의": "meeting",
    "방문": "visit",
    "내방": "visit",
    "메시지": "message",
    "문자": "message",
    "채팅": "chat",
    "문의": "inquiry",
    "상담": "inquiry",
    "불만": "complaint",
    "클레임": "complaint",
    "컴플레인": "complaint",
    "민원": "complaint",
}
DIRECTION_ALIASES = {
    "수신": "inbound",
    "인바운드": "inbound",
    "in": "inbound",
    "발신": "outbound",
    "아웃바운드": "outbound",
    "out": "outbound",
    "내부": "internal",
}
KIND_OF_CHANNEL = {
    InteractionChannel.PHONE: InteractionKind.CALL,
    InteractionChannel.EMAIL: InteractionKind.MESSAGE,
    InteractionChannel.SMS: InteractionKind.MESSAGE,
    InteractionChannel.KAKAO: InteractionKind.MESSAGE,
    InteractionChannel.WEB: InteractionKind.WEB_EVENT,
    InteractionChannel.APP: InteractionKind.WEB_EVENT,
    InteractionChannel.STORE: InteractionKind.VISIT,
    InteractionChannel.VISIT: InteractionKind.VISIT,
    InteractionChannel.CHAT: InteractionKind.CHAT,
}


def content_key(data: dict[str, Any], occurred_at: datetime.datetime | None) -> str:
    """A stable id for a row that has none: a digest of what it says."""
    parts = [
        data["customer_external_id"],
        occurred_at.isoformat() if occurred_at else "",
        data["channel"],
        data["kind"],
        data.get("direction", ""),
        data.get("subject", ""),
        data.get("body", ""),
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"row-{digest[:40]}"


class InteractionTarget(Target):
    """One row per contact with a customer (call, visit, message, chat, inquiry, complaint)."""

    name = ImportTarget.INTERACTIONS
    specs = (
        FieldSpec(
            "external_id",
            max_length=100,
            aliases=("상담번호", "접수번호", "이력번호", "상담id", "interaction_id", "id"),
        ),
        FieldSpec(
            "customer_external_id",
            required=True,
            max_length=100,
            aliases=("회원번호", "고객번호", "회원id", "고객id", "customer_id", "member_id"),
        ),
        FieldSpec(
            "channel",
            "choice",
            required=True,
            aliases=("채널", "접촉채널", "상담채널", "경로"),
            choices=frozenset(InteractionChannel.values),
            choice_aliases=CHANNEL_ALIASES,
            labels=dict(InteractionChannel.choices),
        ),
        FieldSpec(
            "kind",
            "choice",
            aliases=("유형", "상담유형", "상담구분", "접촉유형", "구분", "type"),
            choices=frozenset(InteractionKind.values),
            choice_aliases=KIND_ALIASES,
            labels=dict(InteractionKind.choices),
        ),
        FieldSpec(
            "direction",
            "choice",
            aliases=("방향", "수발신", "인아웃"),
            choices=frozenset(Direction.values),
            choice_aliases=DIRECTION_ALIASES,
            labels=dict(Direction.choices),
        ),
        FieldSpec("subject", max_length=200, aliases=("제목", "상담제목", "요약", "title")),
        FieldSpec("body", aliases=("내용", "상담내용", "상세", "메모", "details", "note")),
        FieldSpec(
            "occurred_at",
            "datetime",
            aliases=(
                "상담일시",
                "상담일",
                "상담일자",
                "접수일시",
                "접수일자",
                "접촉일시",
                "일시",
                "날짜",
                "date",
                "when",
            ),
        ),
        FieldSpec(
            "staff",
            max_length=254,
            aliases=(
                "담당자",
                "담당자명",
                "상담원",
                "상담원명",
                "상담사",
                "처리자",
                "담당직원",
                "담당",
            ),
        ),
        FieldSpec(
            "organization_external_id",
            max_length=100,
            aliases=("거래처코드", "회사코드", "company_id", "organization_id"),
        ),
    )

    def check(self, data: dict[str, Any], reasons: list[Reason]) -> None:
        data.setdefault("kind", KIND_OF_CHANNEL[InteractionChannel(data["channel"])].value)
        at = data.get("occurred_at")
        if at is not None and at > self.now + datetime.timedelta(days=1):
            reasons.append(reason("occurred_at", "in_future", _("This is in the future.")))
        if not data.get("external_id"):
            data["external_id"] = content_key(data, at)

    def write(self, ctx: Context, rows: list[Row]) -> None:
        seen: dict[str, Row] = {}
        for row in rows:
            if row.reasons:
                continue
            key = row.data["external_id"]
            if key in seen:
                row.reject(
                    "external_id",
                    "duplicate_in_file",
                    _("This id appears twice in the file (line %d).") % seen[key].line,
                )
            else:
                seen[key] = row
        known = {
            i["external_id"]
            for i in rows_by_keys(
                Interaction, "external_id", sorted(seen), ("external_id",), source=ctx.source
            )
        }
        for key in known:
            seen.pop(key).outcome = RowOutcome.UNCHANGED
        good = list(seen.values())
        customers, _hidden = customers_by_external_id(
            ctx.source,
            sorted({r.data["customer_external_id"] for r in good}),
            ctx.visible_customers,
        )
        orgs, _hidden_orgs = organizations_by_external_id(
            ctx.source,
            sorted(
                {
                    r.data["organization_external_id"]
                    for r in good
                    if r.data.get("organization_external_id")
                }
            ),
            scoped(ctx.actor, Organization, Action.VIEW),
        )
        staff = self._staff({r.data["staff"] for r in good if r.data.get("staff")})
        default_staff = ctx.actor.pk if ctx.actor is not None else None
        new: list[tuple[Any, ...]] = []
        for row in good:
            d = row.data
            cid = customers.get(d["customer_external_id"])
            if cid is None:
                row.reject(
                    "customer_external_id",
                    "customer_not_found",
                    _("No customer with this id in this source."),
                )
                continue
            oid = None
            if d.get("organization_external_id"):
                oid = orgs.get(d["organization_external_id"])
                if oid is None:
                    row.reject(
                        "organization_external_id",
                        "organization_not_found",
                        _("No organization with this id or business number."),
                    )
                    continue
            staff_id = default_staff
            if d.get("staff"):
                staff_id = staff.get(d["staff"].lower())
                if staff_id is None:
                    row.reject(
                        "staff",
                        "staff_not_found",
                        _("No active staff member with this e-mail or name."),
                    )
                    continue
            row.outcome = RowOutcome.CREATED
            new.append(
                (
                    cid,
                    oid,
                    d["channel"],
                    d.get("direction", Direction.INBOUND.value),
                    d["kind"],
                    d.get("subject", ""),
                    d.get("body", ""),
                    d.get("occurred_at") or ctx.now,
                    staff_id,
                    ctx.source,
                    d["external_id"],
                    ctx.now,
                )
            )
        if ctx.dry_run:
            return
        TableWriter(
            Interaction,
            (
                "customer_id",
                "organization_id",
                "channel",
                "direction",
                "kind",
                "subject",
                "body",
                "occurred_at",
                "staff_id",
                "source",
                "external_id",
                "created_at",
            ),
            ctx.now,
        ).insert(new)

    @staticmethod
    def _staff(names: set[str]) -> dict[str, int]:
        """``{lower-cased e-mail or display name: user id}`` of active staff; a display name two
        people share names nobody."""
        if not names:
            return {}
        wanted = sorted({n.lower() for n in names})
        out: dict[str, int] = {}
        users = (
            User.objects.filter(is_active=True)
            .annotate(e=Lower("email"), n=Lower("display_name"))
            .values_list("id", "e", "n")
        )
        shared: set[str] = set()
        for uid, email, display in users.filter(Q(e__in=wanted) | Q(n__in=wanted)):
            out[email] = uid
            if display in out and out[display] != uid:
                shared.add(display)
            out.setdefault(display, uid)
        for name in shared:
            out.pop(name, None)
        return {k: v for k, v in out.items() if k in wanted}
