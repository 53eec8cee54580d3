"""The customer information plan on 데이터 품질: the form shows the plan in force for the chosen
source, posts every field so saving one keeps the others, says which plan no import enforces,
and the mapping page lists the plan's required fields."""

from __future__ import annotations

import re
from typing import Any

from dangol.integration import services
from dangol.integration.quality import plan_for, plan_table


def _selected(html: str) -> dict[str, str]:
    """``{field: level}`` as the plan form's selects show them."""
    out = {}
    for key, body in re.findall(
        r'<select id="plan-(\w+)" name="level_\w+"[^>]*>(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="(\w*)" selected>', body)
        out[key] = chosen.group(1) if chosen else ""
    return out


def test_the_form_shows_the_built_in_suggestion_as_not_enforced(client: Any, admin: Any) -> None:
    client.force_login(admin)

    html = client.get("/data/quality/").content.decode()

    assert 'data-testid="plan-not-enforced"' in html
    assert _selected(html)["name"] == "required" and _selected(html)["phone"] == "required"
    assert plan_table(declared_only=True) == {"": {}}  # nothing is enforced


def test_the_form_is_filled_with_the_chosen_sources_plan_and_saving_keeps_the_others(
    client: Any, admin: Any
) -> None:
    services.set_information_plan(
        source="pos", levels={"name": "required", "phone": "required"}, actor=None
    )
    client.force_login(admin)
    html = client.get("/data/quality/?plan_source=pos").content.decode()
    levels = _selected(html)
    assert levels["name"] == "required" and levels["phone"] == "required"
    assert levels["email"] == ""
    assert 'data-testid="plan-not-enforced"' in html  # "" still has only the suggestion
    assert '<input type="hidden" name="source" value="pos">' in html

    # the user sets e-mail to required and submits the form as shown
    form = {
        "source": "pos",
        **{f"level_{k}": v for k, v in levels.items()},
        "level_email": "required",
    }
    response = client.post("/data/quality/plan/", form)

    assert response["Location"] == "/data/quality/?plan_source=pos#plan"
    assert plan_for("pos", plan_table(declared_only=True)) == {
        "name": "required",
        "phone": "required",
        "email": "required",
    }
    assert _selected(client.get(response["Location"]).content.decode())["email"] == "required"


def test_a_source_without_its_own_plan_starts_from_the_plan_of_every_source(
    client: Any, admin: Any
) -> None:
    services.set_information_plan(source="", levels={"email": "recommended"}, actor=None)
    client.force_login(admin)

    html = client.get("/data/quality/?plan_source=shop").content.decode()

    assert _selected(html)["email"] == "recommended" and _selected(html)["name"] == ""
    assert 'data-testid="plan-not-enforced"' not in html


def test_the_plan_is_a_table_and_its_empty_level_reads_optional(client: Any, admin: Any) -> None:
    admin.language = "en"
    admin.save(update_fields=["language"])
    client.force_login(admin)

    html = client.get("/data/quality/").content.decode()

    assert '<form method="post" action="/data/quality/plan/" class="plan-form">' in html
    assert html.count('<tr><th scope="row"><label for="plan-') == 7  # one row per field
    assert '<option value="">Optional</option>' in html


def test_the_mapping_page_lists_the_fields_the_sources_plan_requires(
    client: Any, make_user: Any
) -> None:
    from dangol.integration.models import ImportJob
    from dangol.integration.tests import pos_files as pages

    services.set_information_plan(
        source="pos", levels={"email": "required", "gender": "recommended"}, actor=None
    )
    client.force_login(make_user("manager"))
    pages.upload(client)  # source pos
    job = ImportJob.objects.get()

    html = client.get(f"/data/imports/{job.pk}/mapping/").content.decode()

    assert 'data-plan-required="email"' in html
    assert 'data-plan-required="gender"' not in html  # only recommended
    pages.upload(client, source="shop")
    other = ImportJob.objects.exclude(pk=job.pk).get()
    assert (
        "data-plan-required"
        not in client.get(f"/data/imports/{other.pk}/mapping/").content.decode()
    )
