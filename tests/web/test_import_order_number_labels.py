"""The order import's mapping page tells the source's order number (주문번호 in a shop's file,
which groups the lines and finds the order again) from the number Dangol shows (made when the
file has none): distinct labels and a line of help under each (walkthrough finding)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from dangol.integration import selectors
from dangol.integration.models import ImportJob

HEADER = ["주문번호", "회원번호", "상품코드", "수량", "주문번호(단골)"]


def order_file() -> SimpleUploadedFile:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(
        [HEADER, ["ORD-1001", "P001", "SKU-1", "2", ""]]
    )
    return SimpleUploadedFile("orders.csv", buf.getvalue().encode("utf-8-sig"))


def test_the_two_order_numbers_have_different_labels_in_korean() -> None:
    for target, dangols in (("orders", "number"), ("returns", "order_number")):
        with translation.override("ko"):
            source = selectors.field_label("order_id", target)
            dangol = selectors.field_label(dangols, target)
        assert source != dangol
        assert "주문번호" not in (source, dangol)  # the label both used to look like
        assert selectors.field_help("order_id", target) != selectors.field_help(dangols, target)


def test_the_mapping_page_labels_and_explains_both(client: Any, manager: Any) -> None:
    client.cookies["django_language"] = "en"
    data = {"target": "orders", "source": "shop", "encoding": "", "file": order_file()}
    client.post("/data/imports/new/", data)
    job = ImportJob.objects.get()

    page = client.get(f"/data/imports/{job.pk}/mapping/")
    html = page.content.decode()

    by_field = {f["name"]: f for f in page.context["fields"]}
    assert by_field["order_id"]["label"] == "Order number in the source system"
    assert by_field["number"]["label"] == "Order number in Dangol (made when empty)"
    # 주문번호 is the shop's own number: the column goes to the source's field, with its help
    mapped = {c["name"]: c for c in page.context["columns"]}
    assert mapped["주문번호"]["field"] == "order_id"
    assert "rows with the same one are one order" in mapped["주문번호"]["hint"]
    assert mapped["주문번호(단골)"]["field"] == "number"
    assert "DG20240301-7KQ2M9XA" in mapped["주문번호(단골)"]["hint"]
    assert 'data-testid="field-hint"' in html and "rows with the same one are one order" in html
    # and the page changes the line under a column when a person picks the other field
    assert "DG20240301-7KQ2M9XA" in page.context["hints_json"]
