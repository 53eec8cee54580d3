"""The Korean POS member file the import page tests share (web and browser tests): a CP949
export with messy phones, a duplicate and rejected rows, and the page steps that upload it and
accept the mapping page's suggestions, as a browser would."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from dangol.integration.models import ImportJob

POS_HEADER = ["회원번호", "이름", "휴대폰", "이메일", "생년월일", "성별", "가입일", "문자수신동의"]
POS_ROWS = [
    [
        "P001",
        "김민준",
        "010-1234-5678",
        "minjun@example.com",
        "1988-04-12",
        "남",
        "2021-03-01",
        "Y",
    ],
    ["P002", "이서연", "01023456789", "seoyeon@example.com", "1992.7.3", "여", "2021-05-10", "N"],
    ["P003", "박지훈", "+82 10-3456-7890", "", "19850101", "M", "2022-01-15", "동의"],
    ["P004", "최유진", "010 4567 8901", "yujin@example", "1990-04-01", "F", "2022-02-01", "Y"],
    ["P005", "", "010-5678-9012", "", "", "", "2022-03-03", "N"],
    ["P006", "정하늘", "010-99", "haneul@example.com", "1995-12-24", "여", "2022-04-04", "Y"],
    [
        "P007",
        "강도윤",
        "010.6789.0123",
        "doyun@example.com",
        "2001년 3월 1일",
        "남",
        "2023-01-01",
        "예",
    ],
    [
        "P002",
        "이서연",
        "010-2345-6789",
        "seoyeon@example.com",
        "1992-07-03",
        "여",
        "2021-05-10",
        "N",
    ],
    [
        "P008",
        "윤서아",
        "010-7890-1234",
        "seoa@example.com",
        "1999-09-09",
        "여",
        "2023-06-30",
        "아니오",
    ],
    ["P009", "한지민", "01098765432", "jimin@example.com", "3000-01-01", "여", "2024-01-02", "Y"],
    ["P010", "김민준", "010 1111 2222", "", "1988-04-12", "남", "2024-02-02", "N"],
]
# What the pipeline makes of POS_ROWS (no customer exists before; P010's mobile belongs to a
# customer the tests create first, so it is matched):
#   rejected: P004 (e-mail), P005 (no name), P006 (phone), P002 again (twice in the file),
#   P009 (birth date in the future).
POS_REJECTED = 5


def pos_export_cp949(rows: list[list[str]] = POS_ROWS) -> bytes:
    """A member list as a Korean POS exports it: CP949, CRLF, Korean headers."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([POS_HEADER, *rows])
    return buf.getvalue().encode("cp949")


def write_pos_file(folder: Path) -> Path:
    path = folder / "POS_회원목록.csv"
    path.write_bytes(pos_export_cp949())
    return path


def pos_upload(name: str = "POS_회원목록.csv", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else pos_export_cp949())


def upload(client: Any, **extra: Any) -> Any:
    data = {"target": "customers", "source": "pos", "encoding": "", "file": pos_upload(), **extra}
    return client.post("/data/imports/new/", data)


def accept_suggestions(client: Any, job: ImportJob, **extra: Any) -> Any:
    """Post the mapping page's form as the browser would, with its suggested selections."""
    page = client.get(f"/data/imports/{job.pk}/mapping/")
    ctx = page.context
    data = {f"col-{c['index']}": c["field"] for c in ctx["columns"]}
    data.update({f"default-{f['name']}": f["default"] for f in ctx["fields"]})
    data.update(encoding=ctx["encoding"] or "", other_transforms=ctx["other_transforms"])
    data.update(extra)
    return client.post(f"/data/imports/{job.pk}/mapping/", data)


def run_on_commit(capture: Any, fn: Any) -> Any:
    with capture(execute=True):
        return fn()


def import_pos_rows(client: Any, capture: Any, rows: list[list[str]]) -> ImportJob:
    """Upload ``rows`` as a CP949 POS export, accept the suggested mapping and import it (its
    job run on commit), as a user in the web app does; the finished job."""
    upload(client, file=pos_upload(content=pos_export_cp949(rows)))
    job = ImportJob.objects.get()
    accept_suggestions(client, job)
    run_on_commit(capture, lambda: client.post(f"/data/imports/{job.pk}/commit/"))
    job.refresh_from_db()
    return job
