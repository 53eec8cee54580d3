"""Import pages: the polled status reloads the page once the job is over, rejected-row reasons in
the reader's language with the file's column names, counters and encoding labels."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dangol.integration.models import ImportJob, ImportStatus


def _pages() -> ModuleType:
    """The POS file and helpers of tests/web/test_import_pages.py."""
    path = Path(__file__).resolve().parent / "test_import_pages.py"
    spec = importlib.util.spec_from_file_location("_import_pages_helpers_impux", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pages = _pages()


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def manager(client: Any, make_user: Any) -> Any:
    user = make_user("manager", email="manager@dangol.test")
    client.force_login(user)
    return user


def _mapped_job(client: Any) -> ImportJob:
    pages.upload(client)
    job = ImportJob.objects.get()
    pages.accept_suggestions(client, job)
    return job


@pytest.mark.parametrize(
    ("status", "refresh"),
    [
        (ImportStatus.QUEUED, False),
        (ImportStatus.RUNNING, False),
        (ImportStatus.VALIDATED, True),
        (ImportStatus.COMPLETED, True),
        (ImportStatus.FAILED, True),
        (ImportStatus.CANCELLED, True),
    ],
)
def test_the_polled_status_reloads_the_page_once_the_job_is_over(
    client: Any, manager: Any, status: str, refresh: bool
) -> None:
    job = _mapped_job(client)
    ImportJob.objects.filter(pk=job.pk).update(status=status)

    polled = client.get(f"/data/imports/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    plain = client.get(f"/data/imports/{job.pk}/progress/")

    assert polled.status_code == 200
    assert (polled.get("HX-Refresh") == "true") is refresh
    assert "HX-Refresh" not in plain  # only htmx's polling reloads
