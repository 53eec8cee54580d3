"""The duplicate review as a new user meets it after an import: the result page leads to the
pairs of *this* import (not the whole queue), and the pair page shows the probability as a
percentage, colours its evidence, says what a merge does and which record was kept."""

from __future__ import annotations

from typing import Any

from dangol.customers.models import Customer
from dangol.integration import services
from dangol.integration.models import DuplicateCandidate
from dangol.integration.tests.pos_files import (
    POS_ROWS,
    import_pos_rows,
)
from dangol.integration.tests.test_duplicates import engine_pairs

# 김민준 of P001 again under another member number, his mobile written another way
AGAIN = ["P011", "김민준", "010 1234 5678", "", "1988-04-12", "남", "2024-03-03", "N"]


def test_the_result_links_to_the_pairs_of_this_import_only(
    client: Any, manager: Any, make_customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a pair in the queue that has nothing to do with the file
    a = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    b = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.99, "phone")]))
    # when a file with one person twice is imported
    job = import_pos_rows(client, django_capture_on_commit_callbacks, [*POS_ROWS, AGAIN])
    assert DuplicateCandidate.objects.count() == 2

    # then the result page links to the queue filtered to the import
    result = client.get(f"/data/imports/{job.pk}/").content.decode()
    assert f'href="/data/duplicates/?import={job.pk}" data-testid="review-duplicates"' in result
    # and that queue holds the import's pair only, says so, and keeps the filter on its tabs
    page = client.get(f"/data/duplicates/?import={job.pk}").content.decode()
    assert page.count("duplicate-pair") == 1 and "P011" in page and "정하늘" not in page
    assert 'data-testid="import-filter"' in page and "POS_회원목록.csv" in page
    assert f'href="?import={job.pk}&amp;status=merged"' in page
    # the whole queue is one click away
    everything = client.get("/data/duplicates/?status=pending").content.decode()
    assert everything.count("duplicate-pair") == 2 and "import-filter" not in everything


def test_an_unknown_import_shows_the_whole_queue(
    client: Any, manager: Any, make_customer: Any
) -> None:
    a = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    b = make_customer(full_name="정하늘", contacts=[("mobile", "010-8888-1111")])
    services.find_duplicates(finder=engine_pairs([(a.pk, b.pk, 0.99, "phone")]))

    page = client.get("/data/duplicates/?import=999").content.decode()

    assert page.count("duplicate-pair") == 1 and "import-filter" not in page


def test_the_pair_colours_its_evidence_and_names_the_record_kept(
    client: Any, manager: Any, make_customer: Any
) -> None:
    client.cookies["django_language"] = "en"
    a = make_customer(full_name="김동훈", contacts=[("mobile", "010-3333-3138")])
    b = make_customer(full_name="김동훙", contacts=[("mobile", "010-3333-3138")])
    services.find_duplicates(
        finder=engine_pairs([(a.pk, b.pk, 0.9973, "phone")]),
    )
    cand = DuplicateCandidate.objects.get()
    DuplicateCandidate.objects.filter(pk=cand.pk).update(
        evidence={"name": "jamo_typo", "phone": "exact", "gender": "different"}
    )

    html = client.get(f"/data/duplicates/{cand.pk}/").content.decode()
    assert "Match probability 99.7%" in html
    assert 'class="badge evidence-similar bg-yellow-lt"' in html
    assert 'class="badge evidence-agree bg-green-lt"' in html
    assert 'class="badge evidence-differ bg-red-lt"' in html
    assert "the other record stays as a pointer to it" in html

    merged = client.post(
        f"/data/duplicates/{cand.pk}/merge/", {"survivor": b.pk}, follow=True
    ).content.decode()
    assert f"The two records were merged: #{b.pk} 김동훙 is the record kept." in merged
    decided = client.get(f"/data/duplicates/{cand.pk}/").content.decode()
    assert 'data-testid="kept"' in decided and f"merged into #{b.pk}" in decided
    assert Customer.objects.get(pk=a.pk).status == "merged"

    client.post(f"/data/duplicates/{cand.pk}/undo/")
    after = client.get(f"/data/duplicates/{cand.pk}/").content.decode()
    assert 'data-testid="kept"' not in after and "merged into" not in after
