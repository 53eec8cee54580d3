"""Undoing a merge shows on both timelines, each naming the other record."""

from __future__ import annotations

from typing import Any

import pytest

from dangol.customers.merge import merge_customers, unmerge
from dangol.customers.selectors import timeline

pytestmark = pytest.mark.django_db


def test_the_unmerge_entry_names_the_other_record_on_each_timeline(
    signed_in: Any, make_customer: Any
) -> None:
    client, manager = signed_in(role="manager")
    survivor = make_customer(full_name="김민지")
    gone = make_customer(full_name="김민지")
    record = merge_customers(survivor=survivor, duplicates=[gone], actor=None)
    unmerge(merge=record, actor=None)
    top_survivor = timeline(user=manager, customer=survivor)[0]
    top_gone = timeline(user=manager, customer=gone)[0]
    assert (top_survivor.kind, top_survivor.meta) == ("history", f"#{gone.pk}")
    assert (top_gone.kind, top_gone.meta) == ("history", f"#{survivor.pk}")
    body = client.get(f"/customers/{survivor.pk}/").content.decode()
    assert f'<span class="text-secondary small ms-1">#{gone.pk}</span>' in body
    assert f'<span class="text-secondary small ms-1">#{survivor.pk}</span>' not in body
