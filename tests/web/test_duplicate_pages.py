"""The duplicate pages: a decision taken after "show contact data" lands on the pair's page
(not the POST-only reveal URL), the pair shows each side's external ids, the menu and the quality
page's link follow the role's rights, and the search status polls while a run is running."""

from __future__ import annotations

from typing import Any

import pytest

from dangol.customers.models import Customer, RecordStatus
from dangol.integration import services
from dangol.integration.models import CandidateStatus, DuplicateCandidate
from dangol.integration.tests.test_duplicates import engine_pairs


@pytest.fixture
def cand(make_user: Any, make_customer: Any) -> DuplicateCandidate:
    lead = make_user("lead", team="seoul", email="lead@dangol.test")
    a = make_customer(
        full_name="박지훈", owner=lead, team=lead.team, contacts=[("mobile", "010-5555-6666")]
    )
    b = make_customer(full_name="박지운", owner=lead, team=lead.team)
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.95, "phone")]))
    return DuplicateCandidate.objects.get()


def _lead(client: Any, cand: DuplicateCandidate) -> Any:
    client.force_login(Customer.objects.get(pk=cand.left_id).owner)
    return client


@pytest.mark.parametrize("action", ["merge", "dismiss"])
def test_a_decision_after_revealing_lands_on_the_pairs_page(
    client: Any, cand: DuplicateCandidate, action: str
) -> None:
    _lead(client, cand)
    revealed = client.post(f"/data/duplicates/{cand.pk}/reveal/").content.decode()
    detail = f"/data/duplicates/{cand.pk}/"
    assert f'name="next" value="{detail}"' in revealed
    assert f'value="/data/duplicates/{cand.pk}/reveal/"' not in revealed

    response = client.post(
        f"/data/duplicates/{cand.pk}/{action}/", {"survivor": cand.left_id, "next": detail}
    )

    assert response.status_code == 302 and response["Location"] == detail
    page = client.get(response["Location"])
    assert page.status_code == 200
    cand.refresh_from_db()
    assert cand.status != CandidateStatus.PENDING


def test_undo_posted_back_to_the_reveal_url_still_lands_on_the_pairs_page(
    client: Any, cand: DuplicateCandidate
) -> None:
    """An old page (or a hand-made form) that posts the reveal URL as ``next``."""
    _lead(client, cand)
    client.post(f"/data/duplicates/{cand.pk}/merge/", {"survivor": cand.right_id})
    assert Customer.objects.get(pk=cand.left_id).status == RecordStatus.MERGED

    response = client.post(
        f"/data/duplicates/{cand.pk}/undo/", {"next": f"/data/duplicates/{cand.pk}/reveal/"}
    )

    assert response["Location"] == f"/data/duplicates/{cand.pk}/"
    assert client.get(response["Location"]).status_code == 200
    assert Customer.objects.get(pk=cand.left_id).status == RecordStatus.ACTIVE


@pytest.mark.parametrize(
    "nxt",
    ["https://evil.example/", "//evil.example/x", "/data/duplicates/search/", "/no/such/page/"],
)
def test_a_foreign_or_post_only_next_goes_to_the_queue(
    client: Any, cand: DuplicateCandidate, nxt: str
) -> None:
    _lead(client, cand)
    response = client.post(f"/data/duplicates/{cand.pk}/dismiss/", {"next": nxt})
    assert response["Location"] == "/data/duplicates/"


def test_the_queue_keeps_its_filter_after_a_decision(client: Any, cand: DuplicateCandidate) -> None:
    _lead(client, cand)
    response = client.post(
        f"/data/duplicates/{cand.pk}/dismiss/", {"next": "/data/duplicates/?status=pending"}
    )
    assert response["Location"] == "/data/duplicates/?status=pending"


# --- the menu and the quality page follow the role's rights ----------------------------------

DATA_PAGES = {
    "duplicates": "/data/duplicates/",
    "data_quality": "/data/quality/",
    "exports": "/data/exports/",
    "imports": "/data/imports/",
}


@pytest.mark.parametrize(
    ("role", "shown"),
    [
        ("marketer", {"data_quality", "exports", "imports"}),  # views and exports, changes nothing
        ("agent", {"duplicates", "data_quality", "imports"}),  # changes, exports nothing
        ("rep", {"duplicates", "exports", "imports"}),  # own customers: no whole-base figures
        ("lead", {"duplicates", "exports", "imports"}),
        ("manager", set(DATA_PAGES)),
    ],
)
def test_the_menu_shows_the_data_pages_the_role_can_open(
    client: Any, make_user: Any, role: str, shown: set[str]
) -> None:
    from django.test import RequestFactory

    from dangol.web.navigation import entries_for

    user = make_user(role)
    client.force_login(user)
    request = RequestFactory().get("/")
    request.user = user
    keys = {e.key for e in entries_for(request)} & set(DATA_PAGES)

    assert keys == shown
    for key, url in DATA_PAGES.items():  # an entry shown opens; one hidden would not
        assert (client.get(url).status_code == 200) is (key in shown), key


@pytest.mark.parametrize(("role", "linked"), [("marketer", False), ("manager", True)])
def test_the_quality_pages_pair_link_only_for_who_can_review(
    client: Any, make_user: Any, role: str, linked: bool
) -> None:
    client.force_login(make_user(role))
    html = client.get("/data/quality/").content.decode()
    assert ('data-testid="review-pairs"' in html) is linked


# --- the pair shows the external ids; the list polls a running search ------------------------


def test_the_pair_shows_each_sides_external_ids_and_the_list_a_compare_button(
    client: Any, make_user: Any, make_customer: Any
) -> None:
    lead = make_user("lead", team="seoul")
    a = make_customer(
        full_name="정하늘", owner=lead, team=lead.team, external_ids=[("pos", "M0001")]
    )
    b = make_customer(
        full_name="정하늘", owner=lead, team=lead.team, external_ids=[("pos", "M0006")]
    )
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.99, "name")]))
    pair = DuplicateCandidate.objects.get()
    client.force_login(lead)

    listing = client.get("/data/duplicates/").content.decode()
    detail = client.get(f"/data/duplicates/{pair.pk}/").content.decode()

    assert f'href="/data/duplicates/{pair.pk}/" data-testid="compare"' in listing
    assert '<h1 class="page-title">중복 고객</h1>' in listing
    assert 'data-testid="compare"' not in detail
    for html in (listing, detail):
        assert "M0001" in html and "M0006" in html


def test_the_list_polls_a_running_search_and_reloads_when_it_ends(
    client: Any, cand: DuplicateCandidate
) -> None:
    from dangol.integration.models import DedupeRun, DedupeRunStatus

    _lead(client, cand)
    run = DedupeRun.objects.create()  # running
    page = client.get("/data/duplicates/").content.decode()
    assert 'hx-get="/data/duplicates/?part=search"' in page

    running = client.get("/data/duplicates/?part=search", HTTP_HX_REQUEST="true")
    assert 'data-status="running"' in running.content.decode() and "HX-Refresh" not in running
    assert "duplicate-pair" not in running.content.decode()  # the status only

    run.status = DedupeRunStatus.COMPLETED
    run.save(update_fields=["status"])
    done = client.get("/data/duplicates/?part=search", HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    assert "?part=search" not in client.get("/data/duplicates/").content.decode()
