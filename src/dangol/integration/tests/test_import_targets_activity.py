"""Importing contact points, returns and interactions for customers already in the base."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management import call_command

from dangol.commerce import services as commerce
from dangol.commerce.models import Order, OrderLine, Return, ReturnLine
from dangol.customers.models import (
    ChangeFeedEntry,
    ContactPoint,
    Customer,
    Interaction,
)
from dangol.integration.models import ImportStatus
from dangol.integration.tests.test_import_pipeline import (
    ORDER_HEADER,
    ROWS,
    _catalog,
    rejected_lines,
    run,
    write_csv,
)

# --- contact points ----------------------------------------------------------------------------

CONTACT_HEADER = ["회원번호", "회원휴대폰", "종류", "연락처", "구분", "대표"]


def test_contact_points_are_normalized_with_the_primary_rules(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))
    kim = Customer.objects.get(external_ids__key="A1")
    path = write_csv(
        tmp_path / "cp.csv",
        [
            ["A1", "", "", "02-555-1234", "회사", ""],  # kind read from the value: a phone
            ["A1", "", "이메일", "Kim.Work@Example.com", "회사", "Y"],  # becomes the primary
            ["", "010-9876-5432", "", "010 3333 4444", "", ""],  # found by A2's mobile: a mobile
            ["A2", "", "카카오톡", "NamGung_K", "", ""],
            ["A1", "", "휴대폰", "010-1234-5678", "", ""],  # already recorded
            ["A9", "", "", "010-2222-1111", "", ""],  # unknown customer
            ["A1", "", "이메일", "no-at-sign", "", ""],  # not an e-mail
            ["", "", "", "010-4444-5555", "", ""],  # nobody to attach it to
            ["A1", "", "", "02-555-1234", "", ""],  # the same again
        ],
        header=CONTACT_HEADER,
    )

    job = run(admin, "contact_points", path)

    assert (job.created_count, job.unchanged_count) == (4, 1), rejected_lines(job)
    assert rejected_lines(job) == {
        7: ["customer_not_found"],
        8: ["email_invalid"],
        9: ["required"],
        10: ["duplicate_in_file"],
    }
    rows = {
        (c.kind, c.normalized): (c.value, c.label, c.is_primary)
        for c in ContactPoint.objects.filter(customer=kim)
    }
    assert rows[("phone", "+8225551234")] == ("02-555-1234", "회사", True)
    assert rows[("email", "Kim.Work@example.com")] == ("Kim.Work@Example.com", "회사", True)
    assert rows[("email", "Minjun.Kim@example.com")][2] is False  # stepped down
    a2 = Customer.objects.get(external_ids__key="A2")
    assert sorted(a2.contact_points.values_list("kind", "match_key", "is_primary")) == [
        ("kakao", "namgung_k", True),
        ("mobile", "+821033334444", False),
        ("mobile", "+821098765432", True),
    ]
    assert (
        ChangeFeedEntry.objects.filter(
            object_type="customer", op="updated", object_id__in=[kim.pk, a2.pk]
        ).count()
        == 2
    )

    again = run(admin, "contact_points", path)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 5)
    assert ChangeFeedEntry.objects.filter(op="updated").count() == 2


def test_contact_points_respect_the_reps_scope_and_dry_run(
    make_user: Any, make_customer: Any, tmp_path: Path
) -> None:
    rep, other = make_user("rep"), make_user("rep")
    mine = make_customer(actor=rep, owner=rep, external_ids=[("pos", "M1")])
    make_customer(
        actor=other, owner=other, contacts=[("mobile", "01055556666")], external_ids=[("pos", "O1")]
    )
    path = write_csv(
        tmp_path / "cp.csv",
        [
            ["M1", "", "", "mine@example.com", "", ""],
            ["O1", "", "", "theirs@example.com", "", ""],
            ["", "010-5555-6666", "", "found@example.com", "", ""],
        ],
        header=CONTACT_HEADER,
    )

    dry = run(rep, "contact_points", path, dry_run=True)
    assert (dry.status, dry.created_count, dry.rejected_count) == (ImportStatus.VALIDATED, 1, 2)
    assert not ContactPoint.objects.filter(customer=mine).exists()

    job = run(rep, "contact_points", path)
    assert rejected_lines(job) == {3: ["customer_not_found"], 4: ["customer_not_found"]}
    assert mine.contact_points.get().normalized == "mine@example.com"


# --- returns -----------------------------------------------------------------------------------

RETURN_HEADER = ["반품번호", "주문번호", "상품코드", "반품수량", "반품사유", "반품일"]


def _orders(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:2]))
    _catalog(admin, tmp_path)
    path = write_csv(
        tmp_path / "o.csv",
        [
            ["O1", "A1", "SKU-1", "2", "", "2024-03-01 10:00"],
            ["O1", "A1", "SKU-2", "1", "15,000", "2024-03-01 10:00"],
            ["O2", "A2", "SKU-2", "1", "", "2024-04-01"],
        ],
        header=ORDER_HEADER,
    )
    assert run(admin, "orders", path).created_count == 3


def test_returns_refund_like_record_return_and_lower_the_lifetime_spend(
    admin: Any, tmp_path: Path
) -> None:
    _orders(admin, tmp_path)
    o1 = Order.objects.get(external_id="O1")
    path = write_csv(
        tmp_path / "r.csv",
        [
            ["R1", "O1", "SKU-1", "1", "단순변심", "2024-03-05"],
            ["R2", "O2", "SKU-2", "1", "불량", "2024-04-03"],
            ["R2", "O2", "SKU-9", "1", "불량", "2024-04-03"],  # not on the order: R2 goes whole
            ["R3", "O1", "SKU-2", "5", "", ""],  # more than was bought
            ["R4", "O8", "SKU-1", "1", "", ""],  # no such order
            ["R5", "O1", "SKU-1", "1", "기분", ""],  # unknown reason
        ],
        header=RETURN_HEADER,
    )

    job = run(admin, "returns", path)

    assert (job.created_count, job.rejected_count) == (1, 5), rejected_lines(job)
    assert rejected_lines(job) == {
        3: ["return_rejected"],
        4: ["not_in_order"],
        5: ["too_many"],
        6: ["order_not_found"],
        7: ["invalid_choice"],
    }
    r1 = Return.objects.get(source="pos", external_id="R1")
    assert (r1.reason, r1.amount, r1.customer_id) == (
        "change_of_mind",
        Decimal(32000),
        o1.customer_id,
    )
    o1.refresh_from_db()
    assert (o1.returned_amount, o1.status) == (Decimal(32000), "partially_returned")
    line = OrderLine.objects.get(order=o1, product__sku="SKU-1")
    assert line.returned_quantity == 1
    assert ReturnLine.objects.get(ret=r1).order_line_id == line.pk
    kim = Customer.objects.get(pk=o1.customer_id)
    assert (kim.total_spent, kim.order_count) == (Decimal(79000 - 32000), 1)

    # the same return through the service on a twin order gives the same rows
    twin_order = commerce.place_order(
        data=commerce.OrderInput(
            customer=Customer.objects.get(external_ids__key="A2"),
            placed_at=o1.placed_at,
            lines=[
                commerce.LineInput(
                    product=ol.product, quantity=ol.quantity, unit_price=ol.unit_price
                )
                for ol in o1.lines.order_by("id")
            ],
        ),
        actor=admin,
    )
    twin_line = twin_order.lines.get(product__sku="SKU-1")
    twin = commerce.record_return(
        order=twin_order,
        lines=[commerce.ReturnLineInput(order_line=twin_line, quantity=1)],
        reason="change_of_mind",
        actor=admin,
    )
    twin_order.refresh_from_db()
    assert (twin.amount, twin_order.returned_amount, twin_order.status) == (
        r1.amount,
        o1.returned_amount,
        o1.status,
    )

    again = run(admin, "returns", path)
    assert (again.unchanged_count, again.created_count) == (1, 0)
    o1.refresh_from_db()
    assert o1.returned_amount == Decimal(32000) and Return.objects.count() == 2


def test_a_full_return_marks_the_order_returned_and_dry_run_writes_nothing(
    admin: Any, tmp_path: Path
) -> None:
    _orders(admin, tmp_path)
    path = write_csv(
        tmp_path / "r.csv",
        [
            ["R1", "O1", "SKU-1", "2", "파손", ""],
            ["R1", "O1", "SKU-2", "1", "파손", ""],
        ],
        header=RETURN_HEADER,
    )

    dry = run(admin, "returns", path, dry_run=True)
    assert (dry.created_count, Return.objects.count()) == (2, 0)

    job = run(admin, "returns", path)
    assert job.created_count == 2
    o1 = Order.objects.get(external_id="O1")
    assert (o1.status, o1.returned_amount) == ("returned", o1.total)
    assert Customer.objects.get(pk=o1.customer_id).total_spent == 0


def test_a_rep_cannot_return_orders_of_customers_outside_their_scope(
    make_user: Any, admin: Any, tmp_path: Path
) -> None:
    _orders(admin, tmp_path)
    rep = make_user("rep")
    path = write_csv(tmp_path / "r.csv", [["R1", "O1", "SKU-1", "1", "", ""]], header=RETURN_HEADER)

    job = run(rep, "returns", path)

    assert rejected_lines(job) == {2: ["order_not_found"]}
    assert not Return.objects.exists()


# --- interactions ------------------------------------------------------------------------------

INTERACTION_HEADER = ["회원번호", "채널", "상담유형", "제목", "상담내용", "상담일시", "상담원"]


def test_interactions_land_on_the_timeline_once(admin: Any, make_user: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS))
    agent = make_user("agent", email="agent.kim@dangol.test", display_name="김상담")
    path = write_csv(
        tmp_path / "i.csv",
        [
            ["A1", "전화", "문의", "배송 문의", "언제 오나요", "2024-03-01 10:15", "김상담"],
            ["A1", "매장", "", "", "", "2024-03-02", ""],  # kind follows the channel
            ["A2", "카카오톡", "불만", "파손", "", "2024-03-03", "agent.kim@dangol.test"],
            ["A9", "전화", "", "", "", "", ""],  # unknown customer
            ["A2", "팩스", "", "", "", "", ""],  # no such channel
            ["A2", "전화", "", "", "", "2099-01-01", ""],  # in the future
            ["A2", "전화", "", "", "", "", "모르는 사람"],  # unknown staff
        ],
        header=INTERACTION_HEADER,
    )

    job = run(admin, "interactions", path)

    assert job.created_count == 3, rejected_lines(job)
    assert rejected_lines(job) == {
        5: ["customer_not_found"],
        6: ["invalid_choice"],
        7: ["in_future"],
        8: ["staff_not_found"],
    }
    call = Interaction.objects.get(subject="배송 문의")
    assert (call.channel, call.kind, call.direction, call.staff_id, call.body) == (
        "phone",
        "inquiry",
        "inbound",
        agent.pk,
        "언제 오나요",
    )
    visit = Interaction.objects.get(channel="store")
    assert (visit.kind, visit.staff_id, visit.source) == ("visit", admin.pk, "pos")
    assert visit.external_id.startswith("row-")
    assert Interaction.objects.get(channel="kakao").kind == "complaint"

    again = run(admin, "interactions", path)
    assert (again.created_count, again.unchanged_count) == (0, 3)
    assert Interaction.objects.count() == 3


def test_interaction_ids_make_reimports_idempotent_and_respect_scope(
    make_user: Any, make_customer: Any, tmp_path: Path
) -> None:
    rep, other = make_user("rep"), make_user("rep")
    make_customer(actor=rep, owner=rep, external_ids=[("cc", "M1")])
    make_customer(actor=other, owner=other, external_ids=[("cc", "O1")])
    path = write_csv(
        tmp_path / "i.csv",
        [["T-1", "M1", "phone", "call"], ["T-2", "O1", "phone", "call"], ["T-1", "M1", "sms", ""]],
        header=["상담번호", "회원번호", "채널", "상담유형"],
    )

    dry = run(rep, "interactions", path, source="cc", dry_run=True)
    assert (dry.created_count, Interaction.objects.count()) == (1, 0)

    job = run(rep, "interactions", path, source="cc")
    assert rejected_lines(job) == {3: ["customer_not_found"], 4: ["duplicate_in_file"]}
    assert Interaction.objects.get().external_id == "T-1"
    assert run(rep, "interactions", path, source="cc").unchanged_count == 1


def test_the_cli_imports_interactions(admin: Any, tmp_path: Path) -> None:
    run(admin, "customers", write_csv(tmp_path / "m.csv", ROWS[:1]))
    path = write_csv(
        tmp_path / "i.csv",
        [["A1", "전화", "", "", "", "2024-03-01", ""]],
        header=INTERACTION_HEADER,
    )
    out = io.StringIO()
    call_command("import_data", "interactions", str(path), "--source", "pos", stdout=out)
    assert "completed" in out.getvalue() and "created 1" in out.getvalue()
    assert Interaction.objects.get().kind == "call"


def test_a_rejected_choice_lists_the_korean_words_it_accepts() -> None:
    from dangol.integration.selectors import choice_hint

    hint = choice_hint("interactions", "channel")
    assert "전화" in hint and "매장" in hint and "카카오" in hint
    assert choice_hint("interactions", "subject") == ""
    assert "단순변심" in choice_hint("returns", "reason")


def test_call_center_and_return_headers_are_recognised() -> None:
    from dangol.integration.selectors import suggest_mapping

    header = [
        "접수번호",
        "고객번호",
        "접수일시",
        "상담채널",
        "상담구분",
        "상담제목",
        "상담내용",
        "처리자",
    ]
    assert list(suggest_mapping("interactions", header, []).mapping.values()) == [
        "external_id",
        "customer_external_id",
        "occurred_at",
        "channel",
        "kind",
        "subject",
        "body",
        "staff",
    ]
    returns = ["반품번호", "주문번호", "상품코드", "반품수량", "반품사유", "반품일자"]
    assert list(suggest_mapping("returns", returns, []).mapping.values()) == [
        "return_id",
        "order_id",
        "sku",
        "quantity",
        "reason",
        "returned_at",
    ]
