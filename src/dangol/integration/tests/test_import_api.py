"""The import API: upload, preview, dry run, commit, status, rejected rows, templates and
permissions."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dangol.customers.models import Customer, ExternalId
from dangol.integration.models import ImportJob, ImportStatus

URL = "/api/v1/imports"
ROWS = [
    ["회원번호", "이름", "휴대폰", "이메일"],
    ["A1", "김민준", "010-1234-5678", "minjun@example.com"],
    ["A2", "", "010-2222-3333", ""],
    ["A3", "이서연", "010-99", ""],
    ["A4", "박지훈", "", "jihoon@example"],
    ["A5", "최유나", "01055556666", ""],
]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_upload(rows: list[list[str]] = ROWS, encoding: str = "cp949") -> SimpleUploadedFile:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return SimpleUploadedFile("회원.csv", buf.getvalue().encode(encoding), "text/csv")


def upload(client: Any, **extra: Any) -> Any:
    data = {"file": csv_upload(), "target": "customers", "source": "shop", **extra}
    return client.post(URL, data)


def test_upload_preview_dry_run_commit_and_download(
    admin: Any, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = api(admin)

    created = upload(client)
    assert created.status_code == 201, created.json()
    job = created.json()
    assert (job["status"], job["format"], job["target"]) == ("uploaded", "csv", "customers")

    preview = client.get(f"{URL}/{job['id']}/preview?rows=3").json()
    assert preview["encoding"] == "cp949"
    assert preview["mapping"] == {
        "회원번호": "external_id",
        "이름": "full_name",
        "휴대폰": "mobile",
        "이메일": "email",
    }
    assert [r["valid"] for r in preview["rows"]] == [True, False, False]
    assert preview["rows"][1]["errors"][0]["code"] == "required"

    with django_capture_on_commit_callbacks(execute=True):
        dry = client.post(f"{URL}/{job['id']}/dry-run")
    assert dry.status_code == 202
    status = client.get(f"{URL}/{job['id']}").json()
    assert (status["status"], status["created"], status["rejected"]) == ("validated", 2, 3)
    assert Customer.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{URL}/{job['id']}/commit").status_code == 202
    status = client.get(f"{URL}/{job['id']}").json()
    assert (status["status"], status["created"], status["rejected"]) == ("completed", 2, 3)
    assert status["progress"] == 1.0 and status["last_committed_line"] == 6
    assert set(ExternalId.objects.values_list("key", flat=True)) == {"A1", "A5"}

    errors = client.get(f"{URL}/{job['id']}/errors").json()["items"]
    assert [(e["line"], e["reasons"][0]["code"]) for e in errors] == [
        (3, "required"),
        (4, "phone_invalid"),
        (5, "email_invalid"),
    ]

    download = client.get(f"{URL}/{job['id']}/errors/download")
    assert download.status_code == 200 and download["Content-Type"] == "text/csv"
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("cp949"))))
    assert rows == [ROWS[0], ROWS[2], ROWS[3], ROWS[4]]
    with_reasons = client.get(f"{URL}/{job['id']}/errors/download?reasons=true")
    header = next(csv.reader(io.StringIO(with_reasons.content.decode("cp949"))))
    assert header[-1] == "오류"


def test_list_and_status_are_limited_to_visible_jobs(make_user: Any, api: Any) -> None:
    rep, other = make_user("rep"), make_user("rep")
    mine = upload(api(rep)).json()

    assert [j["id"] for j in api(rep).get(URL).json()["items"]] == [mine["id"]]
    theirs = api(other)
    assert theirs.get(URL).json()["items"] == []
    for method, suffix in (
        ("get", ""),
        ("get", "/preview"),
        ("post", "/commit"),
        ("get", "/errors"),
        ("get", "/errors/download"),
    ):
        assert getattr(theirs, method)(f"{URL}/{mine['id']}{suffix}").status_code == 404


def test_importing_needs_the_add_permission(make_user: Any, api: Any) -> None:
    marketer = make_user("marketer")  # view and export only

    response = upload(api(marketer))

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not ImportJob.objects.exists()


def test_read_only_tokens_cannot_upload(admin: Any, api: Any) -> None:
    assert upload(api(admin, scope="read")).status_code == 403


def test_bad_uploads_are_explained(admin: Any, api: Any) -> None:
    client = api(admin)
    bad_format = client.post(
        URL, {"file": SimpleUploadedFile("x.pdf", b"%PDF"), "target": "customers", "source": "shop"}
    )
    assert bad_format.status_code == 422
    assert bad_format.json()["errors"][0]["code"] == "unsupported_format"
    bad_mapping = upload(client, mapping='{"이름": "nickname"}')
    assert bad_mapping.status_code == 422
    assert {e["code"] for e in bad_mapping.json()["errors"]} == {"unknown_field", "required"}
    unsupported = upload(client, target="warehouses")
    assert unsupported.status_code == 422


def test_mapping_templates(admin: Any, api: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = api(admin)
    body = {
        "name": "쇼핑몰",
        "source": "shop",
        "target": "customers",
        "mapping": {"회원번호": "external_id", "이름": "full_name", "휴대폰": "mobile"},
    }
    created = client.post(f"{URL}/mapping-templates", body, content_type="application/json")
    assert created.status_code == 201, created.json()
    template = created.json()
    assert (
        client.post(f"{URL}/mapping-templates", body, content_type="application/json").status_code
        == 409
    )
    assert [t["id"] for t in client.get(f"{URL}/mapping-templates?source=shop").json()] == [
        template["id"]
    ]

    job = upload(client, mapping_template_id=str(template["id"])).json()
    assert job["mapping"] == body["mapping"] and job["mapping_template_id"] == template["id"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{URL}/{job['id']}/commit")
    done = ImportJob.objects.get(pk=job["id"])
    assert done.status == ImportStatus.COMPLETED and done.created_count == 3  # e-mail not mapped

    assert client.delete(f"{URL}/mapping-templates/{template['id']}").status_code == 204
