"""The page of a customer merged into another: a banner to the survivor and no action forms;
what is posted to it anyway is refused with the survivor named, and nothing is saved."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dangol.customers.merge import merge_customers
from dangol.customers.models import Interaction, Note

pytestmark = pytest.mark.django_db


@pytest.fixture
def merged(make_customer: Any) -> tuple[Any, Any, Any]:
    survivor = make_customer(full_name="김민지")
    gone = make_customer(full_name="김민지")
    record = merge_customers(survivor=survivor, duplicates=[gone], actor=None)
    return survivor, gone, record


def test_a_merged_record_shows_a_banner_to_the_survivor_and_no_action_forms(
    signed_in: Any, merged: Any
) -> None:
    client, _agent = signed_in(role="manager")
    survivor, gone, _record = merged
    body = client.get(f"/customers/{gone.pk}/").content.decode()
    banner = re.search(r'data-testid="merged-banner".*?</div>\s*</div>', body, re.S)
    assert banner is not None
    assert f"#{survivor.pk}" in banner.group(0) and "김민지" in banner.group(0)
    assert f'href="/customers/{survivor.pk}/"' in banner.group(0)
    for action in (
        "/log/call/",
        "/log/visit/",
        "/log/note/",
        "/consents/",
        "/profile/?edit=1",
        "/tasks/",
    ):
        assert f"/customers/{gone.pk}{action}" not in body, action
    # The survivor's own page has every form and no banner.
    live = client.get(f"/customers/{survivor.pk}/").content.decode()
    assert 'data-testid="merged-banner"' not in live
    assert f"/customers/{survivor.pk}/log/call/" in live
    assert f"/customers/{survivor.pk}/consents/" in live
    assert f"/customers/{survivor.pk}/tasks/" in live
    assert f"/customers/{survivor.pk}/profile/?edit=1" in live
    # A stale "edit" link opens no form on the merged record.
    edit = client.get(f"/customers/{gone.pk}/profile/?edit=1").content.decode()
    assert "<form" not in edit


def test_the_banner_names_no_survivor_the_user_may_not_see(
    signed_in: Any, make_customer: Any, make_user: Any
) -> None:
    client, rep = signed_in(role="rep")
    survivor = make_customer(full_name="박지훈", owner=make_user(role="rep", team="busan"))
    gone = make_customer(full_name="박지훈 (중복)", owner=rep)
    merge_customers(survivor=survivor, duplicates=[gone], actor=None)
    body = client.get(f"/customers/{gone.pk}/").content.decode()
    assert 'data-testid="merged-banner"' in body
    assert f"#{survivor.pk}" in body
    assert f'href="/customers/{survivor.pk}/"' not in body


def test_posting_to_a_merged_record_saves_nothing_and_says_where_to_go(
    signed_in: Any, merged: Any
) -> None:
    client, _manager = signed_in(role="manager")
    survivor, gone, _record = merged
    response = client.post(
        f"/customers/{gone.pk}/log/call/",
        {"call-kind": "call", "call-direction": "outbound", "call-subject": "재구매 상담"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#log-call-form"
    assert f"#{survivor.pk}" in response.content.decode()
    note = client.post(
        f"/customers/{gone.pk}/log/note/", {"note-body": "메모"}, HTTP_HX_REQUEST="true"
    )
    assert f"#{survivor.pk}" in note.content.decode()
    consent = client.post(
        f"/customers/{gone.pk}/consents/",
        {
            "consent-channel": "sms",
            "consent-purpose": "marketing",
            "consent-action": "grant",
            "consent-evidence": "전화 통화",
        },
        HTTP_HX_REQUEST="true",
    )
    assert f"#{survivor.pk}" in consent.content.decode()
    profile = client.post(
        f"/customers/{gone.pk}/profile/", {"full_name": "새 이름", "lifecycle_stage": "lead"}
    )
    assert f"#{survivor.pk}" in profile.content.decode()
    assert not Interaction.objects.exists()
    assert not Note.objects.exists()
    gone.refresh_from_db()
    assert gone.full_name == "김민지"
